/**
 * GET /v1/telemetry: stored readings of devices over a time range, as JSON,
 * NDJSON, CSV or Parquet (docs/http-api.md). Rows stream from the store in chunks, so
 * a large range never sits in memory whole.
 */

import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { InvalidParameterError } from '../core/errors.js'
import { readingJson } from '../core/reading-json.js'
import { DEVICE_ID_PATTERN, NAME_PATTERN } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import type { History } from '../influx/history.js'
import type { ReadingRow } from '../store/index.js'
import { choice, integer, list, type Query, time } from './params.js'
import { sendParquet } from './parquet.js'

const FORMATS = ['json', 'ndjson', 'csv', 'parquet'] as const
export const CONTENT_TYPE = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
}
export const MAX_TELEMETRY_LIMIT = 1_000_000
const DEFAULT_RANGE_NS = 3_600_000_000_000n

export function registerTelemetryRoutes(app: FastifyInstance, store: History): void {
  app.get('/v1/telemetry', async (request, reply) => {
    const query = request.query as Query
    const devices = list(query, 'device', DEVICE_ID_PATTERN, 100)
    if (devices === undefined) throw new InvalidParameterError('device', 'required')
    const to = time(query, 'to') ?? BigInt(Date.now()) * 1_000_000n
    const from = time(query, 'from') ?? to - DEFAULT_RANGE_NS
    if (from > to) throw new InvalidParameterError('from', 'must not be after to')
    const fields = list(query, 'fields', NAME_PATTERN, 256) ?? null
    const known = new Set(store.storedFields().map((f) => f.name))
    for (const f of fields ?? [])
      if (!known.has(f)) throw new InvalidParameterError('fields', `unknown field ${f}`)
    const limit = integer(query, 'limit', 1, MAX_TELEMETRY_LIMIT) ?? 10_000
    const format = choice(query, 'format', FORMATS) ?? 'json'

    const q = { devices, fromNs: from, toNs: to, fields, limit }
    if (format === 'parquet')
      return sendParquet(reply, store, { kind: 'readings', query: q }, 'telemetry.parquet')
    const rows = store.readings(q)
    const columns = fields ?? [...known]
    reply.type(CONTENT_TYPE[format])
    return reply.send(Readable.from(render(rows, format, columns)))
  })
}

async function* render(
  chunks: AsyncIterable<ReadingRow[]>,
  format: Exclude<(typeof FORMATS)[number], 'parquet'>,
  columns: readonly string[],
) {
  if (format === 'csv')
    yield `${['device', 'ts', 'boot', 'seq', 'idx', 'device_ts', 'recv_ts', 'offset_ns', ...columns, 'tags'].map(csvCell).join(',')}\n`
  if (format === 'json') yield '{"readings":['
  let first = true
  for await (const chunk of chunks) {
    let out = ''
    for (const row of chunk) {
      if (format === 'csv') out += csvRow(row, columns)
      else if (format === 'ndjson') out += `${toJson(row)}\n`
      else {
        out += (first ? '' : ',') + toJson(row)
        first = false
      }
    }
    yield out
  }
  if (format === 'json') yield ']}\n'
}

/** A stored reading as the API shows it (src/core/reading-json.ts). */
function toJson(row: ReadingRow): string {
  return readingJson({
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
  })
}

function csvRow(row: ReadingRow, columns: readonly string[]): string {
  const cells = [
    row.device,
    formatRfc3339Ns(row.ts),
    row.boot,
    row.seq,
    row.idx,
    row.device_ts === null ? '' : formatRfc3339Ns(row.device_ts),
    formatRfc3339Ns(row.recv_ts),
    row.offset_ns,
    ...columns.map((c) => row.fields[c] ?? ''),
    row.tags ?? '',
  ]
  return `${cells.map(csvCell).join(',')}\n`
}

/** RFC 4180: quote a cell holding a comma, quote or line break. */
export function csvCell(value: unknown): string {
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}
