/**
 * A point InfluxDB history read back (src/influx/history.ts) as the row the
 * local store returns: the meta fields the forwarder wrote
 * (src/store/line-sql.ts) give back what is not a field or a tag.
 */

import type { ReadingRow, StoredField } from '../store/index.js'

const META = ['@boot', '@seq', '@idx', '@ts', '@recv', '@stored', '@newest', '@offset', '@device_ts']

/** A point as the local store's row; `kinds` gives each stored field its type back. */
export function pointRow(
  p: Record<string, string>,
  kinds: ReadonlyMap<string, StoredField['kind']>,
  wanted: ReadonlySet<string> | null,
): ReadingRow {
  const fields: Record<string, number | bigint | boolean | null> = {}
  const tags: Record<string, string> = {}
  for (const [column, value] of Object.entries(p)) {
    if (value === '' || META.includes(column) || ['name', 'tags', 'time', 'device'].includes(column)) continue
    const kind = kinds.get(column)
    if (kind === undefined) tags[column] = value
    else if (wanted === null || wanted.has(column))
      fields[column] = kind === 'int' ? BigInt(value) : kind === 'bool' ? value === 'true' : Number(value)
  }
  const sortedTags = Object.keys(tags).sort()
  return {
    device: p.device!,
    boot: BigInt(p['@boot']!),
    seq: BigInt(p['@seq']!),
    idx: Number(p['@idx']),
    ts: BigInt(p['@ts']!),
    device_ts: p['@device_ts'] === undefined || p['@device_ts'] === '' ? null : BigInt(p['@device_ts']),
    recv_ts: BigInt(p['@recv']!),
    offset_ns: BigInt(p['@offset']!),
    stored_ts: BigInt(p['@stored']!),
    newest_ts: BigInt(p['@newest']!),
    // Only allow-listed tags were written: the others cannot come back.
    tags:
      sortedTags.length === 0
        ? null
        : JSON.stringify(Object.fromEntries(sortedTags.map((k) => [k, tags[k]]))),
    fields,
  }
}
