/**
 * MQTT over WebSocket at `/mqtt` on the HTTP port (issue #22, item 4): the
 * HTTP server hands over its upgrades; a handshake offering the `mqtt`
 * subprotocol becomes a `ws` stream (createWebSocketStream) of the binary
 * messages' bytes, served by listeners.ts like any other connection. MQTT
 * packets may span messages or share one [MQTT-6.0.0-2], so the guard reads
 * the stream exactly as a TCP byte stream.
 */

import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { createWebSocketStream, type WebSocket, WebSocketServer } from 'ws'
import type { DisconnectReason } from './options.js'

/** Node's `upgrade` event: an HTTP/1.1 request asking to switch protocols, and its socket. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** Bytes a connection holds before its stream (a frame not yet whole), and the connection they arrive on. */
export interface OuterBytes {
  readonly held: () => number
  readonly arrivals: Duplex
}

type Serve = (stream: Duplex, remoteAddress: string | undefined, outer: OuterBytes) => void

/** A fixed header is at most 5 bytes: the packet type and 4 of Remaining Length [MQTT-2.2.3]. */
const MAX_FIXED_HEADER_BYTES = 5
/** [MQTT-6.0.0-3]: the client offers "mqtt"; "mqttv3.1" is what MQTT 3.1 clients (old Paho) offer. */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const

export class WebSocketListener {
  readonly #server: WebSocketServer
  readonly #log: Logger
  readonly #closed: (reason: DisconnectReason) => void
  readonly #serve: Serve
  #warnedReceiverShape = false

  constructor(maxPacketBytes: number, log: Logger, closed: (reason: DisconnectReason) => void, serve: Serve) {
    this.#log = log
    this.#closed = closed
    this.#serve = serve
    // noServer: the HTTP server hands over its upgrades.
    this.#server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // ws holds a message whole before the guard reads it: at most one largest packet.
      maxPayload: maxPacketBytes + MAX_FIXED_HEADER_BYTES,
      handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
    })
  }

  /**
   * A WebSocket handshake offering the `mqtt` subprotocol becomes an MQTT
   * connection; one that does not offer it is refused with a 400, as MQTT
   * requires it [MQTT-6.0.0-3].
   */
  readonly upgrade: UpgradeHandler = (req, socket, head) => {
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
    if (!SUBPROTOCOLS.some((p) => offered.includes(p))) {
      const body = JSON.stringify({
        code: 'TLM_ERR_BAD_REQUEST',
        message: 'MQTT over WebSocket needs the subprotocol "mqtt" (Sec-WebSocket-Protocol: mqtt)',
      })
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      )
      return
    }
    // The address of the TCP connection under the HTTP request, for the per-address cap.
    const address = (socket as Partial<Socket>).remoteAddress
    this.#server.handleUpgrade(req, socket, head, (ws) => {
      // A message over maxPayload: ws closes with 1009 before holding it, so the guard never saw the header.
      ws.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.#closed('packet_too_large')
      })
      const stream = createWebSocketStream(ws)
      // ConnectionLimits and the guard's log read a socket's remoteAddress; this stream has none of its own.
      Object.defineProperty(stream, 'remoteAddress', { value: address, enumerable: true })
      this.#serve(stream, address, { held: this.#frameBytes(ws), arrivals: socket })
    })
  }

  /**
   * What ws holds of a frame (or a fragmented message) not yet whole: it
   * keeps those bytes before the stream, and so before the guard, sees any
   * (issue #21, item 6: half-sent packets over WebSocket held memory
   * outside the budget). ws exposes no count, so its Receiver's own fields
   * are read (ws 8); a Receiver of another shape is warned about once, and
   * then only the guard's bytes count.
   */
  #frameBytes(ws: WebSocket): () => number {
    const receiver = (ws as unknown as { _receiver?: Partial<Record<string, unknown>> })._receiver
    // Bytes of the frame under way, and the fragments of a message before its last.
    if (typeof receiver?._bufferedBytes === 'number' && typeof receiver._messageLength === 'number')
      return () => (receiver._bufferedBytes as number) + (receiver._messageLength as number)
    if (!this.#warnedReceiverShape) {
      this.#warnedReceiverShape = true
      this.#log.warn(
        "ws's Receiver is not of the shape ws-listener.ts expects: WebSocket frames not yet whole are outside --max-incomplete-packet-bytes",
      )
    }
    return () => 0
  }
}
