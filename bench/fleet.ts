/**
 * `npm run bench:fleet`: does the app hold up under a real fleet's load, next
 * to Mosquitto (with one QoS 1 subscriber) under the same load in the same
 * run? Issue 6's fleet, burst and connection storm, the load from the
 * simulator; and in the same run the app with a password file and an ACL
 * file, every device its own user (issue #22), for the scenarios in
 * `--auth`. The method in words is bench/sections/fleet.md.
 *
 * --profile auto: one more app run under `node --cpu-prof` of each scenario
 * where the app missed a target (and where the fleet's p99 missed, the
 * fleet's runs again with the store's commits answered at once,
 * bench/no-commit.ts); true: every scenario; false: none.
 *
 * Flags: --runs 3 --scenarios fleet,burst,storm
 *        --fleet-devices 10000 --fleet-rate 1 --fleet-seconds 60
 *        --burst-devices 100 --burst-rate 50000 --burst-seconds 10 --burst-window 1000
 *        --storm-devices 5000 --storm-seconds 5 --auth fleet,storm|none
 *        --write true|false --profile auto|true|false
 */

import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { deviceIds, writeDeviceUsers } from '../test/helpers/device-users.js'
import { tempDir } from '../test/helpers/process.js'
import { profiled } from './cpu-profile.js'
import { begin, benchMain, col, listFlag, med, optionsOf, parseFlags, type Row, runLine } from './doc.js'
import { serverName, TARGETS, targetRows } from './fleet-report.js'
import {
  type Launch,
  type Load,
  runLoad,
  runStormOn,
  type ServerKind,
  STORM_WARMUP_DEVICES,
} from './fleet-run.js'
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
  // Each auth variant is one more server a run: at full size about 80 s for the fleet, 20 s for the storm.
  auth: ['fleet,storm'],
  profile: ['auto', 'true', 'false'],
} as const
const LINE = 'devices ackedPerSecond p50Ms p99Ms maxMs hwmMb endRssMb cores generatorCores lagP99Ms connectS'
const STORM_LINE = 'allConnectedS p50Ms p99Ms hwmMb serverLagP99Ms lagP99Ms'
const line = (r: Row): string =>
  runLine(`${r.scenario}, ${r.server}`, r, r.scenario === 'storm' ? STORM_LINE : LINE)
const [CONNECT_TIMEOUT_MS, WARMUP_MS] = [10_000, 2000]

benchMain(30, async () => {
  let scenarios: (typeof SCENARIOS)[number][] = []
  let auth: (typeof SCENARIOS)[number][] = []
  const o = parseFlags(FLAGS, (f) => {
    const problems: string[] = []
    scenarios = listFlag(f.scenarios, SCENARIOS, problems)
    auth = f.auth === 'none' ? [] : listFlag(f.auth, SCENARIOS, problems, 'auth')
    return problems
  })
  const [options, done] = [optionsOf(o, 'scenarios', 'profile'), begin('fleet')]
  const common = { drainTimeoutMs: 30_000, connectTimeoutMs: CONNECT_TIMEOUT_MS, qos: 1 as const, wrap: true }
  const load = (devices: number, ratePerSecond: number, durationMs: number, idPrefix: string): Load =>
    ({ ...common, devices, ratePerSecond, durationMs, idPrefix, tags: { site: 'bench' } }) as const
  const fleet = load(o['fleet-devices'], o['fleet-rate'], o['fleet-seconds'] * 1000, 'fleet-')
  // The fleet's total rate for a moment, from fewer devices: JIT and store warm, without connecting 10,000 twice.
  const warm = Math.min(o['fleet-devices'], 1000)
  const fleetWarmup = load(warm, (o['fleet-rate'] * o['fleet-devices']) / warm, WARMUP_MS, 'fleet-')
  const burst = (ms: number): Load => ({
    ...load(o['burst-devices'], o['burst-rate'] / o['burst-devices'], ms, 'burst-'),
    maxInFlight: o['burst-window'],
  })
  const storm = {
    devices: o['storm-devices'],
    spreadMs: o['storm-seconds'] * 1000,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  }
  // Every device an auth variant connects, warm-ups included, is a user of one password file.
  const ids = [
    ...deviceIds('fleet-', o['fleet-devices']),
    ...deviceIds('burst-', o['burst-devices']),
    ...deviceIds('storm-', o['storm-devices']),
    ...deviceIds('warmup-', Math.max(warm, o['burst-devices'], STORM_WARMUP_DEVICES)),
  ]
  const users = auth.length > 0 ? await writeDeviceUsers(tempDir('tlm-bench-auth-'), ids, randomUUID()) : null
  const servers = (s: (typeof SCENARIOS)[number]): ServerKind[] =>
    auth.includes(s) ? ['app', 'auth', 'mosquitto'] : ['app', 'mosquitto']
  const base: Launch = users === null ? {} : { users }
  const once = {
    fleet: (kind: ServerKind, launch = base) =>
      runLoad(kind, fleet, fleetWarmup, { readBack: false, phases: TARGETS.fleetP99Ms, launch }),
    burst: (kind: ServerKind, launch = base) =>
      runLoad(kind, burst(o['burst-seconds'] * 1e3), burst(WARMUP_MS), {
        readBack: launch.nodeArgs === undefined && launch.main === undefined,
        launch,
      }),
    storm: (kind: ServerKind, launch = base) => runStormOn(kind, storm, launch),
  }
  const runs: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    process.stdout.write(`run ${run}/${o.runs}\n`)
    for (const scenario of scenarios)
      for (const server of servers(scenario)) {
        runs.push({ run, scenario, ...(await once[scenario](server)) })
        process.stdout.write(`${line(runs.at(-1)!)}\n`)
      }
  }

  const [targets, profiles] = [targetRows(options, runs), [] as string[]]
  const missed = (s: string, k: string): boolean =>
    targets.some((t) => t.scenario === s && t.server === k && !t.met)
  const profile = (s: string, k: string): boolean =>
    k !== 'mosquitto' && (o.profile === 'true' || (o.profile === 'auto' && missed(s, k)))
  const toProfile = scenarios.flatMap((s) =>
    servers(s).flatMap((k) => (profile(s, k) ? [[s, k] as const] : [])),
  )
  const perDevice = `${o['fleet-devices']} devices × ${o['fleet-rate']}/s`
  for (const [s, k] of toProfile) {
    process.stdout.write(`profiling ${serverName(k)}: ${s}\n`)
    const run = async (args: readonly string[]) =>
      line({ scenario: s, ...(await once[s](k, { ...base, nodeArgs: args })) }).trim()
    const text = await profiled(run, { main: 15, worker: 8 })
    profiles.push(`${serverName(k)}, ${s === 'fleet' ? perDevice : s} under --cpu-prof:\n${text}`)
  }
  const appFleet = runs.filter((r) => r.scenario === 'fleet' && r.server === 'app')
  if (
    toProfile.some(([s, k]) => s === 'fleet' && k === 'app') &&
    (o.profile === 'true' || med(appFleet, 'p99Ms') >= TARGETS.fleetP99Ms)
  ) {
    // The fleet again, as many runs as the measured ones, run by bench/no-commit.ts: the
    // latency without the store's commits. One run varies by tens of percent here: medians against medians.
    process.stdout.write("the fleet again, the store's commits answered at once\n")
    const noCommit = { main: fileURLToPath(new URL('./no-commit.js', import.meta.url)) }
    const without: Row[] = []
    for (let i = 1; i <= o.runs; i++)
      without.push({ scenario: 'fleet', ...(await once.fleet('app', noCommit)) })
    const p99 = (rs: Row[], sep: string): string => `${col(rs, 'p99Ms', 1)}${sep}${col(rs, 'restP99Ms', 1)}`
    profiles.push(
      [
        `app, ${perDevice} with the store's commits answered at once (bench/no-commit.ts, a diagnostic: nothing is stored):`,
        ...without.map((r) => line(r).trim()),
        `publish→PUBACK p99 ${p99(without, ' ms, after the first 2 s ')} ms; with the commits (the runs above) ${p99(appFleet, ' and ')} ms. The difference is what the commits add.`,
      ].join('\n'),
    )
  }
  const full = { fleetDevices: 10_000, fleetRate: 1, fleetSeconds: 60, burstDevices: 100, burstRate: 50_000 }
  const issue = Object.entries({ ...full, burstSeconds: 10, stormDevices: 5000, stormSeconds: 5 })
  const fullSize = issue.every(([k, v]) => options[k] === v)
  const versions = { mosquitto: mosquittoVersion() }
  if (o.write) publish(done({ versions, options: { ...options, fullSize }, context: {}, runs, profiles }))
  return runs.every((r) => r.ok === true)
})
