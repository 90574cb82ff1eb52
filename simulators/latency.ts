/**
 * A latency histogram of fixed size, whatever the number of samples:
 * log-spaced buckets 1% wide from 1 µs to about 10 minutes, so percentiles
 * are within 1% and a million publishes cost the same memory as ten.
 */

const GROWTH = 1.01
const LOG_GROWTH = Math.log(GROWTH)
const MIN_US = 1
const MAX_US = 600_000_000
const BUCKETS = Math.ceil(Math.log(MAX_US / MIN_US) / LOG_GROWTH) + 2

export interface LatencySummary {
  readonly count: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS)
  #count = 0
  #maxMs = 0

  record(ms: number): void {
    const us = ms * 1000
    const i = us <= MIN_US ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us / MIN_US) / LOG_GROWTH))
    this.#counts[i]!++
    this.#count++
    if (ms > this.#maxMs) this.#maxMs = ms
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i]! += other.#counts[i]!
    this.#count += other.#count
    this.#maxMs = Math.max(this.#maxMs, other.#maxMs)
  }

  get count(): number {
    return this.#count
  }

  /** The value at quantile q (0..1), in ms: the upper edge of its bucket. */
  quantileMs(q: number): number {
    if (this.#count === 0) return Number.NaN
    const rank = Math.max(1, Math.ceil(q * this.#count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!
      if (seen >= rank) return Math.min(this.#maxMs, (MIN_US * GROWTH ** i) / 1000)
    }
    return this.#maxMs
  }

  summary(): LatencySummary {
    return {
      count: this.#count,
      p50Ms: this.quantileMs(0.5),
      p99Ms: this.quantileMs(0.99),
      maxMs: this.#maxMs,
    }
  }
}
