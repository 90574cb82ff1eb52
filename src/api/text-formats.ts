/**
 * The text formats of GET /v1/telemetry and /v1/windows: rows stream from
 * the store in chunks and leave as JSON, NDJSON or CSV as they come, so a
 * large range never sits in memory whole. CSV is csv-stringify's (RFC 4180
 * quoting), fed one record at a time with backpressure.
 */

import { pipeline, Readable } from 'node:stream'
import { stringify } from 'csv-stringify'
import { Type } from 'typebox'

export const OUTPUT_FORMATS = ['json', 'ndjson', 'csv', 'parquet'] as const
export type TextFormat = Exclude<(typeof OUTPUT_FORMATS)[number], 'parquet'>

export const formatParam = Type.Optional(Type.Enum(OUTPUT_FORMATS))

export const CONTENT_TYPE: Readonly<Record<TextFormat, string>> = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
}

/** How one kind of row is written. */
export interface RowFormat<Row> {
  /** JSON wraps the rows as `{"<key>": [...]}`. */
  readonly key: string
  /** CSV header. */
  readonly columns: readonly string[]
  json(row: Row): string
  /** One CSV record, in the order of `columns`; null and undefined are empty cells. */
  csv(row: Row): readonly unknown[]
}

/**
 * The query's rows once its first chunk is in: a refusal (503 busy, a
 * timeout, a failed store) is then an HTTP error with its code, not a 200
 * whose body stops short.
 */
export async function started<Row>(chunks: AsyncIterable<Row[]>): Promise<AsyncIterable<Row[]>> {
  const rows = chunks[Symbol.asyncIterator]()
  const first = await rows.next()
  return (async function* () {
    if (first.done) return
    yield first.value
    for (let next = await rows.next(); !next.done; next = await rows.next()) yield next.value
  })()
}

/**
 * The rows in `format`. `head`: members JSON writes before the rows (known
 * before the first row, such as whether more pages follow); the other
 * formats carry them in headers.
 */
export function renderRows<Row>(
  chunks: AsyncIterable<Row[]>,
  format: TextFormat,
  rows: RowFormat<Row>,
  head: Readonly<Record<string, unknown>> = {},
): Readable {
  if (format !== 'csv') return Readable.from(jsonText(chunks, format, rows, head))
  const records = Readable.from(csvRecords(chunks, rows))
  // booleans as true/false (csv-stringify writes 1 and an empty cell), like JSON.
  const csv = stringify({ header: true, columns: [...rows.columns], cast: { boolean: String } })
  // pipeline, not pipe: a failing store query ends the response instead of leaving it hanging.
  return pipeline(records, csv, () => undefined)
}

async function* jsonText<Row>(
  chunks: AsyncIterable<Row[]>,
  format: 'json' | 'ndjson',
  rows: RowFormat<Row>,
  head: Readonly<Record<string, unknown>>,
) {
  if (format === 'json') {
    const members = Object.entries(head).map(
      ([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)},`,
    )
    yield `{${members.join('')}"${rows.key}":[`
  }
  let first = true
  for await (const chunk of chunks) {
    let out = ''
    for (const row of chunk) {
      if (format === 'ndjson') out += `${rows.json(row)}\n`
      else {
        out += (first ? '' : ',') + rows.json(row)
        first = false
      }
    }
    yield out
  }
  if (format === 'json') yield ']}\n'
}

async function* csvRecords<Row>(chunks: AsyncIterable<Row[]>, rows: RowFormat<Row>) {
  for await (const chunk of chunks) for (const row of chunk) yield rows.csv(row)
}
