/**
 * The faults a simulated fleet injects, each with a rate, and what the
 * system is documented to do with each (docs/wire-format.md): the outcome
 * the ground-truth log records and `verify` checks.
 *
 *   fault            rate is…                          outcome
 *   skew             share of devices                  stored at device time (clamped when > 5 s ahead)
 *   drift            share of devices                  likewise
 *   jump             per reading: the clock jumps      likewise
 *   units            per reading: s, µs, ns, tag 1     stored; converted by magnitude or tag
 *                    or RFC 3339 instead of ms
 *   duplicate        per reading: sent twice           stored once
 *   redelivery       per reading: resent, DUP flag     stored once
 *   out_of_order     per reading: swapped with next    stored
 *   late             per reading: sampled 5–30 s ago   stored, at its own time
 *   bad_checksum     per reading                       refused: checksum_mismatch
 *   malformed        per reading                       refused: payload_truncated, payload_trailing_bytes,
 *                                                      json_malformed or not_a_map
 *   oversized        per reading: over the packet      dropped: the broker closes the connection
 *                    limit, at QoS 0                   (the device reconnects, resends what is in flight)
 *   foreign_topic    per reading: on another device's  refused: device_not_authorized
 *                    topic                             (the server runs with --device-auth client-id)
 *   offline          per device per second: offline    stored: the device buffers and flushes its
 *                    for 1–5 s                         backlog on reconnect
 *   reconnect_storm  per second, fleet: storms evenly  stored: in-flight readings are resent
 *                    spaced, half the devices drop at once
 */

import { encodeReading, wrapEnvelope } from './encode.js'

export const FAULTS = [
  'skew',
  'drift',
  'jump',
  'units',
  'duplicate',
  'redelivery',
  'out_of_order',
  'late',
  'bad_checksum',
  'malformed',
  'oversized',
  'foreign_topic',
  'offline',
  'reconnect_storm',
] as const

export type Fault = (typeof FAULTS)[number]
export type FaultRates = Readonly<Partial<Record<Fault, number>>>

/** What the system does with a reading: store it, refuse it with a reason, or never see it. */
export type Outcome = 'stored' | 'dropped' | RefusalReason

export const MALFORMED_KINDS = [
  'payload_truncated',
  'payload_trailing_bytes',
  'json_malformed',
  'not_a_map',
] as const
export type RefusalReason = (typeof MALFORMED_KINDS)[number] | 'checksum_mismatch' | 'device_not_authorized'

/**
 * `skew=0.1,late=0.01` or `all=0.01` (every fault at that rate; later
 * entries override it). Rates are from 0 to 1.
 */
export function parseFaults(text: string): FaultRates | { problems: string[] } {
  const rates: Partial<Record<Fault, number>> = {}
  const problems: string[] = []
  for (const entry of text.split(',').filter((e) => e.trim() !== '')) {
    const [name, value] = entry.split('=').map((s) => s.trim())
    const rate = Number(value)
    if (value === undefined || value === '' || !(rate >= 0 && rate <= 1)) {
      problems.push(`fault ${JSON.stringify(entry)}: the rate must be a number from 0 to 1`)
      continue
    }
    if (name === 'all') for (const f of FAULTS) rates[f] = rate
    else if ((FAULTS as readonly string[]).includes(name!)) rates[name as Fault] = rate
    else problems.push(`unknown fault ${JSON.stringify(name)}; known: all, ${FAULTS.join(', ')}`)
  }
  return problems.length > 0 ? { problems } : rates
}

/** A device's clock: true time plus an offset, a drift and any jumps so far. */
export class FaultyClock {
  /** Device time minus true time at `since`, ms. */
  #offsetMs: number
  readonly #driftMsPerS: number
  readonly #since: number
  /** Changes on every jump: readings of one epoch share one offset. */
  epoch = 0

  constructor(
    offsetMs: number,
    driftMsPerS: number,
    since: number,
    /** The clock fault this device was given, if any. */
    readonly kind: 'skew' | 'drift' | null = null,
  ) {
    this.#offsetMs = offsetMs
    this.#driftMsPerS = driftMsPerS
    this.#since = since
  }

  /** Device time minus true time at `trueMs`. */
  offsetAt(trueMs: number): number {
    return this.#offsetMs + (this.#driftMsPerS * (trueMs - this.#since)) / 1000
  }

  read(trueMs: number): number {
    return Math.round(trueMs + this.offsetAt(trueMs))
  }

  jump(byMs: number): void {
    this.#offsetMs += byMs
    this.epoch++
  }
}

/** A clock for a device, from the skew and drift rates: most devices get a good one. */
export function deviceClock(rates: FaultRates, random: () => number, nowMs: number): FaultyClock {
  const sign = (): number => (random() < 0.5 ? -1 : 1)
  const between = (lo: number, hi: number): number => lo + random() * (hi - lo)
  if (random() < (rates.skew ?? 0))
    return new FaultyClock(sign() * between(10_000, 600_000), 0, nowMs, 'skew')
  if (random() < (rates.drift ?? 0))
    return new FaultyClock(sign() * between(10_000, 60_000), sign() * between(1, 20), nowMs, 'drift')
  return new FaultyClock(0, 0, nowMs)
}

export type TimeUnit = 'ms' | 's' | 'us' | 'ns' | 'tag1' | 'rfc3339'
export const WRONG_UNITS: readonly TimeUnit[] = ['s', 'us', 'ns', 'tag1', 'rfc3339']

/** A device time in `unit` as the reading's `ts`, and as text for the ground-truth log. */
export function writeTime(
  ms: number,
  unit: TimeUnit,
): { ts: number | bigint | { seconds: number } | { rfc3339: string }; text: string } {
  switch (unit) {
    case 'ms':
      return { ts: ms, text: `ms:${ms}` }
    case 's':
      return { ts: Math.floor(ms / 1000), text: `s:${Math.floor(ms / 1000)}` }
    case 'us':
      return { ts: ms * 1000, text: `us:${ms * 1000}` }
    case 'ns':
      return { ts: BigInt(ms) * 1_000_000n, text: `ns:${BigInt(ms) * 1_000_000n}` }
    case 'tag1':
      return { ts: { seconds: ms / 1000 }, text: `tag1:${ms / 1000}` }
    case 'rfc3339': {
      const iso = new Date(ms).toISOString()
      return { ts: { rfc3339: iso }, text: `rfc3339:${iso}` }
    }
  }
}

/** The device time the bridge should store for a logged wire time, epoch ns. */
export function expectedDeviceTimeNs(text: string): bigint {
  const colon = text.indexOf(':')
  const unit = text.slice(0, colon) as TimeUnit
  const value = text.slice(colon + 1)
  switch (unit) {
    case 'ms':
      return BigInt(value) * 1_000_000n
    case 's':
      return BigInt(value) * 1_000_000_000n
    case 'us':
      return BigInt(value) * 1000n
    case 'ns':
      return BigInt(value)
    case 'tag1':
      return BigInt(Math.round(Number(value) * 1e9))
    case 'rfc3339':
      return BigInt(Date.parse(value)) * 1_000_000n
    default:
      throw new Error(`unknown time unit in ${JSON.stringify(text)}`)
  }
}

/** A payload that the bridge refuses with `reason`, made from a good reading's bytes. */
export function malformedPayload(reason: (typeof MALFORMED_KINDS)[number], reading: Buffer): Buffer {
  switch (reason) {
    case 'payload_truncated':
      return reading.subarray(0, Math.max(1, reading.length >> 1))
    case 'payload_trailing_bytes':
      return Buffer.concat([reading, Buffer.from([0x00])])
    case 'json_malformed':
      return Buffer.from('{"v":1,"seq":')
    case 'not_a_map':
      return encodeReadingArray()
  }
}

/** The envelope with a CRC-32C that does not match its bytes. */
export function badChecksumPayload(reading: Buffer): Buffer {
  const good = wrapEnvelope(reading)
  // The CRC is the last 4 bytes of the envelope (`c` is written after `p`).
  good[good.length - 1]! ^= 0x01
  return good
}

/** A payload of `bytes` bytes: a valid reading padded with a long tag value. */
export function oversizedPayload(seq: number, bytes: number): Buffer {
  return encodeReading({ seq, fields: { pad: 0 }, tags: { pad: 'x'.repeat(bytes) } })
}

function encodeReadingArray(): Buffer {
  return Buffer.from([0x83, 0x01, 0x02, 0x03]) // CBOR [1, 2, 3]
}
