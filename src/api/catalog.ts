/**
 * Discovery: GET /v1/devices (each device's time span, last receive time,
 * readings, fields and whether it is connected) and GET /v1/fields (each
 * field's type, when it was added, how many devices send it), answered from
 * the store's catalog (src/store/catalog.ts), never by scanning readings
 * (docs/http-api.md).
 */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { DEVICE_ID_PATTERN } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import type { DeviceCatalog, DeviceRow, FieldUse } from '../store/index.js'
import { devices, devicesParam } from './params.js'
import { CONTENT_TYPE } from './text-formats.js'

const MAX_PAGE = 10_000
const format = Type.Optional(Type.Enum(['json', 'ndjson']))

const DevicesQuery = Type.Object({
  device: Type.Optional(devicesParam),
  after: Type.Optional(
    Type.String({ pattern: DEVICE_ID_PATTERN.source, description: "a device id: the previous page's next" }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE })),
  format,
})

export interface CatalogSources {
  readonly catalog: DeviceCatalog
  /** Whether a client that published for the device is connected now (presence.ts). */
  connected(device: string): boolean
}

export function registerCatalogRoutes(app: FastifyInstance, sources: CatalogSources): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get('/v1/devices', { schema: { querystring: DevicesQuery } }, async (request, reply) => {
    const query = request.query
    const page = await sources.catalog.devices({
      devices: query.device === undefined ? null : devices(query.device),
      after: query.after ?? null,
      limit: query.limit ?? 100,
    })
    const rows = page.devices.map((d) => deviceJson(d, sources.connected(d.device)))
    // Keyset paging, as /v1/dead-letters: `next` is the `after` of the next page, null after the last.
    if (query.format !== 'ndjson') return { devices: rows, next: page.next }
    return reply.type(CONTENT_TYPE.ndjson).send(ndjson([...rows, { next: page.next }]))
  })

  api.get('/v1/fields', { schema: { querystring: Type.Object({ format }) } }, async (request, reply) => {
    const fields = (await sources.catalog.fieldUse()).map(fieldJson)
    if (request.query.format !== 'ndjson') return { fields }
    return reply.type(CONTENT_TYPE.ndjson).send(ndjson(fields))
  })
}

function deviceJson(d: DeviceRow, connected: boolean) {
  return {
    device: d.device,
    first_ts: formatRfc3339Ns(d.firstTsNs),
    last_ts: formatRfc3339Ns(d.lastTsNs),
    last_recv_ts: formatRfc3339Ns(d.lastRecvTsNs),
    readings: d.readings,
    fields: Object.fromEntries(d.fields.map((f) => [f.name, f.kind])),
    connected,
  }
}

function fieldJson(f: FieldUse) {
  return {
    name: f.name,
    kind: f.kind,
    first_seen: f.addedNs === null ? null : formatRfc3339Ns(f.addedNs),
    devices: f.devices,
  }
}

function ndjson(rows: readonly unknown[]): string {
  return rows.map((row) => `${JSON.stringify(row)}\n`).join('')
}
