/**
 * The history API's feature windows (issue 4) as one DuckDB query over the
 * readings table: the SQL spelling of windows.ts and aggregate.ts, so that a
 * closed window has the values the live engine emitted for it.
 *
 *   readings ─ the field's value as x, a DOUBLE, from the `fields` map (schema.ts)
 *            ─ filter (devices, ts, stored_ts ≤ as_of, field present)
 *            ─ every window start containing ts: floor(ts / hop) · hop − k · hop, k < size / hop
 *            ─ drop (reading, window) when the window had closed as the reading
 *              arrived: start + size ≤ newest_ts − grace (the engine's `late`),
 *              unless late readings are asked for (`late=include`)
 *            ─ GROUP BY device, start: the aggregations of aggregate.ts
 *   one such query per feature; several are merged on (device, window_end).
 *
 * What makes the two sides agree:
 * - newest_ts, stored with each reading, is the number the engine judged
 *   lateness by (engine.ts), and stored_ts orders readings as the engine saw
 *   them: first and last break event-time ties by it.
 * - The aggregations are DuckDB's fsum and stddev_samp, whose update steps
 *   aggregate.ts repeats; mean is fsum / count on both sides; rate is the same
 *   three float operations.
 *
 * A window is in the range when its end lies in (from, to]: a training row is
 * keyed by the time its features became final, and consecutive ranges never
 * share or skip a window. Every name interpolated here is checked first:
 * devices match DEVICE_ID_PATTERN; a field goes in by its numeric id.
 */

import { type Aggregation, columnName, type WindowFeature } from '../core/aggregations.js'
import { type FieldRef, fieldValueSql, quoted, READINGS, sqlString } from './schema.js'

export interface WindowQuery {
  /** The features, in output column order. */
  readonly features: readonly WindowFeature[]
  /** null: every device. */
  readonly devices: readonly string[] | null
  /** Windows ending after fromNs and at or before toNs. */
  readonly fromNs: bigint
  readonly toNs: bigint
  /** Only readings stored at or before this time count; null: all. */
  readonly asOfNs: bigint | null
  /**
   * false: each window holds the readings that arrived before it closed, as
   * the live stream sent it (the parity contract). true: every stored reading
   * in its event-time window, late ones too (`late=include`).
   */
  readonly includeLate: boolean
}

/** The output columns after device and window_end, in order. */
export function windowColumns(features: readonly WindowFeature[]): string[] {
  return features.flatMap((f) => f.aggregations.map((a) => columnName(f, a)))
}

// first and last: by event time, ties by arrival; a HUGEINT orders (ts, stored_ts) as a pair.
const ORDER_KEY = '(ts::HUGEINT * 18446744073709551616 + stored_ts)'
const FIRST = `arg_min(x, ${ORDER_KEY})`
const LAST = `arg_max(x, ${ORDER_KEY})`

const AGGREGATE_SQL: Record<Aggregation, string> = {
  count: 'count(x)',
  sum: 'fsum(x)',
  mean: 'fsum(x) / count(x)',
  min: 'min(x)',
  max: 'max(x)',
  std: 'stddev_samp(x)',
  first: FIRST,
  last: LAST,
  rate: `CASE WHEN count(x) < 2 OR max(ts) = min(ts) THEN NULL ELSE (${LAST} - ${FIRST}) / ((max(ts) - min(ts))::DOUBLE / 1e9) END`,
}

/** One feature's windows: device, window_end and its value columns. */
function featureSql(f: WindowFeature, field: FieldRef, q: WindowQuery, table: string): string {
  const size = f.sizeNs
  const hop = f.hopNs
  const x = `CAST(${fieldValueSql(field)} AS DOUBLE)`
  const where = [
    `${x} IS NOT NULL`,
    // The readings of every window ending in (from, to].
    `ts >= ${q.fromNs - size + 1n}`,
    `ts < ${q.toNs}`,
  ]
  if (q.devices !== null) where.push(`device IN (${q.devices.map(sqlString).join(', ')})`)
  if (q.asOfNs !== null) where.push(`stored_ts <= ${q.asOfNs}`)
  const perTime = size / hop
  const starts =
    perTime === 1n
      ? 'SELECT *, base AS start FROM r'
      : // unnest, not a join: each reading's windows follow it, so every window still takes its readings in stored order.
        `SELECT *, base - unnest(range(0, ${perTime})) * ${hop} AS start FROM r`
  const values = f.aggregations.map((a) => `${AGGREGATE_SQL[a]} AS ${quoted(columnName(f, a))}`)
  return `SELECT device, start + ${size} AS window_end, ${values.join(', ')} FROM (
    WITH r AS (
      SELECT device, ts, stored_ts, newest_ts, ${x} AS x,
        ts - ((ts % ${hop}) + ${hop}) % ${hop} AS base
      FROM ${quoted(table)} WHERE ${where.join(' AND ')})
    ${starts})
  WHERE start + ${size} > ${q.fromNs} AND start + ${size} <= ${q.toNs}
    ${q.includeLate ? '' : `AND start + ${size} > newest_ts - ${f.graceNs}`}
  GROUP BY device, start`
}

/**
 * The query over `table`, whose `fields` map is keyed by the ids of
 * `fields`: one row per device and window end, ordered by both;
 * `window_end` is epoch ns. A feature whose field was never stored has no
 * windows: its columns are null.
 */
export function windowsSql(q: WindowQuery, fields: readonly FieldRef[], table = READINGS): string {
  const byName = new Map(fields.map((f) => [f.name, f]))
  const stored = q.features.filter((f) => byName.has(f.field))
  const columns = q.features.flatMap((f) =>
    f.aggregations.map((a) => {
      const c = quoted(columnName(f, a))
      return byName.has(f.field) ? (stored.length === 1 ? c : `max(${c}) AS ${c}`) : `NULL::DOUBLE AS ${c}`
    }),
  )
  const select = `SELECT device, window_end, ${columns.join(', ')}`
  if (stored.length === 0)
    return `${select} FROM (SELECT NULL::VARCHAR AS device, NULL::BIGINT AS window_end) WHERE false`
  if (stored.length === 1)
    return `${select} FROM (${featureSql(stored[0]!, byName.get(stored[0]!.field)!, q, table)}) ORDER BY device, window_end`
  // Each feature's rows carry only its own columns (UNION BY NAME fills the
  // rest with NULL); max() keeps the one value of each column per row.
  const parts = stored
    .map((f) => `(${featureSql(f, byName.get(f.field)!, q, table)})`)
    .join(' UNION ALL BY NAME ')
  return `${select} FROM (${parts}) GROUP BY device, window_end ORDER BY device, window_end`
}
