/**
 * `npm run bench [-- ingest live …]`: every bench script in turn (or the ones
 * named), each writing its own section of bench/RESULTS.md and its figures
 * for bench/results.svg. One whose check fails does not stop the others
 * (the live bench's fan-out stress loses events by design); the exit status
 * is 1 when any failed.
 */

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

const BENCHES = ['ingest', 'live', 'windows', 'influx', 'fleet'] as const

const asked = process.argv.slice(2)
const unknown = asked.filter((name) => !(BENCHES as readonly string[]).includes(name))
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown ${unknown.join(', ')}; the benches are ${BENCHES.join(', ')}\n`)
  process.exit(2)
}
const results: string[] = []
let failed = false
for (const name of asked.length > 0 ? asked : BENCHES) {
  process.stdout.write(`\n=== bench:${name}\n`)
  const started = Date.now()
  const run = spawnSync(process.execPath, [join(import.meta.dirname, `${name}.js`)], { stdio: 'inherit' })
  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  const ok = run.status === 0
  failed ||= !ok
  results.push(
    `bench:${name.padEnd(8)} ${ok ? 'ok' : `FAILED (exit ${run.status ?? run.signal})`}, ${minutes} min`,
  )
}
process.stdout.write(`\n${results.join('\n')}\n`)
process.exitCode = failed ? 1 : 0
