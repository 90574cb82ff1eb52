/**
 * bench/RESULTS.md holds one section per benchmark script. Each script
 * rewrites its own section (from its `## ` heading to the next) and leaves
 * the others as they are. The file is then run through the project's
 * formatter (Biome formats Markdown), so `npm run lint` stays clean.
 */

import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const PREAMBLE = `# Benchmark results

Written by the scripts in \`bench/\`; each replaces its own section. Do not edit by hand.
`

/** Replaces (or appends) the section whose heading is `## <title>`. */
export function writeSection(path: string, title: string, body: string): void {
  const heading = `## ${title}`
  const section = `${heading}\n\n${body.trim()}\n`
  const text = existsSync(path) ? readFileSync(path, 'utf8') : PREAMBLE
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
  format(path)
}

function format(path: string): void {
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
