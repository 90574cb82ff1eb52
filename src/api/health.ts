/** GET /healthz (the process answers), /readyz (store and broker ready), /metrics. */

import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { NotReadyError } from '../core/errors.js'

export interface Readiness {
  /** Resolves with null when ready, or with why not. */
  check(): Promise<string | null>
  /** What an operator must know while ready: anonymous access on an exposed address, say. */
  readonly warnings?: readonly string[]
}

export function registerHealthRoutes(app: FastifyInstance, readiness: Readiness, registry: Registry): void {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async () => {
    const problem = await readiness.check().catch((err: unknown) => `check failed: ${(err as Error).message}`)
    const warnings = readiness.warnings ?? []
    if (problem === null) return warnings.length === 0 ? { status: 'ready' } : { status: 'ready', warnings }
    throw new NotReadyError(problem)
  })

  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}
