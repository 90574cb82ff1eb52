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
 */

import { createServer as createHttp1Server } from 'node:http'
import {
  createServer as createHttp2Server,
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2'
import { createServer as createNetServer, type Server, type Socket } from 'node:net'

/** Fastify's handler with `http2: true`: it serves both kinds of request. */
type Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void

export interface TlsFiles {
  readonly cert: Buffer
  readonly key: Buffer
}

const PREFACE_START = Buffer.from('PRI * HTTP/2.0')
/** A client has this long to send its first bytes. */
const FIRST_BYTES_TIMEOUT_MS = 10_000

export type DualServer = Server & { closeAllConnections(): void }

export function createDualServer(handler: Handler, tls: TlsFiles | null): DualServer {
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }

  let server: Server
  if (tls !== null) {
    server = createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true }, handler as never)
    server.on('connection', track)
  } else {
    const h1 = createHttp1Server(handler as never)
    const h2 = createHttp2Server(handler as never)
    // Fastify listens for clientError on the server it is given: this one.
    // Without the hand-on, Node answered a bad HTTP/1.1 request (a URL over
    // the header limit, say) itself, with an empty body (issue 21).
    h1.on('clientError', (err, socket) => server.emit('clientError', err, socket))
    server = createNetServer((socket) => {
      track(socket)
      routeByPreface(socket, (isHttp2) => (isHttp2 ? h2 : h1).emit('connection', socket))
    })
  }
  return Object.assign(server, {
    closeAllConnections(): void {
      for (const socket of sockets) socket.destroy()
    },
  })
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
