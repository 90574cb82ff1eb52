/**
 * Stored readings as InfluxDB line protocol (docs/influxdb.md), rendered by
 * the store in SQL (linesSql) for the InfluxDB forwarder:
 *
 *   telemetry,device=meter-7,site=north temp=21.5,count=3i,on=true,@boot=0i,@seq=17i,… 1764115200000000017
 *   └ measurement └ tags (device + allowed)  └ fields (pinned types)  └ meta fields   └ time (ns)
 *
 * - Tags: `device`, and only the reading tags named in the allow-list: every
 *   distinct tag value is a new series, and a tag that varies per reading is
 *   how InfluxDB databases blow up.
 * - Fields: each reading field with its pinned type (integers with `i`,
 *   floats in their shortest exact decimal form, booleans), in the order
 *   of their ids (the order they were first stored in), then the meta
 *   fields `@boot @seq @idx @ts @recv @stored @newest @offset` (and
 *   `@device_ts` when the device sent a time), all integers: what the
 *   history API needs to return the same rows as the local store. `@` cannot
 *   start a field name of ours (NAME_PATTERN), so they never collide.
 * - Time: InfluxDB keeps one point per series and timestamp, so two readings
 *   of a device at the same time would overwrite each other. The time is the
 *   corrected event time truncated to the millisecond plus a tie-breaker in
 *   the sub-millisecond digits, (seq + 1000 · idx) mod 1,000,000 ns: distinct
 *   for every message of up to a million consecutive seqs in one millisecond,
 *   and the same for a redelivery, which then overwrites instead of doubling.
 *   The exact event time is `@ts`.
 */

import { FIELDS, FIELDS_COLUMN, READINGS, sqlString } from './schema.js'

/** Measurement names: commas and spaces escaped. */
function escapeMeasurement(name: string): string {
  return name.replace(/[\\, ]/g, (c) => `\\${c}`)
}

/** Tag keys and values, field keys: commas, equals signs and spaces escaped. */
function escapeKey(name: string): string {
  return name.replace(/[\\,= ]/g, (c) => `\\${c}`)
}

export interface LineOptions {
  readonly measurement: string
  /** Reading tags written as InfluxDB tags; the others are left out. */
  readonly allowedTags: readonly string[]
}

/**
 * The SQL that renders up to `limit` readings stored after `afterStoredTs`
 * as one body of lines (newline-separated, in stored order), with their
 * count and the first and last stored_ts. DuckDB builds the text: turning
 * rows into JavaScript objects and back into text cost more than the write
 * itself (bench:influx). Floats are DuckDB's shortest round-trip decimal
 * (`20.0`, `1.5e-07`): other characters than JavaScript's, the same double.
 * A reading's fields are its map's entries, in the map's order (id order,
 * as append.ts writes them), each named and typed by a list lookup: ids are
 * 1 to n (migrate-wide.ts, fieldsOf), so `fields` becomes two lists indexed
 * by id. Unnesting the entries and joining them to `fields` took twice as
 * long. A reading with no fields still has its line.
 */
export function linesSql(
  options: LineOptions,
  afterStoredTs: bigint,
  limit: number,
  /** An upper bound on stored_ts to look at, or null: a hint that lets DuckDB skip the rest of the table. */
  untilStoredTs: bigint | null = null,
): string {
  const escapeSql = (expr: string) =>
    `replace(replace(replace(replace(${expr}, '\\', '\\\\'), ',', '\\,'), '=', '\\='), ' ', '\\ ')`
  // One concat() of many pieces: building the line with || made an intermediate string per operator.
  // A piece that is NULL (a field or tag the reading lacks) adds nothing.
  const tags = [...options.allowedTags].sort().map((key) => {
    const value = `nullif(json_extract_string(tags, ${sqlString(`$."${key}"`)}), '')`
    return `${sqlString(`,${escapeKey(key)}=`)} || ${escapeSql(value)}`
  })
  // A float field widened from int keeps its older values in i (schema.ts).
  const values = `array_to_string(list_transform(map_entries(batch.${FIELDS_COLUMN}), e -> k.names[e.key] || CASE k.kinds[e.key]
    WHEN 'int' THEN e.value.i::VARCHAR || 'i,'
    WHEN 'bool' THEN CASE WHEN e.value.b THEN 'true,' WHEN NOT e.value.b THEN 'false,' END
    ELSE coalesce(e.value.f, e.value.i::DOUBLE)::VARCHAR || ',' END), '')`
  const line = `concat(${[
    sqlString(`${escapeMeasurement(options.measurement)},device=`),
    'device',
    ...tags,
    "' '",
    values,
    "'@boot=', boot, 'i,@seq=', seq, 'i,@idx=', idx, 'i,@ts=', ts, 'i,@recv=', recv_ts",
    "'i,@stored=', stored_ts, 'i,@newest=', newest_ts, 'i,@offset=', offset_ns, 'i'",
    "',@device_ts=' || device_ts || 'i'",
    "' '",
    // The point time: the millisecond, plus the tie-breaker.
    'ts - ((ts % 1000000) + 1000000) % 1000000 + ((seq + 1000 * idx) % 1000000)::BIGINT',
  ].join(', ')})`
  // The batch is chosen first, then rendered: the text of the rows after it is never built.
  return `WITH k AS (
      SELECT list(${escapeSql('name')} || '=' ORDER BY id) AS names, list(kind ORDER BY id) AS kinds FROM ${FIELDS}),
    batch AS (
      SELECT * FROM ${READINGS} WHERE stored_ts > ${afterStoredTs}${untilStoredTs === null ? '' : ` AND stored_ts <= ${untilStoredTs}`}
      ORDER BY stored_ts LIMIT ${Math.trunc(limit)})
    SELECT string_agg(line, chr(10) ORDER BY stored_ts), count(*), min(stored_ts), max(stored_ts) FROM (
      SELECT stored_ts, ${line} AS line FROM batch, k)`
}
