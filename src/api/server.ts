/**
 * The one Fastify instance of the process, on one port for HTTP/1.1 and
 * HTTP/2 (dual-server.ts). Every error leaves as JSON with a stable `code` and
 * a human message; a bad parameter is a 400 naming it.
 */

import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import { InvalidParameterError, TelemetryError } from '../core/errors.js'
import { createDualServer, type TlsFiles } from './dual-server.js'

export function createHttpServer(log: Logger, tls: TlsFiles | null = null): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = log.child({ module: 'http' })
  // http2: true makes Fastify's handler serve both request kinds; the routes
  // use only what HTTP/1.1 and HTTP/2 share, so the instance is typed as the default.
  const app = Fastify({
    http2: true,
    serverFactory: (handler) => createDualServer(handler, tls) as never,
    // On close, end every connection: SSE streams never end by themselves.
    forceCloseConnections: true,
    loggerInstance,
    // No log line per request: ML jobs and dashboards poll, and would flood the log.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof TelemetryError) {
      const body: Record<string, unknown> = { code: err.code, message: err.message }
      if (err instanceof InvalidParameterError) body.parameter = err.parameter
      return reply.status(err.statusCode).send(body)
    }
    const fastifyError = err as { statusCode?: number; code?: string; message: string }
    if (
      fastifyError.statusCode !== undefined &&
      fastifyError.statusCode >= 400 &&
      fastifyError.statusCode < 500
    ) {
      return reply
        .status(fastifyError.statusCode)
        .send({ code: 'TLM_ERR_BAD_REQUEST', message: fastifyError.message })
    }
    request.log.error({ err }, 'request failed')
    return reply.status(500).send({ code: 'TLM_ERR_INTERNAL', message: 'internal error' })
  })

  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send({ code: 'TLM_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` })
  })
  return app
}
