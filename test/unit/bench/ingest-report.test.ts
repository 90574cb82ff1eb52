/** The saturation verdict, and what a missed rate would cost in CPU on this machine. */

import { cpus } from 'node:os'
import t from 'tap'
import type { BenchDoc, Row } from '../../../bench/doc.js'
import { saturation } from '../../../bench/ingest-report.js'

function run(
  ackedPerSecond: number,
  serverUs: number,
  publisherCores: number,
  delivered: number | null = null,
): Row {
  return { scenario: 'appFlat', ackedPerSecond, serverUs, publisherCores, deliveredPerSecond: delivered }
}

/** A doc of this machine with the app's flat-out runs and Mosquitto's delivery rate. */
function scenarios(app: Row[], mosquittoDelivered: number): BenchDoc {
  const runs = [...app, { ...run(80_000, 6.5, 1, mosquittoDelivered), scenario: 'mosquittoFlat' }]
  const machine = { cores: cpus().length, cpu: 'test', memoryGiB: 1, kernel: 'test', node: process.version }
  const when = {
    measuredAt: '2026-12-03T00:00:00Z',
    code: 'test',
    command: 'test',
    loadAverage: 0,
    minutes: 1,
  }
  return { bench: 'ingest', machine, ...when, versions: {}, options: {}, context: {}, runs, profiles: [] }
}

t.test('ingest report - a missed ratio says what the target rate would cost the machine', async (t) => {
  // The medians of bench/RESULTS.md at abf7890.
  const text = saturation(
    scenarios([run(45_710, 22.4, 0.62), run(44_589, 22.5, 0.6), run(46_814, 22.0, 0.64)], 48_262),
  )
  t.match(text, /stored ÷ delivered 0\.95×, target ≥ 1\.50×: \*\*missed\*\*/)
  // 1.5 × 48,262/s; 22.4 µs of server CPU each; the publishers' 0.62 cores for 45,710/s is 13.6 µs each.
  t.match(
    text,
    /At 72,393\/s the server would need 1\.62 cores at its 22\.4 µs of CPU per reading, and the publishers 0\.98 at their 13\.6 µs: 2\.60 of this machine’s \d+\./,
  )
  const budget = Number(/could spend at most ([\d.]+) µs a reading/.exec(text)?.[1])
  // What is left of the machine's cores beside the publishers, shared among the readings.
  t.ok(Math.abs(budget - ((cpus().length - 0.9837) / 72_393) * 1e6) < 0.1, `budget ${budget} µs`)
})

t.test('ingest report - a met ratio needs no such arithmetic', async (t) => {
  const text = saturation(scenarios([run(90_000, 10, 0.9)], 48_262))
  t.match(text, /stored ÷ delivered 1\.86×, target ≥ 1\.50×: met/)
  t.notMatch(text, /would need/)
})
