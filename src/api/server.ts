/**
 * The one Fastify instance of the process. Every error leaves as JSON with a
 * stable `code` and a human message; a bad parameter is a 400 naming it.
 */

import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import { InvalidParameterError, TelemetryError } from '../errors.js'

export function createHttpServer(log: Logger): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = log.child({ module: 'http' })
  const app: FastifyInstance = Fastify({
    loggerInstance,
    // No log line per request: ML jobs and dashboards poll, and would flood the log.
    logController: new LogController({ disableRequestLogging: true }),
  })

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
