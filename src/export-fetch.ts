/**
 * What `npm run export` (export.ts) fetches and how it joins it: windows in
 * time slices from GET /v1/windows, raw readings page after page from GET
 * /v1/telemetry (each page's `Link: rel="next"`, which holds the first
 * page's range and snapshot), each part a file beside the output; DuckDB
 * then joins the parts into one Parquet or CSV file, in order.
 */

import { mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { formatRfc3339Ns } from './core/time.js'
import { sqlString } from './store/index.js'

export interface ExportOptions {
  /** Windows of the features (GET /v1/windows), or the raw readings (GET /v1/telemetry). */
  readonly kind: 'windows' | 'telemetry'
  readonly url: string
  readonly fromNs: bigint
  readonly toNs: bigint
  /** The output file; its extension says the format. */
  readonly out: string
  readonly format: 'parquet' | 'csv'
  /** Windows: features of the server's definitions file (null: all). */
  readonly features: string | null
  /** Telemetry: field names (null: all). */
  readonly fields: string | null
  readonly devices: string
  readonly asOfNs: bigint | null
  /** Windows: requests the range is split into. */
  readonly slices: number
  /** Telemetry: readings a page asks for. */
  readonly pageRows: number
  /** A bearer token, for a server with a tokens file. */
  readonly token: string | null
}

export interface ExportSummary {
  readonly rows: number
  readonly bytes: number
  /** Windows: slices; telemetry: pages. */
  readonly parts: number
}

/** A part fetched: `done` parts so far, `rows` in them; `total` parts when known (slices), else null (pages). */
export type Progress = (done: number, rows: number, total: number | null) => void

export class ExportError extends Error {
  override name = 'ExportError'
}

const ATTEMPTS = 3
/** The order of each kind's rows in the output: the API's own. */
const ORDER = {
  // RFC 3339 with nine fraction digits, in CSV's text: ordered as text, they are ordered in time.
  windows: 'device, window_end',
  telemetry: 'ts, device, CAST(boot AS BIGINT), CAST(seq AS BIGINT), CAST(idx AS INTEGER)',
} as const

/** The slice boundaries: slices + 1 times from fromNs to toNs, each slice (b[i], b[i+1]]. */
export function sliceBounds(fromNs: bigint, toNs: bigint, slices: number): bigint[] {
  const n = BigInt(slices)
  return Array.from({ length: slices + 1 }, (_, i) => fromNs + ((toNs - fromNs) * BigInt(i)) / n)
}

/** Fetches every part, joins them into options.out; reports progress through `progress`. */
export async function runExport(
  options: ExportOptions,
  progress: Progress = () => undefined,
): Promise<ExportSummary> {
  // Beside the output, so the final rename never crosses file systems.
  const work = mkdtempSync(join(dirname(options.out), '.export-'))
  try {
    const parts: string[] = []
    let rows = 0
    const fetched = (part: string, n: number, total: number | null) => {
      parts.push(part)
      rows += n
      progress(parts.length, rows, total)
    }
    if (options.kind === 'windows') {
      const bounds = sliceBounds(options.fromNs, options.toNs, options.slices)
      for (let i = 0; i < options.slices; i++) {
        const part = join(work, `${i}.${options.format}`)
        const url = `${options.url}/v1/windows?${windowsQuery(options, bounds[i]!, bounds[i + 1]!)}`
        fetched(part, await fetchPart(url, options.token, part).then((p) => p.rows), options.slices)
      }
    } else {
      for (
        let url: string | null = `${options.url}/v1/telemetry?${telemetryQuery(options)}`;
        url !== null;
      ) {
        const part = join(work, `${parts.length}.${options.format}`)
        const page = await fetchPart(url, options.token, part)
        fetched(part, page.rows, null)
        url = page.next
      }
    }
    const tmp = join(work, `out.${options.format}`)
    await joinParts(parts, options, tmp)
    renameSync(tmp, options.out)
    return { rows, bytes: statSync(options.out).size, parts: parts.length }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

function windowsQuery(options: ExportOptions, fromNs: bigint, toNs: bigint): URLSearchParams {
  const query = new URLSearchParams({
    device: options.devices,
    from: formatRfc3339Ns(fromNs),
    to: formatRfc3339Ns(toNs),
    format: options.format,
  })
  if (options.features !== null) query.set('feature', options.features)
  if (options.asOfNs !== null) query.set('as_of', formatRfc3339Ns(options.asOfNs))
  return query
}

function telemetryQuery(options: ExportOptions): URLSearchParams {
  const query = new URLSearchParams({
    device: options.devices,
    from: formatRfc3339Ns(options.fromNs),
    to: formatRfc3339Ns(options.toNs),
    limit: String(options.pageRows),
    format: options.format,
  })
  if (options.fields !== null) query.set('fields', options.fields)
  if (options.asOfNs !== null) query.set('as_of', formatRfc3339Ns(options.asOfNs))
  return query
}

/**
 * One part to a file: its row count and the next page's URL (`Link:
 * rel="next"`), if any. A failed request is tried again, up to ATTEMPTS
 * times; a refusal (400, 401, 403) is not.
 */
async function fetchPart(
  url: string,
  token: string | null,
  path: string,
): Promise<{ rows: number; next: string | null }> {
  const headers = token === null ? {} : { authorization: `Bearer ${token}` }
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, { headers })
      if (res.status === 400 || res.status === 401 || res.status === 403) {
        const body = (await res.json()) as { message?: string }
        throw new ExportError(`the server refused the request: ${body.message ?? res.statusText}`)
      }
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`)
      const bytes = Buffer.from(await res.arrayBuffer())
      writeFileSync(path, bytes)
      // Parquet says its rows in a header; CSV has a line a row after its header line.
      const rows = res.headers.get('x-rows') ?? Math.max(0, bytes.toString('utf8').split('\n').length - 2)
      const link = /<([^>]*)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')
      return { rows: Number(rows), next: link === null ? null : new URL(link[1]!, url).href }
    } catch (err) {
      if (err instanceof ExportError || attempt >= ATTEMPTS)
        throw err instanceof ExportError
          ? err
          : new ExportError(`GET ${url} failed ${attempt} times: ${reason(err)}`)
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
    }
  }
}

/** fetch's own message ('fetch failed') says nothing: what failed under it is its cause. */
function reason(err: unknown): string {
  const cause = (err as Error).cause as Error | undefined
  return cause === undefined ? (err as Error).message : `${(err as Error).message}: ${cause.message}`
}

/**
 * The parts as one file, in the API's order. Pages may differ in their
 * columns (a field first seen between two), hence union_by_name; CSV is read
 * as text, so that what the server wrote (nanosecond times, exact integers)
 * is written back unchanged.
 */
async function joinParts(parts: readonly string[], options: ExportOptions, out: string): Promise<void> {
  const files = `[${parts.map(sqlString).join(', ')}]`
  const source =
    options.format === 'csv'
      ? `read_csv(${files}, header = true, all_varchar = true, union_by_name = true)`
      : `read_parquet(${files}, union_by_name = true)`
  const to = options.format === 'csv' ? '(FORMAT csv, HEADER)' : '(FORMAT parquet, COMPRESSION zstd)'
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    await conn.run(
      `COPY (SELECT * FROM ${source} ORDER BY ${ORDER[options.kind]}) TO ${sqlString(out)} ${to}`,
    )
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}
