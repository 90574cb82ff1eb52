/**
 * GET /v1/stream/telemetry and GET /v1/stream/features: Server-Sent Events
 * over HTTP/1.1 or HTTP/2 (docs/http-api.md). Filtering happens here, on the
 * server: a client receives only the devices and names it asked for.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify'
import { InvalidParameterError, UnknownFeatureError } from '../core/errors.js'
import { NAME_PATTERN } from '../core/telemetry.js'
import { devicesParam, list, one, type Query } from './params.js'
import type { ClientFilter, SseHub, StreamResponse } from './sse.js'

export interface StreamSources {
  readonly telemetry: SseHub
  readonly features: SseHub
  /** Whether the system has stored readings of this device. */
  knowsDevice(device: string): boolean
  /** The feature names the definitions file defines. */
  readonly featureNames: ReadonlySet<string>
}

export function registerStreamRoutes(app: FastifyInstance, sources: StreamSources): void {
  app.get('/v1/stream/telemetry', async (request, reply) => {
    const query = request.query as Query
    const devices = devicesParam(query, sources.knowsDevice)
    const fields = list(query, 'fields', NAME_PATTERN, 256)
    const lastEventId = lastEventIdOf(request)
    reply.hijack()
    sources.telemetry.attach(reply.raw as unknown as StreamResponse, filter(devices, fields), lastEventId)
  })

  app.get('/v1/stream/features', async (request, reply) => {
    const query = request.query as Query
    const devices = devicesParam(query, sources.knowsDevice)
    const features = list(query, 'feature', NAME_PATTERN, 256)
    for (const f of features ?? []) if (!sources.featureNames.has(f)) throw new UnknownFeatureError(f)
    const lastEventId = lastEventIdOf(request)
    reply.hijack()
    sources.features.attach(reply.raw as unknown as StreamResponse, filter(devices, features), lastEventId)
  })
}

function filter(devices: string[] | null, names: string[] | undefined): ClientFilter {
  return {
    devices: devices === null ? null : new Set(devices),
    names: names === undefined ? null : new Set(names),
  }
}

/** Last-Event-ID as EventSource sends it on reconnect, or `lastEventId` in the query for clients that cannot set headers. */
function lastEventIdOf(request: FastifyRequest): number | null {
  const header = request.headers['last-event-id']
  const value = typeof header === 'string' ? header : one(request.query as Query, 'lastEventId')
  if (value === undefined || value === '') return null
  const id = Number(value)
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(id)) {
    throw new InvalidParameterError('Last-Event-ID', 'must be an event id (a non-negative integer)')
  }
  return id
}
