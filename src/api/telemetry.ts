/**
 * GET /v1/telemetry: stored readings of devices over a time range, as JSON,
 * NDJSON, CSV or Parquet (docs/http-api.md), a page at a time. Rows stream
 * from the store in chunks, so a large range never sits in memory whole.
 *
 * Paging (issue 23): before the first byte, the store says where the page
 * ends and which snapshot it reads (HistoryReader.readingPage), and the
 * page's query reads up to that reading. Every format says in its headers
 * whether the page is cut, and JSON in its body too; `Link: rel="next"` is
 * this query with its range and snapshot made absolute and `after` set, so
 * that following it reads each reading stored when the first page was
 * answered exactly once, whatever is stored meanwhile.
 */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { InvalidParameterError } from '../core/errors.js'
import { type ReadingJson, readingJson } from '../core/reading-json.js'
import { DEVICE_ID_PATTERN, NAME_PATTERN, nowNs } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import { EXPORT_COLUMNS, type HistoryReader, type ReadingQuery, type ReadingRow } from '../store/index.js'
import { abortOnClose, devices, items, listParam, timeNs, timeParam } from './params.js'
import { sendParquet } from './parquet.js'
import { cursorParam, decodeCursor, encodeCursor } from './reading-cursor.js'
import { CONTENT_TYPE, formatParam, type RowFormat, renderRows, started } from './text-formats.js'

export const MAX_TELEMETRY_LIMIT = 1_000_000
const DEFAULT_LIMIT = 10_000
const DEFAULT_RANGE_NS = 3_600_000_000_000n
/** `true` when more readings follow this page (then `Link` has rel="next"), else `false`. */
export const TRUNCATED_HEADER = 'telemetry-truncated'

const TelemetryQuery = Type.Object({
  device: listParam([/^\*$/, DEVICE_ID_PATTERN], 100, 'device ids separated by commas (at most 100), or *'),
  from: Type.Optional(timeParam),
  to: Type.Optional(timeParam),
  as_of: Type.Optional(timeParam),
  after: Type.Optional(cursorParam),
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
    const fields = query.fields === undefined ? null : [...new Set(items(query.fields))]
    const known = new Set(store.storedFields().map((f) => f.name))
    for (const f of fields ?? [])
      if (!known.has(f)) throw new InvalidParameterError('fields', `unknown field ${f}`)
    const format = query.format ?? 'json'
    const asked: ReadingQuery = {
      devices: devices(query.device),
      fromNs: from,
      toNs: to,
      fields,
      limit: query.limit ?? DEFAULT_LIMIT,
      asOfNs: timeNs(query.as_of) ?? null,
      after: query.after === undefined ? null : decodeCursor(query.after),
      through: null,
    }
    const signal = abortOnClose(reply)
    const page = await store.readingPage(asked, signal)
    const q: ReadingQuery = { ...asked, asOfNs: page.asOfNs, through: page.last }
    const next = page.last === null ? null : encodeCursor(page.last)
    // Sent with the rows they describe only: an error after this point keeps the headers already set.
    const paging: Record<string, string> = { [TRUNCATED_HEADER]: String(next !== null) }
    if (next !== null) {
      const frozen = {
        from: formatRfc3339Ns(from),
        to: formatRfc3339Ns(to),
        as_of: formatRfc3339Ns(page.asOfNs!),
      }
      paging.link = `<${withParams(request.url, { ...frozen, after: next })}>; rel="next"`
    }
    if (format === 'parquet')
      return sendParquet(reply, store, { kind: 'readings', query: q }, 'telemetry.parquet', paging)
    const chunks = await started(store.readings(q, signal))
    reply.headers(paging)
    reply.type(CONTENT_TYPE[format])
    const head = { truncated: next !== null, next }
    return reply.send(renderRows(chunks, format, readingFormat(fields ?? [...known]), head))
  })
}

/** `url` (a path and query) with these parameters set, the others as they were. */
function withParams(url: string, set: Readonly<Record<string, string>>): string {
  const q = url.indexOf('?')
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
  for (const [name, value] of Object.entries(set)) params.set(name, value)
  return `${q < 0 ? url : url.slice(0, q)}?${params}`
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
    // The Parquet of a page has these columns too (src/store/reading-sql.ts).
    columns: [...EXPORT_COLUMNS, ...columns, 'tags'],
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
