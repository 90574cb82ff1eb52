/**
 * Plausible sensor signals for one virtual device: a temperature that follows
 * a slow sine with noise, a humidity that drifts against it, an event counter
 * and a door contact. Each device has its own seeded generator, so a run is
 * reproducible and devices differ from one another.
 */

import { type DeviceReading, float } from './encode.js'

/** Period of the temperature wave, ms: short enough to see in a 10 s run's chart. */
const TEMP_PERIOD_MS = 60_000
const HUMIDITY_PERIOD_MS = 300_000

export interface DeviceSignalOptions {
  /** Device index: seeds the generator and the phase of its waves. */
  readonly index: number
  readonly boot: number
  /** Tags sent with every reading. Default `{ site: 'sim' }`. */
  readonly tags?: Readonly<Record<string, string>>
}

export class DeviceSignals {
  readonly #random: () => number
  readonly #phase: number
  readonly #boot: number
  readonly #tags: Readonly<Record<string, string>>
  #seq = 0
  #count = 0
  #door = false

  constructor(options: DeviceSignalOptions) {
    this.#random = mulberry32(0x9e3779b9 ^ (options.index * 0x85ebca6b))
    this.#phase = this.#random() * 2 * Math.PI
    this.#boot = options.boot
    this.#tags = options.tags ?? { site: 'sim' }
  }

  /** The next reading: seq 1, 2, 3, … stamped with `nowMs`. */
  next(nowMs: number): DeviceReading {
    this.#seq++
    const angle = (2 * Math.PI * nowMs) / TEMP_PERIOD_MS + this.#phase
    const temp = 21 + 3 * Math.sin(angle) + 0.2 * this.#gaussian()
    const humidity = clamp(
      45 - 8 * Math.sin((2 * Math.PI * nowMs) / HUMIDITY_PERIOD_MS + this.#phase),
      0,
      100,
    )
    if (this.#random() < 0.3) this.#count += 1 + Math.floor(this.#random() * 3)
    if (this.#random() < 0.02) this.#door = !this.#door
    return {
      seq: this.#seq,
      boot: this.#boot,
      ts: Math.trunc(nowMs),
      fields: {
        temp: float(round(temp, 3)),
        humidity: float(round(humidity + 0.5 * this.#gaussian(), 2)),
        count: this.#count,
        door_open: this.#door,
      },
      tags: this.#tags,
    }
  }

  /** Box-Muller: one standard normal sample. */
  #gaussian(): number {
    const u = 1 - this.#random()
    const v = this.#random()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
}

/** A small, fast, seedable PRNG (public domain, Tommy Ettinger). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x))
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
