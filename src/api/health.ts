/** GET /healthz (the process answers), /readyz (store and broker ready), /metrics. */

import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { NotReadyError } from '../core/errors.js'

export interface Readiness {
  /** Resolves with null when ready, or with why not. */
  check(): Promise<string | null>
}

export function registerHealthRoutes(app: FastifyInstance, readiness: Readiness, registry: Registry): void {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async () => {
    const problem = await readiness.check().catch((err: unknown) => `check failed: ${(err as Error).message}`)
    if (problem === null) return { status: 'ready' }
    throw new NotReadyError(problem)
  })

  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}
