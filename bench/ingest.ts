/**
 * `npm run bench:ingest`: how many readings per second does our system
 * acknowledge durably at QoS 1, next to Mosquitto acknowledging QoS 1 (and
 * storing nothing) in the same run, with the same publishers?
 *
 * Each run, each server fresh:
 *   (a) app, flat out: N publisher connections, each keeping a window of
 *       unacknowledged QoS 1 readings, until a fixed count; then check over
 *       HTTP that every acknowledged reading is stored;
 *   (b) Mosquitto, flat out, the same publishers, one mosquitto_sub
 *       subscribed at QoS 1, counting and timing what it receives;
 *   (c) both at a fixed paced rate, for publish→PUBACK latency.
 * When a saturation target is missed, one more flat-out app run goes under
 * `node --cpu-prof` and its summary into the results.
 *
 * Flags: --runs 3 --readings 200000 --publishers 10 --window 500
 *        --paced-rate 10000 --paced-seconds 10 --write true|false
 */

import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { resolveSimulationOptions, runSimulation, type SimulationInput } from '../simulators/index.js'
import { sleep, spawnApp, startMosquitto, startSubscriber } from '../test/helpers/process.js'
import { profiled } from './cpu-profile.js'
import { benchMain, codeVersion, command, fmt, machine, parseFlags, type Row, runLine } from './doc.js'
import { saturationMissed, scenarioLabel } from './ingest-report.js'
import { cpuSeconds, machineBusySeconds, mosquittoVersion, ownCpuSeconds } from './probes.js'
import { publish } from './render.js'
import { AckLedger, checkStored, scrapeCounters } from './verify.js'

const FLAGS = {
  runs: [3, 1, 20],
  readings: [200_000, 1000, 10_000_000],
  publishers: [10, 1, 1000],
  window: [500, 1, 65_535],
  'paced-rate': [10_000, 1, 1_000_000],
  'paced-seconds': [10, 1, 600],
} as const

/** Every scenario is bounded in time as well as in count. */
const FLAT_OUT_LIMIT_MS = 120_000
const DRAIN_LIMIT_MS = 30_000
const WARMUP_MS = 2000
const DEVICE_PREFIX = 'bench-'
const LINE = 'ackedPerSecond p50Ms p99Ms serverUs'

type Options = ReturnType<typeof options>
const options = () =>
  parseFlags(FLAGS, (o) =>
    o.readings % o.publishers === 0 ? [] : ['--readings must be a multiple of --publishers'],
  )

/** A scenario's load, before it knows which server it is pointed at. */
function load(o: Options, paced: boolean): Omit<SimulationInput, 'url'> {
  const common = {
    devices: o.publishers,
    maxInFlight: o.window,
    drainTimeoutMs: DRAIN_LIMIT_MS,
    qos: 1 as const,
  }
  const rest = { wrap: true, idPrefix: DEVICE_PREFIX, tags: { site: 'bench' } }
  return paced
    ? {
        ...common,
        ...rest,
        ratePerSecond: o['paced-rate'] / o.publishers,
        durationMs: o['paced-seconds'] * 1000,
      }
    : {
        ...common,
        ...rest,
        ratePerSecond: Infinity,
        readingsPerDevice: o.readings / o.publishers,
        durationMs: FLAT_OUT_LIMIT_MS,
      }
}

/**
 * The load against a server, first for a moment on other device ids (JIT,
 * connections, the store's first field columns are not what is measured),
 * with the server's, our own and the machine's CPU time around it.
 */
async function measure(
  pid: number,
  input: SimulationInput,
  afterWarmup: (acknowledged: number) => Promise<void>,
): Promise<{ row: Record<string, number>; errorsOk: boolean; acknowledged: number; startMs: number }> {
  const warmup = await runSimulation({ ...input, idPrefix: 'warmup-', durationMs: WARMUP_MS })
  await afterWarmup(warmup.acknowledged)
  const startMs = Date.now()
  const before = {
    server: cpuSeconds(pid),
    machine: machineBusySeconds(),
    own: ownCpuSeconds(),
    at: performance.now(),
  }
  const s = await runSimulation(input)
  const wallS = (performance.now() - before.at) / 1000
  const serverS = cpuSeconds(pid) - before.server
  const row = {
    ackedPerSecond: s.ackedPerSecond,
    p50Ms: s.latency.p50Ms,
    p99Ms: s.latency.p99Ms,
    serverUs: s.acknowledged > 0 ? (serverS * 1e6) / s.acknowledged : Number.NaN,
    serverCores: serverS / wallS,
    publisherCores: (ownCpuSeconds() - before.own) / wallS,
    machineCores: (machineBusySeconds() - before.machine) / wallS,
    sent: s.sent,
    acked: s.acknowledged,
    errors: s.errors + s.unacknowledged,
    heldBack: s.heldBack,
    payloadBytes: s.meanPayloadBytes,
  }
  return { row, errorsOk: row.errors === 0 && warmup.errors === 0, acknowledged: s.acknowledged, startMs }
}

/** (a) and (c): our app, then every acknowledged reading looked up over HTTP (unless profiling). */
async function appScenario(o: Options, paced: boolean, nodeArgs: readonly string[] = []): Promise<Row> {
  const app = await spawnApp({ nodeArgs })
  try {
    const input = { ...load(o, paced), url: app.mqttUrl }
    const ledger = new AckLedger(input.devices, resolveSimulationOptions(input).readingsPerDevice)
    let before = await scrapeCounters(app.httpUrl)
    const m = await measure(app.pid, { ...input, onAck: (d, seq) => ledger.ack(d, seq) }, async () => {
      before = await scrapeCounters(app.httpUrl)
    })
    if (nodeArgs.length > 0) return { ...m.row, ok: m.errorsOk, check: 'not checked' }
    const stored = await checkStored(app.httpUrl, before, ledger, DEVICE_PREFIX, m.startMs - 60_000)
    const check =
      `${ledger.count - stored.missing}/${ledger.count} acked stored` +
      (stored.missing > 0 ? `, ${stored.missing} MISSING` : '') +
      (stored.duplicates > 0 ? `, ${stored.duplicates} duplicate rows` : '') +
      `; counter ${stored.acceptedCounter}; ${stored.commits}`
    return { ...m.row, deliveredPerSecond: null, ok: m.errorsOk && stored.ok, check }
  } finally {
    await app.stop()
  }
}

/** (b) and (c) for the peer: Mosquitto, with mosquitto_sub subscribed at QoS 1 as its consumer. */
async function mosquittoScenario(o: Options, paced: boolean): Promise<Row> {
  const broker = await startMosquitto()
  const sub = await startSubscriber(broker.mqttUrl).catch(async (err: unknown) => {
    await broker.stop()
    throw err
  })
  try {
    const delivered = async (count: number): Promise<number> => {
      const deadline = Date.now() + 10_000
      while (sub.since().count < count && Date.now() < deadline) await sleep(50)
      return sub.since().count
    }
    const m = await measure(broker.pid, { ...load(o, paced), url: broker.mqttUrl }, async (warm) => {
      await delivered(warm)
      sub.mark()
    })
    const received = await delivered(m.acknowledged)
    const perSecond = sub.since().perSecond
    const check = `${received}/${m.acknowledged} acked delivered to the QoS 1 subscriber, ${fmt(perSecond)}/s first to last`
    return { ...m.row, deliveredPerSecond: perSecond, ok: m.errorsOk && received >= m.acknowledged, check }
  } finally {
    await sub.stop()
    await broker.stop()
  }
}

benchMain(45, async () => {
  const o = options()
  const loadAverage = loadavg()[0] ?? null
  const started = Date.now()
  const measuredAt = new Date().toISOString()
  const runs: Row[] = []
  const steps = [
    ['appFlat', () => appScenario(o, false)],
    ['mosquittoFlat', () => mosquittoScenario(o, false)],
    ['appPaced', () => appScenario(o, true)],
    ['mosquittoPaced', () => mosquittoScenario(o, true)],
  ] as const
  for (let run = 1; run <= o.runs; run++) {
    process.stdout.write(`run ${run}/${o.runs}\n`)
    for (const [scenario, step] of steps) {
      const row = { run, scenario, ...(await step()) }
      runs.push(row)
      process.stdout.write(`${runLine(scenarioLabel(scenario, o['paced-rate']), row, LINE)}\n`)
    }
  }
  // Where a saturation target is missed, the results say where the time went (issue 6).
  const profiles: string[] = []
  if (saturationMissed(runs)) {
    const label = scenarioLabel('appFlat', o['paced-rate'])
    const text = await profiled(async (nodeArgs) =>
      runLine(label, await appScenario(o, false, nodeArgs), LINE),
    )
    profiles.push(`${label}, under --cpu-prof:\n${text}`)
  }
  const doc = {
    bench: 'ingest' as const,
    measuredAt,
    machine: machine(),
    code: codeVersion(),
    command: command('ingest'),
    loadAverage,
    minutes: (Date.now() - started) / 60_000,
    versions: { mosquitto: mosquittoVersion() },
    options: {
      ...{ runs: o.runs, readings: o.readings, publishers: o.publishers, window: o.window },
      ...{ pacedRate: o['paced-rate'], pacedSeconds: o['paced-seconds'] },
    },
    context: {},
    runs,
    profiles,
  }
  if (o.write) publish(doc)
  return runs.every((r) => r.ok === true)
})
