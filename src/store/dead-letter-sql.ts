/** The dead-letter listing's query (GET /v1/dead-letters, replay). */

import { type DuckDBConnection, type DuckDBValue, listValue } from '@duckdb/node-api'
import type { DeadLetterQuery, DeadLetterRow } from './store.js'

/**
 * Dead letters without their payloads first, then the payloads of the rows
 * that fit in q.payloadBytes: a page of 10,000 letters of 200 KB each once
 * took 2.9 GB to answer and, eight at a time, the whole heap (issue 21).
 */
export async function queryDeadLetters(read: DuckDBConnection, q: DeadLetterQuery): Promise<DeadLetterRow[]> {
  const where = ['id > $1']
  const values: DuckDBValue[] = [q.afterId]
  if (q.device !== null) where.push(`device = $${values.push(q.device)}`)
  if (q.reason !== null) where.push(`reason = $${values.push(q.reason)}`)
  if (q.ids !== null) where.push(`list_contains($${values.push(listValue([...q.ids]))}::UBIGINT[], id)`)
  if (!q.includeReplayed) where.push("(replay_result IS NULL OR replay_result <> 'accepted')")
  const r = await read.runAndReadAll(
    `SELECT id, recv_ts, device, topic, reason, detail, octet_length(payload), replayed_at, replay_result
     FROM dead_letters WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${Math.trunc(q.limit)}`,
    values,
  )
  let rows = (r.getRowsJS() as unknown[][]).map((row) => ({
    id: row[0] as bigint,
    recvTsNs: row[1] as bigint,
    device: row[2] as string | null,
    topic: row[3] as string,
    reason: row[4] as string,
    detail: row[5] as string,
    payload: null as Uint8Array | null,
    payloadSize: Number(row[6]),
    replayedAtNs: row[7] as bigint | null,
    replayResult: row[8] as string | null,
  }))
  if (q.payloadBytes <= 0 || rows.length === 0) return rows
  let bytes = 0
  let fit = 0
  while (fit < rows.length && (fit === 0 || bytes + rows[fit]!.payloadSize <= q.payloadBytes))
    bytes += rows[fit++]!.payloadSize
  rows = rows.slice(0, fit)
  const payloads = await read.runAndReadAll(
    'SELECT id, payload FROM dead_letters WHERE list_contains($1::UBIGINT[], id)',
    [listValue(rows.map((row) => row.id))],
  )
  const byId = new Map(
    (payloads.getRowsJS() as unknown[][]).map((row) => [row[0] as bigint, row[1] as Uint8Array]),
  )
  for (const row of rows) row.payload = byId.get(row.id) ?? null
  return rows
}
