/**
 * Per-device clock-offset estimate (ARCHITECTURE §2, "Time").
 *
 * Each reading gives one sample, receive time minus device time: the true
 * offset plus a network and queueing delay that is never negative. So the
 * minimum over recent samples estimates the offset (as NTP's clock filter
 * does), and the spread of those samples says whether the estimate can be
 * trusted. A device flushing a backlog gives samples that shrink steadily:
 * a wide spread, so its old readings keep their own times instead of being
 * dragged to the receive time. A clock that jumps widens the spread until the
 * window has refilled, and readings then keep their raw time (clamped so that
 * nothing lands in the future) until the new offset is stable.
 *
 *   samples (ring, newest overwrites oldest)
 *   ┌────┬────┬────┬────┬────┬────┬────┬────┐
 *   │ s0 │ s1 │ s2 │ s3 │ s4 │ s5 │ s6 │ s7 │  estimate = min, trusted when max - min ≤ spread
 *   └────┴────┴────┴────┴────┴────┴────┴────┘
 */

export interface ClockOptions {
  /** An estimated offset smaller than this, in ms, is not applied. Default 2000. */
  readonly toleranceMs: number
  /** A corrected time later than receive time by more than this, in ms, is clamped to receive time. Default 5000. */
  readonly futureToleranceMs: number
  /** Samples kept per device. Default 8. */
  readonly windowSize: number
  /** Largest spread of the window, in ms, for which the estimate is trusted. Default 1000. */
  readonly maxSpreadMs: number
}

export const DEFAULT_CLOCK_OPTIONS: ClockOptions = Object.freeze({
  toleranceMs: 2000,
  futureToleranceMs: 5000,
  windowSize: 8,
  maxSpreadMs: 1000,
})

export interface NormalizedTime {
  /** Corrected event time, epoch ns. */
  readonly tsNs: bigint
  /** What was added to the device's time; receive time minus device time when clamped. */
  readonly offsetNs: bigint
}

class DeviceClock {
  readonly samples: Float64Array
  count = 0
  constructor(size: number) {
    this.samples = new Float64Array(size)
  }
  add(sampleNs: number): void {
    this.samples[this.count % this.samples.length] = sampleNs
    this.count++
  }
  /** The trusted offset in ns, or null while the window is short or spread out. */
  estimate(maxSpreadNs: number): number | null {
    const n = Math.min(this.count, this.samples.length)
    if (n < this.samples.length / 2) return null
    let min = Number.POSITIVE_INFINITY
    let max = Number.NEGATIVE_INFINITY
    for (let i = 0; i < n; i++) {
      const s = this.samples[i]!
      if (s < min) min = s
      if (s > max) max = s
    }
    return max - min <= maxSpreadNs ? min : null
  }
}

export class ClockTracker {
  readonly #devices = new Map<string, DeviceClock>()
  readonly #options: ClockOptions
  readonly #futureToleranceNs: bigint

  constructor(options: ClockOptions = DEFAULT_CLOCK_OPTIONS) {
    this.#options = options
    this.#futureToleranceNs = BigInt(options.futureToleranceMs) * 1_000_000n
  }

  /**
   * The event time to store for a reading. `deviceNs` is null when the device
   * has no clock: the receive time is used and the offset is zero.
   */
  normalize(device: string, deviceNs: bigint | null, recvNs: bigint): NormalizedTime {
    if (deviceNs === null) return { tsNs: recvNs, offsetNs: 0n }
    let clock = this.#devices.get(device)
    if (clock === undefined) {
      clock = new DeviceClock(this.#options.windowSize)
      this.#devices.set(device, clock)
    }
    clock.add(Number(recvNs - deviceNs))

    const estimate = clock.estimate(this.#options.maxSpreadMs * 1e6)
    let offsetNs = 0n
    if (estimate !== null && Math.abs(estimate) > this.#options.toleranceMs * 1e6)
      offsetNs = BigInt(Math.round(estimate))
    let tsNs = deviceNs + offsetNs
    if (tsNs > recvNs + this.#futureToleranceNs) {
      tsNs = recvNs
      offsetNs = recvNs - deviceNs
    }
    return { tsNs, offsetNs }
  }

  /** Forgets a device, for example when it has been idle for long. */
  forget(device: string): void {
    this.#devices.delete(device)
  }
}
