/**
 * GET /v1/telemetry: stored readings of devices over a time range, as JSON,
 * NDJSON, CSV or Parquet (docs/http-api.md). Rows stream from the store in chunks, so
 * a large range never sits in memory whole.
 */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { InvalidParameterError } from '../core/errors.js'
import { type ReadingJson, readingJson } from '../core/reading-json.js'
import { DEVICE_ID_PATTERN, NAME_PATTERN, nowNs } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import type { HistoryReader, ReadingRow } from '../store/index.js'
import { abortOnClose, items, listParam, timeNs, timeParam } from './params.js'
import { sendParquet } from './parquet.js'
import { CONTENT_TYPE, formatParam, type RowFormat, renderRows, started } from './text-formats.js'

export const MAX_TELEMETRY_LIMIT = 1_000_000
const DEFAULT_RANGE_NS = 3_600_000_000_000n

const TelemetryQuery = Type.Object({
  device: listParam([DEVICE_ID_PATTERN], 100, 'device ids separated by commas, at most 100'),
  from: Type.Optional(timeParam),
  to: Type.Optional(timeParam),
  fields: Type.Optional(listParam([NAME_PATTERN], 256, 'field names separated by commas, at most 256')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TELEMETRY_LIMIT })),
  format: formatParam,
})

export function registerTelemetryRoutes(app: FastifyInstance, store: HistoryReader): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get('/v1/telemetry', { schema: { querystring: TelemetryQuery } }, async (request, reply) => {
    const query = request.query
    const to = timeNs(query.to) ?? nowNs()
    const from = timeNs(query.from) ?? to - DEFAULT_RANGE_NS
    if (from > to) throw new InvalidParameterError('from', 'must not be after to')
    const fields = query.fields === undefined ? null : items(query.fields)
    const known = new Set(store.storedFields().map((f) => f.name))
    for (const f of fields ?? [])
      if (!known.has(f)) throw new InvalidParameterError('fields', `unknown field ${f}`)
    const format = query.format ?? 'json'

    const q = { devices: items(query.device), fromNs: from, toNs: to, fields, limit: query.limit ?? 10_000 }
    if (format === 'parquet')
      return sendParquet(reply, store, { kind: 'readings', query: q }, 'telemetry.parquet')
    reply.type(CONTENT_TYPE[format])
    return reply.send(
      renderRows(
        await started(store.readings(q, abortOnClose(reply))),
        format,
        readingFormat(fields ?? [...known]),
      ),
    )
  })
}

/** A stored reading as the API shows it: one view (src/core/reading-json.ts) for JSON and CSV alike. */
function readingOf(row: ReadingRow): ReadingJson {
  return {
    device: row.device,
    tsNs: row.ts,
    boot: row.boot,
    seq: row.seq,
    idx: row.idx,
    deviceTsNs: row.device_ts,
    recvTsNs: row.recv_ts,
    offsetNs: row.offset_ns,
    fields: row.fields,
    tags: row.tags,
  }
}

function readingFormat(columns: readonly string[]): RowFormat<ReadingRow> {
  return {
    key: 'readings',
    columns: ['device', 'ts', 'boot', 'seq', 'idx', 'device_ts', 'recv_ts', 'offset_ns', ...columns, 'tags'],
    json: (row) => readingJson(readingOf(row)),
    csv(row) {
      const r = readingOf(row)
      return [
        r.device,
        formatRfc3339Ns(r.tsNs),
        r.boot,
        r.seq,
        r.idx,
        r.deviceTsNs === null ? null : formatRfc3339Ns(r.deviceTsNs),
        formatRfc3339Ns(r.recvTsNs),
        // CSV has no number limit: the exact 64-bit integer, where JSON may need a string.
        r.offsetNs,
        ...columns.map((c) => r.fields[c]),
        // The tags' JSON; an empty cell for none.
        r.tags,
      ]
    },
  }
}
