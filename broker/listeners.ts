/**
 * Every way a client reaches the broker, and the one path every connection
 * takes from there (issue #22, item 4):
 *
 *   TCP        net.Server, --mqtt-port ───────────────────────┐
 *   TLS        tls.Server, --mqtts-port ── handshake ─────────┤
 *   WebSocket  /mqtt on the HTTP port (ws) ── upgrade ────────┤
 *                                                             ▼
 *   serve(): connection caps ─▶ PacketGuard on every read ─▶ ConnectionLimits ─▶ idle release ─▶ aedes.handle
 *
 * A WebSocket connection (ws-listener.ts) is a `ws` stream of the
 * binary messages' bytes: MQTT packets may span messages or share one
 * [MQTT-6.0.0-2], so the guard reads it exactly as a TCP byte stream.
 */

import { createServer as createNetServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls'
import type { Aedes, Client } from 'aedes'
import type { Logger } from 'pino'
import { PacketCheck } from './auth-packet-check.js'
import type { ConnectionLimits, HeldBytes } from './connection-limits.js'
import { releasePacketWhileIdle } from './idle-packet.js'
import type { DisconnectReason, MqttsOptions } from './options.js'
import { PacketGuard } from './packet-guard.js'
import { type OuterBytes, type UpgradeHandler, WebSocketListener } from './ws-listener.js'

/** Bytes of one connection read for Aedes at a time, when they hold whole packets. */
const MAX_READ_BYTES = 16 * 1024

/** CONNACK 0x01, unacceptable protocol level [MQTT-3.1.2-2]. */
const CONNACK_UNSUPPORTED_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01])

/** The verified certificate CN of each TLS connection that has one, by the stream Aedes was given. */
const identities = new WeakMap<object, string>()

/**
 * The CN of the client certificate a connected client presented and the CA
 * (`--tls-ca`) verified, or null: no TLS, no certificate, not verified, or a
 * subject with no CN or several. Read once at the handshake, so asking is a
 * map lookup. Used as the username, as Mosquitto's `use_identity_as_username`.
 */
export function certificateIdentity(client: Client): string | null {
  return identities.get(client.conn) ?? null
}

export interface ListenerOptions {
  readonly host: string
  readonly port: number
  readonly mqtts: MqttsOptions | null
  readonly maxPacketBytes: number
  readonly maxConnections: number
  readonly connectTimeoutMs: number
  readonly log: Logger
}

export class Listeners {
  readonly #aedes: Aedes
  readonly #options: ListenerOptions
  readonly #limits: ConnectionLimits
  readonly #closed: (reason: DisconnectReason) => void
  readonly #streams = new Set<Duplex>()
  readonly #tcp: Server
  readonly #tls: TlsServer | null
  readonly #ws: WebSocketListener
  #warnedParserShape = false
  #accepting = true

  constructor(
    aedes: Aedes,
    options: ListenerOptions,
    limits: ConnectionLimits,
    closed: (reason: DisconnectReason) => void,
  ) {
    this.#aedes = aedes
    this.#options = options
    this.#limits = limits
    this.#closed = closed
    this.#tcp = createNetServer((socket) => this.serve(socket, socket.remoteAddress))
    this.#tls = options.mqtts === null ? null : this.#createTlsServer(options.mqtts)
    this.#ws = new WebSocketListener(options.maxPacketBytes, options.log, closed, (stream, address, outer) =>
      this.serve(stream, address, outer),
    )
    for (const server of this.#servers()) {
      // Refused before a byte is read: Node closes the handle and says 'drop'.
      if (options.maxConnections > 0) server.maxConnections = options.maxConnections
      server.on('drop', () => closed('connection_limit'))
    }
  }

  #createTlsServer(mqtts: MqttsOptions): TlsServer {
    const server = createTlsServer(
      {
        ...mqtts.secureContext,
        // A certificate is asked for only when there is a CA to verify it.
        requestCert: mqtts.secureContext.ca !== undefined,
        // Checked below rather than by Node, which destroys the socket without saying why.
        rejectUnauthorized: false,
        // Unfinished handshakes are not yet under the guard: the CONNECT timeout bounds them too.
        handshakeTimeout: this.#options.connectTimeoutMs,
      },
      (socket: TLSSocket) => {
        if (mqtts.requireClientCert && !socket.authorized) {
          this.#closed('client_certificate_refused')
          this.#options.log.debug(
            { reason: socket.authorizationError, remote: socket.remoteAddress },
            'client certificate refused',
          )
          socket.destroy()
          return
        }
        const cn = socket.authorized ? socket.getPeerCertificate().subject?.CN : undefined
        if (typeof cn === 'string' && cn !== '') identities.set(socket, cn)
        this.serve(socket, socket.remoteAddress)
      },
    )
    // Counted, and logged at debug only: a port scan would otherwise flood the log.
    server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      this.#closed('tls_handshake_failed')
      this.#options.log.debug(
        { reason: err.code ?? err.message, remote: socket.remoteAddress },
        'TLS handshake failed',
      )
    })
    return server
  }

  #servers(): Server[] {
    return this.#tls === null ? [this.#tcp] : [this.#tcp, this.#tls]
  }

  async listen(): Promise<void> {
    const { host, port, mqtts } = this.#options
    await listen(this.#tcp, port, host)
    if (this.#tls !== null && mqtts !== null) await listen(this.#tls, mqtts.port, host)
  }

  get port(): number {
    return portOf(this.#tcp)
  }

  /** The MQTT over TLS port, or null when there is no such listener. */
  get mqttsPort(): number | null {
    return this.#tls?.listening === true ? portOf(this.#tls) : null
  }

  /** Certificate, key, CA and CRL for the next TLS connections; open ones keep theirs. */
  setSecureContext(options: SecureContextOptions): void {
    this.#tls?.setSecureContext(options)
  }

  /** For the HTTP server's `upgrade` event on `/mqtt`: MQTT over WebSocket (ws-listener.ts). */
  readonly upgrade: UpgradeHandler = (req, socket, head) => {
    if (this.#accepting) this.#ws.upgrade(req, socket, head)
    else socket.destroy()
  }

  /** Refuses new connections; the open ones keep being served. */
  stopAccepting(): void {
    this.#accepting = false
    for (const server of this.#servers()) if (server.listening) server.close()
  }

  /** Closes every open connection. */
  destroyAll(): void {
    for (const stream of this.#streams) stream.destroy()
  }

  /**
   * Serves one connection, of any listener: the total cap, the per-address
   * cap, the packet guard on every byte Aedes reads, the incomplete-packet
   * budget and idle limit, then Aedes. `outer`: bytes held before the
   * stream (a WebSocket's frame not yet whole), counted in the budget as
   * they arrive on the connection under it.
   */
  serve(stream: Duplex, remoteAddress: string | undefined, outer?: OuterBytes): void {
    const { maxConnections, maxPacketBytes, log } = this.#options
    // Each server's maxConnections counts only its own: this is the cap across listeners.
    if (maxConnections > 0 && this.#streams.size >= maxConnections) {
      this.#closed('connection_limit')
      stream.destroy()
      return
    }
    // ConnectionLimits uses remoteAddress, destroy() and 'close', which every stream here has.
    const socket = stream as Socket
    if (!this.#limits.admit(socket)) return
    const guard = new PacketGuard(maxPacketBytes)
    const packets = new PacketCheck()
    const held: HeldBytes =
      outer === undefined
        ? guard
        : {
            get heldBytes() {
              return guard.heldBytes + outer.held()
            },
            get packets() {
              return guard.packets
            },
          }
    // After ws's own listener has taken the bytes in: what it holds now.
    outer?.arrivals.on('data', () => this.#limits.read(socket, held))
    const read = stream.read.bind(stream)
    // Every byte Aedes reads passes the guard first (see packet-guard.ts).
    stream.read = (size?: number | null) => {
      let chunk = read(size ?? undefined) as Buffer | null
      if (chunk === null) return null
      // Aedes handles every packet of what it reads before it reads again:
      // a fast publisher would put its whole socket buffer in flight here.
      // Whole packets up to a bound go on; the rest waits in the socket.
      if (size == null && chunk.length > MAX_READ_BYTES) {
        const whole = guard.wholePacketsWithin(chunk, MAX_READ_BYTES)
        if (whole > 0) {
          stream.unshift(chunk.subarray(whole))
          chunk = chunk.subarray(0, whole)
        }
      }
      // The framing first, then what MQTT 3.1.1 requires of CONNECT, SUBSCRIBE, UNSUBSCRIBE (auth-packet-check.ts).
      const problem: DisconnectReason | null = guard.check(chunk) ?? packets.check(chunk)
      if (problem === null) return this.#limits.read(socket, held) ? chunk : null
      this.#closed(problem)
      log.warn({ reason: problem, remote: remoteAddress }, 'closing connection: protocol violation')
      if (problem === 'unsupported_protocol') stream.end(CONNACK_UNSUPPORTED_PROTOCOL, () => stream.destroy())
      else stream.destroy()
      return null
    }
    this.#streams.add(stream)
    stream.once('close', () => this.#streams.delete(stream))
    const client = this.#aedes.handle(stream) as Client & { _parser?: unknown }
    if (!releasePacketWhileIdle(client._parser) && !this.#warnedParserShape) {
      this.#warnedParserShape = true
      log.warn(
        'the MQTT parser is not of the shape idle-packet.ts expects: idle connections keep a packet each',
      )
    }
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

function portOf(server: Server): number {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('broker is not listening')
  return address.port
}
