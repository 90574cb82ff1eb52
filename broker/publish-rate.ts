/**
 * A publish rate per client (issue #22, item 6), enforced by waiting, as
 * EMQX's limiter does: a message over the rate has its `authorizePublish`
 * answer delayed until its turn. Aedes reads a connection's next bytes only
 * once every packet of the last read is handled (node_modules/aedes/lib/
 * client.js, nextBatch), so the wait backs up into the client's TCP window:
 * a device sending ten times its allowance is slowed to it, not cut, and
 * every reading it gets a PUBACK for is stored.
 *
 * Each message takes a token; tokens refill at `rate` a second up to
 * `burst`. Below zero is debt, and a message waits until the debt before it
 * is paid. Only a client whose debt would pass `maxDelayMs` of tokens
 * (one read holding that many tiny messages) is disconnected.
 */

interface Bucket {
  tokens: number
  at: number
}

export class PublishRate {
  readonly #buckets = new Map<string, Bucket>()

  constructor(
    readonly rate: number,
    readonly burst: number,
    readonly maxDelayMs: number,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** How long this client's next message must wait, ms: 0 at once, null when it is far over (disconnect it). */
  take(client: string): number | null {
    if (this.rate <= 0) return 0
    const now = this.now()
    const b = this.#buckets.get(client) ?? { tokens: this.burst, at: now }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate)
    b.at = now
    this.#buckets.set(client, b)
    const waitMs = b.tokens >= 1 ? 0 : ((1 - b.tokens) / this.rate) * 1000
    if (waitMs > this.maxDelayMs) return null
    b.tokens -= 1
    return waitMs
  }

  /** The client is gone: its bucket goes (a reconnect starts with a full burst, as a new connection's would). */
  forget(client: string): void {
    this.#buckets.delete(client)
  }
}
