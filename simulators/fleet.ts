/**
 * A fleet of virtual devices, each its own MQTT connection, publishing wire
 * format v1 readings at a fixed rate (or as fast as their in-flight window
 * allows), bounded in count and in time.
 *
 *   connect all ─▶ publish: every tick, each device sends what is due,
 *                  at most `maxInFlight` unacknowledged
 *                ─▶ drain: wait for the acknowledgements still owed
 *                ─▶ disconnect ─▶ summary
 *
 * Device i sends its k-th reading at (k + i/devices) / rate seconds, so the
 * fleet's publishes are spread over each period instead of landing together.
 */

import { performance } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import { encodeMessage } from './encode.js'
import { LatencyHistogram, type LatencySummary } from './latency.js'
import { DeviceSignals } from './signals.js'

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
  /** Wrap each reading in the CRC-32C envelope. Default true. */
  readonly wrap: boolean
  /** Unacknowledged publishes per device before it holds back. Default 1000. */
  readonly maxInFlight: number
  /** Wait for acknowledgements still owed once publishing stops, ms. Default 10000. */
  readonly drainTimeoutMs: number
  /** Wait for each CONNACK, ms. Default 10000. */
  readonly connectTimeoutMs: number
  /** Client and device ids are `<idPrefix><i>`. Default `sim-`. */
  readonly idPrefix: string
  /** The devices' `boot`. Default: this process's start, epoch seconds. */
  readonly boot: number
  /** Tags on every reading. Default `{ site: 'sim' }`. */
  readonly tags: Readonly<Record<string, string>>
  /** Stops publishing early (the drain and summary still happen). */
  readonly signal?: AbortSignal
  /** Called for each acknowledged reading, e.g. to check later that the system stored it. */
  readonly onAck?: (device: number, seq: number) => void
}

export type SimulationInput = Partial<SimulationOptions> &
  Pick<SimulationOptions, 'devices' | 'ratePerSecond' | 'url'>

export const DEFAULT_SIMULATION_OPTIONS = Object.freeze({
  durationMs: 10_000,
  qos: 1 as const,
  wrap: true,
  maxInFlight: 1000,
  drainTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  idPrefix: 'sim-',
  tags: Object.freeze({ site: 'sim' }),
})

export const SIMULATION_LIMITS = Object.freeze({
  maxDevices: 10_000,
  maxRatePerSecond: 100_000,
  maxDurationMs: 24 * 3600_000,
  maxInFlight: 65_535,
})

export interface SimulationSummary {
  /** Devices that connected. */
  readonly devices: number
  readonly qos: 0 | 1 | 2
  /** What `acknowledged` means at this QoS. */
  readonly ack: 'PUBACK' | 'PUBCOMP' | 'written'
  readonly sent: number
  readonly acknowledged: number
  /** Failed connections plus publishes that completed with an error. */
  readonly errors: number
  /** Sent, but neither acknowledged nor failed when the run ended. */
  readonly unacknowledged: number
  /** Due before publishing stopped but never sent: the in-flight window was full. */
  readonly heldBack: number
  /** First publish to last acknowledgement, ms. */
  readonly elapsedMs: number
  readonly ackedPerSecond: number
  /** Publish to acknowledgement. */
  readonly latency: LatencySummary
  readonly meanPayloadBytes: number
  /** The first few error messages. */
  readonly errorSamples: readonly string[]
}

interface Device {
  readonly index: number
  readonly topic: string
  readonly client: MqttClient
  readonly signals: DeviceSignals
  /** Fraction of a period this device lags the fleet's start (0..1). */
  readonly phase: number
  sent: number
  inFlight: number
  closed: boolean
  pumpScheduled: boolean
}

const MAX_ERROR_SAMPLES = 5
const CONNECT_BATCH = 100
const DRAIN_POLL_MS = 5

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
  intIn('drainTimeoutMs', o.drainTimeoutMs, 0, 600_000)
  intIn('connectTimeoutMs', o.connectTimeoutMs, 1, 600_000)
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
    durationMs,
    readingsPerDevice: Math.min(byRate, input.readingsPerDevice ?? Number.POSITIVE_INFINITY),
  }
}

/** Runs the fleet; resolves with the summary once every device has disconnected. */
export async function runSimulation(input: SimulationInput): Promise<SimulationSummary> {
  const o = resolveSimulationOptions(input)
  const problems = checkSimulationOptions(o)
  if (problems.length > 0) throw new RangeError(`invalid simulation options: ${problems.join('; ')}`)

  const latency = new LatencyHistogram()
  const errorSamples: string[] = []
  let errors = 0
  const noteError = (what: string, err: unknown): void => {
    errors++
    if (errorSamples.length < MAX_ERROR_SAMPLES)
      errorSamples.push(`${what}: ${(err as Error)?.message ?? String(err)}`)
  }

  const devices: Device[] = []
  for (let from = 0; from < o.devices; from += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, o.devices - from) }, (_, k) => from + k)
    const connected = await Promise.all(
      batch.map((i) =>
        connectDevice(o, i, (err) => noteError(`${o.idPrefix}${i}`, err)).catch((err: unknown) =>
          noteError(`${o.idPrefix}${i} connect`, err),
        ),
      ),
    )
    for (const d of connected) if (d !== undefined) devices.push(d)
  }

  let acknowledged = 0
  let sent = 0
  let payloadBytes = 0
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

  const publishOne = (d: Device): void => {
    const reading = d.signals.next(Date.now())
    const payload = encodeMessage(reading, o.wrap)
    const seq = reading.seq
    d.sent++
    d.inFlight++
    sent++
    payloadBytes += payload.length
    const t0 = performance.now()
    if (Number.isNaN(firstPublishAt)) firstPublishAt = t0
    d.client.publish(d.topic, payload, { qos: o.qos }, (err) => {
      // Publishes failed by our own disconnect were already counted as unacknowledged.
      if (ending) return
      d.inFlight--
      if (err) noteError(`${o.idPrefix}${d.index} publish`, err)
      else {
        const now = performance.now()
        acknowledged++
        lastAckAt = now
        latency.record(now - t0)
        o.onAck?.(d.index, seq)
      }
      schedulePump(d)
    })
  }

  const pump = (d: Device): void => {
    d.pumpScheduled = false
    if (!publishing || d.closed) return
    const target = due(d, performance.now())
    while (d.sent < target && d.inFlight < o.maxInFlight) publishOne(d)
  }
  // Re-pump on the next turn, not inside the callback: a QoS 0 callback may
  // run synchronously, and an unbroken chain would starve the socket.
  const schedulePump = (d: Device): void => {
    if (d.pumpScheduled || !publishing) return
    d.pumpScheduled = true
    setImmediate(pump, d)
  }

  for (const d of devices) {
    d.client.on('close', () => {
      if (!ending) noteError(`${o.idPrefix}${d.index}`, new Error('connection lost'))
      d.closed = true
    })
  }

  const allSent = (): boolean => devices.every((d) => d.closed || d.sent >= o.readingsPerDevice)
  const settled = (): boolean => devices.every((d) => d.closed || d.inFlight === 0)
  const tickMs = Number.isFinite(o.ratePerSecond) ? Math.min(20, Math.max(1, 1000 / o.ratePerSecond)) : 20
  let heldBack = 0

  if (publishing) {
    // Every check runs per tick, not per acknowledgement: it walks all devices.
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        clearInterval(timer)
        o.signal?.removeEventListener('abort', stop)
        resolve()
      }
      const tick = (): void => {
        for (const d of devices) pump(d)
        if (performance.now() >= publishEnd || allSent()) stop()
      }
      const timer = setInterval(tick, tickMs)
      o.signal?.addEventListener('abort', stop, { once: true })
      if (o.signal?.aborted) stop()
      else tick()
    })
    const end = Math.min(performance.now(), publishEnd)
    for (const d of devices) if (!d.closed) heldBack += Math.max(0, due(d, end) - d.sent)
    publishing = false

    // Drain: the acknowledgements still owed, bounded in time.
    const drainEnd = performance.now() + o.drainTimeoutMs
    while (!settled() && performance.now() < drainEnd) await sleep(DRAIN_POLL_MS)
  }

  const unacknowledged = devices.reduce((n, d) => n + Math.max(0, d.inFlight), 0)
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
    meanPayloadBytes: sent > 0 ? payloadBytes / sent : 0,
    errorSamples,
  }
}

function connectDevice(o: SimulationOptions, index: number, onError: (err: Error) => void): Promise<Device> {
  const id = `${o.idPrefix}${index}`
  const client = mqtt.connect(o.url, {
    clientId: id,
    clean: true,
    protocolVersion: 4,
    // A lost connection is an error to report, not something to hide behind a retry.
    reconnectPeriod: 0,
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
      client.on('error', onError)
      resolve({
        index,
        topic: `devices/${id}/telemetry`,
        client,
        signals: new DeviceSignals({ index, boot: o.boot, tags: o.tags }),
        phase: index / o.devices,
        sent: 0,
        inFlight: 0,
        closed: false,
        pumpScheduled: false,
      })
    }
    client.once('connect', ok)
    client.once('error', fail)
    client.once('close', onClose)
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
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
