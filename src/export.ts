/**
 * `npm run export -- --from T --to T [--feature a,b] [--device a,b] [--as-of T]
 *   [--url http://127.0.0.1:8080] --out file.parquet`
 *
 * Pulls a training set from a running server's GET /v1/windows into one
 * Parquet file, for offline jobs (docs/training-data.md). The range is
 * fetched in slices, each a Parquet file of the windows ending in it (so no
 * window is fetched twice or missed), with a progress bar on a terminal and
 * a retry for a slice that fails; DuckDB then joins the slices into the
 * output, ordered by device and window end. Exit status 0 on success, 1 on
 * failure, 2 for bad arguments.
 */

import { mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { DuckDBInstance } from '@duckdb/node-api'
import { nowNs } from './core/telemetry.js'
import { formatRfc3339Ns, parseTimeArg } from './core/time.js'
import { sqlString } from './store/index.js'

const USAGE = `usage: npm run export -- --from TIME --to TIME --out FILE.parquet [options]

  --from TIME       windows ending after this time (RFC 3339, epoch ms, now, or -15m, -2h, -7d)
  --to TIME         ... and at or before this time
  --out FILE        the Parquet file to write (replaced when it exists)
  --feature a,b     features of the server's definitions file (default: all)
  --device a,b      devices, or * (default *)
  --as-of TIME      only readings the server had stored by then
  --url URL         the server (default http://127.0.0.1:8080)
  --slices N        requests the range is split into (default: one per hour, 1 to 1000)`

const FLAGS = {
  from: { type: 'string' },
  to: { type: 'string' },
  out: { type: 'string' },
  feature: { type: 'string' },
  device: { type: 'string' },
  'as-of': { type: 'string' },
  url: { type: 'string' },
  slices: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const HOUR_NS = 3_600_000_000_000n
const MAX_SLICES = 1000
const ATTEMPTS = 3

export interface ExportOptions {
  readonly url: string
  readonly fromNs: bigint
  readonly toNs: bigint
  readonly out: string
  readonly features: string | null
  readonly devices: string
  readonly asOfNs: bigint | null
  readonly slices: number
}

/** `--from -2h` as `--from=-2h`: parseArgs takes a value starting with `-` for a flag otherwise. */
function joinTimes(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const [arg, next] = [argv[i]!, argv[i + 1]]
    const isTime = arg === '--from' || arg === '--to' || arg === '--as-of'
    if (isTime && next !== undefined && /^-\d/.test(next)) out.push(`${arg}=${argv[++i]}`)
    else out.push(arg)
  }
  return out
}

/** Flags to options, or every problem found; `help` when usage was asked for. */
export function parseExportArgs(argv: readonly string[]): ExportOptions | { problems: string[] } | 'help' {
  let values: { [K in keyof typeof FLAGS]?: string | boolean }
  try {
    values = parseArgs({
      args: joinTimes(argv),
      options: FLAGS,
      strict: true,
      allowPositionals: false,
    }).values
  } catch (err) {
    return { problems: [(err as Error).message] }
  }
  if (values.help === true) return 'help'
  const problems: string[] = []
  const text = (flag: keyof typeof FLAGS) => (typeof values[flag] === 'string' ? values[flag] : undefined)
  const now = nowNs()
  const time = (flag: 'from' | 'to' | 'as-of', required: boolean): bigint | null => {
    const v = text(flag)
    if (v === undefined) {
      if (required) problems.push(`--${flag} is required`)
      return null
    }
    const ns = parseTimeArg(v, now)
    if (ns === null)
      problems.push(
        `--${flag}: ${JSON.stringify(v)} is not a time (RFC 3339, epoch milliseconds, now, or before now: -15m, -2h, -7d)`,
      )
    return ns
  }
  const fromNs = time('from', true)
  const toNs = time('to', true)
  const asOfNs = time('as-of', false)
  if (fromNs !== null && toNs !== null && fromNs >= toNs) problems.push('--from must be before --to')
  const out = text('out')
  if (out === undefined) problems.push('--out is required')
  else if (!out.endsWith('.parquet')) problems.push(`--out: ${JSON.stringify(out)} must end in .parquet`)
  let slices = 0
  const slicesText = text('slices')
  if (slicesText !== undefined) {
    slices = Number(slicesText)
    if (!/^\d+$/.test(slicesText) || slices < 1 || slices > MAX_SLICES)
      problems.push(`--slices must be a whole number from 1 to ${MAX_SLICES}`)
  } else if (fromNs !== null && toNs !== null && fromNs < toNs) {
    const hours = (toNs - fromNs + HOUR_NS - 1n) / HOUR_NS
    slices = Number(hours > BigInt(MAX_SLICES) ? BigInt(MAX_SLICES) : hours)
  }
  if (problems.length > 0) return { problems }
  return {
    url: (text('url') ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    fromNs: fromNs!,
    toNs: toNs!,
    out: resolve(out!),
    features: text('feature') ?? null,
    devices: text('device') ?? '*',
    asOfNs,
    slices,
  }
}

/** The slice boundaries: slices + 1 times from fromNs to toNs, each slice (b[i], b[i+1]]. */
export function sliceBounds(fromNs: bigint, toNs: bigint, slices: number): bigint[] {
  const n = BigInt(slices)
  return Array.from({ length: slices + 1 }, (_, i) => fromNs + ((toNs - fromNs) * BigInt(i)) / n)
}

/** `[██████░░░░░░]  42%  42/100 slices  1,234 rows  0:12 elapsed  0:17 left` */
export function progressLine(
  done: number,
  total: number,
  rows: number,
  elapsedMs: number,
  width = 24,
): string {
  const fraction = total === 0 ? 1 : done / total
  const filled = Math.round(fraction * width)
  const left = done === 0 ? '' : `  ${clock((elapsedMs / done) * (total - done))} left`
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${`${Math.floor(fraction * 100)}`.padStart(3)}%  ${done}/${total} slices  ${rows.toLocaleString('en-US')} rows  ${clock(elapsedMs)} elapsed${left}`
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)}:${`${s % 60}`.padStart(2, '0')}`
}

export interface ExportSummary {
  readonly rows: number
  readonly bytes: number
  readonly slices: number
}

/** Fetches every slice, joins them into options.out; reports progress through `progress`. */
export async function runExport(
  options: ExportOptions,
  progress: (done: number, rows: number) => void = () => undefined,
): Promise<ExportSummary> {
  const outDir = dirname(options.out)
  // Beside the output, so the final rename never crosses file systems.
  const work = mkdtempSync(join(outDir, '.export-'))
  try {
    const bounds = sliceBounds(options.fromNs, options.toNs, options.slices)
    const parts: string[] = []
    let rows = 0
    for (let i = 0; i < options.slices; i++) {
      const part = join(work, `${i}.parquet`)
      rows += await fetchSlice(options, bounds[i]!, bounds[i + 1]!, part)
      parts.push(part)
      progress(i + 1, rows)
    }
    const tmp = join(work, 'out.parquet')
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    try {
      await conn.run(
        `COPY (SELECT * FROM read_parquet([${parts.map(sqlString).join(', ')}]) ORDER BY device, window_end)
         TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`,
      )
    } finally {
      conn.closeSync()
      db.closeSync()
    }
    renameSync(tmp, options.out)
    return { rows, bytes: statSync(options.out).size, slices: options.slices }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** One slice to a file; its row count. A failed request is tried again, up to ATTEMPTS times. */
async function fetchSlice(
  options: ExportOptions,
  fromNs: bigint,
  toNs: bigint,
  path: string,
): Promise<number> {
  const query = new URLSearchParams({
    device: options.devices,
    from: formatRfc3339Ns(fromNs),
    to: formatRfc3339Ns(toNs),
    format: 'parquet',
  })
  if (options.features !== null) query.set('feature', options.features)
  if (options.asOfNs !== null) query.set('as_of', formatRfc3339Ns(options.asOfNs))
  const url = `${options.url}/v1/windows?${query}`
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url)
      if (res.status === 400) {
        // A bad request stays bad: no retry.
        const body = (await res.json()) as { message?: string }
        throw new ExportError(`the server refused the request: ${body.message ?? res.statusText}`)
      }
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`)
      writeFileSync(path, Buffer.from(await res.arrayBuffer()))
      return Number(res.headers.get('x-rows') ?? 0)
    } catch (err) {
      if (err instanceof ExportError || attempt >= ATTEMPTS)
        throw err instanceof ExportError
          ? err
          : new ExportError(`GET ${url} failed ${attempt} times: ${(err as Error).message}`)
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
    }
  }
}

export class ExportError extends Error {
  override name = 'ExportError'
}

async function main(): Promise<number> {
  const parsed = parseExportArgs(process.argv.slice(2))
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if ('problems' in parsed) {
    process.stderr.write(`${parsed.problems.map((p) => `export: ${p}`).join('\n')}\n\n${USAGE}\n`)
    return 2
  }
  const tty = process.stderr.isTTY === true
  const started = Date.now()
  let lastDecile = 0
  const progress = (done: number, rows: number) => {
    if (tty) process.stderr.write(`\r${progressLine(done, parsed.slices, rows, Date.now() - started)}`)
    else if (Math.floor((done / parsed.slices) * 10) > lastDecile || done === parsed.slices) {
      lastDecile = Math.floor((done / parsed.slices) * 10)
      process.stderr.write(`export: ${done}/${parsed.slices} slices, ${rows} rows\n`)
    }
  }
  try {
    const summary = await runExport(parsed, progress)
    if (tty) process.stderr.write('\n')
    process.stdout.write(
      `wrote ${parsed.out}: ${summary.rows} rows, ${summary.bytes} bytes, ${summary.slices} slices in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    )
    return 0
  } catch (err) {
    if (tty) process.stderr.write('\n')
    process.stderr.write(`export: ${(err as Error).message}\n`)
    return 1
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main()
