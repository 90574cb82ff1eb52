/**
 * One port for every HTTP client: HTTP/1.1 and HTTP/2.
 *
 * Cleartext: Node's `http2.createServer` refuses HTTP/1.1, and `allowHTTP1`
 * applies only with TLS. So a plain TCP server reads the first bytes of each
 * connection and hands it on: the HTTP/2 connection preface [RFC 9113 §3.4]
 * starts with "PRI * HTTP/2.0", which no HTTP/1.1 request line does (PRI is
 * registered as a method precisely so that it never means anything else).
 *
 *   socket ─▶ first bytes ─┬─ "PRI * HTTP/2.0…" ─▶ http2 server (h2c, prior knowledge)
 *                          └─ anything else ────▶ http server (HTTP/1.1)
 *
 * With a certificate: one HTTP/2 secure server with `allowHTTP1`, ALPN picking.
 * Either way Fastify runs with `http2: true`, whose handler serves both
 * request kinds, and `closeAllConnections()` ends every connection on close
 * (SSE streams never end by themselves).
 *
 * WebSocket (RFC 6455) is an HTTP/1.1 upgrade: Node emits `upgrade` on the
 * server whose HTTP/1.1 parser read the request, the inner http1 server in
 * cleartext, the secure server itself with `allowHTTP1` (its HTTP/1.1
 * connections run http's own connection listener). Node 20 sends every
 * request with an Upgrade header there once anyone listens, so one that is
 * not a WebSocket handshake for a path served here (`Upgrade: h2c` from
 * `curl --http2`, say) is answered as an ordinary request, the Upgrade
 * ignored as RFC 9110 §7.8 allows.
 */

import { createServer as createHttp1Server, type IncomingMessage, ServerResponse } from 'node:http'
import {
  createServer as createHttp2Server,
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2'
import { createServer as createNetServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { SecureContextOptions } from 'node:tls'

/** Fastify's handler with `http2: true`: it serves both kinds of request. */
type Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void

export interface TlsFiles {
  readonly cert: Buffer
  readonly key: Buffer
}

/** Takes over the connection of a WebSocket handshake (Node's `upgrade` event). */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void
/** WebSocket handlers by request path (`/mqtt`). */
export type WebSocketRoutes = Readonly<Record<string, UpgradeHandler>>

const PREFACE_START = Buffer.from('PRI * HTTP/2.0')
/** A client has this long to send its first bytes. */
const FIRST_BYTES_TIMEOUT_MS = 10_000

export type DualServer = Server & {
  closeAllConnections(): void
  /** A new certificate and key for the next TLS connections; open ones keep theirs. Throws in cleartext. */
  setSecureContext(options: SecureContextOptions): void
}

export function createDualServer(
  handler: Handler,
  tls: TlsFiles | null,
  webSockets: WebSocketRoutes = {},
): DualServer {
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }

  let server: Server
  const secure =
    tls === null
      ? null
      : createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true }, handler as never)
  if (secure !== null) {
    server = secure
    server.on('connection', track)
    server.on('upgrade', upgrade(server, webSockets))
  } else {
    const h1 = createHttp1Server(handler as never)
    const h2 = createHttp2Server(handler as never)
    // Fastify listens for clientError on the server it is given: this one.
    // Without the hand-on, Node answered a bad HTTP/1.1 request (a URL over
    // the header limit, say) itself, with an empty body (issue 21).
    h1.on('clientError', (err, socket) => server.emit('clientError', err, socket))
    h1.on('upgrade', upgrade(h1, webSockets))
    server = createNetServer((socket) => {
      track(socket)
      routeByPreface(socket, (isHttp2) => (isHttp2 ? h2 : h1).emit('connection', socket))
    })
  }
  // The secure server's own, before Object.assign puts this one in its place.
  const setContext = secure?.setSecureContext.bind(secure)
  return Object.assign(server, {
    closeAllConnections(): void {
      for (const socket of sockets) socket.destroy()
    },
    setSecureContext(options: SecureContextOptions): void {
      if (setContext === undefined) throw new Error('the HTTP server has no TLS')
      setContext(options)
    },
  })
}

/** The `upgrade` listener: a WebSocket handshake to its route; any other request served as if not upgrading. */
function upgrade(server: Server, routes: WebSocketRoutes) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0] ?? ''
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined
    if (req.headers.upgrade?.toLowerCase() === 'websocket' && route !== undefined) {
      route(req, socket, head)
      return
    }
    // Node has detached its parser from the socket: answer this one request, then close.
    if (head.length > 0) socket.unshift(head)
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket as Socket)
    res.once('finish', () => {
      res.detachSocket(socket as Socket)
      socket.end()
    })
    server.emit('request', req, res)
  }
}

/** Reads until the first bytes tell HTTP/2 from HTTP/1.1, puts them back, and calls `route`. */
function routeByPreface(socket: Socket, route: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0)
  const timer = setTimeout(() => socket.destroy(), FIRST_BYTES_TIMEOUT_MS)
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk])
    const n = Math.min(seen.length, PREFACE_START.length)
    const isPrefix = seen.subarray(0, n).equals(PREFACE_START.subarray(0, n))
    if (isPrefix && n < PREFACE_START.length) return // not enough bytes to tell yet
    clearTimeout(timer)
    socket.off('data', onData)
    socket.off('error', onError)
    socket.pause()
    socket.unshift(seen)
    route(isPrefix)
    // The HTTP/1.1 parser reads through the stream, so it must flow again; an
    // HTTP/2 session reads the socket's handle itself and takes the bytes put
    // back on its first tick (resuming would hand them to nobody).
    if (!isPrefix) socket.resume()
  }
  const onError = (): void => {
    clearTimeout(timer)
    socket.destroy()
  }
  socket.on('data', onData)
  socket.on('error', onError)
}
