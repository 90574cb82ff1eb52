/**
 * A point InfluxDB history read back (src/influx/history.ts) as the row the
 * local store returns: the meta fields the forwarder wrote
 * (src/store/line-sql.ts) give back what is not a field or a tag.
 */

import { compareKeys, keyOf, type ReadingQuery, type ReadingRow, type StoredField } from '../store/index.js'

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

const MS = 1_000_000n

/**
 * The readings of q among points in point-time order, in the order of
 * src/store/reading-key.ts. Point time is the event time's millisecond then
 * a tie-breaker (line-sql.ts), so the readings of each millisecond are
 * sorted before they go; the millisecond a page of points ends in waits for
 * the next page.
 */
export async function* readingsOfPoints(
  pages: AsyncIterable<Array<Record<string, string>>>,
  q: ReadingQuery,
  kinds: ReadonlyMap<string, StoredField['kind']>,
): AsyncGenerator<ReadingRow[]> {
  const wanted = q.fields === null ? null : new Set(q.fields)
  const [after, through] = [q.after ?? null, q.through ?? null]
  const inQuery = (row: ReadingRow) =>
    row.ts >= q.fromNs &&
    row.ts < q.toNs &&
    (after === null || compareKeys(keyOf(row), after) > 0) &&
    (through === null || compareKeys(keyOf(row), through) <= 0)
  let [left, millisecond] = [q.limit, [] as ReadingRow[]]
  const sorted = () => {
    const rows = millisecond.sort((a, b) => compareKeys(keyOf(a), keyOf(b))).slice(0, left)
    ;[left, millisecond] = [left - rows.length, []]
    return rows
  }
  for await (const page of pages) {
    const rows: ReadingRow[] = []
    for (const point of page) {
      const row = pointRow(point, kinds, wanted)
      if (!inQuery(row)) continue
      if (millisecond.length > 0 && row.ts / MS !== millisecond[0]!.ts / MS) rows.push(...sorted())
      millisecond.push(row)
    }
    if (rows.length > 0) yield rows
    if (left <= 0) return
  }
  const rows = sorted()
  if (rows.length > 0) yield rows
}
