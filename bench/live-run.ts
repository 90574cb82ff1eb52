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
 * The server answers a stream naming a device it holds no reading of with
 * 400 TLM_ERR_UNKNOWN_DEVICE, so a partitioned subscriber can only ask once
 * its devices have published: the priming reading does that, under another
 * boot, so the measured fleet's (device, seq) are its own. Every subscriber
 * is on its hub before the measured fleet connects, and must receive every
 * one of its acknowledged readings, the warm-up's included.
 *
 * Loss is counted separately for the warm-up, which a fresh server spends
 * cold (JIT, first connections, the store's first columns), and after it.
 *
 * The fleet and the subscribers are in this process, so a reading's publish
 * time and its delivery time come from one clock (live-recorder.ts).
 */

import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import {
  type LatencyHistogram,
  loadProfile,
  type Profile,
  resolveSimulationOptions,
  runSimulation,
  type SimulationInput,
} from '../simulators/index.js'
import { sleep, spawnApp } from '../test/helpers/process.js'
import { fmt } from './doc.js'
import { DeliveryRecorder } from './live-recorder.js'
import { cpuSeconds, GcSampler, machineBusySeconds, memoryMb, metric, scrape } from './probes.js'
import { SseSubscriber, type StreamKind, type SubscriberCounts } from './sse-subscriber.js'
import { AckLedger } from './verify.js'

export interface LiveRunOptions {
  readonly devices: number
  /** Readings per second per device. */
  readonly ratePerSecond: number
  readonly telemetrySubscribers: number
  readonly featureSubscribers: number
  /**
   * Each subscriber on its share of the fleet (subscriber i of n of its kind
   * takes the devices j with j mod n = i), instead of every one on `device=*`.
   */
  readonly partitioned: boolean
  readonly warmupMs: number
  readonly measureMs: number
  /** Each feature's grace, ms, from the definitions file the server runs with. */
  readonly graceMs: ReadonlyMap<string, number>
  /** Past what the machine can deliver, on purpose: a run passes if it degrades as designed. */
  readonly stress: boolean
  readonly nodeArgs?: readonly string[]
}

/**
 * Loss as the subscribers saw it. A telemetry subscriber must receive every
 * acknowledged (device, seq) of the devices it asked for once, and nothing
 * of the others; on a `device=*` stream every id follows the last by one;
 * `gap` and `reset` are the server saying it dropped events. `lost`: the
 * acknowledged readings a telemetry subscriber never received, all summed.
 */
type Loss = Readonly<
  Record<
    | Exclude<keyof SubscriberCounts, 'kind' | 'events' | 'failure'>
    | 'lost'
    | 'subscribersWithLoss'
    | 'gapEvents'
    | 'resets',
    number
  >
>

export const DEVICE_PREFIX = 'live-'
/** Publishing goes on this long after the window, so that the windows closing in it are closed by a reading. */
const TAIL_MS = 1000
const SUBSCRIBE_TIMEOUT_MS = 10_000
/** The priming reading's publish and acknowledgement, all devices. */
const PRIME_LIMIT_MS = 15_000
/** Acknowledgements still owed when publishing stops, and events still on their way after that. */
const DRAIN_LIMIT_MS = 15_000
/** The drain wait ends early when no subscriber received anything for this long. */
const STALL_MS = 2000
const SETTLE_MS = 1000
const POLL_MS = 50
const LOOP_DELAY_RESOLUTION_MS = 10

interface Sample {
  readonly atMs: number
  readonly serverCpuS: number
  readonly serverMainCpuS: number
  readonly machineCpuS: number
  readonly own: NodeJS.CpuUsage
  readonly delivered: number
  readonly telemetry: number
  readonly counts: readonly SubscriberCounts[]
}

export async function runLive(o: LiveRunOptions): Promise<Record<string, number | string | boolean>> {
  const warmupSeqs = Math.round((o.warmupMs / 1000) * o.ratePerSecond)
  const measuredSeqs = Math.round((o.measureMs / 1000) * o.ratePerSecond)
  const input = {
    devices: o.devices,
    ratePerSecond: o.ratePerSecond,
    durationMs: o.warmupMs + o.measureMs + TAIL_MS,
    qos: 1 as const,
    idPrefix: DEVICE_PREFIX,
    tags: { site: 'bench' },
    drainTimeoutMs: DRAIN_LIMIT_MS,
    boot: Math.floor(Date.now() / 1000),
    // One device type: every device carries every feature's field, so each
    // subscriber must see the same number of feature events from each.
    profile: thermostatsOnly(),
  }
  const { readingsPerDevice } = resolveSimulationOptions({ ...input, url: 'mqtt://127.0.0.1:1' })
  const recorder = new DeliveryRecorder(o.graceMs, { first: warmupSeqs + 1, last: warmupSeqs + measuredSeqs })

  const app = await spawnApp({ nodeArgs: o.nodeArgs ?? [] })
  const subscribers: SseSubscriber[] = []
  // Date.now(): the recorder's clock.
  const gc = new GcSampler(app.httpUrl, 1000, Date.now)
  try {
    await prime({ ...input, url: app.mqttUrl, boot: input.boot - 1 })
    const open = (kind: StreamKind, i: number, of: number): Promise<SseSubscriber> =>
      SseSubscriber.open({
        httpUrl: app.httpUrl,
        kind,
        recorder,
        devicePrefix: DEVICE_PREFIX,
        fleetDevices: o.devices,
        devices: o.partitioned ? shareOf(o.devices, i, of) : null,
        maxSeq: readingsPerDevice,
        timeoutMs: SUBSCRIBE_TIMEOUT_MS,
      })
    const t = o.telemetrySubscribers
    const f = o.featureSubscribers
    const opened = await Promise.allSettled([
      ...Array.from({ length: t }, (_, i) => open('telemetry', i, t)),
      ...Array.from({ length: f }, (_, i) => open('features', i, f)),
    ])
    for (const result of opened) if (result.status === 'fulfilled') subscribers.push(result.value)
    const refused = opened.find((result) => result.status === 'rejected')
    if (refused !== undefined) throw refused.reason
    const before = await scrapeDropped(app.httpUrl)

    const delivered = (): number => subscribers.reduce((n, s) => n + s.delivered, 0)
    const sample = (): Sample => ({
      atMs: Date.now(),
      serverCpuS: cpuSeconds(app.pid),
      serverMainCpuS: cpuSeconds(app.pid, true),
      machineCpuS: machineBusySeconds(),
      own: process.cpuUsage(),
      delivered: delivered(),
      telemetry: subscribers.reduce((n, s) => n + s.telemetry, 0),
      counts: subscribers.map((s) => s.counts()),
    })
    const loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS })
    const window: { start?: Sample; end?: Sample; rssMb?: number } = {}
    const closeWindow = (): void => {
      if (window.end !== undefined) return
      window.start ??= sample()
      window.end = sample()
      loopDelay.disable()
      recorder.closeFeatureWindow(window.end.atMs)
      window.rssMb = memoryMb(app.pid).rssMb
    }
    let endTimer: NodeJS.Timeout | undefined
    const openWindow = (): void => {
      window.start = sample()
      recorder.openFeatureWindow(window.start.atMs)
      loopDelay.enable()
      endTimer = setTimeout(closeWindow, o.measureMs)
    }

    const ledger = new AckLedger(o.devices, readingsPerDevice)
    const sim = await runSimulation({
      ...input,
      url: app.mqttUrl,
      onAck: (device, seq) => {
        ledger.ack(device, seq)
        if (seq === warmupSeqs + 1 && window.start === undefined) openWindow()
      },
    })
    // The fleet may end early (errors): the window closes by then at the latest.
    clearTimeout(endTimer)
    closeWindow()
    await gc.stop()

    // Which telemetry subscribers expect each device, and how many readings each expects in all.
    const telemetrySubs = subscribers.filter((s) => s.seen !== null)
    const ackedOf = new Uint32Array(o.devices)
    ledger.forEachAcked((device) => ackedOf[device]!++)
    const expecting: number[][] = Array.from({ length: o.devices }, () => [])
    const expected = telemetrySubs.map(() => 0)
    telemetrySubs.forEach((s, k) => {
      for (let d = 0; d < o.devices; d++) {
        if (!s.expects(d)) continue
        expecting[d]!.push(k)
        expected[k]! += ackedOf[d]!
      }
    })

    // Every acknowledged reading went to the hub before its PUBACK: wait for the events still on their way.
    const drainEnd = Date.now() + DRAIN_LIMIT_MS
    let lastCount = delivered()
    let lastProgressMs = Date.now()
    while (telemetrySubs.some((s, k) => s.telemetry < expected[k]!) && Date.now() < drainEnd) {
      if (Date.now() - lastProgressMs > STALL_MS) break // the rest was dropped: it is not coming
      await sleep(POLL_MS)
      if (delivered() !== lastCount) {
        lastCount = delivered()
        lastProgressMs = Date.now()
      }
    }
    await sleep(SETTLE_MS)
    const after = await scrapeDropped(app.httpUrl)
    const peakRssMb = memoryMb(app.pid).hwmMb

    // Which acknowledged readings each telemetry subscriber never received, warm-up and after.
    const lostWarmup = telemetrySubs.map(() => 0)
    const lostAfter = telemetrySubs.map(() => 0)
    ledger.forEachAcked((device, seq) => {
      const lost = seq <= warmupSeqs ? lostWarmup : lostAfter
      for (const k of expecting[device]!) if (!telemetrySubs[k]!.seen!.has(device, seq)) lost[k]!++
    })
    const start = window.start!
    const end = window.end!
    const final = subscribers.map((s) => s.counts())
    const since = final.map((c, i) => difference(c, start.counts[i]!))
    const featureCounts = subscribers.flatMap((s) =>
      s.measuredFeatures === null
        ? []
        : Array.from({ length: o.devices }, (_, d) => d)
            .filter((d) => s.expects(d))
            .map((d) => s.measuredFeatures![d]!),
    )
    const failures = final.flatMap((c, i) => (c.failure === null ? [] : [`subscriber ${i}: ${c.failure}`]))
    const windowS = (end.atMs - start.atMs) / 1000
    const generatorS = (end.own.user + end.own.system - start.own.user - start.own.system) / 1e6

    const loss = lossOf(since, lostAfter)
    const warmupLoss = lossOf(start.counts, lostWarmup)
    const featureLoss = lossOf(
      since.filter((c) => c.kind === 'features'),
      [],
    )
    const perDevice =
      featureCounts.length > 0 ? [Math.min(...featureCounts), Math.max(...featureCounts)] : [0, 0]
    const clean = sim.errors + sim.unacknowledged === 0 && failures.length === 0
    const ok = Object.values(loss).every((n) => n === 0) && clean && perDevice[0] === perDevice[1]
    // A stress case passes when it degrades as designed: every event a subscriber lost announced by a `gap`.
    const degraded = clean && announced(loss) && announced(warmupLoss)
    const problems = lossProblems(loss)
    if (sim.errors + sim.unacknowledged > 0)
      problems.push(`${sim.errors} publish errors, ${sim.unacknowledged} unacknowledged`)
    if (perDevice[0] !== perDevice[1])
      problems.push(`feature events per device and subscriber ${fmt(perDevice[0]!)}–${fmt(perDevice[1]!)}`)
    problems.push(...failures.slice(0, 3))
    const warm = lossProblems(warmupLoss)
    const verdict = problems.length === 0 ? 'ok' : `**FAILED** ${problems.join('; ')}`
    const check =
      o.stress && degraded
        ? `ok as a stress case: ${fmt(loss.lost)} readings lost to slow subscribers, every skipped id announced by a gap`
        : warm.length === 0
          ? verdict
          : `${verdict}; warm-up: ${warm.join('; ')}`
    const [tt, ft] = [recorder.telemetryTimes(), recorder.featureTimes()]
    const g = liveGc(gc, recorder.bySecond(), start.atMs, end.atMs)
    const cores = (a: number, b: number): number => (b - a) / windowS
    const [serverCores, generatorCores, machineCores] = [
      cores(start.serverCpuS, end.serverCpuS),
      generatorS / windowS,
      cores(start.machineCpuS, end.machineCpuS),
    ]
    return {
      ...{
        tP50: tt.publishToDelivery.p50Ms,
        tP99: tt.publishToDelivery.p99Ms,
        tMax: tt.publishToDelivery.maxMs,
      },
      ...{ recvP50: tt.publishToReceive.p50Ms, recvP99: tt.publishToReceive.p99Ms },
      ...{ deliverP50: tt.receiveToDelivery.p50Ms, deliverP99: tt.receiveToDelivery.p99Ms },
      ...{
        gcWithMajorP99: g.withMajor.p99Ms,
        gcOtherP99: g.other.p99Ms,
        gcSecondsWithMajor: g.secondsWithMajor,
      },
      ...{
        gcSeconds: g.seconds,
        gcMajor: g.major,
        gcMajorMs: g.majorS * 1000,
        gcMinor: g.minor,
        gcMinorMs: g.minorS * 1000,
      },
      ...{
        fP50: ft.closeToDelivery.p50Ms,
        fP99: ft.closeToDelivery.p99Ms,
        featureEvents: ft.closeToDelivery.count,
      },
      ...{ fClosingP50: ft.closingReadingToDelivery.p50Ms, fClosingP99: ft.closingReadingToDelivery.p99Ms },
      ...{ stalenessP50: ft.staleness.p50Ms, stalenessP99: ft.staleness.p99Ms },
      ...{
        deliveredPerSecond: (end.delivered - start.delivered) / windowS,
        telemetryPerSecond: (end.telemetry - start.telemetry) / windowS,
      },
      ...{ lost: loss.lost, gapEvents: loss.gapEvents, gapLost: loss.gapLost, warmupLost: warmupLoss.lost },
      ...{
        featureGapEvents: featureLoss.gapEvents,
        featureIdSkipped: featureLoss.idSkipped,
        serverDropped: after - before,
      },
      ...{
        serverCores,
        mainCores: cores(start.serverMainCpuS, end.serverMainCpuS),
        generatorCores,
        machineCores,
      },
      // Clamped: the three are read a moment apart, and a hundredth below zero means nothing.
      ...{ otherCores: Math.max(0, machineCores - serverCores - generatorCores) },
      ...{ rssMb: window.rssMb ?? Number.NaN, peakRssMb },
      // The histogram holds each timer's whole interval: the lag is what exceeds the resolution.
      ...{
        lagP99Ms:
          loopDelay.count > 0 ? Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS) : NaN,
      },
      ...{
        sent: sim.sent,
        acked: sim.acknowledged,
        heldBack: sim.heldBack,
        payloadBytes: sim.meanPayloadBytes,
      },
      ...{ ok, passed: o.stress ? degraded : ok, check },
    }
  } finally {
    await gc.stop()
    for (const s of subscribers) s.close()
    await app.stop()
  }
}

function liveGc(
  gc: GcSampler,
  bySecond: ReadonlyMap<number, LatencyHistogram>,
  fromMs: number,
  toMs: number,
): ReturnType<GcSampler['totals']> & ReturnType<GcSampler['split']> {
  // Whole seconds of the measured time only.
  const seconds = [...bySecond]
    .map(([second, latency]) => [second * 1000, latency] as const)
    .filter(([atMs]) => atMs >= fromMs && atMs + 1000 <= toMs)
  return { ...gc.totals(fromMs, toMs), ...gc.split(seconds) }
}

function lossOf(counts: readonly SubscriberCounts[], lost: readonly number[]): Loss {
  const sum = (f: (c: SubscriberCounts) => number): number => counts.reduce((n, c) => n + f(c), 0)
  return {
    lost: lost.reduce((a, b) => a + b, 0),
    subscribersWithLoss: lost.filter((n) => n > 0).length,
    gapEvents: sum((c) => c.events.gap ?? 0),
    gapLost: sum((c) => c.gapLost),
    resets: sum((c) => c.events.reset ?? 0),
    idSkipped: sum((c) => c.idSkipped),
    idBackwards: sum((c) => c.idBackwards),
    duplicates: sum((c) => c.duplicates),
    foreign: sum((c) => c.foreign),
    unreadable: sum((c) => c.unreadable),
  }
}

/**
 * A subscriber that cannot keep up loses events, and hears how many from a
 * `gap` in their place (src/api/sse.ts); nothing else may go wrong: no id
 * skipped unannounced, none going backwards or repeating, no device not asked for.
 */
function announced(l: Loss): boolean {
  return l.idSkipped <= l.gapLost && l.resets + l.idBackwards + l.duplicates + l.foreign + l.unreadable === 0
}

function lossProblems(l: Loss): string[] {
  const problems: string[] = []
  if (l.lost > 0) problems.push(`${fmt(l.lost)} readings lost over ${l.subscribersWithLoss} subscribers`)
  if (l.gapEvents > 0) problems.push(`${fmt(l.gapEvents)} gap events (${fmt(l.gapLost)} events)`)
  const counts = [
    ['resets', l.resets],
    ['ids skipped', l.idSkipped],
    ['ids out of order', l.idBackwards],
    ['duplicates', l.duplicates],
  ] as const
  for (const [what, n] of [
    ...counts,
    ['events of devices not asked for', l.foreign],
    ['unreadable', l.unreadable],
  ] as const)
    if (n > 0) problems.push(`${fmt(n)} ${what}`)
  return problems
}

/** Subscriber i of n's share of the fleet: the devices j with j mod n = i. */
export function shareOf(devices: number, i: number, n: number): number[] {
  const share: number[] = []
  for (let d = i; d < devices; d += n) share.push(d)
  return share
}

/**
 * One reading from every device, acknowledged: after it the server knows
 * them all. Under its own boot, so the bridge's dedupe keeps it apart from
 * the measured fleet's seqs.
 */
async function prime(input: SimulationInput & { boot: number }): Promise<void> {
  const summary = await runSimulation({
    ...input,
    readingsPerDevice: 1,
    durationMs: PRIME_LIMIT_MS,
    drainTimeoutMs: PRIME_LIMIT_MS,
  })
  if (summary.acknowledged !== input.devices)
    throw new Error(
      `priming: ${summary.acknowledged} of ${input.devices} devices had a reading acknowledged` +
        `${summary.errorSamples.length > 0 ? `: ${summary.errorSamples.join('; ')}` : ''}`,
    )
}

/** What a subscriber counted between two of its counts. */
function difference(later: SubscriberCounts, earlier: SubscriberCounts): SubscriberCounts {
  const events: Record<string, number> = {}
  for (const [type, n] of Object.entries(later.events)) events[type] = n - (earlier.events[type] ?? 0)
  return {
    kind: later.kind,
    events,
    gapLost: later.gapLost - earlier.gapLost,
    idSkipped: later.idSkipped - earlier.idSkipped,
    idBackwards: later.idBackwards - earlier.idBackwards,
    duplicates: later.duplicates - earlier.duplicates,
    foreign: later.foreign - earlier.foreign,
    unreadable: later.unreadable - earlier.unreadable,
    failure: later.failure,
  }
}

/** Events the server dropped for slow SSE clients, both streams, from /metrics. */
async function scrapeDropped(httpUrl: string): Promise<number> {
  const n = metric(await scrape(httpUrl), 'sse_events_dropped_total')
  return Number.isNaN(n) ? 0 : n
}

/** The default profile's thermostats, the type whose fields the default features cover. */
function thermostatsOnly(): Profile {
  const profile = loadProfile()
  const types = profile.types.filter((t) => t.name === 'thermostat')
  if (types.length === 0) throw new Error('the default profile has no thermostat type')
  return { types }
}
