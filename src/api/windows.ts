/**
 * GET /v1/windows: the features of the definitions file computed over stored
 * readings, one row per device and window end, as JSON, NDJSON, CSV or
 * Parquet (docs/training-data.md). The store does the aggregation
 * (src/store/window-sql.ts); a closed window has the values the live stream
 * emitted for it.
 */

import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { InvalidParameterError, UnknownFeatureError } from '../core/errors.js'
import { formatRfc3339Ns } from '../core/time.js'
import { FEATURE_NAME_PATTERN, type FeatureDefinition } from '../features/definitions.js'
import type { History } from '../influx/history.js'
import type { WindowRow } from '../store/index.js'
import { type WindowQuery, windowColumns } from '../store/index.js'
import { choice, devicesParam, list, type Query, time } from './params.js'
import { sendParquet } from './parquet.js'
import { CONTENT_TYPE, csvCell } from './telemetry.js'

const FORMATS = ['json', 'ndjson', 'csv', 'parquet'] as const
/** Windows per device and feature one request may cover: 10 s windows for over three years. */
export const MAX_WINDOWS_PER_FEATURE = 10_000_000n
const DEFAULT_RANGE_NS = 86_400_000_000_000n

export interface WindowSources {
  readonly store: History
  readonly features: readonly FeatureDefinition[]
  knowsDevice(device: string): boolean
}

export function registerWindowRoutes(app: FastifyInstance, sources: WindowSources): void {
  app.get('/v1/windows', async (request, reply) => {
    const query = request.query as Query
    const q = windowQuery(query, sources)
    const format = choice(query, 'format', FORMATS) ?? 'json'
    if (format === 'parquet')
      return sendParquet(reply, sources.store, { kind: 'windows', query: q }, 'windows.parquet')
    reply.type(CONTENT_TYPE[format])
    return reply.send(Readable.from(render(sources.store.windows(q), format, windowColumns(q.features))))
  })
}

/** The query parameters as a WindowQuery; every problem is a 400 naming its parameter. */
export function windowQuery(query: Query, sources: WindowSources): WindowQuery {
  const devices = devicesParam(query, (d) => sources.knowsDevice(d))
  const names = list(query, 'feature', FEATURE_NAME_PATTERN, 256)
  let features = sources.features
  if (names !== undefined) {
    features = names.map((name) => {
      const f = sources.features.find((d) => d.name === name)
      if (f === undefined) throw new UnknownFeatureError(name)
      return f
    })
  }
  const to = time(query, 'to') ?? BigInt(Date.now()) * 1_000_000n
  const from = time(query, 'from') ?? to - DEFAULT_RANGE_NS
  if (from >= to) throw new InvalidParameterError('from', 'must be before to')
  for (const f of features) {
    const windows = (to - from) / f.hopNs
    if (windows > MAX_WINDOWS_PER_FEATURE)
      throw new InvalidParameterError(
        'to',
        `the range holds ${windows} windows of ${f.name}; at most ${MAX_WINDOWS_PER_FEATURE} per request`,
      )
  }
  const asOfNs = time(query, 'as_of') ?? null
  const includeLate = choice(query, 'late', ['exclude', 'include'] as const) === 'include'
  return { features, devices, fromNs: from, toNs: to, asOfNs, includeLate }
}

async function* render(
  chunks: AsyncIterable<WindowRow[]>,
  format: 'json' | 'ndjson' | 'csv',
  columns: readonly string[],
) {
  if (format === 'csv') yield `${['device', 'window_end', ...columns].map(csvCell).join(',')}\n`
  if (format === 'json') yield '{"windows":['
  let first = true
  for await (const chunk of chunks) {
    let out = ''
    for (const row of chunk) {
      const end = formatRfc3339Ns(row.windowEndNs)
      if (format === 'csv') {
        out += `${csvCell(row.device)},${end}${row.values.map((v) => `,${v ?? ''}`).join('')}\n`
        continue
      }
      const object: Record<string, unknown> = { device: row.device, window_end: end }
      columns.forEach((c, i) => {
        object[c] = row.values[i]
      })
      const json = JSON.stringify(object)
      if (format === 'ndjson') out += `${json}\n`
      else {
        out += (first ? '' : ',') + json
        first = false
      }
    }
    yield out
  }
  if (format === 'json') yield ']}\n'
}
