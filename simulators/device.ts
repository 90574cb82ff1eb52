/**
 * One simulated device: its MQTT connection, signals, clock and buffer, and
 * how it makes a reading with the faults drawn for it (faults.ts).
 */

import { performance } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import { crc32c, encodeReading, Float64, wrapEnvelope } from './encode.js'
import {
  badChecksumPayload,
  deviceClock,
  type Fault,
  type FaultyClock,
  MALFORMED_KINDS,
  malformedPayload,
  type Outcome,
  oversizedPayload,
  type TimeUnit,
  WRONG_UNITS,
  writeTime,
} from './faults.js'
import type { SimulationOptions } from './options.js'
import { DeviceSignals, mulberry32, typeOf } from './profile.js'
import type { TruthEntry } from './truth.js'

/** How soon a device whose connection dropped tries again, with faults on. */
export const RECONNECT_MS = 1000

/** A reading made and waiting to be sent, or in flight. */
export interface Pending {
  readonly entry: TruthEntry
  readonly topic: string
  readonly payload: Buffer
  readonly qos: 0 | 1 | 2
  /** When it was made, performance.now(). */
  readonly madeAt: number
  /** Send the same bytes again after it: as a new message, or as a redelivery (DUP). */
  readonly again: 'duplicate' | 'redelivery' | null
}

export interface Device {
  readonly index: number
  readonly id: string
  readonly topic: string
  readonly client: MqttClient
  readonly signals: DeviceSignals
  /** Its type's tags with the fleet's over them, on every reading. */
  readonly tags: Readonly<Record<string, string>>
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

/** The next reading of `d`, its faults drawn, into its buffer (and its log). */
export function makeReading(
  d: Device,
  o: SimulationOptions,
  fleet: readonly Device[],
  inject: (faults: Fault[], fault: Fault) => void,
): void {
  const faults = o.faults
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
    tags: d.tags,
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
  } else if (fleet.length > 1 && roll('foreign_topic')) {
    inject(f, 'foreign_topic')
    outcome = 'device_not_authorized'
    const victim = fleet[(d.index + 1 + Math.floor(d.random() * (fleet.length - 1))) % fleet.length]!
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

export function connectDevice(
  o: SimulationOptions,
  index: number,
  faulty: boolean,
  fleetRandom: () => number,
  onError: (err: Error) => void,
): Promise<Device> {
  const id = `${o.idPrefix}${index}`
  const as = (pattern: string): string => pattern.replaceAll('{device}', id)
  const client = mqtt.connect(o.url, {
    ...(o.username === undefined ? {} : { username: as(o.username) }),
    ...(o.password === undefined ? {} : { password: as(o.password) }),
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
      const type = typeOf(o.profile, index, o.devices)
      resolve({
        index,
        id,
        topic: `devices/${id}/telemetry`,
        client,
        signals: new DeviceSignals(type, index),
        tags: { ...type.tags, ...o.tags },
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
