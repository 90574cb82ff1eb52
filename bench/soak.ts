/** `npm run soak -- --duration 120 --rss-budget-mb 1500`: issue 21's soak (test/helpers/soak.ts), into RESULTS.md. */

import { P99_RATIO, runSoak, SOAK_ATTACKS, soakChecks } from '../test/helpers/soak.js'
import { panel } from './chart.js'
import { type BenchDoc, begin, benchMain, num, optionsOf, parseFlags, prose } from './doc.js'
import { publish, type Report } from './render.js'

export function renderSoak(doc: BenchDoc): Report {
  const [r, title] = [doc.runs[0] ?? {}, 'Soak: every attack at once (npm run soak)']
  const checks = Object.values(soakChecks(r)).map((c) => `- ${c.met ? 'passed' : '**FAILED**'}: ${c.text}`)
  const [p1, p2, met] = [num(r.p1P99Ms), num(r.p2P99Ms), soakChecks(r).p99.met]
  const bars = [['phase 2: fleet + attacks', p2, true] as const, ['phase 1: fleet alone', p1, false] as const]
  const scenario = 'soak: 100 devices × 10/s, every attack in phase 2'
  const panels = [panel(scenario, 'publish→PUBACK p99', 'ms', bars, { value: p1 * P99_RATIO, met })]
  return { title, section: prose(doc, { checks: checks.join('\n') }, '', [r]), panels }
}

if (process.argv[1] === import.meta.filename)
  benchMain(60, async () => {
    const o = parseFlags({ duration: [120, 10, 3000], 'rss-budget-mb': [1500, 100, 100_000] })
    const [done, log] = [begin('soak'), (line: string): void => void process.stdout.write(`${line}\n`)]
    const soak = { durationS: o.duration, rssBudgetMb: o['rss-budget-mb'], attacks: SOAK_ATTACKS, log }
    const row = await runSoak(soak)
    const checks = Object.values(soakChecks(row))
    for (const c of checks) log(`${c.met ? 'ok' : 'FAILED'}: ${c.text}`)
    const measured = { versions: {}, options: optionsOf(o), context: {}, runs: [row], profiles: [] }
    if (o.write) publish(done(measured))
    return checks.every((c) => c.met)
  })
