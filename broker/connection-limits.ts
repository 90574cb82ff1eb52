/**
 * What many connections together may hold (issue #21, item 6: 2,000
 * connections with keep alive 0, each 100 bytes short of a 256 KiB PUBLISH,
 * held 537 MB for good, and nothing capped the number of connections).
 *
 *   accept ──▶ maxConnections (Node's server.maxConnections: closed before a byte is read)
 *          ──▶ maxConnectsPerSecondPerAddress (a token bucket per address, issue #22: closed
 *              before Aedes sees the socket, so a flood costs no CONNECT parsing or password hash)
 *          ──▶ maxConnectionsPerAddress (closed before Aedes sees the socket)
 *          ──▶ Aedes
 *   each read ──▶ PacketGuard ──▶ bytes of the packet still incomplete ──▶ one budget for all,
 *                      │                                                     oldest incomplete first out
 *                      └──────▶ whole packets ──▶ idle timer of a keep-alive-0 connection
 *
 * The parser under Aedes keeps the bytes of a packet until its last byte
 * arrives; PacketGuard sees every byte first, so its count is what the parser
 * holds (a little less: a chunk's buffer can outlive the packet that sliced it).
 * Connections whose incomplete packet began longest ago go first: a client
 * that sends whole packets holds bytes for a moment only.
 *
 * A client that asks for keep alive 0 turns off the broker's one way of
 * noticing it is gone [MQTT-3.1.2-10]; `keepaliveZeroIdleMs` stands in for it,
 * counting only whole packets, as keep alive does [MQTT-3.1.2-24].
 */

import type { Socket } from 'node:net'
import type { DisconnectReason } from './options.js'

export interface ConnectionCaps {
  readonly maxConnectionsPerAddress: number
  /** New connections a second from one address, with a burst of ten seconds' worth; 0: no cap. */
  readonly maxConnectsPerSecondPerAddress: number
  readonly maxIncompletePacketBytes: number
  readonly keepaliveZeroIdleMs: number
}

/** What a connection holds of a packet not yet whole, and its count of whole packets so far. */
export interface HeldBytes {
  readonly heldBytes: number
  readonly packets: number
}

/** A fleet may connect at once, up to this many seconds of the rate: then the rate holds. */
const CONNECT_BURST_S = 10

interface Tracked {
  readonly address: string
  /** Bytes of its incomplete packet, as last counted into the budget. */
  held: number
  /** The guard's count of whole packets at the last read. */
  packets: number
  idle: NodeJS.Timeout | null
}

export class ConnectionLimits {
  readonly #caps: ConnectionCaps
  readonly #onClose: (reason: DisconnectReason) => void
  readonly #tracked = new Map<Socket, Tracked>()
  readonly #perAddress = new Map<string, number>()
  /** Connections holding an incomplete packet, in the order those packets began. */
  readonly #incomplete = new Map<Socket, Tracked>()
  #incompleteBytes = 0
  /** Per address: connects still allowed now, and when that was counted (ms). */
  readonly #connects = new Map<string, { tokens: number; at: number }>()

  constructor(caps: ConnectionCaps, onClose: (reason: DisconnectReason) => void) {
    this.#caps = caps
    this.#onClose = onClose
  }

  /** Bytes held for incomplete packets across all connections. */
  get incompletePacketBytes(): number {
    return this.#incompleteBytes
  }

  /** A socket just accepted: tracked, or closed at once when its address is at its cap. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? ''
    if (!this.#connectAllowed(address)) {
      this.#onClose('connect_rate')
      socket.destroy()
      return false
    }
    const open = this.#perAddress.get(address) ?? 0
    const cap = this.#caps.maxConnectionsPerAddress
    if (cap > 0 && open >= cap) {
      this.#onClose('address_connection_limit')
      socket.destroy()
      return false
    }
    this.#perAddress.set(address, open + 1)
    this.#tracked.set(socket, { address, held: 0, packets: 0, idle: null })
    socket.once('close', () => this.#release(socket))
    return true
  }

  /** Takes one connect from the address's bucket: false when it is empty. */
  #connectAllowed(address: string): boolean {
    const rate = this.#caps.maxConnectsPerSecondPerAddress
    if (rate <= 0) return true
    const now = performance.now()
    const burst = CONNECT_BURST_S * rate
    // A bucket refilled to the brim says nothing: forget those when many addresses were seen.
    if (this.#connects.size >= 10_000)
      for (const [a, b] of this.#connects) if (now - b.at >= CONNECT_BURST_S * 1000) this.#connects.delete(a)
    const bucket = this.#connects.get(address) ?? { tokens: burst, at: now }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate)
    bucket.at = now
    this.#connects.set(address, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** CONNECT accepted with this keep alive, in seconds. */
  connected(socket: Socket, keepaliveS: number): void {
    const t = this.#tracked.get(socket)
    const idleMs = this.#caps.keepaliveZeroIdleMs
    if (t === undefined || keepaliveS !== 0 || idleMs <= 0) return
    t.idle = setTimeout(() => this.#close(socket, 'idle_timeout'), idleMs)
  }

  /**
   * After bytes of this socket arrived: false when the socket was closed for
   * them. `guard`: what it holds of an incomplete packet, and how many whole
   * packets it has passed (a PacketGuard, or that plus what a WebSocket holds).
   */
  read(socket: Socket, guard: HeldBytes): boolean {
    const t = this.#tracked.get(socket)
    if (t === undefined) return false
    const held = guard.heldBytes
    const fresh = guard.packets !== t.packets
    if (fresh) {
      t.packets = guard.packets
      t.idle?.refresh()
    }
    if (held === t.held && !fresh) return true
    // A packet completed in this chunk: what is held now began just now.
    if (fresh || held === 0) this.#incomplete.delete(socket)
    this.#incompleteBytes += held - t.held
    t.held = held
    if (held > 0 && !this.#incomplete.has(socket)) this.#incomplete.set(socket, t)
    if (this.#incompleteBytes > this.#caps.maxIncompletePacketBytes) {
      for (const oldest of this.#incomplete.keys()) {
        if (this.#incompleteBytes <= this.#caps.maxIncompletePacketBytes) break
        this.#close(oldest, 'incomplete_packet_budget')
      }
    }
    return this.#tracked.has(socket)
  }

  #close(socket: Socket, reason: DisconnectReason): void {
    if (!this.#tracked.has(socket)) return
    this.#release(socket)
    this.#onClose(reason)
    socket.destroy()
  }

  #release(socket: Socket): void {
    const t = this.#tracked.get(socket)
    if (t === undefined) return
    this.#tracked.delete(socket)
    this.#incomplete.delete(socket)
    this.#incompleteBytes -= t.held
    if (t.idle !== null) clearTimeout(t.idle)
    const open = (this.#perAddress.get(t.address) ?? 1) - 1
    if (open > 0) this.#perAddress.set(t.address, open)
    else this.#perAddress.delete(t.address)
  }
}
