/**
 * A reading as JSON (docs/http-api.md): the one renderer behind the live
 * stream's `telemetry` events and GET /v1/telemetry's json and ndjson, so
 * that live and history agree by construction, key for key.
 */

import { formatRfc3339Ns } from './time.js'

export interface ReadingJson {
  readonly device: string
  readonly tsNs: bigint
  readonly boot: number | bigint
  readonly seq: number | bigint
  readonly idx: number
  readonly deviceTsNs: bigint | null
  readonly recvTsNs: bigint
  readonly offsetNs: bigint
  /** Field name → value, in the order they appear. */
  readonly fields: Readonly<Record<string, number | bigint | boolean | null>>
  /** The tags as stored: a JSON object, or null for none. */
  readonly tags: string | null
}

/** JSON has no 64-bit integers: beyond 2^53 an integer goes as a string. */
export function jsonInt(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v.toString()
}

export function readingJson(r: ReadingJson): string {
  const fields: Record<string, number | string | boolean | null> = {}
  for (const name in r.fields) {
    const v = r.fields[name]!
    fields[name] = typeof v === 'bigint' ? jsonInt(v) : v
  }
  return JSON.stringify({
    device: r.device,
    ts: formatRfc3339Ns(r.tsNs),
    boot: Number(r.boot),
    seq: Number(r.seq),
    idx: r.idx,
    device_ts: r.deviceTsNs === null ? null : formatRfc3339Ns(r.deviceTsNs),
    recv_ts: formatRfc3339Ns(r.recvTsNs),
    offset_ns: jsonInt(r.offsetNs),
    fields,
    tags: r.tags === null ? {} : (JSON.parse(r.tags) as Record<string, string>),
  })
}
