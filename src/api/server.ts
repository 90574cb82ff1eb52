/**
 * The one Fastify instance of the process, on one port for HTTP/1.1 and
 * HTTP/2 (dual-server.ts). Every error leaves as JSON with a stable `code` and
 * a human message; a bad parameter is a 400 naming it.
 */

import { maxHeaderSize, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import {
  BadRequestError,
  ForbiddenError,
  InvalidParameterError,
  NotFoundError,
  RangeTooLargeError,
  RateLimitedError,
  StoreBusyError,
  TelemetryError,
  UnauthorizedError,
} from '../core/errors.js'
import { formatRfc3339Ns } from '../core/time.js'
import { type HttpSecurity, OPEN_HTTP, registerHttpSecurity, serializeRequest } from './auth/index.js'
import { createDualServer, type TlsFiles, type WebSocketRoutes } from './dual-server.js'
import { SCHEMA_FORMATS, validationError } from './params.js'

/** What a body of the wrong type is told: `curl -d` alone sends a form, not JSON. */
const JSON_BODY_EXAMPLE =
  "the body must be JSON, sent with Content-Type: application/json, for example: curl -X POST -H 'content-type: application/json' -d '{\"ids\":[1,2]}' http://127.0.0.1:8080/v1/dead-letters/replay"

/**
 * A request Node's parser refused before Fastify saw it (headers or URL over
 * the limit, a malformed request line, a request that timed out): answered
 * with our JSON error, like every other refusal, then the connection closed.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy()
    return
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const message =
    status === 431
      ? `the request line and headers exceed the server limit (${maxHeaderSize} bytes): send long device or feature lists in fewer requests`
      : status === 408
        ? 'the request was not received in time'
        : `malformed HTTP request (${err.code ?? err.message})`
  const error = new BadRequestError(message, status)
  const body = JSON.stringify({ code: error.code, message: error.message })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

/** `webSockets`: WebSocket handlers by path, outside Fastify (dual-server.ts). */
export async function createHttpServer(
  log: Logger,
  tls: TlsFiles | null = null,
  security: HttpSecurity = OPEN_HTTP,
  webSockets: WebSocketRoutes = {},
): Promise<FastifyInstance> {
  // Fastify's own request serializer logs the URL whole, an SSE token in the query with it (auth/redact.ts).
  const loggerInstance: FastifyBaseLogger = log.child(
    { module: 'http' },
    { serializers: { req: serializeRequest } },
  )
  // http2: true makes Fastify's handler serve both request kinds; the routes
  // use only what HTTP/1.1 and HTTP/2 share, so the instance is typed as the default.
  const app = Fastify({
    http2: true,
    serverFactory: (handler) => createDualServer(handler, tls, webSockets) as never,
    // On close, end every connection: SSE streams never end by themselves.
    forceCloseConnections: true,
    loggerInstance,
    // No log line per request: ML jobs and dashboards poll, and would flood the log.
    logController: new LogController({ disableRequestLogging: true }),
    clientErrorHandler: answerClientError,
    // Route schemas (params.ts): a failure is our 400 naming the parameter.
    // verbose: each error carries the value and schema it is about, for the message.
    schemaErrorFormatter: validationError,
    ajv: { customOptions: { verbose: true, formats: SCHEMA_FORMATS } },
  }) as unknown as FastifyInstance

  // An empty parameter (`from=`, as a form leaves it) is as if it were absent.
  app.addHook('preValidation', (request, _reply, done) => {
    const query = request.query as Record<string, unknown>
    for (const name in query) if (query[name] === '') delete query[name]
    done()
  })

  // Every body the API takes is JSON: a text body is refused (415, with an example) rather than parsed as a string.
  app.removeContentTypeParser('text/plain')
  app.setErrorHandler((err, request, reply) => {
    let error: TelemetryError
    if (err instanceof TelemetryError) error = err
    else {
      const status = (err as { statusCode?: number }).statusCode
      if (status === 415)
        error = new BadRequestError(`${(err as Error).message}: ${JSON_BODY_EXAMPLE}`, status, { cause: err })
      else if (status !== undefined && status >= 400 && status < 500)
        error = new BadRequestError((err as Error).message, status, { cause: err })
      else {
        // A client that went away interrupted its own query: not a failure of ours.
        const raw = reply.raw as typeof reply.raw & { stream?: { destroyed: boolean } }
        if (raw.destroyed || raw.stream?.destroyed) request.log.debug({ err }, 'client went away')
        else request.log.error({ err }, 'request failed')
        error = new TelemetryError('internal error', { cause: err })
      }
    }
    const body: Record<string, unknown> = { code: error.code, message: error.message }
    if (error instanceof InvalidParameterError) body.parameter = error.parameter
    // The range that would be answered: a client retries with it, then goes on from its `to`.
    if (error instanceof RangeTooLargeError)
      Object.assign(body, { from: formatRfc3339Ns(error.fromNs), to: formatRfc3339Ns(error.toNs) })
    if (error instanceof StoreBusyError || error instanceof RateLimitedError)
      reply.header('retry-after', error.retryAfterS)
    // RFC 6750 §3: a 401 or 403 of a bearer-token API carries its challenge.
    if (error instanceof UnauthorizedError || error instanceof ForbiddenError)
      reply.header('www-authenticate', error.wwwAuthenticate)
    return reply.status(error.statusCode).send(body)
  })

  app.setNotFoundHandler(async (request) => {
    throw new NotFoundError(`no route ${request.method} ${request.url.split('?')[0]}`)
  })
  await registerHttpSecurity(app, security)
  return app
}

/**
 * Listens, without Fastify's own "Server listening at http://…" line: the
 * app logs one start-up line naming every URL it serves (src/app.ts), and
 * Fastify, which does not see the TLS under the dual server, said http://
 * with TLS on.
 */
export async function listenQuietly(app: FastifyInstance, host: string, port: number): Promise<number> {
  const level = app.log.level
  app.log.level = 'warn'
  try {
    await app.listen({ host, port })
  } finally {
    app.log.level = level
  }
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : port
}
