/**
 * Which devices have a publisher connected now, for GET /v1/devices. The
 * app says which client published for which device (src/app.ts, as each
 * message is stored); whether a client is still connected is the broker's
 * to say, through the function given here: src/api/ imports no broker/.
 */

export class DevicePresence {
  /** Per device, the client ids that published for it: one, unless several share a device id. */
  readonly #publishers = new Map<string, Set<string>>()
  readonly #isConnected: (clientId: string) => boolean

  constructor(isConnected: (clientId: string) => boolean) {
    this.#isConnected = isConnected
  }

  /** `clientId` published a reading of `device` that was stored (or was one stored already). */
  published(device: string, clientId: string): void {
    const clients = this.#publishers.get(device)
    if (clients === undefined) this.#publishers.set(device, new Set([clientId]))
    else clients.add(clientId)
  }

  /** Whether a client that published for the device is connected now. */
  connected(device: string): boolean {
    const clients = this.#publishers.get(device)
    if (clients === undefined) return false
    for (const id of clients) if (this.#isConnected(id)) return true
    return false
  }

  /** Forgets clients gone since: what is held is bounded by the connected publishers. */
  prune(): void {
    for (const [device, clients] of this.#publishers) {
      for (const id of clients) if (!this.#isConnected(id)) clients.delete(id)
      if (clients.size === 0) this.#publishers.delete(device)
    }
  }
}
