/**
 * The dead-letter listing's queries (GET /v1/dead-letters, replay), in
 * chunks: a page of 10,000 letters of 200 KB each once took 2.9 GB to answer
 * and, eight at a time, the whole heap; built whole on the main thread, pages
 * of 8 MiB still raised a legitimate publisher's PUBACK p99 from 38 to
 * 1,987 ms in the soak (issue 21).
 *
 *   metadata, CHUNK_ROWS at a time (keyset on id) ──▶ rows ──▶ payloads of the
 *   next rows up to CHUNK_PAYLOAD_BYTES ──▶ yield them ──▶ ... ──▶ the marker
 *
 * So what one listing holds, on either thread, is a chunk: at most
 * CHUNK_ROWS rows of metadata and CHUNK_PAYLOAD_BYTES of payloads (or one
 * letter, when it is larger).
 */

import { type DuckDBConnection, type DuckDBValue, listValue } from '@duckdb/node-api'
import type { DeadLetterQuery, DeadLetterRow } from './store.js'

/** Rows of metadata read at once: DuckDB's own chunk. */
export const CHUNK_ROWS = 2048
/** Payload bytes one chunk carries; a letter larger than this comes alone. */
export const CHUNK_PAYLOAD_BYTES = 1024 * 1024

type Row = Omit<DeadLetterRow, 'payload'> & { payload: Uint8Array | null }

/**
 * The letters of q in id order, in chunks. When more letters follow the page
 * (past q.limit, or past q.payloadBytes) the last row is one more letter,
 * without its payload: the marker that the page was cut (DeadLetterQuery).
 * `signal`: stop before the next statement (the gate interrupts a running one).
 */
export async function* deadLetterChunks(
  connection: DuckDBConnection,
  q: DeadLetterQuery,
  signal?: AbortSignal,
): AsyncGenerator<DeadLetterRow[]> {
  const withPayload = q.payloadBytes > 0
  let [count, pageBytes, groupBytes] = [0, 0, 0]
  let group: Row[] = []
  for await (const rows of metadata(connection, q, signal)) {
    if (!withPayload) {
      yield rows
      continue
    }
    for (const row of rows) {
      // The page's first letter comes whole, whatever its size.
      if (count === q.limit || (count > 0 && pageBytes + row.payloadSize > q.payloadBytes)) {
        if (group.length > 0) yield await withPayloads(connection, group, signal)
        yield [row]
        return
      }
      if (group.length > 0 && groupBytes + row.payloadSize > CHUNK_PAYLOAD_BYTES) {
        yield await withPayloads(connection, group, signal)
        group = []
        groupBytes = 0
      }
      group.push(row)
      groupBytes += row.payloadSize
      pageBytes += row.payloadSize
      count++
    }
  }
  if (group.length > 0) yield await withPayloads(connection, group, signal)
}

/** Every chunk of q, joined, without the marker: for replay, which names its letters. */
export async function queryDeadLetters(read: DuckDBConnection, q: DeadLetterQuery): Promise<DeadLetterRow[]> {
  const all: DeadLetterRow[] = []
  for await (const rows of deadLetterChunks(read, q)) all.push(...rows)
  return all.slice(0, q.limit).filter((row) => q.payloadBytes <= 0 || row.payload !== null)
}

/** The metadata of q's letters and of the one after them (the marker), CHUNK_ROWS at a time. */
async function* metadata(connection: DuckDBConnection, q: DeadLetterQuery, signal?: AbortSignal) {
  let [after, left] = [q.afterId, q.limit + 1]
  while (left > 0) {
    signal?.throwIfAborted()
    const [where, values] = whereOf(q, after)
    const r = await connection.runAndReadAll(
      `SELECT id, recv_ts, device, topic, reason, detail, octet_length(payload), replayed_at, replay_result
       FROM dead_letters WHERE ${where} ORDER BY id LIMIT ${Math.min(left, CHUNK_ROWS)}`,
      values,
    )
    const rows: Row[] = (r.getRowsJS() as unknown[][]).map((row) => ({
      id: row[0] as bigint,
      recvTsNs: row[1] as bigint,
      device: row[2] as string | null,
      topic: row[3] as string,
      reason: row[4] as string,
      detail: row[5] as string,
      payload: null,
      payloadSize: Number(row[6]),
      replayedAtNs: row[7] as bigint | null,
      replayResult: row[8] as string | null,
    }))
    if (rows.length === 0) return
    yield rows
    ;[after, left] = [rows.at(-1)!.id, left - rows.length]
  }
}

/** The rows, each with its payload: one query for the group. */
async function withPayloads(connection: DuckDBConnection, rows: Row[], signal?: AbortSignal): Promise<Row[]> {
  signal?.throwIfAborted()
  const ids = rows.map((row) => row.id)
  // The range lets DuckDB skip the row groups outside it (ids only grow).
  const r = await connection.runAndReadAll(
    'SELECT id, payload FROM dead_letters WHERE id BETWEEN $1 AND $2 AND list_contains($3::UBIGINT[], id)',
    [ids[0]!, ids.at(-1)!, listValue(ids)],
  )
  const byId = new Map((r.getRowsJS() as unknown[][]).map((row) => [row[0] as bigint, row[1] as Uint8Array]))
  for (const row of rows) row.payload = byId.get(row.id) ?? null
  return rows
}

function whereOf(q: DeadLetterQuery, afterId: bigint): [string, DuckDBValue[]] {
  const where = ['id > $1']
  const values: DuckDBValue[] = [afterId]
  if (q.device !== null) where.push(`device = $${values.push(q.device)}`)
  if (q.reason !== null) where.push(`reason = $${values.push(q.reason)}`)
  if (q.ids !== null) where.push(`list_contains($${values.push(listValue([...q.ids]))}::UBIGINT[], id)`)
  if (!q.includeReplayed) where.push("(replay_result IS NULL OR replay_result <> 'accepted')")
  return [where.join(' AND '), values]
}
