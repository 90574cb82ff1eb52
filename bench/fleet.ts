/**
 * `npm run bench:fleet`: does the app hold up under a real fleet's load, and
 * how does it compare with Mosquitto under the same load in the same run?
 * Issue 6's three scenarios, each against a fresh app and a fresh Mosquitto
 * (with one QoS 1 subscriber) every run:
 *
 *   fleet  10,000 connected devices, 1 reading/s each, for 60 s: server RSS
 *          (peak and at the end), server CPU, publish→PUBACK p50/p99;
 *   burst  50,000 readings/s for 10 s from 100 devices: nothing acknowledged
 *          lost (read back over HTTP), PUBACK latency, peak RSS;
 *   storm  5,000 devices connecting within 5 s: time until all connected,
 *          refused and failed, CONNACK latency.
 *
 * --profile auto: one more app run under `node --cpu-prof` of each scenario
 * where the app missed a target, summarized into the section (and where the
 * fleet's p99 missed, the fleet's runs again with the store's commits
 * answered at once, bench/no-commit.ts); true: every scenario; false: none.
 *
 * Flags: --runs 3 --scenarios fleet,burst,storm
 *        --fleet-devices 10000 --fleet-rate 1 --fleet-seconds 60
 *        --burst-devices 100 --burst-rate 50000 --burst-seconds 10 --burst-window 1000
 *        --storm-devices 5000 --storm-seconds 5 --write true|false --profile auto|true|false
 */

import { loadavg } from 'node:os'
import { profiled } from './cpu-profile.js'
import {
  benchMain,
  codeVersion,
  col,
  command,
  listFlag,
  machine,
  med,
  parseFlags,
  type Row,
  runLine,
} from './doc.js'
import { TARGETS, targetRows } from './fleet-report.js'
import { type Load, runLoad, runStormOn } from './fleet-run.js'
import { mosquittoVersion } from './probes.js'
import { publish } from './render.js'

const SCENARIOS = ['fleet', 'burst', 'storm'] as const
const FLAGS = {
  runs: [3, 1, 20],
  scenarios: ['fleet,burst,storm'],
  // 10,000 sockets here and 10,000 in the server: the simulator's limit, and within `ulimit -n` 20,000.
  'fleet-devices': [10_000, 1, 10_000],
  'fleet-rate': [1, 1, 100],
  'fleet-seconds': [60, 1, 600],
  'burst-devices': [100, 1, 10_000],
  'burst-rate': [50_000, 1, 1_000_000],
  'burst-seconds': [10, 1, 600],
  'burst-window': [1000, 1, 65_535],
  'storm-devices': [5000, 1, 10_000],
  'storm-seconds': [5, 1, 600],
  profile: ['auto', 'true', 'false'],
} as const
const DEFAULT_SIZES = [10_000, 1, 60, 100, 50_000, 10, 1000, 5000, 5]

const DRAIN_LIMIT_MS = 30_000
const LINE = {
  load: 'devices ackedPerSecond p50Ms p99Ms maxMs hwmMb endRssMb cores generatorCores lagP99Ms connectS',
  storm: 'allConnectedS p50Ms p99Ms hwmMb',
}
const fleetLine = (r: Row): string =>
  runLine(`${r.scenario}, ${r.server}`, r, r.scenario === 'storm' ? LINE.storm : LINE.load)
const CONNECT_TIMEOUT_MS = 10_000
const WARMUP_MS = 2000
const common = {
  drainTimeoutMs: DRAIN_LIMIT_MS,
  connectTimeoutMs: CONNECT_TIMEOUT_MS,
  qos: 1 as const,
  wrap: true,
}

benchMain(30, async () => {
  let scenarios: (typeof SCENARIOS)[number][] = []
  const o = parseFlags(FLAGS, (f) => {
    const problems: string[] = []
    scenarios = listFlag(f.scenarios, SCENARIOS, problems)
    return problems
  })
  const options = {
    ...{
      runs: o.runs,
      fleetDevices: o['fleet-devices'],
      fleetRate: o['fleet-rate'],
      fleetSeconds: o['fleet-seconds'],
    },
    ...{ burstDevices: o['burst-devices'], burstRate: o['burst-rate'], burstSeconds: o['burst-seconds'] },
    ...{ burstWindow: o['burst-window'], stormDevices: o['storm-devices'], stormSeconds: o['storm-seconds'] },
  }
  const loadAverage = loadavg()[0] ?? null
  const started = Date.now()
  const measuredAt = new Date().toISOString()
  const fleet = (durationMs = o['fleet-seconds'] * 1000): Load => ({
    ...common,
    devices: o['fleet-devices'],
    ratePerSecond: o['fleet-rate'],
    durationMs,
    idPrefix: 'fleet-',
    tags: { site: 'bench' },
  })
  // The fleet's total rate for a moment, from fewer devices: JIT and store warm, without connecting 10,000 twice.
  const warmDevices = Math.min(o['fleet-devices'], 1000)
  const rate = (o['fleet-rate'] * o['fleet-devices']) / warmDevices
  const fleetWarmup = { ...fleet(WARMUP_MS), devices: warmDevices, ratePerSecond: rate }
  const burst = (durationMs = o['burst-seconds'] * 1000): Load => ({
    ...common,
    devices: o['burst-devices'],
    ratePerSecond: o['burst-rate'] / o['burst-devices'],
    durationMs,
    maxInFlight: o['burst-window'],
    idPrefix: 'burst-',
    tags: { site: 'bench' },
  })
  const storm = {
    devices: o['storm-devices'],
    spreadMs: o['storm-seconds'] * 1000,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  }
  const once = {
    fleet: (server: 'app' | 'mosquitto', nodeArgs: readonly string[] = []) =>
      runLoad(server, fleet(), fleetWarmup, { readBack: false, phases: TARGETS.fleetP99Ms, nodeArgs }),
    burst: (server: 'app' | 'mosquitto', nodeArgs: readonly string[] = []) =>
      runLoad(server, burst(), burst(WARMUP_MS), { readBack: nodeArgs.length === 0, nodeArgs }),
    storm: (server: 'app' | 'mosquitto', nodeArgs: readonly string[] = []) =>
      runStormOn(server, storm, nodeArgs),
  }

  const runs: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    process.stdout.write(`run ${run}/${o.runs}\n`)
    for (const scenario of scenarios)
      for (const server of ['app', 'mosquitto'] as const) {
        const row = { run, scenario, ...(await once[scenario](server)) }
        runs.push(row)
        process.stdout.write(`${fleetLine(row)}\n`)
      }
  }

  const targets = targetRows(options, runs)
  const profiles: string[] = []
  const missed = (s: string): boolean => targets.some((t) => t.scenario === s && !t.met)
  const toProfile = scenarios.filter((s) => o.profile === 'true' || (o.profile === 'auto' && missed(s)))
  for (const s of toProfile) {
    process.stdout.write(`profiling the app: ${s}\n`)
    const what = s === 'fleet' ? `${o['fleet-devices']} devices × ${o['fleet-rate']}/s` : s
    const text = await profiled(
      async (nodeArgs) => fleetLine({ scenario: s, ...(await once[s]('app', nodeArgs)) }).trim(),
      {
        main: 15,
        worker: 8,
      },
    )
    profiles.push(`app, ${what} under --cpu-prof:\n${text}`)
  }
  const appFleet = runs.filter((r) => r.scenario === 'fleet' && r.server === 'app')
  if (toProfile.includes('fleet') && (o.profile === 'true' || med(appFleet, 'p99Ms') >= TARGETS.fleetP99Ms)) {
    // The fleet again, as many runs as the measured ones, with bench/no-commit.ts preloaded: the
    // latency without the store's commits. One run varies by tens of percent here: medians against medians.
    process.stdout.write("the fleet again, the store's commits answered at once\n")
    const preload = ['--import', new URL('./no-commit.js', import.meta.url).href]
    const without: Row[] = []
    for (let run = 1; run <= o.runs; run++)
      without.push({ scenario: 'fleet', ...(await once.fleet('app', preload)) })
    profiles.push(
      [
        `app, ${o['fleet-devices']} devices × ${o['fleet-rate']}/s with the store's commits answered at once (bench/no-commit.ts, a diagnostic: nothing is stored):`,
        ...without.map((r) => fleetLine(r).trim()),
        `publish→PUBACK p99 ${col(without, 'p99Ms', 1)} ms, after the first 2 s ${col(without, 'restP99Ms', 1)} ms; ` +
          `with the commits (the runs above) ${col(appFleet, 'p99Ms', 1)} and ${col(appFleet, 'restP99Ms', 1)} ms. The difference is what the commits add.`,
      ].join('\n'),
    )
  }
  const sizes = [...Object.values(options)].slice(1)
  const doc = {
    bench: 'fleet' as const,
    measuredAt,
    machine: machine(),
    code: codeVersion(),
    command: command('fleet'),
    loadAverage,
    minutes: (Date.now() - started) / 60_000,
    versions: { mosquitto: mosquittoVersion() },
    options: { ...options, fullSize: sizes.every((v, i) => v === DEFAULT_SIZES[i]) },
    context: {},
    runs,
    profiles,
  }
  if (o.write) publish(doc)
  return runs.every((r) => r.ok === true)
})
