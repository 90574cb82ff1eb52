/**
 * GET /v1/stream/telemetry and GET /v1/stream/features: Server-Sent Events
 * over HTTP/1.1 or HTTP/2 (docs/http-api.md). Filtering happens here, on the
 * server: a client receives only the devices and names it asked for. A
 * well-formed device id that has not published yet is a stream like any
 * other: it delivers once the device appears (a model or dashboard may start
 * before its devices, as an MQTT subscriber may).
 */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { UnknownFeatureError } from '../core/errors.js'
import { NAME_PATTERN } from '../core/telemetry.js'
import { devices, devicesParam, items, listParam } from './params.js'
import type { ClientFilter, SseHub, StreamResponse } from './sse.js'

export interface StreamSources {
  readonly telemetry: SseHub
  readonly features: SseHub
  /** The feature names the definitions file defines. */
  readonly featureNames: ReadonlySet<string>
}

/** An event id, as EventSource resends the last one it saw. */
const eventId = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  title: 'Last-Event-ID',
  description: 'an event id: resume after it',
})

/** Last-Event-ID as EventSource sends it on reconnect, or `lastEventId` in the query for clients that cannot set headers. */
const ResumeHeaders = Type.Object({ 'last-event-id': Type.Optional(eventId) })

const TelemetryStreamQuery = Type.Object({
  device: devicesParam,
  fields: Type.Optional(listParam([NAME_PATTERN], 256, 'field names separated by commas, at most 256')),
  lastEventId: Type.Optional(eventId),
})

const FeatureStreamQuery = Type.Object({
  device: devicesParam,
  feature: Type.Optional(listParam([NAME_PATTERN], 256, 'feature names separated by commas, at most 256')),
  lastEventId: Type.Optional(eventId),
})

export function registerStreamRoutes(app: FastifyInstance, sources: StreamSources): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/v1/stream/telemetry',
    { schema: { querystring: TelemetryStreamQuery, headers: ResumeHeaders } },
    async (request, reply) => {
      const { query, headers } = request
      const f = filter(devices(query.device), query.fields)
      reply.hijack()
      sources.telemetry.attach(
        reply.raw as unknown as StreamResponse,
        f,
        headers['last-event-id'] ?? query.lastEventId ?? null,
      )
    },
  )

  api.get(
    '/v1/stream/features',
    { schema: { querystring: FeatureStreamQuery, headers: ResumeHeaders } },
    async (request, reply) => {
      const { query, headers } = request
      const f = filter(devices(query.device), query.feature)
      for (const name of f.names ?? [])
        if (!sources.featureNames.has(name)) throw new UnknownFeatureError(name)
      reply.hijack()
      sources.features.attach(
        reply.raw as unknown as StreamResponse,
        f,
        headers['last-event-id'] ?? query.lastEventId ?? null,
      )
    },
  )
}

function filter(devices: string[] | null, names: string | undefined): ClientFilter {
  return {
    devices: devices === null ? null : new Set(devices),
    names: names === undefined ? null : new Set(items(names)),
  }
}
