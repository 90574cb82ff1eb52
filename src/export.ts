/**
 * `npm run export -- [windows|telemetry] --from T --to T --out FILE.parquet|FILE.csv
 *   [--feature a,b | --fields a,b] [--device a,b] [--as-of T] [--url URL] [--token T]`
 *
 * Pulls a training set from a running server into one Parquet or CSV file,
 * for offline jobs (docs/training-data.md): the windows of GET /v1/windows
 * (the default), fetched in time slices, or the raw readings of GET
 * /v1/telemetry, page after page (export-fetch.ts). A progress bar on a
 * terminal, a retry for a request that fails; DuckDB joins the parts in
 * order. Exit status 0 on success, 1 on failure, 2 for bad arguments.
 */

import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { nowNs } from './core/telemetry.js'
import { parseTimeArg } from './core/time.js'
import { type ExportOptions, runExport } from './export-fetch.js'

export { ExportError, type ExportOptions, runExport, sliceBounds } from './export-fetch.js'

const USAGE = `usage: npm run export -- [windows|telemetry] --from TIME --to TIME --out FILE [options]

  windows           the features' windows, as GET /v1/windows gives them (the default)
  telemetry         the raw readings, as GET /v1/telemetry gives them
  --from TIME       windows ending, or readings, after this time (RFC 3339, epoch ms, now, or -15m, -2h, -7d)
  --to TIME         ... and at or before this time
  --out FILE        the file to write, .parquet or .csv (replaced when it exists)
  --feature a,b     windows: features of the server's definitions file (default: all)
  --fields a,b      telemetry: fields (default: all)
  --device a,b      devices, or * (default *)
  --as-of TIME      only readings the server had stored by then
  --url URL         the server (default http://127.0.0.1:8080)
  --token TOKEN     a read token, when the server has a tokens file (or the TELEMETRY_TOKEN variable)
  --slices N        windows: requests the range is split into (default: one per hour, 1 to 1000)
  --page-rows N     telemetry: readings a request asks for (default 100000, 1 to 1000000)`

const FLAGS = {
  from: { type: 'string' },
  to: { type: 'string' },
  out: { type: 'string' },
  feature: { type: 'string' },
  fields: { type: 'string' },
  token: { type: 'string' },
  device: { type: 'string' },
  'as-of': { type: 'string' },
  url: { type: 'string' },
  slices: { type: 'string' },
  'page-rows': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const HOUR_NS = 3_600_000_000_000n
const MAX_SLICES = 1000
/** Readings a page of /v1/telemetry asks for: large pages, few requests. */
const DEFAULT_PAGE_ROWS = 100_000
/** GET /v1/telemetry's largest limit (src/api/telemetry.ts). */
const MAX_TELEMETRY_LIMIT = 1_000_000

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
export function parseExportArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): ExportOptions | { problems: string[] } | 'help' {
  let values: { [K in keyof typeof FLAGS]?: string | boolean }
  let positionals: string[]
  try {
    const parsed = parseArgs({ args: joinTimes(argv), options: FLAGS, strict: true, allowPositionals: true })
    values = parsed.values
    positionals = parsed.positionals
  } catch (err) {
    return { problems: [(err as Error).message] }
  }
  if (values.help === true) return 'help'
  const problems: string[] = []
  const kind = positionals[0] ?? 'windows'
  if (kind !== 'windows' && kind !== 'telemetry')
    problems.push(`${JSON.stringify(kind)}: windows or telemetry`)
  if (positionals.length > 1) problems.push(`one of windows or telemetry, not ${positionals.join(' ')}`)
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
  else if (!/\.(parquet|csv)$/.test(out))
    problems.push(`--out: ${JSON.stringify(out)} must end in .parquet or .csv`)
  if (kind === 'telemetry' && text('feature') !== undefined)
    problems.push('--feature is for windows: telemetry takes --fields')
  if (kind === 'windows' && text('fields') !== undefined)
    problems.push('--fields is for telemetry: windows take --feature')
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
  const pageRowsText = text('page-rows') ?? String(DEFAULT_PAGE_ROWS)
  const pageRows = Number(pageRowsText)
  if (!/^\d+$/.test(pageRowsText) || pageRows < 1 || pageRows > MAX_TELEMETRY_LIMIT)
    problems.push(`--page-rows must be a whole number from 1 to ${MAX_TELEMETRY_LIMIT}`)
  if (problems.length > 0) return { problems }
  return {
    kind: kind as ExportOptions['kind'],
    url: (text('url') ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    fromNs: fromNs!,
    toNs: toNs!,
    out: resolve(out!),
    format: out!.endsWith('.csv') ? 'csv' : 'parquet',
    features: text('feature') ?? null,
    fields: text('fields') ?? null,
    devices: text('device') ?? '*',
    asOfNs,
    slices: kind === 'telemetry' ? 1 : slices,
    pageRows,
    token: text('token') ?? env.TELEMETRY_TOKEN ?? null,
  }
}

/** `[██████░░░░░░]  42%  42/100 slices  1,234 rows  0:12 elapsed  0:17 left` */
export function progressLine(
  done: number,
  total: number | null,
  rows: number,
  elapsedMs: number,
  width = 24,
): string {
  // Pages: how many there will be is not known until the last.
  if (total === null)
    return `${done} pages  ${rows.toLocaleString('en-US')} rows  ${clock(elapsedMs)} elapsed`
  const fraction = total === 0 ? 1 : done / total
  const filled = Math.round(fraction * width)
  const left = done === 0 ? '' : `  ${clock((elapsedMs / done) * (total - done))} left`
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${`${Math.floor(fraction * 100)}`.padStart(3)}%  ${done}/${total} slices  ${rows.toLocaleString('en-US')} rows  ${clock(elapsedMs)} elapsed${left}`
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)}:${`${s % 60}`.padStart(2, '0')}`
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
  const progress = (done: number, rows: number, total: number | null) => {
    if (tty) process.stderr.write(`\r${progressLine(done, total, rows, Date.now() - started)}`)
    else if (total === null) process.stderr.write(`export: page ${done}, ${rows} rows\n`)
    else if (Math.floor((done / total) * 10) > lastDecile || done === total) {
      lastDecile = Math.floor((done / total) * 10)
      process.stderr.write(`export: ${done}/${total} slices, ${rows} rows\n`)
    }
  }
  try {
    const summary = await runExport(parsed, progress)
    if (tty) process.stderr.write('\n')
    process.stdout.write(
      `wrote ${parsed.out}: ${summary.rows} rows, ${summary.bytes} bytes, ${summary.parts} ${parsed.kind === 'windows' ? 'slices' : 'pages'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    )
    return 0
  } catch (err) {
    if (tty) process.stderr.write('\n')
    process.stderr.write(`export: ${(err as Error).message}\n`)
    return 1
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main()
