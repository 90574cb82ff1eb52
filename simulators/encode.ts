/**
 * Wire format v1 as a device writes it (ARCHITECTURE.md §2, docs/wire-format.md):
 * a CBOR map `{v, seq, boot, ts, m, t}`, optionally wrapped in the CRC-32C
 * envelope `{p: <bytes>, c: crc32c(p)}`.
 *
 * The one trap is number typing. cbor-x writes any integral number as a CBOR
 * integer, so a temperature of exactly 20.0 would reach the bridge as the
 * integer 20 and pin (or conflict with) the field's type. Here a plain number
 * is an integer and must be one; a float field is wrapped with `float()` and
 * always goes on the wire as a float64 (0xfb), whatever its value.
 */

import { addExtension, Encoder, Tag } from 'cbor-x'
import CRC32C from 'crc-32/crc32c.js'

/** CRC-32C (Castagnoli) of the bytes, unsigned, as a device computes it for the envelope. */
export function crc32c(bytes: Uint8Array): number {
  return CRC32C.buf(bytes) >>> 0
}

/** A field value that must be encoded as a CBOR float64 even when integral. */
export class Float64 {
  constructor(readonly value: number) {}
}

/** `float(20)` is the float 20.0 on the wire. */
export function float(value: number): Float64 {
  return new Float64(value)
}

export type FieldValue = number | bigint | Float64 | boolean

export interface DeviceReading {
  /** Increases by one per message from a device. */
  readonly seq: number
  /** Changes when the device restarts. Omitted from the message when undefined. */
  readonly boot?: number
  /**
   * Device time: integer epoch milliseconds (the contract), or another unit as
   * a faulty device writes it (a bigint for nanoseconds), or CBOR tag 1 epoch
   * seconds, or tag 0 RFC 3339. Omitted (no clock) when undefined.
   */
  readonly ts?: number | bigint | { readonly seconds: number } | { readonly rfc3339: string }
  /** Metric name to value: plain numbers are integers, `float()` marks floats. */
  readonly fields: Readonly<Record<string, FieldValue>>
  readonly tags?: Readonly<Record<string, string>>
}

// A Float64 has no tag: the extension writes the bare number with the
// encoder's `alwaysUseFloat` switched on for that one item. cbor-x reads
// the option per number, so this is exact; the self-check below fails at
// load if a cbor-x upgrade ever stops honouring it.
addExtension({
  Class: Float64,
  encode(this: { alwaysUseFloat?: boolean | undefined }, f: Float64, encode: (value: number) => void) {
    const before = this.alwaysUseFloat
    this.alwaysUseFloat = true
    try {
      encode(f.value)
    } finally {
      this.alwaysUseFloat = before
    }
  },
} as unknown as Parameters<typeof addExtension>[0])

// useRecords: false: the records extension is cbor-x's own, not CBOR that
// other decoders read. variableMapSize: preferred (shortest) map headers.
// tagUint8Array: false: `p` is a plain byte string, never tag 64.
const cbor = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false })

/** The reading as CBOR bytes: the `p` of the envelope, or the whole payload unwrapped. */
export function encodeReading(reading: DeviceReading): Buffer {
  const body: Record<string, unknown> = { v: 1, seq: uint(reading.seq, 'seq') }
  if (reading.boot !== undefined) body.boot = uint(reading.boot, 'boot')
  if (reading.ts !== undefined) body.ts = wireTime(reading.ts)
  const m: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(reading.fields)) m[name] = fieldValue(name, value)
  body.m = m
  if (reading.tags !== undefined) body.t = { ...reading.tags }
  return cbor.encode(body)
}

/** The CRC-32C envelope `{p, c}` around already encoded reading bytes. */
export function wrapEnvelope(p: Uint8Array): Buffer {
  return cbor.encode({ p, c: crc32c(p) })
}

/** One MQTT payload: the reading, wrapped in the envelope unless `wrap` is false. */
export function encodeMessage(reading: DeviceReading, wrap = true): Buffer {
  const p = encodeReading(reading)
  return wrap ? wrapEnvelope(p) : p
}

function wireTime(ts: NonNullable<DeviceReading['ts']>): unknown {
  if (typeof ts === 'bigint') return ts
  if (typeof ts === 'number') return uint(ts, 'ts')
  return 'seconds' in ts ? new Tag(ts.seconds, 1) : new Tag(ts.rfc3339, 0)
}

// cbor-x writes integers beyond 32 bits as floats; a BigInt goes out as a
// 64-bit CBOR integer (major type 0 or 1), which is what the format requires.
function integer(value: number, what: string): number | bigint {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be a safe integer, got ${value}`)
  return value >= -0x1_0000_0000 && value <= 0xffff_ffff ? value : BigInt(value)
}

function uint(value: number, what: string): number | bigint {
  if (value < 0) throw new RangeError(`${what} must not be negative, got ${value}`)
  return integer(value, what)
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

function fieldValue(name: string, value: FieldValue): unknown {
  if (typeof value === 'number') return integer(value, `field ${name} (use float() for a float)`)
  if (typeof value === 'bigint' && (value < INT64_MIN || value > INT64_MAX))
    throw new RangeError(`field ${name} must fit a 64-bit signed integer, got ${value}`)
  if (value instanceof Float64 && !Number.isFinite(value.value))
    throw new RangeError(`field ${name} must be finite, got ${value.value}`)
  return value
}

// Self-check: 20.0 must come out as 0xfb 0x4034000000000000, not 0x14.
{
  const bytes = cbor.encode(float(20))
  if (bytes.length !== 9 || bytes[0] !== 0xfb || bytes.readDoubleBE(1) !== 20) {
    throw new Error(`cbor-x no longer encodes float(20) as float64: ${bytes.toString('hex')}`)
  }
}
