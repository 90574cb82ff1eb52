/**
 * What every bench shares: its flags, its run as a document of figures (the
 * JSON in bench/results/ that render.ts builds RESULTS.md, the chart and
 * README's figures from), and the arithmetic of medians and targets.
 *
 *   bench script ──runs──▶ BenchDoc ──publish()──▶ bench/results/<bench>.json
 *                                                        │ render.ts, every doc
 *                               RESULTS.md ◀── results.svg ◀── README block
 */

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT } from '../test/helpers/process.js'

export const BENCHES = ['ingest', 'live', 'windows', 'influx', 'fleet', 'soak'] as const
export type BenchName = (typeof BENCHES)[number]
/** One figure of a run; NaN (not measured) is written as null. */
export type Figure = number | string | boolean | null
export type Row = Readonly<Record<string, Figure>>

/** One bench's run: bench/results/<bench>.json. */
export interface BenchDoc {
  readonly bench: BenchName
  readonly measuredAt: string
  readonly machine: { cores: number; cpu: string; memoryGiB: number; kernel: string; node: string }
  /** The commit measured (codeVersion), the command, the 1-minute load average at the start, minutes taken. */
  readonly code: string
  readonly command: string
  readonly loadAverage: number | null
  readonly minutes: number | null
  /** Peers' versions (mosquitto, influxd, duckdb), the bench's options, figures measured once per bench. */
  readonly versions: Readonly<Record<string, string>>
  readonly options: Readonly<Record<string, Figure>>
  readonly context: Readonly<Record<string, Figure>>
  /** One row per run and scenario (and server), each figure as measured. */
  readonly runs: readonly Row[]
  /** CPU profile summaries and other diagnostics, as text. */
  readonly profiles: readonly string[]
  /** Where figures came from, when not from a run of this code (e.g. taken over from RESULTS.md). */
  readonly derivedFrom?: string
}

/** What the benches write. A tree that differs from its commit only in these runs that commit's code. */
export const BENCH_OUTPUTS = ['bench/RESULTS.md', 'bench/results.svg', 'bench/results', 'README.md']

/**
 * The commit a bench measured (in the checkout at root), marked when the
 * working tree differs from it in anything but the benches' own outputs:
 * `npm run bench` writes RESULTS.md after its first bench, and the later ones
 * still measure the commit.
 */
export function codeVersion(root: string = REPO_ROOT): string {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const outputs = BENCH_OUTPUTS.map((path) => `:(exclude)${path}`)
    const dirty = git('status', '--porcelain', '--untracked-files=no', '--', '.', ...outputs) !== ''
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes' : ''}`
  } catch {
    return 'unknown (not a git checkout)'
  }
}

type Measured = Pick<BenchDoc, 'versions' | 'options' | 'context' | 'runs' | 'profiles'>

/** A bench's doc begun now (when, where, what code, which command); the function returned adds what it measured. */
export function begin(bench: BenchName): (measured: Measured) => BenchDoc {
  const [cpu, args, t0] = [cpus(), process.argv.slice(2), Date.now()]
  const [kernel, node, memoryGiB] = [release(), process.version, Math.round((totalmem() / 2 ** 30) * 10) / 10]
  const machine = { cores: cpu.length, cpu: cpu[0]?.model.trim() ?? '?', memoryGiB, kernel, node }
  const command = `npm run bench:${bench}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`
  const started = { bench, measuredAt: new Date(t0).toISOString(), machine, code: codeVersion(), command }
  const loadAverage = loadavg()[0] ?? null
  return (measured) => ({ ...started, loadAverage, minutes: (Date.now() - t0) / 60_000, ...measured })
}

/** A whole number from lo to hi, or one of the words (the first is the default). */
type FlagSpec = readonly [fallback: number, lo: number, hi: number] | readonly string[]
type Flags<S> = { readonly [K in keyof S]: S[K] extends readonly [number, number, number] ? number : string }

/**
 * The flags of a bench (`--runs 3`, `--scenarios a,b`, …), every bad value
 * reported at once; `--write true|false` (default true) on every bench.
 */
export function parseFlags<S extends Readonly<Record<string, FlagSpec>>>(
  spec: S,
  check: (o: Flags<S>) => string[] = () => [],
): Flags<S> & { readonly write: boolean } {
  const all: Record<string, FlagSpec> = { ...spec, write: ['true', 'false'] }
  const options = Object.fromEntries(Object.keys(all).map((k) => [k, { type: 'string' as const }]))
  const { values } = parseArgs({ args: process.argv.slice(2), strict: true, options })
  const [problems, out] = [[] as string[], {} as Record<string, number | string | boolean>]
  for (const [flag, s] of Object.entries(all)) {
    const v = values[flag]
    const [lo, hi] = [Number(s[1]), Number(s[2])]
    out[flag] = v === undefined ? s[0]! : typeof s[0] === 'number' ? Number(v) : v
    if (v !== undefined && typeof s[0] === 'number' && (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi))
      problems.push(`--${flag} must be an integer from ${lo} to ${hi}`)
    if (v !== undefined && typeof s[0] === 'string' && s.length > 1 && !s.includes(v as never))
      problems.push(`--${flag} must be ${s.join(' or ')}`)
  }
  out.write = out.write === 'true'
  problems.push(...check(out as Flags<S>))
  if (problems.length > 0) throw new RangeError(problems.join('; '))
  return out as Flags<S> & { write: boolean }
}

/** The flags as the doc's options: camelCase names (`paced-rate` → `pacedRate`), without `write` and `skip`. */
export function optionsOf(
  flags: Readonly<Record<string, Figure>>,
  ...skip: string[]
): Record<string, Figure> {
  const camel = (k: string): string => k.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())
  const kept = Object.entries(flags).filter(([k]) => k !== 'write' && !skip.includes(k))
  return Object.fromEntries(kept.map(([k, v]) => [camel(k), v]))
}

/** `--scenarios a,b`: the names asked for, in the bench's own order; a problem for any unknown. */
export function listFlag<T extends string>(
  value: string,
  known: readonly T[],
  problems: string[],
  flag = 'scenarios',
): T[] {
  const names = value.split(',').map((n) => n.trim())
  for (const n of names)
    if (!(known as readonly string[]).includes(n)) problems.push(`--${flag}: unknown ${n}`)
  return known.filter((n) => names.includes(n))
}

/**
 * Runs a bench's main, bounded in time, its children stopped however it
 * ends; the exit status is 1 when it threw or returned false (a check failed).
 */
export function benchMain(limitMinutes: number, main: () => Promise<boolean>): void {
  const quit = (code: number, why: string): never => {
    process.stderr.write(`bench: ${why}\n`)
    return process.exit(code)
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => quit(130, `${signal}, stopping child processes`))
  const limit = (): never => quit(1, `still running after ${limitMinutes} min, giving up`)
  setTimeout(limit, limitMinutes * 60_000).unref()
  main().then(
    (ok) => process.exit(ok ? 0 : 1),
    (err: unknown) => quit(1, (err as Error).stack ?? String(err)),
  )
}

/** A figure as a number: NaN for null or anything else. */
export function num(v: Figure | undefined): number {
  return typeof v === 'number' ? v : Number.NaN
}

/** Figures under a prefix: `{ seconds: 1 }` as `{ 'floor.seconds': 1 }`. */
export function prefixed(prefix: string, figures: Readonly<Record<string, Figure>>): Record<string, Figure> {
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${prefix}.${k}`, v]))
}

/** One line for the console: a label, the figures named (`key value`), and the check. */
export function runLine(label: string, row: Row, keys: string): string {
  const value = (v: Figure | undefined) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v)
  const figures = keys.split(' ').map((k) => `${k} ${value(row[k])}`)
  return `  ${label}: ${figures.join(', ')}; ${row.ok === true ? 'ok' : 'FAILED'}: ${row.check}`
}

/** The median, NaN values left out; NaN when there is none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The median of one figure over rows. */
export function med(rows: readonly Row[], key: string): number {
  return median(rows.map((r) => num(r[key])))
}

/** `median (min–max)` of one figure over rows, or just the value for a single run. */
export function col(rows: readonly Row[], key: string, digits: number): string {
  const values = rows.map((r) => num(r[key]))
  const f = (v: number): string => (digits === 0 ? fmt(v) : Number.isNaN(v) ? '-' : v.toFixed(digits))
  if (values.length < 2) return f(median(values))
  // A run without the figure makes the range unknown (`-`), not narrower.
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`
}

/** Median (min–max) cells from specs like `p50Ms:2 a/b:1 c~d:0`: two figures as `a / b`, or `c of d`. */
export function cells(rows: readonly Row[], specs: string): string[] {
  return specs.split(' ').map((spec) => {
    const [keys = '', digits] = spec.split(':')
    const sep = keys.includes('~') ? '~' : '/'
    const parts = keys.split(sep).map((k) => col(rows, k, Number(digits)))
    return parts.join(sep === '~' ? ' of ' : ' / ')
  })
}

/** One run's cells from specs like `p50Ms:2 acked:#` (`#`: a whole number with separators). */
export function runCells(row: Row, specs: string): string[] {
  return specs.split(' ').map((spec) => {
    const [key = '', digits = ''] = spec.split(':')
    return digits === '#' ? fmt(num(row[key])) : num(row[key]).toFixed(Number(digits))
  })
}

/** A whole number with thousands separators; `-` for NaN. */
export function fmt(n: number): string {
  return Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US')
}

/** `0.58×`: the ratio of two medians; `-` when either is missing. */
export function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '-'
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** A Markdown table: head cells (`a|b|…`), alignment per column (`l` or `r`), rows. Biome pads it. */
export function table(head: string, align: string, rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`
  return [line(head.split('|')), line([...align].map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)]
}

/**
 * A figure against its target, in words: "p99 31 ms, target 25 ms: missed
 * by 24%". `atMost` targets are ceilings the figure must stay under (latency,
 * memory); the others are floors it must reach (throughput).
 */
export function verdict(
  what: string,
  value: number,
  target: number,
  atMost: boolean,
  unit: string,
  digits = 0,
) {
  const show = (v: number): string => `${digits === 0 ? fmt(v) : v.toFixed(digits)}${unit}`
  const head = `${what} ${show(value)}, target ${atMost ? '<' : '≥'} ${show(target)}`
  if (Number.isNaN(value)) return { met: false, text: `${what} not measured, target ${show(target)}: missed` }
  const met = atMost ? value < target : value >= target
  const by = Math.abs(value / target - 1) * 100
  const [pct, times] = [by < 1 ? by.toFixed(1) : by.toFixed(0), value / target]
  if (met) return { met, text: `${head}: met (${pct}% ${atMost ? 'under' : 'over'})` }
  // "missed by 4956%" reads worse than the multiple it is.
  if (times >= 2)
    return { met, text: `${head}: **missed**, ${times.toFixed(times >= 10 ? 0 : 1)}× the target` }
  return { met, text: `${head}: **missed** by ${pct}%` }
}

/**
 * A section's prose from bench/sections/<bench>.md: its opening, or the
 * paragraph after `<!-- part -->`. `{name}` is filled from the doc (machine,
 * options, versions, context) and `vars`; `{name:2}` with two decimals,
 * `{#name}` as a whole number with separators, `{@key:digits}` as the median
 * (min–max) of a figure of `rows`.
 * A name without a value is an error.
 */
export function prose(
  doc: BenchDoc,
  vars: Readonly<Record<string, Figure>> = {},
  part = '',
  rows: readonly Row[] = [],
) {
  const { machine: m, measuredAt, code, command } = doc
  const all: Record<string, Figure> = { cores: m.cores, cpu: m.cpu, node: m.node, measuredAt, code, command }
  Object.assign(all, { loadAverage: doc.loadAverage, minutes: doc.minutes }, doc.versions)
  Object.assign(all, doc.options, doc.context, vars)
  return section(`${doc.bench}.md`, all, part, rows)
}

/** A part of a template in bench/sections (see prose), filled from `all` and `rows`. */
export function section(
  file: string,
  all: Readonly<Record<string, Figure>>,
  part = '',
  rows: readonly Row[] = [],
) {
  const path = join(REPO_ROOT, 'bench', 'sections', file)
  const parts = readFileSync(path, 'utf8').split(/^<!-- (\w+) -->$/m)
  const at = part === '' ? 0 : parts.indexOf(part) + 1
  if (at === 0 && part !== '') throw new Error(`${path}: no part ${part}`)
  const fill = (_: string, kind: string, key: string, digits: string | undefined): string => {
    if (kind === '@') return col(rows, key, Number(digits))
    if (all[key] === undefined) throw new Error(`${path}: no value for {${key}}`)
    if (kind === '#') return fmt(num(all[key]))
    return digits === undefined ? String(all[key]) : num(all[key]).toFixed(Number(digits))
  }
  return parts[at]!.replace(/\{([#@]?)([\w.]+)(?::(\d))?\}/g, fill).trim()
}
