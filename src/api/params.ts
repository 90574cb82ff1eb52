/** Query-string parsing shared by the routes: each failure names its parameter. */

import { InvalidParameterError, UnknownDeviceError } from '../core/errors.js'
import { DEVICE_ID_PATTERN } from '../core/telemetry.js'
import { parseRfc3339 } from '../core/time.js'

export type Query = Record<string, string | string[] | undefined>

/** A single string value, or undefined; a repeated parameter is an error. */
export function one(query: Query, name: string): string | undefined {
  const v = query[name]
  if (Array.isArray(v)) throw new InvalidParameterError(name, 'given more than once')
  return v === '' ? undefined : v
}

/** A comma-separated list; every item must match `pattern`. */
export function list(query: Query, name: string, pattern: RegExp, max: number): string[] | undefined {
  const v = one(query, name)
  if (v === undefined) return undefined
  const items = v.split(',').map((s) => s.trim())
  if (items.length > max) throw new InvalidParameterError(name, `at most ${max} items`)
  for (const item of items) {
    if (!pattern.test(item)) throw new InvalidParameterError(name, `${JSON.stringify(item)} is not valid`)
  }
  return items
}

const ANY_DEVICE = /^(\*|[A-Za-z0-9._-]{1,64})$/

/**
 * `device=a,b` or `device=*`: the devices, or null for every device. Each
 * named device must be known (knowsDevice), else 400 TLM_ERR_UNKNOWN_DEVICE.
 */
export function devicesParam(query: Query, knowsDevice: (device: string) => boolean): string[] | null {
  const devices = list(query, 'device', ANY_DEVICE, 1000)
  if (devices === undefined)
    throw new InvalidParameterError('device', 'required: device ids separated by commas, or *')
  if (devices.includes('*')) return null
  for (const d of devices) {
    if (!DEVICE_ID_PATTERN.test(d))
      throw new InvalidParameterError('device', `${JSON.stringify(d)} is not valid`)
    if (!knowsDevice(d)) throw new UnknownDeviceError(d)
  }
  return devices
}

/** RFC 3339 or epoch milliseconds, to epoch ns. */
export function time(query: Query, name: string): bigint | undefined {
  const v = one(query, name)
  if (v === undefined) return undefined
  if (/^-?\d{1,16}$/.test(v)) return BigInt(v) * 1_000_000n
  const ns = parseRfc3339(v)
  if (ns === null)
    throw new InvalidParameterError(name, `${JSON.stringify(v)} is neither RFC 3339 nor epoch milliseconds`)
  return ns
}

export function integer(query: Query, name: string, min: number, max: number): number | undefined {
  const v = one(query, name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < min || n > max)
    throw new InvalidParameterError(name, `must be an integer from ${min} to ${max}`)
  return n
}

export function choice<T extends string>(query: Query, name: string, choices: readonly T[]): T | undefined {
  const v = one(query, name)
  if (v === undefined) return undefined
  if (!(choices as readonly string[]).includes(v))
    throw new InvalidParameterError(name, `must be one of ${choices.join(', ')}`)
  return v as T
}
