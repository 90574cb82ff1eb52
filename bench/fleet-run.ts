/**
 * One run of one bench:fleet scenario against one fresh server: ours, or
 * Mosquitto with one QoS 1 subscriber. Each run:
 *
 *   start server ─▶ warm-up (other ids, not counted) ─▶ sample /proc ─▶ load
 *                ─▶ check (ours: the store; Mosquitto: its subscriber) ─▶ stop
 */

import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import {
  LatencyHistogram,
  type LatencySummary,
  resolveSimulationOptions,
  runSimulation,
  type SimulationInput,
  type SimulationSummary,
} from '../simulators/index.js'
import {
  type AppServer,
  memoryMb,
  type Server,
  type Subscriber,
  sleep,
  startApp,
  startMosquitto,
  startSubscriber,
} from './processes.js'
import { fmt } from './results-doc.js'
import { GcSampler, type GcTotals, type LatencyByMajorGc, latencyByMajorGc } from './server-gc.js'
import { type MemoryBreakdown, memoryBreakdown } from './server-memory.js'
import { UsageSampler } from './server-usage.js'
import { runStorm, type StormOptions, type StormResult } from './storm.js'
import { AckLedger, checkStored, commitsText, scrapeCounters } from './verify.js'

export type ServerKind = 'app' | 'mosquitto'

/** What the server did over a run, from /proc. */
export interface Usage {
  /** From the start of the load to its first acknowledgement (connecting the devices), s. */
  readonly connectS: number
  /** From the first acknowledgement to the last: the steady load, s. */
  readonly loadS: number
  /** Server CPU seconds per wall second over the steady load. */
  readonly cores: number
  /** Server CPU seconds over the whole run: connecting, load and disconnecting. */
  readonly cpuS: number
  /** VmHWM at the end: the highest resident memory of the server's life, start-up and warm-up included. */
  readonly hwmMb: number
  /** The last VmRSS sampled before the load ended, every device still connected. */
  readonly endRssMb: number
  /** The bench process's CPU seconds per wall second over the same stretch: the load generator's. */
  readonly generatorCores: number
  /** How late the bench process's event loop ran over the load, p99, ms: what its own queueing adds. */
  readonly generatorLagP99Ms: number
}

/**
 * Where a load's p99 is made, by publish time: its first seconds (every
 * device's first readings, reaching a server that has just taken every
 * connection) apart from the rest, each second's p99, and the seconds in
 * which the app's major garbage collections ended.
 */
export interface LoadPhases {
  /** Publish to acknowledgement of the readings published in the first EARLY_S seconds, and after. */
  readonly early: LatencySummary
  readonly rest: LatencySummary
  /** p99 of each second of publishing, ms. */
  readonly p99BySecond: readonly number[]
  /** Cores busy over the first EARLY_S seconds and over the rest: the server's, and the whole machine's. */
  readonly earlyServerCores: number
  readonly restServerCores: number
  readonly earlyMachineCores: number
  readonly restMachineCores: number
  /**
   * The app's garbage collections from the first publish to the last
   * acknowledgement, and the latency of the seconds of publishing in or
   * next to which a major one ended, apart from the others; null for Mosquitto.
   */
  readonly gc: (GcTotals & LatencyByMajorGc) | null
}

export interface LoadRun {
  readonly server: ServerKind
  readonly sim: SimulationSummary
  readonly usage: Usage
  /** Asked for with `phases`; null otherwise. */
  readonly phases: LoadPhases | null
  /** Acknowledged but not stored (ours) or not delivered to the subscriber (Mosquitto); NaN if unchecked. */
  readonly lost: number
  /** Mosquitto: its subscriber's messages/s, first to last; NaN for ours. */
  readonly deliveredPerSecond: number
  /** Ours: where its memory was, MEMORY_AT of the way into the load; null if the load ended first. */
  readonly memory: MemoryBreakdown | null
  readonly ok: boolean
  readonly check: string
}

export interface StormRun {
  readonly server: ServerKind
  readonly storm: StormResult
  readonly usage: Usage
  readonly ok: boolean
  readonly check: string
}

export interface RunOptions {
  readonly nodeArgs?: readonly string[]
}

/** A fleet's load, before it knows which server it is pointed at. */
export type Load = Omit<SimulationInput, 'url' | 'onAck'>

const WARMUP_PREFIX = 'warmup-'
/** The first seconds of publishing, looked at apart from the rest (LoadPhases). */
export const EARLY_S = 2
/** How far into the load (by its planned length) the app's memory is looked at: every device still sending. */
export const MEMORY_AT = 0.9
const DELIVERY_WAIT_MS = 10_000

interface Target {
  readonly server: Server
  readonly app: AppServer | null
  readonly subscriber: Subscriber | null
  stop(): Promise<void>
}

async function start(kind: ServerKind, options: RunOptions): Promise<Target> {
  if (kind === 'app') {
    const app = await startApp(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs })
    return { server: app, app, subscriber: null, stop: () => app.stop() }
  }
  const broker = await startMosquitto()
  try {
    const subscriber = await startSubscriber(broker.mqttUrl, { qos: 1 })
    return {
      server: broker,
      app: null,
      subscriber,
      async stop() {
        await subscriber.stop()
        await broker.stop()
      },
    }
  } catch (err) {
    await broker.stop()
    throw err
  }
}

/** Waits, bounded, until the subscriber has `count` messages since its mark; returns what it has. */
async function delivered(sub: Subscriber, count: number): Promise<number> {
  const deadline = Date.now() + DELIVERY_WAIT_MS
  while (sub.since().count < count && Date.now() < deadline) await sleep(50)
  return sub.since().count
}

/**
 * Fleet and burst: a warm-up on other ids, then the load with every
 * acknowledgement noted; then, for ours, the store asked for them back
 * (`readBack`: every reading over HTTP; otherwise the accepted counter), and
 * for Mosquitto, its subscriber's count. `phases` also times each second of
 * the load and scrapes the app's GC counts once a second (LoadPhases).
 */
export async function runLoad(
  kind: ServerKind,
  load: Load,
  warmup: Load,
  { readBack, phases: withPhases = false, ...options }: RunOptions & { readBack: boolean; phases?: boolean },
): Promise<LoadRun> {
  const target = await start(kind, options)
  try {
    const url = target.server.mqttUrl
    const w = await runSimulation({ ...warmup, url, idPrefix: WARMUP_PREFIX })
    if (target.subscriber !== null) {
      target.subscriber.mark()
      await delivered(target.subscriber, w.acknowledged)
      target.subscriber.mark()
    }
    const before = target.app === null ? null : await scrapeCounters(target.app.httpUrl)

    const input = { ...load, url }
    const resolved = resolveSimulationOptions(input)
    const ledger = new AckLedger(load.devices, resolved.readingsPerDevice)
    let firstAckAt = Number.NaN
    let lastAckAt = Number.NaN
    /** Publish time of the first acknowledged reading: second 0 of LoadPhases. */
    let origin = Number.NaN
    const bySecond: LatencyHistogram[] = []
    let memory: MemoryBreakdown | null = null
    let memoryTimer: NodeJS.Timeout | null = null
    const loadMs = (resolved.readingsPerDevice / resolved.ratePerSecond) * 1000
    const sampler = new UsageSampler(target.server.pid)
    const gc = withPhases && target.app !== null ? new GcSampler(target.app.httpUrl) : null
    const lag = monitorEventLoopDelay({ resolution: 10 })
    const loadStart = performance.now()
    const loadStartEpochMs = Date.now()
    const sim = await runSimulation({
      ...input,
      onAck: (device, seq, latencyMs) => {
        lastAckAt = performance.now()
        if (Number.isNaN(firstAckAt)) {
          firstAckAt = lastAckAt
          origin = lastAckAt - latencyMs
          lag.enable()
          const app = target.app
          if (app !== null && Number.isFinite(loadMs))
            memoryTimer = setTimeout(() => {
              memoryBreakdown(app.pid, app.httpUrl).then(
                (m) => {
                  memory = m
                },
                () => undefined,
              )
            }, MEMORY_AT * loadMs)
        }
        ledger.ack(device, seq)
        if (!withPhases) return
        const second = Math.max(0, Math.floor((lastAckAt - latencyMs - origin) / 1000))
        bySecond[second] ??= new LatencyHistogram()
        bySecond[second].record(latencyMs)
      },
    })
    lag.disable()
    sampler.stop()
    await gc?.stop()
    const phases = withPhases ? loadPhases(bySecond, sampler, gc, origin, lastAckAt) : null
    if (memoryTimer !== null) clearTimeout(memoryTimer)
    const stretch = sampler.stretch(firstAckAt, lastAckAt)
    const usage: Usage = {
      connectS: (firstAckAt - loadStart) / 1000,
      loadS: (lastAckAt - firstAckAt) / 1000,
      cores: stretch.cores,
      cpuS: sampler.cpuS,
      hwmMb: memoryMb(target.server.pid).hwmMb,
      endRssMb: stretch.endRssMb,
      generatorCores: stretch.ownCores,
      generatorLagP99Ms: lag.count > 0 ? lag.percentile(99) / 1e6 : Number.NaN,
    }
    const clean = sim.errors === 0 && sim.unacknowledged === 0 && w.errors === 0
    const problems =
      sim.errors + sim.unacknowledged > 0
        ? `; ${sim.errors} errors, ${sim.unacknowledged} unacknowledged${sim.errorSamples.length > 0 ? ` (${sim.errorSamples[0]})` : ''}`
        : ''

    if (target.app !== null && before !== null) {
      const app = target.app
      if (readBack) {
        const stored = await checkStored(
          app.httpUrl,
          before,
          ledger,
          (i) => `${load.idPrefix ?? ''}${i}`,
          loadStartEpochMs - 60_000,
          Date.now() + 60_000,
        )
        const text =
          `${fmt(ledger.count - stored.missing)}/${fmt(ledger.count)} acked read back` +
          (stored.missing > 0 ? `, ${stored.missing} MISSING` : '') +
          (stored.duplicates > 0 ? `, ${stored.duplicates} duplicate rows` : '') +
          `; ${stored.commits}`
        return {
          server: kind,
          sim,
          usage,
          phases,
          lost: stored.missing,
          deliveredPerSecond: Number.NaN,
          memory,
          ok: clean && stored.ok,
          check: text + problems,
        }
      }
      const after = await scrapeCounters(app.httpUrl)
      const accepted = after.accepted - before.accepted
      const lost = Math.max(0, sim.acknowledged - accepted)
      return {
        server: kind,
        sim,
        usage,
        phases,
        lost,
        deliveredPerSecond: Number.NaN,
        memory,
        ok: clean && lost === 0,
        check: `accepted counter +${fmt(accepted)} for ${fmt(sim.acknowledged)} acked; ${commitsText(before, after)}${problems}`,
      }
    }
    const sub = target.subscriber!
    const got = await delivered(sub, sim.acknowledged)
    const lost = Math.max(0, sim.acknowledged - got)
    return {
      server: kind,
      sim,
      usage,
      phases,
      lost,
      deliveredPerSecond: sub.since().perSecond,
      memory: null,
      ok: clean && lost === 0,
      check: `${fmt(got)}/${fmt(sim.acknowledged)} acked delivered to the QoS 1 subscriber${problems}`,
    }
  } finally {
    await target.stop()
  }
}

function loadPhases(
  bySecond: readonly (LatencyHistogram | undefined)[],
  sampler: UsageSampler,
  gc: GcSampler | null,
  origin: number,
  lastAckAt: number,
): LoadPhases {
  const early = new LatencyHistogram()
  const rest = new LatencyHistogram()
  bySecond.forEach((h, second) => {
    if (h !== undefined) (second < EARLY_S ? early : rest).merge(h)
  })
  const split = origin + EARLY_S * 1000
  const first = sampler.stretch(origin, split)
  const then = sampler.stretch(split, lastAckAt)
  return {
    early: early.summary(),
    rest: rest.summary(),
    p99BySecond: Array.from(bySecond, (h) => h?.quantileMs(0.99) ?? Number.NaN),
    earlyServerCores: first.cores,
    restServerCores: then.cores,
    earlyMachineCores: first.machineCores,
    restMachineCores: then.machineCores,
    gc:
      gc === null
        ? null
        : {
            ...gc.totals(origin, lastAckAt),
            ...latencyByMajorGc(
              gc,
              bySecond.flatMap((h, second) =>
                h === undefined ? [] : [[origin + second * 1000, h] as const],
              ),
            ),
          },
  }
}

/** The storm: a small storm on other ids first, then the measured one. */
export async function runStormOn(
  kind: ServerKind,
  storm: Omit<StormOptions, 'url'>,
  options: RunOptions = {},
): Promise<StormRun> {
  const target = await start(kind, options)
  try {
    const url = target.server.mqttUrl
    const warmupDevices = Math.min(storm.devices, 500)
    await runStorm({
      ...storm,
      url,
      devices: warmupDevices,
      spreadMs: (storm.spreadMs * warmupDevices) / storm.devices,
      idPrefix: WARMUP_PREFIX,
    })
    const sampler = new UsageSampler(target.server.pid)
    const lag = monitorEventLoopDelay({ resolution: 10 })
    lag.enable()
    const t0 = performance.now()
    const result = await runStorm({ ...storm, url })
    lag.disable()
    sampler.stop()
    const end = t0 + (Number.isNaN(result.allConnectedMs) ? storm.spreadMs : result.allConnectedMs)
    const stretch = sampler.stretch(t0, end)
    const usage: Usage = {
      connectS: (end - t0) / 1000,
      loadS: Number.NaN,
      cores: stretch.cores,
      cpuS: sampler.cpuS,
      hwmMb: memoryMb(target.server.pid).hwmMb,
      endRssMb: stretch.endRssMb,
      generatorCores: stretch.ownCores,
      generatorLagP99Ms: lag.percentile(99) / 1e6,
    }
    const ok = result.connected === storm.devices && result.dropped === 0
    const check =
      `${result.connected}/${storm.devices} connected, ${result.refused} refused, ${result.failed} failed, ` +
      `${result.dropped} dropped` +
      (result.errorSamples.length > 0 ? ` (${result.errorSamples.slice(0, 2).join('; ')})` : '')
    return { server: kind, storm: result, usage, ok, check }
  } finally {
    await target.stop()
  }
}
