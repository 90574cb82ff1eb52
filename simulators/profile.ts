/**
 * Device types and their signals, from a small JSON profile file
 * (`--profile`, default simulators/profiles/default.json):
 *
 *   { "types": [ { "name": "thermostat", "share": 0.8, "tags": {...},
 *                  "fields": { "temp": { "kind": "sine", ... }, ... } } ] }
 *
 * Signal kinds: `sine` (base + amplitude·sin + noise + drift per hour, with
 * spikes), `step` (a level held for a while, then another), `counter` (an
 * integer that only grows) and `bool` (a contact that flips). A spike is an
 * anomaly with a known time: the fleet writes each one to its ground-truth
 * log, so a model's output can be checked against it.
 *
 * Every device has its own seeded generator: a run is reproducible and
 * devices differ from one another.
 */

import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type FieldValue, float } from './encode.js'

export type Signal =
  | {
      readonly kind: 'sine'
      readonly base: number
      readonly amplitude: number
      readonly periodS: number
      /** Standard deviation of the gaussian noise added to each value. Default 0. */
      readonly noise?: number
      /** Change of the base per hour. Default 0. */
      readonly driftPerHour?: number
      /** Probability per reading of a spike of ± size. Default none. */
      readonly spikes?: { readonly rate: number; readonly size: number }
      /** Digits kept. Default 3. */
      readonly decimals?: number
      /** Values kept within. Default none. */
      readonly min?: number
      readonly max?: number
    }
  | {
      readonly kind: 'step'
      readonly levels: readonly number[]
      /** Mean seconds a level is held. */
      readonly holdS: number
      /** Default float. */
      readonly type?: 'int' | 'float'
    }
  | { readonly kind: 'counter'; readonly incrementRate: number; readonly maxIncrement?: number }
  | { readonly kind: 'bool'; readonly flipRate: number }

export interface DeviceType {
  readonly name: string
  /** Fraction of the fleet of this type; the shares are normalised. */
  readonly share: number
  readonly tags: Readonly<Record<string, string>>
  readonly fields: Readonly<Record<string, Signal>>
}

export interface Profile {
  readonly types: readonly DeviceType[]
}

/** The profiles shipped in simulators/profiles, from simulators/ or from dist/simulators/. */
function profilesDir(): string {
  let dir = import.meta.dirname
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return join(dir, 'simulators', 'profiles')
}

export const DEFAULT_PROFILE_PATH = join(profilesDir(), 'default.json')

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/

/** Reads and checks a profile file; throws with every problem found. */
export function loadProfile(path: string = DEFAULT_PROFILE_PATH): Profile {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new Error(`profile ${path}: ${(err as Error).message}`)
  }
  const parsed = parseProfile(json)
  if ('problems' in parsed) throw new Error(`profile ${path}:\n  ${parsed.problems.join('\n  ')}`)
  return parsed
}

export function parseProfile(json: unknown): Profile | { problems: string[] } {
  const problems: string[] = []
  const types = (json as { types?: unknown })?.types
  if (!Array.isArray(types) || types.length === 0)
    return { problems: ['needs "types": a non-empty array of device types'] }
  const kinds = new Map<string, string>()
  types.forEach((type: Record<string, unknown>, i) => {
    const at = `types[${i}]`
    if (typeof type?.name !== 'string' || !NAME.test(type.name)) problems.push(`${at}.name must be a name`)
    if (typeof type?.share !== 'number' || !(type.share > 0)) problems.push(`${at}.share must be above 0`)
    const tags = type?.tags ?? {}
    if (typeof tags !== 'object' || Object.values(tags as object).some((v) => typeof v !== 'string'))
      problems.push(`${at}.tags must map names to strings`)
    const fields = type?.fields as Record<string, Record<string, unknown>> | undefined
    if (typeof fields !== 'object' || fields === null || Object.keys(fields).length === 0) {
      problems.push(`${at}.fields must map at least one field name to a signal`)
      return
    }
    for (const [name, signal] of Object.entries(fields)) {
      const where = `${at}.fields.${name}`
      if (!NAME.test(name)) problems.push(`${where}: not a valid field name`)
      const problem = signalProblem(signal)
      if (problem !== null) problems.push(`${where}: ${problem}`)
      const kind = valueKind(signal as Signal)
      // The store pins one type per field: two device types must agree.
      if (kinds.has(name) && kinds.get(name) !== kind)
        problems.push(`${where}: is ${kind} here but ${kinds.get(name)} in another type`)
      kinds.set(name, kind)
    }
  })
  return problems.length > 0 ? { problems } : (json as Profile)
}

function signalProblem(s: Record<string, unknown>): string | null {
  const num = (k: string): boolean => typeof s[k] === 'number' && Number.isFinite(s[k])
  const rate = (k: string): boolean => num(k) && (s[k] as number) >= 0 && (s[k] as number) <= 1
  switch (s?.kind) {
    case 'sine': {
      if (!num('base') || !num('amplitude') || !num('periodS') || !((s.periodS as number) > 0))
        return 'a sine needs numbers base, amplitude and periodS (> 0)'
      const spikes = s.spikes as Record<string, unknown> | undefined
      if (spikes !== undefined && !(typeof spikes.rate === 'number' && spikes.rate >= 0 && spikes.rate <= 1))
        return 'spikes.rate must be a probability from 0 to 1'
      return null
    }
    case 'step':
      if (!Array.isArray(s.levels) || s.levels.length === 0 || !s.levels.every((l) => Number.isFinite(l)))
        return 'a step needs levels: an array of numbers'
      if (s.type === 'int' && !s.levels.every((l) => Number.isSafeInteger(l)))
        return 'an int step needs whole levels'
      return num('holdS') && (s.holdS as number) > 0 ? null : 'a step needs holdS (> 0)'
    case 'counter':
      return rate('incrementRate') ? null : 'a counter needs incrementRate, a probability from 0 to 1'
    case 'bool':
      return rate('flipRate') ? null : 'a bool needs flipRate, a probability from 0 to 1'
    default:
      return `kind must be sine, step, counter or bool, got ${JSON.stringify(s?.kind)}`
  }
}

function valueKind(s: Signal): 'float' | 'int' | 'bool' {
  if (s.kind === 'bool') return 'bool'
  if (s.kind === 'counter' || (s.kind === 'step' && s.type === 'int')) return 'int'
  return 'float'
}

/** The type of device `index` in a fleet of `devices`: by shares, in index order. */
export function typeOf(profile: Profile, index: number, devices: number): DeviceType {
  const total = profile.types.reduce((n, t) => n + t.share, 0)
  const position = ((index + 0.5) / devices) * total
  let seen = 0
  for (const type of profile.types) {
    seen += type.share
    if (position < seen) return type
  }
  return profile.types[profile.types.length - 1]!
}

export interface Sample {
  readonly fields: Record<string, FieldValue>
  /** Fields whose value is a spike: the anomalies of this reading. */
  readonly anomalies: readonly string[]
}

/** One device's signals, reading after reading. */
export class DeviceSignals {
  readonly #random: () => number
  readonly #type: DeviceType
  readonly #phase: number
  readonly #state = new Map<string, number>()

  constructor(type: DeviceType, index: number) {
    this.#type = type
    this.#random = mulberry32(0x9e3779b9 ^ Math.imul(index + 1, 0x85ebca6b))
    this.#phase = this.#random() * 2 * Math.PI
  }

  /** The values at `nowMs`, epoch milliseconds. */
  next(nowMs: number): Sample {
    const fields: Record<string, FieldValue> = {}
    const anomalies: string[] = []
    for (const [name, s] of Object.entries(this.#type.fields)) {
      switch (s.kind) {
        case 'sine': {
          const hours = nowMs / 3_600_000
          let v =
            s.base +
            (s.driftPerHour ?? 0) * (hours % 24) +
            s.amplitude * Math.sin((2 * Math.PI * nowMs) / (s.periodS * 1000) + this.#phase) +
            (s.noise ?? 0) * this.#gaussian()
          if (s.spikes !== undefined && this.#random() < s.spikes.rate) {
            v += this.#random() < 0.5 ? -s.spikes.size : s.spikes.size
            anomalies.push(name)
          }
          if (s.min !== undefined) v = Math.max(s.min, v)
          if (s.max !== undefined) v = Math.min(s.max, v)
          fields[name] = float(round(v, s.decimals ?? 3))
          break
        }
        case 'step': {
          let level = this.#state.get(name) ?? Math.floor(this.#random() * s.levels.length)
          // Readings come about once a second: change level with probability 1/holdS.
          if (this.#random() < 1 / s.holdS) level = Math.floor(this.#random() * s.levels.length)
          this.#state.set(name, level)
          const v = s.levels[level]!
          fields[name] = s.type === 'int' ? v : float(v)
          break
        }
        case 'counter': {
          let n = this.#state.get(name) ?? 0
          if (this.#random() < s.incrementRate) n += 1 + Math.floor(this.#random() * (s.maxIncrement ?? 3))
          this.#state.set(name, n)
          fields[name] = n
          break
        }
        case 'bool': {
          let on = this.#state.get(name) ?? 0
          if (this.#random() < s.flipRate) on = 1 - on
          this.#state.set(name, on)
          fields[name] = on === 1
          break
        }
      }
    }
    return { fields, anomalies }
  }

  /** Box-Muller: one standard normal sample. */
  #gaussian(): number {
    const u = 1 - this.#random()
    const v = this.#random()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
}

/** A small, fast, seedable PRNG (public domain, Tommy Ettinger). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
