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
import type { MqttClient } from 'mqtt'
import { connectDevice, type Device, makeReading, type Pending, RECONNECT_MS } from './device.js'
import type { Fault } from './faults.js'
import { LatencyHistogram, type LatencySummary } from './latency.js'
import { checkSimulationOptions, resolveSimulationOptions, type SimulationInput } from './options.js'
import { mulberry32 } from './profile.js'
import type { TruthEntry, TruthHeader } from './truth.js'

export {
  checkSimulationOptions,
  DEFAULT_SIMULATION_OPTIONS,
  type Progress,
  resolveSimulationOptions,
  SIMULATION_LIMITS,
  type SimulationInput,
  type SimulationOptions,
} from './options.js'

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

const MAX_ERROR_SAMPLES = 5
const CONNECT_BATCH = 100
const DRAIN_POLL_MS = 5

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
        o.onAck?.(d.index, p.entry.s, now - t0)
      }
      schedulePump(d)
    })
  }

  const pump = (d: Device): void => {
    d.pumpScheduled = false
    if (d.closed) return
    if (publishing) {
      const target = due(d, performance.now())
      if (Number.isFinite(o.ratePerSecond)) while (d.made < target) makeReading(d, o, devices, inject)
      else if (d.queue.length === 0 && d.inFlight.size < o.maxInFlight && d.made < target)
        makeReading(d, o, devices, inject)
    } else if (d.held !== null) {
      d.queue.push(d.held)
      d.held = null
    }
    if (!d.connected || d.offlineUntil > performance.now()) return
    while (d.queue.length > 0 && d.inFlight.size < o.maxInFlight) {
      const p = d.queue.shift()!
      send(d, p, null)
      if (p.again !== null) send(d, p, p.again)
      if (!Number.isFinite(o.ratePerSecond) && publishing && d.made < o.readingsPerDevice)
        makeReading(d, o, devices, inject)
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
        // After the pumps the last tick scheduled: they make the readings due in it.
        setImmediate(resolve)
      }
      const tick = (): void => {
        const now = performance.now()
        if (faulty) strike((now - lastTick) / 1000)
        lastTick = now
        // Each device's pump in its own turn: mqtt.js holds a publish's bytes
        // until the turn ends (mqtt-packet corks the socket until nextTick),
        // so pumping every device in this one turn sent the whole tick's
        // readings only after the last was made, each stamped before.
        for (const d of devices) if (d.queue.length > 0 || d.made < due(d, now)) schedulePump(d)
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
