/**
 * `npm run bench:live`: with a fleet publishing QoS 1 over MQTT and SSE
 * subscribers each on its own HTTP/2 connection, how long from a reading's
 * publish to its delivery, and from a window's close to its feature's; is
 * anything lost, at what server CPU and memory? Issue 3; target: p99 under
 * 50 ms with nothing lost. Three ways to place the 100 subscribers
 * (live-report.ts), a fresh server each run (live-run.ts); the method in
 * words is bench/sections/live.md. With --profile true one more run of the
 * first scenario goes under `node --cpu-prof` (printed, not in the results).
 *
 * Flags: --runs 3 --devices 1000 --rate 10 --telemetry-subscribers 90
 *        --feature-subscribers 10 --warmup-seconds 5 --seconds 30
 *        --scenarios partitioned,fan-out,tenth --write true|false --profile false|true
 */

import { join } from 'node:path'
import { formatDuration, loadFeatureDefinitions } from '../src/features/index.js'
import { REPO_ROOT } from '../test/helpers/process.js'
import { profiled } from './cpu-profile.js'
import { begin, benchMain, listFlag, optionsOf, parseFlags, type Row, runLine } from './doc.js'
import { type LiveScenario, liveScenarios, SCENARIOS } from './live-report.js'
import { runLive } from './live-run.js'
import { publish } from './render.js'

const FLAGS = {
  runs: [3, 1, 20],
  devices: [1000, 1, 10_000],
  rate: [10, 1, 1000],
  'telemetry-subscribers': [90, 0, 1000],
  'feature-subscribers': [10, 0, 1000],
  'warmup-seconds': [5, 1, 600],
  seconds: [30, 1, 600],
  scenarios: [SCENARIOS.join(',')],
  profile: ['false', 'true'],
} as const
/** The server's limit on the devices one stream may name (src/api/params.ts, devicesParam). */
const MAX_DEVICES = 1000
const LINE =
  'tP50 tP99 tMax fP50 fP99 deliveredPerSecond serverCores mainCores rssMb generatorCores lagP99Ms machineCores'

benchMain(30, async () => {
  const o = parseFlags(FLAGS, (f) => {
    const problems: string[] = []
    const names = listFlag(f.scenarios, SCENARIOS, problems)
    if (f['telemetry-subscribers'] + f['feature-subscribers'] === 0)
      problems.push('at least one subscriber is needed')
    for (const flag of ['telemetry-subscribers', 'feature-subscribers'] as const) {
      const [n, why] = [f[flag], `partitioned: --${flag} ${f[flag]}`]
      if (!names.includes('partitioned')) break
      if (n > f.devices) problems.push(`${why} leaves some without a device of ${f.devices}`)
      else if (n > 0 && Math.ceil(f.devices / n) > MAX_DEVICES)
        problems.push(`${why} gives a stream over ${MAX_DEVICES}`)
    }
    return problems
  })
  const [options, done] = [optionsOf(o, 'profile'), begin('live')]
  // The server runs with its default definitions: this file.
  const { features } = loadFeatureDefinitions(join(REPO_ROOT, 'features.default.json'))
  const graceMs = new Map(features.map((f) => [f.name, Number(f.graceNs / 1_000_000n)]))
  const described = features.map((f) => {
    const [kind, every] =
      f.sizeNs === f.hopNs ? ['tumbling', ''] : ['sliding', ` every ${formatDuration(f.hopNs)}`]
    return `\`${f.name}\` (${kind} ${formatDuration(f.sizeNs)}${every}, grace ${formatDuration(f.graceNs)})`
  })
  const run = (s: LiveScenario, nodeArgs: readonly string[] = []) =>
    runLive({
      ...{ devices: o.devices, ratePerSecond: o.rate, partitioned: s.partitioned, stress: s.stress, graceMs },
      ...{ telemetrySubscribers: s.telemetrySubscribers, featureSubscribers: s.featureSubscribers, nodeArgs },
      ...{ warmupMs: o['warmup-seconds'] * 1000, measureMs: o.seconds * 1000 },
    })
  const [scenarios, runs] = [liveScenarios(options), [] as Row[]]
  for (let i = 1; i <= o.runs; i++) {
    process.stdout.write(`run ${i}/${o.runs}\n`)
    for (const s of scenarios) {
      runs.push({ run: i, scenario: s.name, ...(await run(s)) })
      process.stdout.write(`${runLine(s.label, runs.at(-1)!, LINE)}\n`)
    }
  }
  const context = { features: described.join(', ') }
  if (o.write) publish(done({ versions: {}, options, context, runs, profiles: [] }))
  if (o.profile === 'true') {
    const s = scenarios[0]!
    const text = await profiled(async (nodeArgs) => runLine(s.label, await run(s, nodeArgs), LINE))
    process.stdout.write(`\nCPU profile of the server (one more run, not in the results):\n${text}\n`)
  }
  return runs.every((r) => r.passed === true)
})
