/**
 * One run of bench:live against a fresh server:
 *
 *   start app ─▶ prime: one reading from every device, acknowledged
 *             ─▶ open the SSE subscribers ─▶ fleet publishes for warm-up + measure + tail
 *                                              │ first ack of the first seq after the warm-up:
 *                                              │   window opens (CPU, counts sampled)
 *                                              │ measureMs later: window closes (sampled again)
 *   ◀─ stop app ◀─ loss counted ◀─ subscribers drain (bounded) ◀─ fleet disconnects
 *
 * The server refuses a stream naming a device it holds nothing of (400
 * TLM_ERR_UNKNOWN_DEVICE): the priming reading, under another boot, makes
 * every device known. Every subscriber is on its hub before the measured
 * fleet connects, and must receive every one of its acknowledged readings;
 * loss in the warm-up, which a fresh server spends cold, is counted apart.
 *
 * Loss as the subscribers saw it: a telemetry subscriber must receive every
 * acknowledged (device, seq) of the devices it asked for once, and nothing
 * of the others; on a `device=*` stream every id follows the last by one;
 * `gap` and `reset` are the server saying it dropped events. A stress case
 * passes when it degrades as designed: every event a subscriber missed
 * announced by a `gap` (src/api/sse.ts), nothing else wrong.
 *
 * The fleet and the subscribers are in this process, so a reading's publish
 * time and its delivery time come from one clock (live-recorder.ts).
 */

import { loadProfile, resolveSimulationOptions, runSimulation } from '../simulators/index.js'
import { metricIn, scrape } from '../test/helpers/http.js'
import { lagP99Ms, loopMonitor } from '../test/helpers/loop-lag.js'
import * as probe from '../test/helpers/probes.js'
import { sleep, spawnApp } from '../test/helpers/process.js'
import { AckLedger } from '../test/helpers/stored.js'
import { fmt } from './doc.js'
import { DeliveryRecorder } from './live-recorder.js'
import { GcSampler } from './probes.js'
import { SseSubscriber, type StreamKind } from './sse-subscriber.js'

export interface LiveRunOptions {
  readonly devices: number
  readonly ratePerSecond: number
  readonly telemetrySubscribers: number
  readonly featureSubscribers: number
  /** Subscriber i of n of its kind takes the devices j with j mod n = i, instead of `device=*`. */
  readonly partitioned: boolean
  readonly warmupMs: number
  readonly measureMs: number
  /** Each feature's grace, ms, from the definitions file the server runs with. */
  readonly graceMs: ReadonlyMap<string, number>
  /** Past what the machine can deliver, on purpose: a run passes if it degrades as designed. */
  readonly stress: boolean
  readonly nodeArgs?: readonly string[]
}

const DEVICE_PREFIX = 'live-'
/** Publishing goes on this long after the window, so that the windows closing in it are closed by a reading. */
const TAIL_MS = 1000
/** Subscribing; the priming reading; acknowledgements and events still owed when publishing stops. */
const [SUBSCRIBE_LIMIT_MS, PRIME_LIMIT_MS, DRAIN_LIMIT_MS] = [10_000, 15_000, 15_000]
/** The drain wait ends early when no subscriber received anything for this long. */
const STALL_MS = 2000
const PROBLEMS =
  'gap=gap events|reset=resets|idSkipped=ids skipped|idBackwards=ids out of order|duplicates=duplicates|foreign=events of devices not asked for|unreadable=unreadable'
    .split('|')
    .map((p) => p.split('=') as [string, string])

type Counts = Readonly<Record<string, number>>
const sum = (counts: readonly Counts[]): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const c of counts) for (const [k, n] of Object.entries(c)) out[k] = (out[k] ?? 0) + n
  return out
}
const minus = (a: Counts, b: Counts): Counts =>
  Object.fromEntries(Object.entries(a).map(([k, n]) => [k, n - (b[k] ?? 0)]))

/** Loss in words, empty when there is none: readings lost (over how many subscribers), then each kind of problem. */
function problems(c: Counts, lost: readonly number[]): string[] {
  const out: string[] = []
  const total = lost.reduce((a, b) => a + b, 0)
  if (total > 0) out.push(`${fmt(total)} readings lost over ${lost.filter((n) => n > 0).length} subscribers`)
  for (const [key, what] of PROBLEMS)
    if ((c[key] ?? 0) > 0)
      out.push(`${fmt(c[key]!)} ${what}${key === 'gap' ? ` (${fmt(c.gapLost ?? 0)} events)` : ''}`)
  return out
}

/** Every lost event announced by a `gap`, and no other problem. */
const announced = (c: Counts): boolean =>
  (c.idSkipped ?? 0) <= (c.gapLost ?? 0) && PROBLEMS.every(([k]) => ['gap', 'idSkipped'].includes(k) || !c[k])

export async function runLive(o: LiveRunOptions): Promise<Record<string, number | string | boolean>> {
  const warmupSeqs = Math.round((o.warmupMs / 1000) * o.ratePerSecond)
  const measuredSeqs = Math.round((o.measureMs / 1000) * o.ratePerSecond)
  // One device type, the default profile's thermostats: every device carries every default feature's
  // field, so each subscriber must see the same number of feature events from each.
  const types = loadProfile().types.filter((t) => t.name === 'thermostat')
  if (types.length === 0) throw new Error('the default profile has no thermostat type')
  const input = {
    ...{ devices: o.devices, ratePerSecond: o.ratePerSecond, durationMs: o.warmupMs + o.measureMs + TAIL_MS },
    ...{ qos: 1 as const, idPrefix: DEVICE_PREFIX, tags: { site: 'bench' }, drainTimeoutMs: DRAIN_LIMIT_MS },
    ...{ boot: Math.floor(Date.now() / 1000), profile: { types } },
  }
  const { readingsPerDevice } = resolveSimulationOptions({ ...input, url: 'mqtt://127.0.0.1:1' })
  const recorder = new DeliveryRecorder(o.graceMs, { first: warmupSeqs + 1, last: warmupSeqs + measuredSeqs })
  const app = await spawnApp({ nodeArgs: o.nodeArgs ?? [] })
  const subscribers: SseSubscriber[] = []
  // Date.now(): the recorder's clock.
  const gc = new GcSampler(app.httpUrl, 1000, Date.now)
  const dropped = async (): Promise<number> =>
    metricIn(await scrape(app.httpUrl), 'sse_events_dropped_total') || 0
  try {
    // One reading from every device, acknowledged, under its own boot: after it the server knows them all.
    const primed = await runSimulation({
      ...{ ...input, url: app.mqttUrl, boot: input.boot - 1, readingsPerDevice: 1 },
      ...{ durationMs: PRIME_LIMIT_MS, drainTimeoutMs: PRIME_LIMIT_MS },
    })
    const why = `${primed.acknowledged} of ${o.devices} acknowledged: ${primed.errorSamples.join('; ')}`
    if (primed.acknowledged !== o.devices) throw new Error(`priming: ${why}`)
    const open = (kind: StreamKind, i: number, n: number): Promise<SseSubscriber> => {
      const share = o.partitioned
        ? Array.from({ length: Math.ceil((o.devices - i) / n) }, (_, k) => i + k * n)
        : null
      const common = { httpUrl: app.httpUrl, recorder, devicePrefix: DEVICE_PREFIX, fleetDevices: o.devices }
      return SseSubscriber.open({
        ...common,
        kind,
        devices: share,
        maxSeq: readingsPerDevice,
        timeoutMs: SUBSCRIBE_LIMIT_MS,
      })
    }
    const [t, f] = [o.telemetrySubscribers, o.featureSubscribers]
    const opened = await Promise.allSettled([
      ...Array.from({ length: t }, (_, i) => open('telemetry', i, t)),
      ...Array.from({ length: f }, (_, i) => open('features', i, f)),
    ])
    for (const result of opened) if (result.status === 'fulfilled') subscribers.push(result.value)
    const refused = opened.find((result) => result.status === 'rejected')
    if (refused !== undefined) throw refused.reason
    const droppedBefore = await dropped()

    const sample = () => ({
      ...{ atMs: Date.now(), serverS: probe.cpuSeconds(app.pid), mainS: probe.cpuSeconds(app.pid, true) },
      ...{
        machineS: probe.machineBusySeconds(),
        ownS: probe.ownCpuSeconds(),
        counts: subscribers.map((s) => ({ ...s.counts })),
      },
    })
    const loop = loopMonitor()
    const window: { start?: ReturnType<typeof sample>; end?: ReturnType<typeof sample>; rssMb?: number } = {}
    const closeWindow = (): void => {
      if (window.end !== undefined) return
      window.start ??= sample()
      window.end = sample()
      loop.disable()
      recorder.featureToMs = window.end.atMs
      window.rssMb = probe.memoryMb(app.pid).rssMb
    }
    let endTimer: NodeJS.Timeout | undefined
    const ledger = new AckLedger(o.devices, readingsPerDevice)
    const sim = await runSimulation({
      ...input,
      url: app.mqttUrl,
      onAck: (device, seq) => {
        ledger.ack(device, seq)
        if (seq !== warmupSeqs + 1 || window.start !== undefined) return
        window.start = sample()
        recorder.featureFromMs = window.start.atMs
        loop.enable()
        endTimer = setTimeout(closeWindow, o.measureMs)
      },
    })
    // The fleet may end early (errors): the window closes by then at the latest.
    clearTimeout(endTimer)
    closeWindow()
    await gc.stop()

    // Every acknowledged reading went to the hub before its PUBACK: wait (bounded) for the events on their way.
    const telemetrySubs = subscribers.filter((s) => s.seen !== null)
    const expected = telemetrySubs.map(() => 0)
    ledger.forEachAcked((d) =>
      telemetrySubs.forEach((s, k) => {
        if (s.expects(d)) expected[k]!++
      }),
    )
    const delivered = (): number => subscribers.reduce((n, s) => n + (s.counts.events ?? 0), 0)
    const drainEnd = Date.now() + DRAIN_LIMIT_MS
    let [lastCount, lastProgressMs] = [delivered(), Date.now()]
    while (telemetrySubs.some((s, k) => (s.counts.telemetry ?? 0) < expected[k]!) && Date.now() < drainEnd) {
      if (Date.now() - lastProgressMs > STALL_MS) break // the rest was dropped: it is not coming
      await sleep(50)
      if (delivered() !== lastCount) [lastCount, lastProgressMs] = [delivered(), Date.now()]
    }
    await sleep(1000)
    const droppedAfter = await dropped()
    const peakRssMb = probe.memoryMb(app.pid).hwmMb

    // Which acknowledged readings each telemetry subscriber never received, warm-up and after.
    const [lostWarmup, lostAfter] = [telemetrySubs.map(() => 0), telemetrySubs.map(() => 0)]
    ledger.forEachAcked((d, seq) =>
      telemetrySubs.forEach((s, k) => {
        if (s.expects(d) && !s.seen!.has(d, seq)) (seq <= warmupSeqs ? lostWarmup : lostAfter)[k]!++
      }),
    )
    const [start, end] = [window.start!, window.end!]
    const since = subscribers.map((s, i) => minus(s.counts, start.counts[i]!))
    const [loss, warmup] = [sum(since), sum(start.counts)]
    const features = sum(since.filter((_, i) => subscribers[i]!.kind === 'features'))
    const perDevice = subscribers.flatMap((s) => [...(s.features ?? [])].filter((_, d) => s.expects(d)))
    const failures = subscribers.flatMap((s, i) =>
      s.failure === null ? [] : [`subscriber ${i}: ${s.failure}`],
    )
    const total = (lost: number[]): number => lost.reduce((a, b) => a + b, 0)
    const [wrong, warm] = [problems(loss, lostAfter), problems(warmup, lostWarmup)]
    const even = perDevice.length === 0 || Math.min(...perDevice) === Math.max(...perDevice)
    if (sim.errors + sim.unacknowledged > 0)
      wrong.push(`${sim.errors} publish errors, ${sim.unacknowledged} unacknowledged`)
    const [fewest, most] = [fmt(Math.min(...perDevice)), fmt(Math.max(...perDevice))]
    if (!even) wrong.push(`feature events per device and subscriber ${fewest}–${most}`)
    wrong.push(...failures.slice(0, 3))
    const degraded =
      sim.errors + sim.unacknowledged + failures.length === 0 && announced(loss) && announced(warmup)
    const ok = wrong.length === 0
    const check =
      o.stress && degraded
        ? `ok as a stress case: ${fmt(total(lostAfter))} readings lost to slow subscribers, every skipped id announced by a gap`
        : `${ok ? 'ok' : `**FAILED** ${wrong.join('; ')}`}${warm.length === 0 ? '' : `; warm-up: ${warm.join('; ')}`}`

    const windowS = (end.atMs - start.atMs) / 1000
    const rate = (k: 'serverS' | 'mainS' | 'machineS' | 'ownS'): number => (end[k] - start[k]) / windowS
    const per = (k: string): number => ((sum(end.counts)[k] ?? 0) - (sum(start.counts)[k] ?? 0)) / windowS
    const q = (name: string, h: { quantileMs(q: number): number }) =>
      Object.fromEntries([50, 99].map((p) => [`${name}P${p}`, h.quantileMs(p / 100)]))
    const l = recorder.latency
    // Whole seconds of the measured time only, by publish time.
    const seconds = [...recorder.bySecond]
      .map(([second, h]) => [second * 1000, h] as const)
      .filter(([atMs]) => atMs >= start.atMs && atMs + 1000 <= end.atMs)
    const [g, split] = [gc.totals(start.atMs, end.atMs), gc.split(seconds)]
    return {
      ...q('t', l.publishToDelivery),
      ...q('recv', l.publishToReceive),
      ...q('deliver', l.receiveToDelivery),
      ...q('f', l.closeToDelivery),
      ...q('fClosing', l.closingReadingToDelivery),
      ...q('staleness', l.staleness),
      ...{ tMax: l.publishToDelivery.summary().maxMs, featureEvents: l.closeToDelivery.summary().count },
      ...{ gcWithMajorP99: split.withMajor.p99Ms, gcOtherP99: split.other.p99Ms, gcSeconds: split.seconds },
      ...{ gcSecondsWithMajor: split.secondsWithMajor, gcMajor: g.major, gcMajorMs: g.majorS * 1000 },
      ...{ gcMinor: g.minor, gcMinorMs: g.minorS * 1000, deliveredPerSecond: per('events') },
      ...{ telemetryPerSecond: per('telemetry'), lost: total(lostAfter), warmupLost: total(lostWarmup) },
      ...{ gapEvents: loss.gap ?? 0, gapLost: loss.gapLost ?? 0, featureGapEvents: features.gap ?? 0 },
      ...{ featureIdSkipped: features.idSkipped ?? 0, serverDropped: droppedAfter - droppedBefore },
      ...{ serverCores: rate('serverS'), mainCores: rate('mainS'), generatorCores: rate('ownS') },
      // Clamped: the three are read a moment apart, and a hundredth below zero means nothing.
      otherCores: Math.max(0, rate('machineS') - rate('serverS') - rate('ownS')),
      ...{ machineCores: rate('machineS'), rssMb: window.rssMb ?? Number.NaN, peakRssMb, sent: sim.sent },
      ...{ acked: sim.acknowledged, heldBack: sim.heldBack, payloadBytes: sim.meanPayloadBytes },
      ...{ ok, passed: o.stress ? degraded : ok, check },
      lagP99Ms: lagP99Ms(loop),
    }
  } finally {
    await gc.stop()
    for (const s of subscribers) s.close()
    await app.stop()
  }
}
