/**
 * The decoded body of a wire format v1 message, checked key by key
 * (docs/wire-format.md). Every refusal names a stable reason; nothing here
 * throws on any input.
 */

import { Rejection, reject } from '../src/core/errors.js'
import { type Field, NAME_PATTERN } from '../src/core/telemetry.js'
import { TaggedTime } from './decode.js'
import { type DeviceTime, parseDeviceTime } from './time.js'

export interface Sample {
  /** The device's time of the reading; null when the device sent none. */
  readonly time: DeviceTime | null
  readonly fields: readonly Field[]
}

export interface Message {
  readonly seq: number
  readonly boot: number
  readonly tags: Readonly<Record<string, string>> | null
  readonly samples: readonly Sample[]
}

export interface ValidateLimits {
  /** Fields in one sample. */
  readonly maxFieldsPerSample: number
  /** Samples in one batched message (`s`). */
  readonly maxSamples: number
  /** Tags on one message. */
  readonly maxTags: number
  /** Characters in one tag value. */
  readonly maxTagValueLength: number
}

export const DEFAULT_VALIDATE_LIMITS: ValidateLimits = Object.freeze({
  maxFieldsPerSample: 256,
  maxSamples: 1000,
  maxTags: 32,
  maxTagValueLength: 256,
})

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

export function validateMessage(
  body: unknown,
  floatPaths: ReadonlySet<string>,
  limits: ValidateLimits = DEFAULT_VALIDATE_LIMITS,
): Message | Rejection {
  if (!isRecord(body)) return reject('not_a_map', 'the reading must be a map')
  if (body.v !== 1 && body.v !== 1n)
    return reject('unsupported_version', `v is ${describe(body.v)}, expected 1`)

  if (body.seq === undefined) return reject('missing_seq', 'seq is required to deduplicate')
  const seq = toUnsigned(body.seq)
  if (seq === null) return reject('invalid_seq', `seq is ${describe(body.seq)}, expected an unsigned integer`)
  let boot = 0
  if (body.boot !== undefined) {
    const b = toUnsigned(body.boot)
    if (b === null)
      return reject('invalid_boot', `boot is ${describe(body.boot)}, expected an unsigned integer`)
    boot = b
  }

  let tags: Record<string, string> | null = null
  if (body.t !== undefined) {
    const parsed = parseTags(body.t, limits)
    if (parsed instanceof Rejection) return parsed
    tags = parsed
  }

  const samples: Sample[] = []
  if (body.s !== undefined) {
    if (body.ts !== undefined || body.m !== undefined) {
      return reject('invalid_samples', 'a batched message carries ts and m only inside s')
    }
    if (!Array.isArray(body.s) || body.s.length === 0 || body.s.length > limits.maxSamples) {
      return reject('invalid_samples', `s must be an array of 1 to ${limits.maxSamples} samples`)
    }
    for (let i = 0; i < body.s.length; i++) {
      const raw: unknown = body.s[i]
      if (!isRecord(raw)) return reject('invalid_samples', `s[${i}] must be a map`)
      const sample = parseSample(raw, `s/${i}/m`, floatPaths, limits)
      if (sample instanceof Rejection) return sample
      samples.push(sample)
    }
  } else {
    const sample = parseSample(body, 'm', floatPaths, limits)
    if (sample instanceof Rejection) return sample
    samples.push(sample)
  }
  return { seq, boot, tags, samples }
}

function parseSample(
  raw: Record<string, unknown>,
  fieldsPath: string,
  floatPaths: ReadonlySet<string>,
  limits: ValidateLimits,
): Sample | Rejection {
  let time: DeviceTime | null = null
  if (raw.ts !== undefined && raw.ts !== null) {
    time = parseDeviceTime(raw.ts, TaggedTime)
    if (time === null) return reject('invalid_timestamp', `ts is ${describe(raw.ts)}`)
    if (time.ns < INT64_MIN || time.ns > INT64_MAX)
      return reject('ts_out_of_range', `ts is ${describe(raw.ts)}: beyond 64-bit nanoseconds (1677 to 2262)`)
  }
  const m = raw.m
  if (!isRecord(m)) return reject('invalid_fields', 'm must be a map of metric name to number or boolean')
  const names = Object.keys(m)
  if (names.length === 0 || names.length > limits.maxFieldsPerSample) {
    return reject('invalid_fields', `m must hold 1 to ${limits.maxFieldsPerSample} fields`)
  }
  const fields: Field[] = []
  for (const name of names) {
    if (!NAME_PATTERN.test(name)) return reject('invalid_field_name', `field name ${JSON.stringify(name)}`)
    const value = m[name]
    if (typeof value === 'boolean') {
      fields.push({ name, kind: 'bool', value })
    } else if (typeof value === 'bigint') {
      if (value < INT64_MIN || value > INT64_MAX)
        return reject('invalid_fields', `${name} overflows a 64-bit integer`)
      fields.push({ name, kind: 'int', value })
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return reject('invalid_fields', `${name} is not a finite number`)
      const isFloat = !Number.isInteger(value) || floatPaths.has(`${fieldsPath}/${name}`)
      if (!isFloat && !Number.isSafeInteger(value))
        return reject('invalid_fields', `${name} is not a safe integer`)
      fields.push({ name, kind: isFloat ? 'float' : 'int', value })
    } else {
      return reject('invalid_fields', `${name} is ${describe(value)}, expected a number or boolean`)
    }
  }
  return { time, fields }
}

function parseTags(raw: unknown, limits: ValidateLimits): Record<string, string> | Rejection {
  if (!isRecord(raw)) return reject('invalid_tags', 't must be a map of tag name to string')
  const names = Object.keys(raw)
  if (names.length > limits.maxTags) return reject('invalid_tags', `more than ${limits.maxTags} tags`)
  const tags: Record<string, string> = Object.create(null)
  // Sorted, so that equal tags are stored alike. sort() allocates even when
  // there is nothing to do, and devices mostly send their tags in order.
  if (!sorted(names)) names.sort()
  for (const name of names) {
    const value = raw[name]
    if (!NAME_PATTERN.test(name)) return reject('invalid_tags', `tag name ${JSON.stringify(name)}`)
    if (typeof value !== 'string' || value.length > limits.maxTagValueLength) {
      return reject(
        'invalid_tags',
        `tag ${name} must be a string of at most ${limits.maxTagValueLength} characters`,
      )
    }
    tags[name] = value
  }
  return tags
}

function toUnsigned(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null
  if (typeof value === 'bigint')
    return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null
  return null
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    !(value instanceof TaggedTime)
  )
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing'
  if (typeof value === 'bigint') return `${value}`
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40))
  if (value instanceof TaggedTime) return `tag ${value.tag} ${describe(value.value)}`
  if (typeof value === 'object') return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'a map'
  return String(value)
}

function sorted(names: readonly string[]): boolean {
  for (let i = 1; i < names.length; i++) if (names[i - 1]! > names[i]!) return false
  return true
}
