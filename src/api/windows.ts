/**
 * GET /v1/windows: the features of the definitions file computed over stored
 * readings, one row per device and window end, as JSON, NDJSON, CSV or
 * Parquet (docs/training-data.md). The store does the aggregation
 * (src/store/window-sql.ts); a closed window has the values the live stream
 * emitted for it.
 */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { type Static, Type } from 'typebox'
import { InvalidParameterError, RangeTooLargeError, UnknownFeatureError } from '../core/errors.js'
import { nowNs } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import { FEATURE_NAME_PATTERN, type FeatureDefinition } from '../features/definitions.js'
import {
  type DeviceCatalog,
  type HistoryReader,
  type WindowQuery,
  type WindowRow,
  windowColumns,
} from '../store/index.js'
import { abortOnClose, devices, devicesParam, items, listParam, timeNs, timeParam } from './params.js'
import { sendParquet } from './parquet.js'
import { CONTENT_TYPE, formatParam, type RowFormat, renderRows, started } from './text-formats.js'

/** Windows per device and feature one request may cover: 10 s windows for over three years. */
export const MAX_WINDOWS_PER_FEATURE = 10_000_000n
const DEFAULT_RANGE_NS = 86_400_000_000_000n

const WindowsQuery = Type.Object({
  device: devicesParam,
  feature: Type.Optional(
    listParam([FEATURE_NAME_PATTERN], 256, 'feature names separated by commas, at most 256'),
  ),
  from: Type.Optional(timeParam),
  to: Type.Optional(timeParam),
  as_of: Type.Optional(timeParam),
  late: Type.Optional(Type.Enum(['exclude', 'include'])),
  format: formatParam,
})

export interface WindowSources {
  readonly store: HistoryReader
  /** Where the devices' readings start: the range's default start (the local store's catalog). */
  readonly catalog: Pick<DeviceCatalog, 'span'>
  readonly features: readonly FeatureDefinition[]
  knowsDevice(device: string): boolean
}

export function registerWindowRoutes(app: FastifyInstance, sources: WindowSources): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get('/v1/windows', { schema: { querystring: WindowsQuery } }, async (request, reply) => {
    const q = await windowQuery(request.query, sources)
    const format = request.query.format ?? 'json'
    if (format === 'parquet')
      return sendParquet(reply, sources.store, { kind: 'windows', query: q }, 'windows.parquet')
    reply.type(CONTENT_TYPE[format])
    return reply.send(
      renderRows(
        await started(sources.store.windows(q, abortOnClose(reply))),
        format,
        windowFormat(windowColumns(q.features)),
      ),
    )
  })
}

/** The checked parameters as a WindowQuery; every problem is a 400 naming its parameter. */
async function windowQuery(query: Static<typeof WindowsQuery>, sources: WindowSources): Promise<WindowQuery> {
  const named = devices(query.device, (d) => sources.knowsDevice(d))
  let features = sources.features
  if (query.feature !== undefined) {
    features = items(query.feature).map((name) => {
      const f = sources.features.find((d) => d.name === name)
      if (f === undefined) throw new UnknownFeatureError(name)
      return f
    })
  }
  const to = timeNs(query.to) ?? nowNs()
  const from = timeNs(query.from) ?? (await defaultFrom(sources, named, to))
  if (from >= to) throw new InvalidParameterError('from', 'must be before to')
  // The feature of the shortest hop has the most windows.
  const densest = features.reduce<FeatureDefinition | undefined>(
    (a, f) => (a && a.hopNs <= f.hopNs ? a : f),
    undefined,
  )
  const windows = densest === undefined ? 0n : (to - from) / densest.hopNs
  if (densest !== undefined && windows > MAX_WINDOWS_PER_FEATURE) {
    const fits = from + MAX_WINDOWS_PER_FEATURE * densest.hopNs
    throw new RangeTooLargeError(
      `the range holds ${windows} windows of ${densest.name}; at most ${MAX_WINDOWS_PER_FEATURE} per request: ask for from ${formatRfc3339Ns(from)} to ${formatRfc3339Ns(fits)}, then on from there`,
      from,
      fits,
    )
  }
  const asOfNs = timeNs(query.as_of) ?? null
  const includeLate = query.late === 'include'
  return { features, devices: named, fromNs: from, toNs: to, asOfNs, includeLate }
}

/** Without `from`: the first reading of the devices asked for; the day before `to` when none is before it. */
async function defaultFrom(sources: WindowSources, devices: string[] | null, to: bigint): Promise<bigint> {
  const first = (await sources.catalog.span(devices))?.firstTsNs
  return first !== undefined && first < to ? first : to - DEFAULT_RANGE_NS
}

function windowFormat(columns: readonly string[]): RowFormat<WindowRow> {
  return {
    key: 'windows',
    columns: ['device', 'window_end', ...columns],
    json(row) {
      const object: Record<string, unknown> = {
        device: row.device,
        window_end: formatRfc3339Ns(row.windowEndNs),
      }
      columns.forEach((c, i) => {
        object[c] = row.values[i]
      })
      return JSON.stringify(object)
    },
    csv: (row) => [row.device, formatRfc3339Ns(row.windowEndNs), ...row.values],
  }
}
