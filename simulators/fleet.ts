/**
 * A fleet of virtual devices, each its own MQTT connection, publishing wire
 * format v1 readings at a fixed rate (or as fast as their in-flight window
 * allows), bounded in count and in time, optionally with faults injected
 * (faults.ts) and a ground-truth log of every reading made (truth.ts).
 *
 *   connect (all at once in batches, or ramped up evenly)
 *     ─▶ publish: every tick each device makes the readings now due into
 *        its own buffer, and sends from it while it is online and has
 *        fewer than `maxInFlight` unacknowledged
 *     ─▶ drain: offline devices come back; wait for every buffer to empty
 *        and every acknowledgement owed
 *     ─▶ disconnect ─▶ summary (and the ground truth)
 *
 * Device i makes its k-th reading at (k + i/devices) / rate seconds, so the
 * fleet's publishes are spread over each period instead of landing together.
 */

import { performance } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import { crc32c } from '../src/crc32c.js'
import { encodeReading, Float64, wrapEnvelope } from './encode.js'
import {
  badChecksumPayload,
  deviceClock,
  type Fault,
  type FaultRates,
  type FaultyClock,
  MALFORMED_KINDS,
  malformedPayload,
  type Outcome,
  oversizedPayload,
  type TimeUnit,
  WRONG_UNITS,
  writeTime,
} from './faults.js'
import { LatencyHistogram, type LatencySummary } from './latency.js'
import { DeviceSignals, loadProfile, mulberry32, type Profile, typeOf } from './profile.js'
import type { TruthEntry, TruthHeader } from './truth.js'

export interface SimulationOptions {
  /** Virtual devices, one MQTT connection each. */
  readonly devices: number
  /** Readings per second per device; Infinity sends as fast as the in-flight window allows. */
  readonly ratePerSecond: number
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string
  /** How long devices publish, ms. Default 10000. */
  readonly durationMs: number
  /** Readings per device at most. Default: rate × duration (required when the rate is Infinity). */
  readonly readingsPerDevice: number
  /** Default 1. */
  readonly qos: 0 | 1 | 2
  /** MQTT clean session. Default true; false keeps the session (and QoS 1/2 state) across reconnects. */
  readonly clean: boolean
  /** Wrap each reading in the CRC-32C envelope. Default true. */
  readonly wrap: boolean
  /** Unacknowledged publishes per device before it holds back. Default 1000. */
  readonly maxInFlight: number
  /** Spread the connections evenly over this many ms; 0 connects in batches of 100. Default 0. */
  readonly rampUpMs: number
  /** Wait for acknowledgements still owed once publishing stops, ms. Default 10000. */
  readonly drainTimeoutMs: number
  /** Wait for each CONNACK, ms. Default 10000. */
  readonly connectTimeoutMs: number
  /** Client and device ids are `<idPrefix><i>`. Default `sim-`. */
  readonly idPrefix: string
  /** The devices' `boot`. Default: this process's start, epoch seconds. */
  readonly boot: number
  /** Device types and signals. Default simulators/profiles/default.json. */
  readonly profile: Profile
  /** Tags on every reading, over the device type's. Default none. */
  readonly tags: Readonly<Record<string, string>>
  /** Faults to inject, by rate (faults.ts). Default none. */
  readonly faults: FaultRates
  /** The server's packet limit, which an oversized payload exceeds. Default 262144. */
  readonly maxPacketBytes: number
  /** Keep a ground-truth entry for every reading (SimulationSummary.truth). Default false. */
  readonly keepTruth: boolean
  /** Stops publishing early (the drain and summary still happen). */
  readonly signal?: AbortSignal
  /** Called for each acknowledged reading, e.g. to check later that the system stored it. */
  readonly onAck?: (device: number, seq: number) => void
  /** Called once a second while the fleet runs. */
  readonly onProgress?: (p: Progress) => void
}

export type SimulationInput = Partial<SimulationOptions> &
  Pick<SimulationOptions, 'devices' | 'ratePerSecond' | 'url'>

export const DEFAULT_SIMULATION_OPTIONS = Object.freeze({
  durationMs: 10_000,
  qos: 1 as const,
  clean: true,
  wrap: true,
  maxInFlight: 1000,
  rampUpMs: 0,
  drainTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  idPrefix: 'sim-',
  tags: Object.freeze({}),
  faults: Object.freeze({}),
  maxPacketBytes: 256 * 1024,
  keepTruth: false,
})

export const SIMULATION_LIMITS = Object.freeze({
  maxDevices: 10_000,
  maxRatePerSecond: 100_000,
  maxDurationMs: 24 * 3600_000,
  maxInFlight: 65_535,
})

export interface Progress {
  readonly elapsedMs: number
  readonly connected: number
  readonly devices: number
  readonly sent: number
  readonly acknowledged: number
  /** Acknowledgements per second over the last interval. */
  readonly ackedPerSecond: number
  /** Publish to acknowledgement over the last interval. */
  readonly latency: LatencySummary
  readonly reconnects: number
}

export interface SimulationSummary {
  /** Devices that connected. */
  readonly devices: number
  readonly qos: 0 | 1 | 2
  /** What `acknowledged` means at this QoS. */
  readonly ack: 'PUBACK' | 'PUBCOMP' | 'written'
  readonly sent: number
  readonly acknowledged: number
  /** Failed connections plus publishes that completed with an error (and, without faults, lost connections). */
  readonly errors: number
  /** Sent, but neither acknowledged nor failed when the run ended. */
  readonly unacknowledged: number
  /** Made but never sent: the in-flight window stayed full, or the drain timed out. */
  readonly heldBack: number
  /** First publish to last acknowledgement, ms. */
  readonly elapsedMs: number
  readonly ackedPerSecond: number
  /** Publish to acknowledgement. */
  readonly latency: LatencySummary
  /** First CONNECT to last CONNACK of the initial connections, ms, and CONNECT to CONNACK per device. */
  readonly connectSpanMs: number
  readonly connectLatency: LatencySummary
  readonly reconnects: number
  /** Readings per fault injected. */
  readonly injected: Readonly<Partial<Record<Fault, number>>>
  readonly meanPayloadBytes: number
  /** The first few error messages. */
  readonly errorSamples: readonly string[]
  /** With keepTruth: every reading made, per device in the order made. */
  readonly truth?: { readonly header: TruthHeader; readonly entries: readonly TruthEntry[] }
}

/** A reading made and waiting to be sent, or in flight. */
interface Pending {
  readonly entry: TruthEntry
  readonly topic: string
  readonly payload: Buffer
  readonly qos: 0 | 1 | 2
  /** When it was made, performance.now(). */
  readonly madeAt: number
  /** Send the same bytes again after it: as a new message, or as a redelivery (DUP). */
  readonly again: 'duplicate' | 'redelivery' | null
}

interface Device {
  readonly index: number
  readonly id: string
  readonly topic: string
  readonly client: MqttClient
  readonly signals: DeviceSignals
  readonly clock: FaultyClock
  readonly random: () => number
  /** Fraction of a period this device lags the fleet's start (0..1). */
  readonly phase: number
  made: number
  /** The device's own buffer: made, not yet sent. */
  readonly queue: Pending[]
  /** Held back by an out-of-order fault until the next reading is queued. */
  held: Pending | null
  readonly inFlight: Set<Pending>
  connected: boolean
  /** Dropped by a reconnect storm and not yet back. */
  stormed: boolean
  offlineUntil: number
  closed: boolean
  pumpScheduled: boolean
  readonly log: TruthEntry[]
}

const MAX_ERROR_SAMPLES = 5
const CONNECT_BATCH = 100
const DRAIN_POLL_MS = 5
/** How soon a device whose connection dropped tries again, with faults on. */
const RECONNECT_MS = 1000

/** Problems with the options, one message each; empty when they are fine. */
export function checkSimulationOptions(o: SimulationOptions): string[] {
  const problems: string[] = []
  const intIn = (name: string, v: number, lo: number, hi: number): void => {
    if (!Number.isInteger(v) || v < lo || v > hi)
      problems.push(`${name} must be an integer from ${lo} to ${hi}, got ${v}`)
  }
  intIn('devices', o.devices, 1, SIMULATION_LIMITS.maxDevices)
  const rate = o.ratePerSecond
  if (!(rate === Number.POSITIVE_INFINITY || (rate > 0 && rate <= SIMULATION_LIMITS.maxRatePerSecond)))
    problems.push(
      `rate must be above 0 and at most ${SIMULATION_LIMITS.maxRatePerSecond} per device, or max; got ${rate}`,
    )
  intIn('duration (ms)', o.durationMs, 1, SIMULATION_LIMITS.maxDurationMs)
  if (![0, 1, 2].includes(o.qos)) problems.push(`qos must be 0, 1 or 2, got ${o.qos}`)
  intIn('maxInFlight', o.maxInFlight, 1, SIMULATION_LIMITS.maxInFlight)
  intIn('rampUpMs', o.rampUpMs, 0, 3_600_000)
  intIn('drainTimeoutMs', o.drainTimeoutMs, 0, 600_000)
  intIn('connectTimeoutMs', o.connectTimeoutMs, 1, 600_000)
  intIn('maxPacketBytes', o.maxPacketBytes, 1, 256 * 1024 * 1024)
  if (!Number.isFinite(rate) && o.readingsPerDevice === Number.POSITIVE_INFINITY)
    problems.push('a rate of max needs a count of readings per device')
  else if (o.readingsPerDevice < 1 || !Number.isInteger(o.readingsPerDevice))
    problems.push(`rate × duration must give at least one reading per device (got ${o.readingsPerDevice})`)
  if (!/^[A-Za-z0-9._-]{0,56}$/.test(o.idPrefix))
    problems.push(`id prefix ${JSON.stringify(o.idPrefix)} is not valid in a device id`)
  if (!/^mqtts?:\/\/[^/]+(:\d+)?\/?$/.test(o.url))
    problems.push(`url must look like mqtt://host:port, got ${JSON.stringify(o.url)}`)
  if (!Number.isSafeInteger(o.boot) || o.boot < 0)
    problems.push(`boot must be an unsigned integer, got ${o.boot}`)
  return problems
}

export function resolveSimulationOptions(input: SimulationInput): SimulationOptions {
  const durationMs = input.durationMs ?? DEFAULT_SIMULATION_OPTIONS.durationMs
  const byRate = Number.isFinite(input.ratePerSecond)
    ? Math.floor((input.ratePerSecond * durationMs) / 1000 + 1e-9)
    : Number.POSITIVE_INFINITY
  return {
    ...DEFAULT_SIMULATION_OPTIONS,
    boot: Math.floor(performance.timeOrigin / 1000),
    ...input,
    profile: input.profile ?? loadProfile(),
    durationMs,
    readingsPerDevice: Math.min(byRate, input.readingsPerDevice ?? Number.POSITIVE_INFINITY),
  }
}

/** Runs the fleet; resolves with the summary once every device has disconnected. */
export async function runSimulation(input: SimulationInput): Promise<SimulationSummary> {
  const o = resolveSimulationOptions(input)
  const problems = checkSimulationOptions(o)
  if (problems.length > 0) throw new RangeError(`invalid simulation options: ${problems.join('; ')}`)
  const faults = o.faults
  const faulty = Object.values(faults).some((rate) => (rate ?? 0) > 0)
  const fleetRandom = mulberry32(o.boot ^ 0x5bd1e995)
  const startedMs = Date.now()

  const latency = new LatencyHistogram()
  let recent = new LatencyHistogram()
  const errorSamples: string[] = []
  let errors = 0
  const noteError = (what: string, err: unknown): void => {
    errors++
    if (errorSamples.length < MAX_ERROR_SAMPLES)
      errorSamples.push(`${what}: ${(err as Error)?.message ?? String(err)}`)
  }
  const injected: Partial<Record<Fault, number>> = {}
  const inject = (entryFaults: Fault[], f: Fault): void => {
    entryFaults.push(f)
    injected[f] = (injected[f] ?? 0) + 1
  }

  // Connect.
  const connectLatency = new LatencyHistogram()
  const connectStart = performance.now()
  let lastConnack = connectStart
  const connectOne = async (i: number): Promise<Device | undefined> => {
    const t0 = performance.now()
    try {
      const device = await connectDevice(o, i, faulty, fleetRandom, (err) =>
        noteError(`${o.idPrefix}${i}`, err),
      )
      lastConnack = performance.now()
      connectLatency.record(lastConnack - t0)
      return device
    } catch (err) {
      noteError(`${o.idPrefix}${i} connect`, err)
      return undefined
    }
  }
  const devices: Device[] = []
  if (o.rampUpMs > 0) {
    const started = await Promise.all(
      Array.from({ length: o.devices }, async (_, i) => {
        await sleep(connectStart + (i * o.rampUpMs) / o.devices - performance.now())
        return connectOne(i)
      }),
    )
    for (const d of started) if (d !== undefined) devices.push(d)
  } else {
    for (let from = 0; from < o.devices; from += CONNECT_BATCH) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH, o.devices - from) }, (_, k) => from + k)
      for (const d of await Promise.all(batch.map(connectOne))) if (d !== undefined) devices.push(d)
    }
  }
  const connectSpanMs = lastConnack - connectStart

  let acknowledged = 0
  let sent = 0
  let payloadBytes = 0
  let reconnects = 0
  let publishing = devices.length > 0
  let firstPublishAt = Number.NaN
  let lastAckAt = Number.NaN
  /** Set once the summary's counts are final, just before disconnecting. */
  let ending = false
  const start = performance.now()
  const publishEnd = start + o.durationMs

  const due = (d: Device, now: number): number => {
    if (!Number.isFinite(o.ratePerSecond)) return o.readingsPerDevice
    const periods = ((now - start) / 1000) * o.ratePerSecond - d.phase
    return periods < 0 ? 0 : Math.min(o.readingsPerDevice, Math.floor(periods) + 1)
  }

  /** The next reading of `d`, its faults drawn, into its buffer. */
  const make = (d: Device): void => {
    const f: Fault[] = []
    const roll = (fault: Fault): boolean => {
      const rate = faults[fault] ?? 0
      return rate > 0 && d.random() < rate
    }
    const seq = ++d.made
    let trueMs = Date.now()
    if (roll('late')) {
      inject(f, 'late')
      trueMs -= 5000 + Math.floor(d.random() * 25_000)
    }
    if (d.offlineUntil > performance.now()) inject(f, 'offline')
    else if (d.stormed) inject(f, 'reconnect_storm')
    if (roll('jump')) {
      inject(f, 'jump')
      d.clock.jump((d.random() < 0.5 ? -1 : 1) * (60_000 + d.random() * 3_540_000))
    }
    const offset = d.clock.offsetAt(trueMs)
    if (d.clock.kind !== null) inject(f, d.clock.kind)
    let unit: TimeUnit = 'ms'
    if (roll('units')) {
      inject(f, 'units')
      unit = WRONG_UNITS[Math.floor(d.random() * WRONG_UNITS.length)]!
    }
    const time = writeTime(d.clock.read(trueMs), unit)
    const sample = d.signals.next(trueMs)
    const bytes = encodeReading({
      seq,
      boot: o.boot,
      ts: time.ts,
      fields: sample.fields,
      tags: { ...d.signals.type.tags, ...o.tags },
    })

    let outcome: Outcome = 'stored'
    let payload: Buffer | undefined
    let topic = d.topic
    let qos = o.qos
    let on: string | undefined
    if (roll('bad_checksum')) {
      inject(f, 'bad_checksum')
      outcome = 'checksum_mismatch'
      payload = badChecksumPayload(bytes)
    } else if (roll('malformed')) {
      inject(f, 'malformed')
      outcome = MALFORMED_KINDS[seq % MALFORMED_KINDS.length]!
      payload = malformedPayload(outcome, bytes)
    } else if (roll('oversized')) {
      inject(f, 'oversized')
      outcome = 'dropped'
      payload = oversizedPayload(seq, o.maxPacketBytes)
      qos = 0
    } else if (devices.length > 1 && roll('foreign_topic')) {
      inject(f, 'foreign_topic')
      outcome = 'device_not_authorized'
      const victim = devices[(d.index + 1 + Math.floor(d.random() * (devices.length - 1))) % devices.length]!
      on = victim.id
      topic = victim.topic
    }
    payload ??= o.wrap ? wrapEnvelope(bytes) : bytes
    let again: Pending['again'] = null
    if (outcome === 'stored' && roll('duplicate')) {
      inject(f, 'duplicate')
      again = 'duplicate'
    } else if (outcome === 'stored' && o.qos > 0 && roll('redelivery')) {
      inject(f, 'redelivery')
      again = 'redelivery'
    }
    const [first] = Object.entries(sample.fields)
    const value = first![1]
    const entry: TruthEntry = {
      d: d.id,
      s: seq,
      t: trueMs,
      w: time.text,
      o: Math.round(offset),
      e: d.clock.epoch,
      f,
      x: outcome,
      ...(on === undefined ? {} : { on }),
      ...(outcome === 'stored' || outcome === 'dropped' ? {} : { h: crc32c(payload).toString(16) }),
      a: null,
      vf: first![0],
      v: value instanceof Float64 ? value.value : (value as number | boolean),
      ...(sample.anomalies.length > 0 ? { an: sample.anomalies } : {}),
    }
    if (o.keepTruth) d.log.push(entry)
    const pending: Pending = { entry, topic, payload, qos, madeAt: performance.now(), again }
    const held = d.held
    if (held === null && outcome === 'stored' && roll('out_of_order')) {
      inject(f, 'out_of_order')
      d.held = pending
      return
    }
    d.queue.push(pending)
    if (held !== null) {
      d.queue.push(held)
      d.held = null
    }
  }

  /** Sends a reading, or (`copy`) the same bytes once more, which counts neither as sent nor acknowledged. */
  const send = (d: Device, p: Pending, copy: Pending['again']): void => {
    // An oversized publish is meant to fail with its connection: it counts for nothing.
    const counted = p.entry.x !== 'dropped'
    if (copy === null && counted) {
      sent++
      payloadBytes += p.payload.length
    }
    // A copy is its own publish in flight. An oversized one is not waited for: its
    // callback may never come, since the broker closes the connection on its header.
    const flight = copy === null ? p : { ...p }
    if (counted) d.inFlight.add(flight)
    const t0 = performance.now()
    if (Number.isNaN(firstPublishAt)) firstPublishAt = t0
    d.client.publish(p.topic, p.payload, { qos: p.qos, dup: copy === 'redelivery' }, (err) => {
      // Publishes failed by our own disconnect were already counted as unacknowledged.
      if (ending) return
      d.inFlight.delete(flight)
      if (counted && err) noteError(`${d.id} publish`, err)
      else if (counted && copy === null) {
        const now = performance.now()
        acknowledged++
        lastAckAt = now
        latency.record(now - t0)
        recent.record(now - t0)
        p.entry.a = Math.round((now - p.madeAt) * 100) / 100
        o.onAck?.(d.index, p.entry.s)
      }
      schedulePump(d)
    })
  }

  const pump = (d: Device): void => {
    d.pumpScheduled = false
    if (d.closed) return
    if (publishing) {
      const target = due(d, performance.now())
      if (Number.isFinite(o.ratePerSecond)) while (d.made < target) make(d)
      else if (d.queue.length === 0 && d.inFlight.size < o.maxInFlight && d.made < target) make(d)
    } else if (d.held !== null) {
      d.queue.push(d.held)
      d.held = null
    }
    if (!d.connected || d.offlineUntil > performance.now()) return
    while (d.queue.length > 0 && d.inFlight.size < o.maxInFlight) {
      const p = d.queue.shift()!
      send(d, p, null)
      if (p.again !== null) send(d, p, p.again)
      if (!Number.isFinite(o.ratePerSecond) && publishing && d.made < o.readingsPerDevice) make(d)
    }
  }
  // Re-pump on the next turn, not inside the callback: a QoS 0 callback may
  // run synchronously, and an unbroken chain would starve the socket.
  const schedulePump = (d: Device): void => {
    if (d.pumpScheduled) return
    d.pumpScheduled = true
    setImmediate(pump, d)
  }

  /** Drops a device's connection; mqtt.js reconnects after `afterMs` and resends what is in flight. */
  const drop = (d: Device, afterMs: number): void => {
    if (!d.connected) return
    d.client.options.reconnectPeriod = afterMs
    d.client.stream.destroy()
  }

  for (const d of devices) {
    d.client.on('close', () => {
      d.connected = false
      if (!faulty && !ending) noteError(d.id, new Error('connection lost'))
      if (!faulty) d.closed = true
    })
    d.client.on('connect', () => {
      d.connected = true
      d.stormed = false
      reconnects++
      d.client.options.reconnectPeriod = RECONNECT_MS
      schedulePump(d)
    })
  }

  const allMade = (): boolean => devices.every((d) => d.closed || d.made >= o.readingsPerDevice)
  const settled = (): boolean =>
    devices.every((d) => d.closed || (d.queue.length === 0 && d.held === null && d.inFlight.size === 0))
  const tickMs = Number.isFinite(o.ratePerSecond) ? Math.min(20, Math.max(1, 1000 / o.ratePerSecond)) : 20

  // Faults that strike in time: offline devices (at random), reconnect storms (evenly spaced).
  const stormEveryMs = 1000 / (faults.reconnect_storm ?? 0)
  let nextStorm = start + stormEveryMs / 2
  const strike = (elapsedS: number): void => {
    const offline = faults.offline ?? 0
    if (offline > 0)
      for (const d of devices) {
        if (d.connected && d.offlineUntil <= performance.now() && d.random() < offline * elapsedS) {
          const forMs = 1000 + Math.floor(d.random() * 4000)
          d.offlineUntil = performance.now() + forMs
          drop(d, forMs)
        }
      }
    if (performance.now() >= nextStorm) {
      nextStorm += stormEveryMs
      for (const d of devices) {
        if (fleetRandom() >= 0.5 || !d.connected) continue
        for (const p of d.inFlight) inject(p.entry.f as Fault[], 'reconnect_storm')
        d.stormed = true
        drop(d, RECONNECT_MS)
      }
    }
  }

  let lastProgress = performance.now()
  let lastProgressAcked = 0
  const progress = (now: number): void => {
    if (o.onProgress === undefined || now - lastProgress < 1000) return
    o.onProgress({
      elapsedMs: now - start,
      connected: devices.filter((d) => d.connected).length,
      devices: o.devices,
      sent,
      acknowledged,
      ackedPerSecond: ((acknowledged - lastProgressAcked) * 1000) / (now - lastProgress),
      latency: recent.summary(),
      reconnects,
    })
    recent = new LatencyHistogram()
    lastProgress = now
    lastProgressAcked = acknowledged
  }

  let heldBack = 0
  if (publishing) {
    // Every check runs per tick, not per acknowledgement: it walks all devices.
    await new Promise<void>((resolve) => {
      let lastTick = performance.now()
      const stop = (): void => {
        clearInterval(timer)
        o.signal?.removeEventListener('abort', stop)
        resolve()
      }
      const tick = (): void => {
        const now = performance.now()
        if (faulty) strike((now - lastTick) / 1000)
        lastTick = now
        for (const d of devices) pump(d)
        progress(now)
        if (now >= publishEnd || allMade()) stop()
      }
      const timer = setInterval(tick, tickMs)
      o.signal?.addEventListener('abort', stop, { once: true })
      if (o.signal?.aborted) stop()
      else tick()
    })
    publishing = false

    // Drain: offline devices come back; what is buffered goes out; the acknowledgements owed come in.
    for (const d of devices) {
      d.offlineUntil = 0
      schedulePump(d)
    }
    const drainEnd = performance.now() + o.drainTimeoutMs
    while (!settled() && performance.now() < drainEnd) {
      await sleep(DRAIN_POLL_MS)
      progress(performance.now())
    }
    for (const d of devices) heldBack += d.queue.length + (d.held === null ? 0 : 1)
  }

  const unacknowledged = devices.reduce((n, d) => n + d.inFlight.size, 0)
  ending = true
  await Promise.all(devices.map((d) => endClient(d.client)))

  const elapsedMs = Number.isNaN(lastAckAt) ? 0 : lastAckAt - firstPublishAt
  return {
    devices: devices.length,
    qos: o.qos,
    ack: o.qos === 1 ? 'PUBACK' : o.qos === 2 ? 'PUBCOMP' : 'written',
    sent,
    acknowledged,
    errors,
    unacknowledged,
    heldBack,
    elapsedMs,
    ackedPerSecond: elapsedMs > 0 ? (acknowledged * 1000) / elapsedMs : 0,
    latency: latency.summary(),
    connectSpanMs,
    connectLatency: connectLatency.summary(),
    reconnects,
    injected,
    meanPayloadBytes: sent > 0 ? payloadBytes / sent : 0,
    errorSamples,
    ...(o.keepTruth
      ? {
          truth: {
            header: {
              truth: 1,
              boot: o.boot,
              startedMs,
              endedMs: Date.now(),
              devices: Array.from({ length: o.devices }, (_, i) => `${o.idPrefix}${i}`),
              faults,
              qos: o.qos,
            },
            entries: devices.flatMap((d) => d.log),
          },
        }
      : {}),
  }
}

function connectDevice(
  o: SimulationOptions,
  index: number,
  faulty: boolean,
  fleetRandom: () => number,
  onError: (err: Error) => void,
): Promise<Device> {
  const id = `${o.idPrefix}${index}`
  const client = mqtt.connect(o.url, {
    clientId: id,
    clean: o.clean,
    protocolVersion: 4,
    // Without faults a lost connection is an error to report, not something to hide behind a retry.
    reconnectPeriod: faulty ? RECONNECT_MS : 0,
    connectTimeout: o.connectTimeoutMs,
    keepalive: 30,
  })
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      client.removeListener('connect', ok)
      client.removeListener('close', onClose)
      // Later errors of a client given up on must not surface as unhandled events.
      client.on('error', () => undefined)
      client.end(true)
      reject(err)
    }
    const onClose = (): void => fail(new Error(`connection closed before CONNACK (${o.url})`))
    const ok = (): void => {
      client.removeListener('error', fail)
      client.removeListener('close', onClose)
      // With faults on, errors of dropped connections are expected: mqtt.js reconnects.
      client.on('error', faulty ? () => undefined : onError)
      const random = mulberry32(o.boot ^ Math.imul(index + 1, 0x27d4eb2d))
      resolve({
        index,
        id,
        topic: `devices/${id}/telemetry`,
        client,
        signals: new DeviceSignals(typeOf(o.profile, index, o.devices), index),
        clock: deviceClock(o.faults, fleetRandom, Date.now()),
        random,
        phase: index / o.devices,
        made: 0,
        queue: [],
        held: null,
        inFlight: new Set(),
        connected: true,
        stormed: false,
        offlineUntil: 0,
        closed: false,
        pumpScheduled: false,
        log: [],
      })
    }
    client.once('connect', ok)
    client.once('error', fail)
    client.once('close', onClose)
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

function endClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const timeout = setTimeout(resolve, 2000)
    client.end(true, {}, () => {
      clearTimeout(timeout)
      resolve()
    })
  })
}
