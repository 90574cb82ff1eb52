/**
 * Stored readings as InfluxDB line protocol (docs/influxdb.md):
 *
 *   telemetry,device=meter-7,site=north temp=21.5,count=3i,on=true,@boot=0i,@seq=17i,… 1764115200000000017
 *   └ measurement └ tags (device + allowed)  └ fields (pinned types)  └ meta fields   └ time (ns)
 *
 * - Tags: `device`, and only the reading tags named in the allow-list: every
 *   distinct tag value is a new series, and a tag that varies per reading is
 *   how InfluxDB databases blow up.
 * - Fields: each reading field with its pinned type (integers with `i`,
 *   floats in their shortest exact decimal form, booleans), then the meta
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

import type { ReadingRow } from '../../bridge/store.js'

const MS = 1_000_000n

/** The tie-breaking point time of a reading (see above). */
export function pointTime(tsNs: bigint, seq: bigint, idx: number): bigint {
  const ms = tsNs - (((tsNs % MS) + MS) % MS)
  return ms + ((seq + 1000n * BigInt(idx)) % MS)
}

/** Measurement names: commas and spaces escaped. */
export function escapeMeasurement(name: string): string {
  return name.replace(/[\\, ]/g, (c) => `\\${c}`)
}

/** Tag keys and values, field keys: commas, equals signs and spaces escaped. */
export function escapeKey(name: string): string {
  return name.replace(/[\\,= ]/g, (c) => `\\${c}`)
}

export interface LineOptions {
  readonly measurement: string
  /** Reading tags written as InfluxDB tags; the others are left out. */
  readonly allowedTags: ReadonlySet<string>
}

/** One line (no newline) for one stored reading. */
export function toLine(
  row: ReadingRow,
  options: LineOptions,
  measurement = escapeMeasurement(options.measurement),
): string {
  let line = `${measurement},device=${escapeKey(row.device)}`
  if (row.tags !== null && options.allowedTags.size > 0) {
    const tags = JSON.parse(row.tags) as Record<string, string>
    // Line protocol wants tags sorted by key for the fastest writes; the JSON is sorted already.
    for (const key of Object.keys(tags).sort())
      if (options.allowedTags.has(key) && tags[key] !== '')
        line += `,${escapeKey(key)}=${escapeKey(tags[key]!)}`
  }
  let fields = ''
  for (const [name, value] of Object.entries(row.fields)) {
    if (value === null) continue
    fields += `${escapeKey(name)}=${fieldValue(value)},`
  }
  fields += `@boot=${row.boot}i,@seq=${row.seq}i,@idx=${row.idx}i,@ts=${row.ts}i,@recv=${row.recv_ts}i,`
  fields += `@stored=${row.stored_ts}i,@newest=${row.newest_ts}i,@offset=${row.offset_ns}i`
  if (row.device_ts !== null) fields += `,@device_ts=${row.device_ts}i`
  return `${line} ${fields} ${pointTime(row.ts, row.seq, row.idx)}`
}

function fieldValue(value: number | bigint | boolean): string {
  if (typeof value === 'bigint') return `${value}i`
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  // A float: JavaScript's shortest round-trip form; `20` is a float in line protocol (integers need `i`).
  return String(value)
}
