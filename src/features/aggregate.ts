/**
 * The running state of windows: every aggregation of issue 3 in constant
 * memory, updated one reading at a time. Each update is a fixed sequence of
 * float64 operations, so the same readings in the same order give
 * bit-identical values.
 *
 * The history API (issue 4) computes the same values in DuckDB
 * (src/store/window-sql.ts), so each aggregation here is DuckDB's own algorithm,
 * operation for operation:
 *
 *   sum   fsum():        Kahan summation (DuckDB's KahanAddInternal)
 *   mean  fsum / count:  the same sum divided by the count
 *   std   stddev_samp(): Welford's update as DuckDB writes it; null below 2 readings
 *   min, max, count:     exact
 *   first, last:         by event time, ties by arrival (exact)
 *   rate:                (last - first) / seconds between their event times
 *
 * Folded in the same order, the two agree to the last bit. DuckDB folds a
 * window's readings in arrival order unless its parallel scan splits them
 * between threads; then sum, mean and std may differ in the last bits
 * (docs/training-data.md gives the bound).
 */

import type { Field } from '../core/telemetry.js'
import type { Aggregation } from './definitions.js'

/** Values of the aggregations a feature asked for; null where one is undefined (std of one reading). */
export type FeatureValues = Readonly<Partial<Record<Aggregation, number | null>>>

/** A field as a number: booleans are 0 and 1, so the mean of door_open is the fraction of time open. */
export function fieldNumber(field: Field): number {
  const value = field.value
  if (typeof value === 'boolean') return value ? 1 : 0
  // An int beyond 2^53 loses its low digits here: aggregations are float64 throughout.
  return Number(value)
}

/**
 * Where a window's state sits in its slot: WIDTH float64s per window, every
 * window of an engine in one Float64Array, outside the heap, where the
 * garbage collector never traces, copies or promotes it. As an object a
 * window was a dozen fields and seven boxed doubles. With 10,000 devices at
 * 1 reading/s on the default features, the live heap after 65 s was 193 MB
 * with window objects, 157 MB with the slab, and 130 MB with no features.
 *
 * Times are ns after the window's start, as doubles: exact, because a
 * reading folded into a window lies in it and a window is at most
 * MAX_WINDOW_NS (definitions.ts) long. The receive time can lie anywhere; it only serves
 * staleness, where a rounding of a few ns past 2^53 does not show.
 */
const COUNT = 0
const MEAN = 1
const M2 = 2
const SUM = 3
const ERROR = 4
const MIN = 5
const MAX = 6
const FIRST = 7
const FIRST_T = 8
const LAST = 9
const LAST_T = 10
const NEWEST_RECV = 11
/**
 * The window's place and bookkeeping, kept in its slot so that an open window
 * is no object on the heap: its start as a hop index (start = HOP × the
 * feature's hop; exact as a double, since a hop is at least 1 ms), and 1 when
 * a value was folded in since the last takeChanged().
 */
const HOP = 12
const CHANGED = 13
const WIDTH = 14

export class AggregateSlab {
  #data: Float64Array
  /** Slots released, reused before the slab grows. */
  readonly #free: number[] = []
  #used = 0

  constructor(slots = 64) {
    this.#data = new Float64Array(Math.max(1, slots) * WIDTH)
  }

  /** Slots in use. */
  get size(): number {
    return this.#used - this.#free.length
  }

  /** Slots it holds room for: it grows by doubling, and never shrinks by itself. */
  get capacity(): number {
    return this.#data.length / WIDTH
  }

  /** A slot holding an empty window that starts at hop index `hop`. */
  alloc(hop: number): number {
    let slot = this.#free.pop()
    if (slot === undefined) {
      if ((this.#used + 1) * WIDTH > this.#data.length) {
        const grown = new Float64Array(this.#data.length * 2)
        grown.set(this.#data)
        this.#data = grown
      }
      slot = this.#used++
    }
    this.#reset(slot)
    this.#data[slot * WIDTH + HOP] = hop
    return slot
  }

  release(slot: number): void {
    this.#free.push(slot)
  }

  /** A new slot of this slab holding a copy of `slot` of `from`. */
  copy(from: AggregateSlab, slot: number): number {
    const to = this.alloc(from.hop(slot))
    this.#data.set(from.#data.subarray(slot * WIDTH, (slot + 1) * WIDTH), to * WIDTH)
    return to
  }

  /** Back to an empty window: a released slot is taken again for the next one. */
  #reset(slot: number): void {
    const d = this.#data
    const o = slot * WIDTH
    d.fill(0, o, o + WIDTH)
    d[o + MIN] = Number.POSITIVE_INFINITY
    d[o + MAX] = Number.NEGATIVE_INFINITY
  }

  /**
   * Folds one finite value in; tNs is its event time and recvNs its receive
   * time, both ns after the window's start.
   */
  add(slot: number, value: number, tNs: number, recvNs: number): void {
    const d = this.#data
    const o = slot * WIDTH
    const n = d[o + COUNT]! + 1
    d[o + COUNT] = n
    // Welford's running mean and sum of squared deviations, for std: no
    // catastrophic cancellation when the values sit far from zero.
    const mean = d[o + MEAN]!
    const nextMean = mean + (value - mean) / n
    d[o + M2] = d[o + M2]! + (value - nextMean) * (value - mean)
    d[o + MEAN] = nextMean

    // Kahan's compensated sum: ERROR holds the low bits the last addition lost.
    const y = value - d[o + ERROR]!
    const sum = d[o + SUM]! + y
    d[o + ERROR] = sum - d[o + SUM]! - y
    d[o + SUM] = sum

    if (value < d[o + MIN]!) d[o + MIN] = value
    if (value > d[o + MAX]!) d[o + MAX] = value
    // First and last by event time; on a tie the earlier arrival stays first and the later becomes last.
    if (n === 1 || tNs < d[o + FIRST_T]!) {
      d[o + FIRST] = value
      d[o + FIRST_T] = tNs
    }
    if (n === 1 || tNs >= d[o + LAST_T]!) {
      d[o + LAST] = value
      d[o + LAST_T] = tNs
    }
    if (n === 1 || recvNs > d[o + NEWEST_RECV]!) d[o + NEWEST_RECV] = recvNs
    d[o + CHANGED] = 1
  }

  /** The window's start as a hop index, as given to alloc(). */
  hop(slot: number): number {
    return this.#data[slot * WIDTH + HOP]!
  }

  /** Whether a value was folded in since the last call. */
  takeChanged(slot: number): boolean {
    const o = slot * WIDTH + CHANGED
    const changed = this.#data[o] === 1
    this.#data[o] = 0
    return changed
  }

  count(slot: number): number {
    return this.#data[slot * WIDTH + COUNT]!
  }

  /** The latest receive time among the readings folded in, ns after the window's start: staleness is now minus it. */
  newestRecvNs(slot: number): number {
    return this.#data[slot * WIDTH + NEWEST_RECV]!
  }

  /** The named aggregations, in the order asked. */
  values(slot: number, aggregations: readonly Aggregation[]): FeatureValues {
    const values: Partial<Record<Aggregation, number | null>> = {}
    for (const aggregation of aggregations) values[aggregation] = this.value(slot, aggregation)
    return values
  }

  value(slot: number, aggregation: Aggregation): number | null {
    const d = this.#data
    const o = slot * WIDTH
    const n = d[o + COUNT]!
    if (n === 0) return aggregation === 'count' || aggregation === 'sum' ? 0 : null
    switch (aggregation) {
      case 'count':
        return n
      case 'sum':
        return d[o + SUM]!
      case 'mean':
        return d[o + SUM]! / n
      case 'min':
        return d[o + MIN]!
      case 'max':
        return d[o + MAX]!
      // The sample standard deviation (n - 1): a window is a sample of the signal, not all of it.
      case 'std':
        return n < 2 ? null : Math.sqrt(d[o + M2]! / (n - 1))
      case 'first':
        return d[o + FIRST]!
      case 'last':
        return d[o + LAST]!
      case 'rate': {
        const spanNs = d[o + LAST_T]! - d[o + FIRST_T]!
        return n < 2 || spanNs === 0 ? null : (d[o + LAST]! - d[o + FIRST]!) / (spanNs / 1e9)
      }
    }
  }
}
