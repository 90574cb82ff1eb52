/**
 * bench/RESULTS.md holds one section per benchmark script. Each script
 * rewrites its own section (from its `## ` heading to the next) and leaves
 * the others as they are, and rewrites the preamble (everything before the
 * first section) with the machine it ran on. The file is then run through
 * the project's formatter (Biome formats Markdown), so `npm run lint` stays
 * clean.
 */

import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'

/** What the benches write. A tree that differs from its commit only in these runs that commit's code. */
export const BENCH_OUTPUTS: readonly string[] = ['bench/RESULTS.md', 'bench/results.svg', 'bench/results']

/**
 * The commit a bench measured (in the checkout at root), marked when the
 * working tree differs from it in anything but the benches' own outputs:
 * `npm run bench` writes RESULTS.md after its first bench, and the later ones
 * still measure the commit.
 */
export function codeVersion(root: string): string {
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

/** The title line and what the machine is, as of the script writing now. */
function preamble(title: string): string {
  const cpu = cpus()
  return [
    '# Benchmark results',
    '',
    'Written by the scripts in `bench/`; each replaces its own section and this preamble. Do not edit by hand.',
    '',
    `- Machine: ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB of memory, Linux ${release()}; Node ${process.version}`,
    `- Last written: ${new Date().toISOString()}, section “${title}”. Each section gives the date of its ` +
      'own run; sections from other days may have run on another machine, as their own lines say.',
    '- Chart of the headline figures: [results.svg](results.svg), from the figures in `results/`.',
    '',
  ].join('\n')
}

/** Replaces (or appends) the section whose heading is `## <title>`, and the preamble. */
export function writeSection(path: string, title: string, body: string): void {
  const heading = `## ${title}`
  const section = `${heading}\n\n${body.trim()}\n`
  const old = existsSync(path) ? readFileSync(path, 'utf8') : ''
  const firstSection = old.split('\n').findIndex((line) => line.startsWith('## '))
  const sections = firstSection < 0 ? '' : old.split('\n').slice(firstSection).join('\n')
  const text = `${preamble(title)}\n${sections}`
  const lines = text.split('\n')
  const start = lines.indexOf(heading)
  let out: string
  if (start < 0) {
    out = `${text.trimEnd()}\n\n${section}`
  } else {
    let end = lines.findIndex((line, i) => i > start && line.startsWith('## '))
    if (end < 0) end = lines.length
    const before = lines.slice(0, start).join('\n').trimEnd()
    const after = lines.slice(end).join('\n').trim()
    out = `${before === '' ? '' : `${before}\n\n`}${section}${after === '' ? '' : `\n${after}\n`}`
  }
  writeFileSync(path, out)
  formatWithBiome(path)
}

/** Runs the project's formatter over a file the bench wrote, so `npm run lint` stays clean. */
export function formatWithBiome(path: string): void {
  const biome = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'biome')
  try {
    execFileSync(biome, ['format', '--write', path], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    const detail = String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim()
    process.stderr.write(`bench: could not format ${path} with Biome: ${detail}\n`)
  }
}

/** The median, NaN values left out; NaN when there is none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** `median (min–max)`, or just the value for a single run. */
export function spread(values: readonly number[], digits: number): string {
  const m = median(values)
  const f = (v: number): string => (digits === 0 ? fmt(v) : Number.isNaN(v) ? '-' : v.toFixed(digits))
  if (values.length < 2) return f(m)
  return `${f(m)} (${f(Math.min(...values))}–${f(Math.max(...values))})`
}

/** A whole number with thousands separators; `-` for NaN. */
export function fmt(n: number): string {
  return Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US')
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
  { atMost, unit, digits = 0 }: { atMost: boolean; unit: string; digits?: number },
): { met: boolean; text: string } {
  const show = (v: number): string => `${digits === 0 ? fmt(v) : v.toFixed(digits)}${unit}`
  const head = `${what} ${show(value)}, target ${atMost ? '<' : '≥'} ${show(target)}`
  if (Number.isNaN(value)) return { met: false, text: `${what} not measured, target ${show(target)}: missed` }
  const met = atMost ? value < target : value >= target
  const by = Math.abs(value / target - 1) * 100
  const pct = by < 1 ? by.toFixed(1) : by.toFixed(0)
  if (met) return { met, text: `${head}: met (${pct}% ${atMost ? 'under' : 'over'})` }
  // "missed by 4956%" reads worse than the multiple it is.
  const times = value / target
  return times >= 2
    ? { met, text: `${head}: **missed**, ${times.toFixed(times >= 10 ? 0 : 1)}× the target` }
    : { met, text: `${head}: **missed** by ${pct}%` }
}
