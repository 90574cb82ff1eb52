/**
 * Device time representations of wire format v1 to epoch nanoseconds.
 *
 * - an integer: epoch milliseconds by contract; seconds, microseconds and
 *   nanoseconds are recognised by magnitude, since firmware gets units wrong
 *   more often than anything else;
 * - CBOR tag 1: epoch seconds, integer or float [RFC 8949 §3.4.2];
 * - CBOR tag 0: an RFC 3339 date-time string [RFC 8949 §3.4.1], up to
 *   nanosecond precision.
 */

import { parseRfc3339 } from '../src/core/time.js'
import type { TaggedTime } from './decode.js'

export type TimeUnit = 's' | 'ms' | 'us' | 'ns'

export interface DeviceTime {
  readonly ns: bigint
  /** The unit an integer time was read in; null for tagged times. */
  readonly unit: TimeUnit | null
}

const NS_PER: Record<TimeUnit, bigint> = { s: 1_000_000_000n, ms: 1_000_000n, us: 1_000n, ns: 1n }

/** Unit of an integer epoch time by its magnitude: each band spans years 1973 to 5138. */
export function inferUnit(value: bigint): TimeUnit {
  const abs = value < 0n ? -value : value
  if (abs < 100_000_000_000n) return 's'
  if (abs < 100_000_000_000_000n) return 'ms'
  if (abs < 100_000_000_000_000_000n) return 'us'
  return 'ns'
}

/** Returns null when the value is not a time this format allows. */
export function parseDeviceTime(value: unknown, tagged: typeof TaggedTime): DeviceTime | null {
  if (typeof value === 'bigint') {
    const unit = inferUnit(value)
    return { ns: value * NS_PER[unit], unit }
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null
    const unit = inferUnit(BigInt(Math.trunc(value)))
    return { ns: fractionalToNs(value, NS_PER[unit]), unit }
  }
  if (value instanceof tagged) {
    if (value.tag === 1) {
      if (typeof value.value === 'bigint') return { ns: value.value * NS_PER.s, unit: null }
      if (typeof value.value === 'number' && Number.isFinite(value.value)) {
        return { ns: fractionalToNs(value.value, NS_PER.s), unit: null }
      }
      return null
    }
    if (typeof value.value !== 'string') return null
    const ns = parseRfc3339(value.value)
    return ns === null ? null : { ns, unit: null }
  }
  return null
}

/**
 * value × scale, exact for integers; for a float, rounded to the microsecond
 * of the unit before scaling, since a float64 of epoch seconds carries about
 * that much real precision (1764115200.25 must give ...250000000, not ...249999952).
 */
function fractionalToNs(value: number, scale: bigint): bigint {
  if (Number.isInteger(value)) return BigInt(value) * scale
  const whole = Math.floor(value)
  const micros = Math.round((value - whole) * 1_000_000)
  return BigInt(whole) * scale + (BigInt(micros) * scale) / 1_000_000n
}
