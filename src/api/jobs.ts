/**
 * The maintenance jobs over HTTP (admin scope, docs/http-api.md "Jobs"):
 * GET /v1/admin/jobs lists each job, its schedule and its last run; POST
 * /v1/admin/jobs/{name}/run runs one now and answers its run once it ends,
 * or 409 TLM_ERR_JOB_RUNNING while it is running already.
 */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { JobRunner } from '../jobs/index.js'

const RunParams = Type.Object({
  name: Type.String({ pattern: '^[a-z][a-z-]{0,63}$', description: 'a job name' }),
})

export function registerJobRoutes(app: FastifyInstance, jobs: JobRunner): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get('/v1/admin/jobs', async () => ({ jobs: jobs.list() }))
  api.post('/v1/admin/jobs/:name/run', { schema: { params: RunParams } }, (request) =>
    jobs.runNow(request.params.name),
  )
}
