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
