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
 * The medians go to bench/RESULTS.md (section "Fleet, burst and connection
 * storm (bench:fleet)") and the chart's figures to bench/results/fleet.json.
 *
 * Flags: --runs 3 --scenarios fleet,burst,storm
 *        --fleet-devices 10000 --fleet-rate 1 --fleet-seconds 60
 *        --burst-devices 100 --burst-rate 50000 --burst-seconds 10 --burst-window 1000
 *        --storm-devices 5000 --storm-seconds 5 --write true|false --profile auto|true|false
 * (--profile auto: one more app run under `node --cpu-prof` of each scenario
 * where the app missed a target, summarized into the section; true: every
 * scenario; false: none.)
 */

import { readdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeFigures } from './chart.js'
import { formatProfile, summarizeProfile } from './cpu-profile.js'
import { flagReaders, writeFlag } from './flags.js'
import { fleetFigures } from './fleet-figures.js'
import {
  type FleetResults,
  med,
  of,
  renderFleetReport,
  SECTION,
  TARGETS,
  type TargetRow,
  targetRows,
} from './fleet-report.js'
import { type Load, type LoadRun, type RunOptions, runLoad, runStormOn, type StormRun } from './fleet-run.js'
import { REPO_ROOT, tempDir } from './processes.js'
import { spread, writeSection } from './results-doc.js'

type ScenarioName = 'fleet' | 'burst' | 'storm'
const SCENARIOS: readonly ScenarioName[] = ['fleet', 'burst', 'storm']

export interface FleetBenchOptions {
  readonly runs: number
  readonly scenarios: readonly ScenarioName[]
  readonly fleetDevices: number
  /** Readings per second per device. */
  readonly fleetRate: number
  readonly fleetSeconds: number
  readonly burstDevices: number
  /** Readings per second, all burst devices together. */
  readonly burstRate: number
  readonly burstSeconds: number
  /** Unacknowledged QoS 1 publishes each burst device keeps in flight at most. */
  readonly burstWindow: number
  readonly stormDevices: number
  /** The storm's CONNECTs start spread over this many seconds. */
  readonly stormSeconds: number
  readonly write: boolean
  readonly profile: 'auto' | 'true' | 'false'
}

const DEFAULTS: FleetBenchOptions = {
  runs: 3,
  scenarios: SCENARIOS,
  fleetDevices: 10_000,
  fleetRate: 1,
  fleetSeconds: 60,
  burstDevices: 100,
  burstRate: 50_000,
  burstSeconds: 10,
  burstWindow: 1000,
  stormDevices: 5000,
  stormSeconds: 5,
  write: true,
  profile: 'auto',
}

/** Every scenario is bounded in time as well as in count. */
const DRAIN_LIMIT_MS = 30_000
const CONNECT_TIMEOUT_MS = 10_000
const WARMUP_MS = 2000
const WARMUP_FLEET_DEVICES = 1000
const WHOLE_BENCH_LIMIT_MS = 30 * 60_000

function parseOptions(argv: readonly string[]): FleetBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      runs: { type: 'string' },
      scenarios: { type: 'string' },
      'fleet-devices': { type: 'string' },
      'fleet-rate': { type: 'string' },
      'fleet-seconds': { type: 'string' },
      'burst-devices': { type: 'string' },
      'burst-rate': { type: 'string' },
      'burst-seconds': { type: 'string' },
      'burst-window': { type: 'string' },
      'storm-devices': { type: 'string' },
      'storm-seconds': { type: 'string' },
      write: { type: 'string' },
      profile: { type: 'string' },
    },
  })
  const problems: string[] = []
  const { int, choice } = flagReaders(values, problems)
  const scenarios = (values.scenarios ?? SCENARIOS.join(',')).split(',').map((s) => s.trim())
  for (const s of scenarios)
    if (!SCENARIOS.includes(s as ScenarioName))
      problems.push(`--scenarios takes a list of ${SCENARIOS.join(', ')}; got ${JSON.stringify(s)}`)
  const o: FleetBenchOptions = {
    runs: int('runs', DEFAULTS.runs, 1, 20),
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    // 10,000 sockets here and 10,000 in the server: the simulator's limit, and within `ulimit -n` 20,000.
    fleetDevices: int('fleet-devices', DEFAULTS.fleetDevices, 1, 10_000),
    fleetRate: int('fleet-rate', DEFAULTS.fleetRate, 1, 100),
    fleetSeconds: int('fleet-seconds', DEFAULTS.fleetSeconds, 1, 600),
    burstDevices: int('burst-devices', DEFAULTS.burstDevices, 1, 10_000),
    burstRate: int('burst-rate', DEFAULTS.burstRate, 1, 1_000_000),
    burstSeconds: int('burst-seconds', DEFAULTS.burstSeconds, 1, 600),
    burstWindow: int('burst-window', DEFAULTS.burstWindow, 1, 65_535),
    stormDevices: int('storm-devices', DEFAULTS.stormDevices, 1, 10_000),
    stormSeconds: int('storm-seconds', DEFAULTS.stormSeconds, 1, 600),
    write: writeFlag(choice, DEFAULTS.write),
    profile: choice('profile', ['auto', 'true', 'false'] as const, DEFAULTS.profile),
  }
  if (problems.length > 0) throw new RangeError(problems.join('; '))
  return o
}

function fleetLoad(o: FleetBenchOptions, seconds = o.fleetSeconds): Load {
  return {
    devices: o.fleetDevices,
    ratePerSecond: o.fleetRate,
    durationMs: seconds * 1000,
    drainTimeoutMs: DRAIN_LIMIT_MS,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    qos: 1,
    wrap: true,
    idPrefix: 'fleet-',
    tags: { site: 'bench' },
  }
}

/** The fleet's total rate for a moment, from fewer devices: JIT and store warm, without connecting 10,000 twice. */
function fleetWarmup(o: FleetBenchOptions): Load {
  const devices = Math.min(o.fleetDevices, WARMUP_FLEET_DEVICES)
  return {
    ...fleetLoad(o),
    devices,
    ratePerSecond: (o.fleetRate * o.fleetDevices) / devices,
    durationMs: WARMUP_MS,
  }
}

function burstLoad(o: FleetBenchOptions, durationMs = o.burstSeconds * 1000): Load {
  return {
    devices: o.burstDevices,
    ratePerSecond: o.burstRate / o.burstDevices,
    durationMs,
    maxInFlight: o.burstWindow,
    drainTimeoutMs: DRAIN_LIMIT_MS,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    qos: 1,
    wrap: true,
    idPrefix: 'burst-',
    tags: { site: 'bench' },
  }
}

function storm(o: FleetBenchOptions) {
  return {
    devices: o.stormDevices,
    spreadMs: o.stormSeconds * 1000,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    idPrefix: 'storm-',
  }
}

function loadLine(label: string, m: LoadRun): string {
  return (
    `  ${label.padEnd(16)} ${String(m.sim.devices).padStart(5)} devices  ` +
    `${m.sim.ackedPerSecond.toFixed(0).padStart(6)} acked/s  p50 ${m.sim.latency.p50Ms.toFixed(2)} ms  ` +
    `p99 ${m.sim.latency.p99Ms.toFixed(2)} ms  max ${m.sim.latency.maxMs.toFixed(1)} ms  ` +
    `VmHWM ${m.usage.hwmMb.toFixed(0)} MB  end RSS ${m.usage.endRssMb.toFixed(0)} MB  ` +
    `cores ${m.usage.cores.toFixed(2)}  generator ${m.usage.generatorCores.toFixed(2)} cores, ` +
    `lag p99 ${m.usage.generatorLagP99Ms.toFixed(0)} ms  connect ${m.usage.connectS.toFixed(1)} s  ` +
    `${m.ok ? 'ok' : 'FAILED'}: ${m.check}`
  )
}

function stormLine(label: string, m: StormRun): string {
  const s = m.storm
  return (
    `  ${label.padEnd(16)} all connected ${(s.allConnectedMs / 1000).toFixed(2)} s  ` +
    `CONNACK p50 ${s.connack.p50Ms.toFixed(1)} ms p99 ${s.connack.p99Ms.toFixed(1)} ms  ` +
    `VmHWM ${m.usage.hwmMb.toFixed(0)} MB  start lag ${s.maxStartLagMs.toFixed(1)} ms  ` +
    `${m.ok ? 'ok' : 'FAILED'}: ${m.check}`
  )
}

/** One more app run of a scenario under `node --cpu-prof`: where the main thread and the store worker spent their time. */
async function profileApp(
  name: ScenarioName,
  o: FleetBenchOptions,
  run: (options: RunOptions) => Promise<string>,
): Promise<string> {
  const dir = tempDir('bench-profile-')
  const line = await run({ nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })
  // One file a thread: CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile, the main thread's id 0.
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => threadId(a) - threadId(b))
  const threads = files.map((f) => {
    const id = threadId(f)
    const summary = summarizeProfile(join(dir, f), id === 0 ? 15 : 8)
    // formatProfile calls every profile's thread the main thread; name it here.
    return formatProfile(summary).replace(/^main thread/, id === 0 ? 'main thread' : `worker thread ${id}`)
  })
  const what = name === 'fleet' ? `${o.fleetDevices} devices × ${o.fleetRate}/s` : name
  return [`app, ${what} under --cpu-prof:`, line.trim(), ...threads].join('\n')
}

/**
 * The fleet again, as many runs as the measured ones, with bench/no-commit.ts
 * preloaded: the latency without the store's commits, beside the measured
 * runs' median. One run of either varies by tens of percent on this machine,
 * so medians against medians.
 */
async function withoutCommits(o: FleetBenchOptions, measured: readonly LoadRun[]): Promise<string> {
  const preload = new URL('./no-commit.js', import.meta.url).href
  const runs: LoadRun[] = []
  for (let run = 1; run <= o.runs; run++) {
    runs.push(
      await runLoad('app', fleetLoad(o), fleetWarmup(o), {
        readBack: false,
        phases: true,
        nodeArgs: ['--import', preload],
      }),
    )
  }
  const p99 = (rs: readonly LoadRun[]) =>
    spread(
      rs.map((m) => m.sim.latency.p99Ms),
      1,
    )
  const after = (rs: readonly LoadRun[]) =>
    spread(
      rs.map((m) => m.phases?.rest.p99Ms ?? Number.NaN),
      1,
    )
  return [
    `app, ${o.fleetDevices} devices × ${o.fleetRate}/s with the store's commits answered at once ` +
      '(bench/no-commit.ts, a diagnostic: nothing is stored):',
    ...runs.map((m) => loadLine('fleet, app', m).trim()),
    `publish→PUBACK p99 ${p99(runs)} ms, after the first 2 s ${after(runs)} ms; ` +
      `with the commits (the runs above) ${p99(measured)} and ${after(measured)} ms. ` +
      'The difference is what the commits add.',
  ].join('\n')
}

function threadId(file: string): number {
  return Number(/\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1] ?? Number.MAX_SAFE_INTEGER)
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2))
  const loadAverage = loadavg()[0] ?? Number.NaN
  const benchStart = Date.now()
  const limit = setTimeout(() => {
    process.stderr.write(`bench: still running after ${WHOLE_BENCH_LIMIT_MS / 60_000} min, giving up\n`)
    process.exit(1)
  }, WHOLE_BENCH_LIMIT_MS)
  limit.unref()

  const r: FleetResults = { fleet: [], burst: [], storm: [] }
  const has = (s: ScenarioName): boolean => o.scenarios.includes(s)
  const readBack = { readBack: true }
  for (let run = 1; run <= o.runs; run++) {
    process.stdout.write(`run ${run}/${o.runs}\n`)
    for (const kind of ['app', 'mosquitto'] as const) {
      if (!has('fleet')) break
      const m = await runLoad(kind, fleetLoad(o), fleetWarmup(o), { readBack: false, phases: true })
      r.fleet.push(m)
      process.stdout.write(`${loadLine(`fleet, ${kind}`, m)}\n`)
    }
    for (const kind of ['app', 'mosquitto'] as const) {
      if (!has('burst')) break
      const m = await runLoad(kind, burstLoad(o), burstLoad(o, WARMUP_MS), readBack)
      r.burst.push(m)
      process.stdout.write(`${loadLine(`burst, ${kind}`, m)}\n`)
    }
    for (const kind of ['app', 'mosquitto'] as const) {
      if (!has('storm')) break
      const m = await runStormOn(kind, storm(o))
      r.storm.push(m)
      process.stdout.write(`${stormLine(`storm, ${kind}`, m)}\n`)
    }
  }

  const missed = (s: ScenarioName): boolean =>
    targetRows(o, r).some((t: TargetRow) => t.scenario === s && !t.met)
  const toProfile = o.scenarios.filter((s) => o.profile === 'true' || (o.profile === 'auto' && missed(s)))
  const profiles: string[] = []
  for (const s of toProfile) {
    process.stdout.write(`profiling the app: ${s}\n`)
    const p = await profileApp(s, o, async (options) => {
      if (s === 'fleet')
        return loadLine(
          'fleet, app',
          await runLoad('app', fleetLoad(o), fleetWarmup(o), { readBack: false, ...options }),
        )
      if (s === 'burst')
        return loadLine(
          'burst, app',
          await runLoad('app', burstLoad(o), burstLoad(o, WARMUP_MS), { readBack: false, ...options }),
        )
      return stormLine('storm, app', await runStormOn('app', storm(o), options))
    })
    profiles.push(p)
    process.stdout.write(`${p}\n`)
  }
  const appFleet = of(r.fleet, 'app')
  const fleetP99 = med(appFleet, (x) => x.sim.latency.p99Ms)
  if (toProfile.includes('fleet') && (o.profile === 'true' || fleetP99 >= TARGETS.fleetP99Ms)) {
    process.stdout.write("the fleet again, the store's commits answered at once\n")
    const p = await withoutCommits(o, appFleet)
    profiles.push(p)
    process.stdout.write(`${p}\n`)
  }

  const minutes = (Date.now() - benchStart) / 60_000
  const args = process.argv.slice(2)
  const fullSize = (
    [
      'fleetDevices',
      'fleetRate',
      'fleetSeconds',
      'burstDevices',
      'burstRate',
      'burstSeconds',
      'stormDevices',
      'stormSeconds',
    ] as const
  ).every((k) => o[k] === DEFAULTS[k])
  const report = renderFleetReport(o, r, {
    command: `npm run bench:fleet${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    loadAverageAtStart: loadAverage,
    fullSize,
    profiles,
    minutes,
  })
  process.stdout.write(`\n${report}\n\nwhole bench: ${minutes.toFixed(1)} min\n`)
  if (o.write) {
    const path = join(REPO_ROOT, 'bench', 'RESULTS.md')
    writeSection(path, SECTION, report)
    writeFigures(fleetFigures(o, r, o.runs))
    process.stdout.write(`written to ${path} and bench/results.svg\n`)
  }
  const failed = [...r.fleet, ...r.burst, ...r.storm].some((m) => !m.ok)
  process.exitCode = failed ? 1 : 0
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
