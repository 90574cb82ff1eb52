/**
 * `npm run bench:live`: with a fleet of devices publishing QoS 1 over MQTT
 * and SSE subscribers each on its own HTTP/2 connection, how long from a
 * reading's publish to its delivery on every telemetry stream, and from a
 * feature window's close to its delivery on every feature stream; how many
 * events a second are delivered, is any lost, and at what server CPU and
 * memory? Issue 3, "Benchmark"; target: p99 publish-to-delivery under 50 ms
 * with nothing lost.
 *
 * Two sets of subscribers, each run: the issue's (90 on telemetry, 10 on
 * features), and a tenth of them at the same readings/s, which shows the
 * server where the fan-out does not overload it (--tenth false leaves it out).
 * Each run a fresh server (bench/processes.ts startApp); the fleet and the
 * subscribers run here, in one process (live-run.ts). The medians of the
 * runs go to bench/RESULTS.md (section "Live streams (bench:live)").
 *
 * Flags: --runs 3 --devices 1000 --rate 10 --telemetry-subscribers 90
 *        --feature-subscribers 10 --warmup-seconds 5 --seconds 30
 *        --tenth true|false --write true|false --profile
 * (--profile adds one run with the server under `node --cpu-prof` and prints
 * where its main thread spent its time; it is not part of the results).
 */

import { readdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadFeatureDefinitions } from '../src/features/index.js'
import { formatProfile, summarizeProfile } from './cpu-profile.js'
import { type LiveScenario, renderLiveReport, runLine } from './live-report.js'
import { type LiveRunOptions, runLive } from './live-run.js'
import { REPO_ROOT, tempDir } from './processes.js'
import { writeSection } from './results-doc.js'

export interface LiveBenchOptions {
  readonly runs: number
  readonly devices: number
  /** Readings per second per device. */
  readonly rate: number
  readonly telemetrySubscribers: number
  readonly featureSubscribers: number
  readonly warmupSeconds: number
  /** The measured window, after the warm-up. */
  readonly seconds: number
  /** Also run with a tenth of the subscribers. */
  readonly tenth: boolean
  readonly write: boolean
  readonly profile: boolean
}

const DEFAULTS: LiveBenchOptions = {
  runs: 3,
  devices: 1000,
  rate: 10,
  telemetrySubscribers: 90,
  featureSubscribers: 10,
  warmupSeconds: 5,
  seconds: 30,
  tenth: true,
  write: true,
  profile: false,
}

const WHOLE_BENCH_LIMIT_MS = 30 * 60_000

function parseOptions(argv: readonly string[]): LiveBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      runs: { type: 'string' },
      devices: { type: 'string' },
      rate: { type: 'string' },
      'telemetry-subscribers': { type: 'string' },
      'feature-subscribers': { type: 'string' },
      'warmup-seconds': { type: 'string' },
      seconds: { type: 'string' },
      tenth: { type: 'string' },
      write: { type: 'string' },
      profile: { type: 'boolean' },
    },
  })
  const problems: string[] = []
  const int = (flag: keyof typeof values, fallback: number, lo: number, hi: number): number => {
    const v = values[flag]
    if (typeof v !== 'string') return fallback
    const n = Number(v)
    if (!/^\d+$/.test(v) || n < lo || n > hi)
      problems.push(`--${flag} must be an integer from ${lo} to ${hi}`)
    return n
  }
  const o: LiveBenchOptions = {
    runs: int('runs', DEFAULTS.runs, 1, 20),
    devices: int('devices', DEFAULTS.devices, 1, 10_000),
    rate: int('rate', DEFAULTS.rate, 1, 1000),
    telemetrySubscribers: int('telemetry-subscribers', DEFAULTS.telemetrySubscribers, 0, 1000),
    featureSubscribers: int('feature-subscribers', DEFAULTS.featureSubscribers, 0, 1000),
    warmupSeconds: int('warmup-seconds', DEFAULTS.warmupSeconds, 1, 600),
    seconds: int('seconds', DEFAULTS.seconds, 1, 600),
    tenth: values.tenth === undefined ? DEFAULTS.tenth : values.tenth === 'true',
    write: values.write === undefined ? DEFAULTS.write : values.write === 'true',
    profile: values.profile === true,
  }
  for (const flag of ['write', 'tenth'] as const) {
    const v = values[flag]
    if (v !== undefined && v !== 'true' && v !== 'false') problems.push(`--${flag} must be true or false`)
  }
  if (o.telemetrySubscribers + o.featureSubscribers === 0) problems.push('at least one subscriber is needed')
  if (problems.length > 0) throw new RangeError(problems.join('; '))
  return o
}

/** The subscriber sets to run: the one asked for, and a tenth of it (at least one of each kind asked for). */
function scenarios(o: LiveBenchOptions): LiveScenario[] {
  const label = (t: number, f: number): string => `${t} + ${f} subscribers`
  const out: LiveScenario[] = [
    {
      label: label(o.telemetrySubscribers, o.featureSubscribers),
      telemetrySubscribers: o.telemetrySubscribers,
      featureSubscribers: o.featureSubscribers,
      runs: [],
    },
  ]
  const tenth = (n: number): number => (n === 0 ? 0 : Math.max(1, Math.round(n / 10)))
  const t = tenth(o.telemetrySubscribers)
  const f = tenth(o.featureSubscribers)
  if (o.tenth && (t !== o.telemetrySubscribers || f !== o.featureSubscribers))
    out.push({ label: label(t, f), telemetrySubscribers: t, featureSubscribers: f, runs: [] })
  return out
}

function runOptions(
  o: LiveBenchOptions,
  s: LiveScenario,
  graceMs: ReadonlyMap<string, number>,
): LiveRunOptions {
  return {
    devices: o.devices,
    ratePerSecond: o.rate,
    telemetrySubscribers: s.telemetrySubscribers,
    featureSubscribers: s.featureSubscribers,
    warmupMs: o.warmupSeconds * 1000,
    measureMs: o.seconds * 1000,
    graceMs,
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2))
  const loadAverage = loadavg()[0] ?? Number.NaN
  const limit = setTimeout(() => {
    process.stderr.write(`bench: still running after ${WHOLE_BENCH_LIMIT_MS / 60_000} min, giving up\n`)
    process.exit(1)
  }, WHOLE_BENCH_LIMIT_MS)
  limit.unref()

  // startApp runs the server with its default definitions: this file.
  const definitions = loadFeatureDefinitions(join(REPO_ROOT, 'features.default.json'))
  const graceMs = new Map(definitions.features.map((f) => [f.name, Number(f.graceNs / 1_000_000n)]))

  const sets = scenarios(o)
  for (let run = 1; run <= o.runs; run++) {
    process.stdout.write(`run ${run}/${o.runs}\n`)
    for (const s of sets) {
      const r = await runLive(runOptions(o, s, graceMs))
      s.runs.push(r)
      process.stdout.write(`${runLine(s.label, r)}\n`)
    }
  }

  const args = process.argv.slice(2).filter((a) => a !== '--profile')
  const report = renderLiveReport(
    o,
    definitions.features,
    sets,
    `npm run bench:live${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    loadAverage,
  )
  process.stdout.write(`\n${report}\n`)
  if (o.write) {
    const path = join(REPO_ROOT, 'bench', 'RESULTS.md')
    writeSection(path, 'Live streams (bench:live)', report)
    process.stdout.write(`written to ${path}\n`)
  }
  if (o.profile) {
    const dir = tempDir('bench-profile-')
    const s = sets[0]!
    const r = await runLive({
      ...runOptions(o, s, graceMs),
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    })
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
    const profile =
      file === undefined ? 'no .cpuprofile was written' : formatProfile(summarizeProfile(join(dir, file)))
    process.stdout.write(
      `\nCPU profile of the server (not in the results; whole process life, start-up included)\n${runLine(s.label, r)}\n${profile}\n`,
    )
  }
  process.exitCode = sets.every((s) => s.runs.every((r) => r.ok)) ? 0 : 1
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
