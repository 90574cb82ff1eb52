/**
 * The running state of one window: every aggregation of issue 3 in constant
 * memory, updated one reading at a time. Each update is a fixed sequence of
 * float64 operations, so the same readings in the same order give
 * bit-identical values.
 *
 * The history API (issue 4) computes the same values in DuckDB
 * (src/features/sql.ts), so each aggregation here is DuckDB's own algorithm,
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

import type { Field } from '../telemetry.js'
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

export class WindowAggregate {
  #count = 0
  // Welford's running mean and sum of squared deviations, for std: no
  // catastrophic cancellation when the values sit far from zero.
  #mean = 0
  #m2 = 0
  // Kahan's compensated sum: #error holds the low bits the last addition lost.
  #sum = 0
  #error = 0
  #min = Number.POSITIVE_INFINITY
  #max = Number.NEGATIVE_INFINITY
  #first = 0
  #firstTsNs = 0n
  #last = 0
  #lastTsNs = 0n
  #newestRecvNs = 0n

  get count(): number {
    return this.#count
  }

  /** The latest receive time among the readings folded in: staleness is now minus this. */
  get newestRecvNs(): bigint {
    return this.#newestRecvNs
  }

  /** Back to the state of a new aggregate: the engine reuses a closed window's for the next one. */
  reset(): void {
    this.#count = 0
    this.#mean = 0
    this.#m2 = 0
    this.#sum = 0
    this.#error = 0
    this.#min = Number.POSITIVE_INFINITY
    this.#max = Number.NEGATIVE_INFINITY
    this.#first = 0
    this.#firstTsNs = 0n
    this.#last = 0
    this.#lastTsNs = 0n
    this.#newestRecvNs = 0n
  }

  /** Folds one finite value in; tsNs is its event time, recvNs its receive time. */
  add(value: number, tsNs: bigint, recvNs: bigint): void {
    const n = ++this.#count
    const nextMean = this.#mean + (value - this.#mean) / n
    this.#m2 += (value - nextMean) * (value - this.#mean)
    this.#mean = nextMean

    const y = value - this.#error
    const sum = this.#sum + y
    this.#error = sum - this.#sum - y
    this.#sum = sum

    if (value < this.#min) this.#min = value
    if (value > this.#max) this.#max = value
    // First and last by event time; on a tie the earlier arrival stays first and the later becomes last.
    if (n === 1 || tsNs < this.#firstTsNs) {
      this.#first = value
      this.#firstTsNs = tsNs
    }
    if (n === 1 || tsNs >= this.#lastTsNs) {
      this.#last = value
      this.#lastTsNs = tsNs
    }
    if (n === 1 || recvNs > this.#newestRecvNs) this.#newestRecvNs = recvNs
  }

  /** The named aggregations, in the order asked. */
  values(aggregations: readonly Aggregation[]): FeatureValues {
    const values: Partial<Record<Aggregation, number | null>> = {}
    for (const aggregation of aggregations) values[aggregation] = this.value(aggregation)
    return values
  }

  value(aggregation: Aggregation): number | null {
    const n = this.#count
    if (n === 0) return aggregation === 'count' || aggregation === 'sum' ? 0 : null
    switch (aggregation) {
      case 'count':
        return n
      case 'sum':
        return this.#sum
      case 'mean':
        return this.#sum / n
      case 'min':
        return this.#min
      case 'max':
        return this.#max
      // The sample standard deviation (n - 1): a window is a sample of the signal, not all of it.
      case 'std':
        return n < 2 ? null : Math.sqrt(this.#m2 / (n - 1))
      case 'first':
        return this.#first
      case 'last':
        return this.#last
      case 'rate': {
        const spanNs = this.#lastTsNs - this.#firstTsNs
        return n < 2 || spanNs === 0n ? null : (this.#last - this.#first) / (Number(spanNs) / 1e9)
      }
    }
  }
}
