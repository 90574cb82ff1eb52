/**
 * One run of one bench:fleet scenario against one fresh server: ours, or
 * Mosquitto with one QoS 1 subscriber. Each run:
 *
 *   start server ─▶ warm-up (other ids, not counted) ─▶ sample /proc ─▶ load
 *                ─▶ check (ours: the store; Mosquitto: its subscriber) ─▶ stop
 *
 * The result is a flat row of figures (bench/results/fleet.json).
 */

import { performance } from 'node:perf_hooks'
import { LatencyHistogram, resolveSimulationOptions, runSimulation } from '../simulators/index.js'
import type { DeviceUsers } from '../test/helpers/device-users.js'
import { lagP99Ms, loopMonitor, serverLagP99Ms } from '../test/helpers/loop-lag.js'
import { memoryMb, UsageSampler } from '../test/helpers/probes.js'
import { type AppOptions, spawnApp, startMosquitto, startSubscriber } from '../test/helpers/process.js'
import { AckLedger, checkStored, commitsText, scrapeCounters } from '../test/helpers/stored.js'
import { type Figure, fmt, type Row } from './doc.js'
import { GcSampler, memoryBreakdown } from './probes.js'

/** Our app open (no credentials), our app with a password file and an ACL file (`auth`), or Mosquitto. */
export type ServerKind = 'app' | 'auth' | 'mosquitto'
export type Storm = Readonly<Record<'devices' | 'spreadMs' | 'connectTimeoutMs', number>>
/** A load, before it knows which server it is pointed at. */
export type Load = Omit<Parameters<typeof runSimulation>[0], 'url' | 'onAck'>

/** The storm's warm-up: a storm of at most this many devices on `warmup-` ids. */
export const STORM_WARMUP_DEVICES = 500
/** The first seconds of publishing, looked at apart from the rest. */
export const EARLY_S = 2
/** How far into the load (by its planned length) the app's memory is looked at: every device still sending. */
export const MEMORY_AT = 0.9

export interface Target {
  readonly pid: number
  readonly mqttUrl: string
  readonly app: Awaited<ReturnType<typeof spawnApp>> | null
  readonly subscriber: Awaited<ReturnType<typeof startSubscriber>> | null
  /** What every device connects with: for `auth`, each device as its own user. */
  readonly login: Partial<DeviceUsers['login']>
  stop(): Promise<void>
}

/**
 * How the app is started: Node flags (profiling), or another script
 * (bench/no-commit.ts), its own flags; and for `auth`, the devices'
 * password and ACL files.
 */
export type Launch = Pick<AppOptions, 'nodeArgs' | 'main' | 'args'> & { readonly users?: DeviceUsers }

/** A fresh server: our app, or Mosquitto with one mosquitto_sub subscribed at QoS 1 as its consumer. */
export async function startTarget(kind: ServerKind, launch: Launch): Promise<Target> {
  if (kind !== 'mosquitto') {
    const { users, ...rest } = launch
    if (kind === 'auth' && users === undefined) throw new Error('the auth variant needs its users')
    const login = kind === 'auth' ? users!.login : {}
    const app = await spawnApp({
      ...rest,
      args: [...(rest.args ?? []), ...(kind === 'auth' ? users!.args : [])],
    })
    return { pid: app.pid, mqttUrl: app.mqttUrl, app, subscriber: null, login, stop: () => app.stop() }
  }
  const broker = await startMosquitto()
  const subscriber = await startSubscriber(broker.mqttUrl).catch(async (err: unknown) => {
    await broker.stop()
    throw err
  })
  const stop = async (): Promise<void> => {
    await subscriber.stop()
    await broker.stop()
  }
  return { pid: broker.pid, mqttUrl: broker.mqttUrl, app: null, subscriber, login: {}, stop }
}

export interface LoadRunOptions {
  /** Ours: every acknowledged reading read back over HTTP; otherwise the accepted counter. */
  readonly readBack: boolean
  /** Where the p99 is made: each second's latency by publish time, the first EARLY_S apart, the app's GCs. */
  readonly phases?: number
  readonly launch?: Launch
}

/**
 * Fleet and burst: a warm-up on other ids, then the load with every
 * acknowledgement noted; then, for ours, the store asked for them back, and
 * for Mosquitto, its subscriber's count.
 */
export async function runLoad(kind: ServerKind, load: Load, warmup: Load, o: LoadRunOptions): Promise<Row> {
  const target = await startTarget(kind, o.launch ?? {})
  try {
    const [url, login] = [target.mqttUrl, target.login]
    const w = await runSimulation({ ...warmup, url, idPrefix: 'warmup-', ...login })
    if (target.subscriber !== null) {
      target.subscriber.mark()
      await target.subscriber.waitFor(w.acknowledged)
      target.subscriber.mark()
    }
    const app = target.app
    const before = app === null ? null : await scrapeCounters(app.httpUrl)
    const resolved = resolveSimulationOptions({ ...load, url })
    const ledger = new AckLedger(load.devices, resolved.readingsPerDevice)
    const loadMs = (resolved.readingsPerDevice / resolved.ratePerSecond) * 1000
    let [firstAckAt, lastAckAt, origin] = [NaN, NaN, NaN]
    const bySecond: LatencyHistogram[] = []
    let memory: Record<string, number> = {}
    let memoryTimer: NodeJS.Timeout | undefined
    const sampler = new UsageSampler(target.pid)
    const gc = o.phases !== undefined && app !== null ? new GcSampler(app.httpUrl) : null
    const lag = loopMonitor()
    const loadStart = performance.now()
    const loadStartEpochMs = Date.now()
    const sim = await runSimulation({
      ...load,
      ...{ url, ...login },
      onAck: (device, seq, latencyMs) => {
        lastAckAt = performance.now()
        if (Number.isNaN(firstAckAt)) {
          ;[firstAckAt, origin] = [lastAckAt, lastAckAt - latencyMs]
          lag.enable()
          if (app !== null && Number.isFinite(loadMs))
            memoryTimer = setTimeout(() => {
              const done = (m: Record<string, number>): void => {
                memory = m
              }
              memoryBreakdown(app.pid, app.httpUrl).then(done, () => undefined)
            }, MEMORY_AT * loadMs)
        }
        ledger.ack(device, seq)
        if (o.phases === undefined) return
        const second = Math.max(0, Math.floor((lastAckAt - latencyMs - origin) / 1000))
        bySecond[second] ??= new LatencyHistogram()
        bySecond[second].record(latencyMs)
      },
    })
    lag.disable()
    sampler.stop()
    await gc?.stop()
    clearTimeout(memoryTimer)
    const use = sampler.stretch(firstAckAt, lastAckAt)
    const row: Record<string, Figure> = {
      ...{ server: kind, devices: sim.devices, connectS: (firstAckAt - loadStart) / 1000 },
      ...{ ackedPerSecond: sim.ackedPerSecond, acked: sim.acknowledged, heldBack: sim.heldBack },
      ...{ p50Ms: sim.latency.p50Ms, p99Ms: sim.latency.p99Ms, maxMs: sim.latency.maxMs },
      ...{ hwmMb: memoryMb(target.pid).hwmMb, endRssMb: use.endRssMb, cores: use.cores },
      ...{ generatorCores: use.ownCores, lagP99Ms: lagP99Ms(lag) },
      ...memory,
      ...(o.phases === undefined ? {} : phases(bySecond, sampler, gc, origin, lastAckAt, o.phases)),
    }
    const clean = sim.errors === 0 && sim.unacknowledged === 0 && w.errors === 0
    const sample = sim.errorSamples.length > 0 ? ` (${sim.errorSamples[0]})` : ''
    const problems = clean ? '' : `; ${sim.errors} errors, ${sim.unacknowledged} unacknowledged${sample}`
    const sub = target.subscriber
    if (sub !== null) {
      const lost = Math.max(0, sim.acknowledged - (await sub.waitFor(sim.acknowledged)))
      const check = `${fmt(sim.acknowledged - lost)}/${fmt(sim.acknowledged)} acked delivered to the QoS 1 subscriber`
      const delivered = { deliveredPerSecond: sub.since().perSecond }
      return { ...row, lost, ...delivered, ok: clean && lost === 0, check: check + problems }
    }
    if (o.readBack) {
      const s = await checkStored(app!.httpUrl, before!, ledger, load.idPrefix ?? '', loadStartEpochMs - 6e4)
      const check =
        `${fmt(ledger.count - s.missing)}/${fmt(ledger.count)} acked read back` +
        (s.missing > 0 ? `, ${s.missing} MISSING` : '') +
        (s.duplicates > 0 ? `, ${s.duplicates} duplicate rows` : '')
      return { ...row, lost: s.missing, ok: clean && s.ok, check: `${check}; ${s.commits}${problems}` }
    }
    const after = await scrapeCounters(app!.httpUrl)
    const accepted = after.accepted - before!.accepted
    const lost = Math.max(0, sim.acknowledged - accepted)
    const check = `accepted counter +${fmt(accepted)} for ${fmt(sim.acknowledged)} acked; ${commitsText(before!, after)}`
    return { ...row, lost, ok: clean && lost === 0, check: check + problems }
  } finally {
    await target.stop()
  }
}

/**
 * Where a load's p99 is made, by publish time: its first EARLY_S seconds
 * (every device's first readings, reaching a server that has just taken
 * every connection) apart from the rest, the seconds whose p99 was over the
 * target, and for ours its garbage collections and the latency of the
 * seconds in or next to which a major one ended.
 */
function phases(
  bySecond: readonly (LatencyHistogram | undefined)[],
  sampler: UsageSampler,
  gc: GcSampler | null,
  origin: number,
  lastAckAt: number,
  targetMs: number,
): Record<string, number> {
  const early = new LatencyHistogram()
  const rest = new LatencyHistogram()
  bySecond.forEach((h, second) => {
    if (h !== undefined) (second < EARLY_S ? early : rest).merge(h)
  })
  const split = origin + EARLY_S * 1000
  const [first, then] = [sampler.stretch(origin, split), sampler.stretch(split, lastAckAt)]
  const p99s = Array.from(bySecond, (h) => h?.quantileMs(0.99) ?? NaN)
  const [e, r] = [early.summary(), rest.summary()]
  const out: Record<string, number> = {
    ...{ earlyCount: e.count, earlyP50Ms: e.p50Ms, earlyP99Ms: e.p99Ms, restP50Ms: r.p50Ms },
    restP99Ms: r.p99Ms,
    ...{ secondsOver: p99s.filter((p) => p > targetMs).length, seconds: p99s.length },
    ...{ earlyServerCores: first.cores, restServerCores: then.cores },
    ...{ earlyMachineCores: first.machineCores, restMachineCores: then.machineCores },
  }
  if (gc === null) return out
  const t = gc.totals(origin, lastAckAt)
  const s = gc.split(bySecond.flatMap((h, i) => (h === undefined ? [] : [[origin + i * 1000, h] as const])))
  return {
    ...out,
    ...{ gcMajor: t.major, gcMajorMs: t.majorS * 1000, gcMinor: t.minor, gcMinorMs: t.minorS * 1000 },
    ...{ gcSecondsWithMajor: s.secondsWithMajor, gcWithMajorP99Ms: s.withMajor.p99Ms },
    gcOtherP99Ms: s.other.p99Ms,
  }
}

/**
 * The storm, from the simulator: devices whose CONNECTs start evenly spread
 * over `spreadMs`, each held until every one has its CONNACK (or gave up);
 * first a storm of at most STORM_WARMUP_DEVICES on other ids. Then each
 * publishes one reading and disconnects; the figures are of the connecting,
 * up to the last CONNACK (the first acknowledgement comes right after it):
 * with them how late the app's event loop and the bench's ran.
 */
export async function runStormOn(kind: ServerKind, storm: Storm, launch: Launch = {}): Promise<Row> {
  const target = await startTarget(kind, launch)
  try {
    const load = (devices: number, idPrefix: string) => ({
      ...{ devices, url: target.mqttUrl, idPrefix, rampUpMs: (storm.spreadMs * devices) / storm.devices },
      ...{ connectTimeoutMs: storm.connectTimeoutMs, ratePerSecond: 1, durationMs: 1000, qos: 1 as const },
      ...target.login,
    })
    await runSimulation(load(Math.min(storm.devices, STORM_WARMUP_DEVICES), 'warmup-'))
    const app = target.app
    const sampler = new UsageSampler(target.pid)
    // The app's lag since this scrape; ours from here. Both end at the first acknowledgement.
    if (app !== null) await serverLagP99Ms(app.httpUrl)
    const [lag, t0] = [loopMonitor(), performance.now()]
    const serverLag: Promise<number>[] = []
    const connected = (): void => {
      lag.disable()
      if (serverLag.length === 0 && app !== null)
        serverLag.push(serverLagP99Ms(app.httpUrl).catch(() => Number.NaN))
    }
    lag.enable()
    const s = await runSimulation({ ...load(storm.devices, 'storm-'), onAck: connected })
    connected()
    sampler.stop()
    const all = s.devices === storm.devices
    const stretch = sampler.stretch(t0, t0 + (all ? s.connectSpanMs : storm.spreadMs))
    const c = s.connectLatency
    const samples = s.errorSamples.length > 0 ? ` (${s.errorSamples.slice(0, 2).join('; ')})` : ''
    return {
      ...{
        server: kind,
        connected: s.devices,
        failed: s.errors,
        allConnectedS: all ? s.connectSpanMs / 1000 : NaN,
      },
      ...{
        p50Ms: c.p50Ms,
        p99Ms: c.p99Ms,
        maxMs: c.maxMs,
        hwmMb: memoryMb(target.pid).hwmMb,
        cores: stretch.cores,
      },
      ...{
        serverLagP99Ms: (await serverLag[0]) ?? Number.NaN,
        generatorCores: stretch.ownCores,
        lagP99Ms: lagP99Ms(lag),
      },
      ok: all && s.errors === 0,
      check: `${s.devices}/${storm.devices} connected, ${s.errors} refused, failed or dropped${samples}`,
    }
  } finally {
    await target.stop()
  }
}
