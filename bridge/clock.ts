/**
 * When a reading's device time is replaced, and by what (ARCHITECTURE §2,
 * "Time"; issue 19). The rule: never move a plausible reading.
 *
 * A reading that arrives late but in order is a delayed reading (a backlog
 * flush, a gateway that batches, a slow link), not a skewed clock, and
 * nothing seen from the receiving side tells the two apart for one reading:
 * both give receive − device time > 0. Moving a correct reading corrupts the
 * series silently, so only what is impossible or proven wrong is corrected:
 *
 * - `off`: the device's time is stored as given (as InfluxDB and Telegraf do).
 * - `future-only` (default): a time later than receive time + futureToleranceMs
 *   is impossible: it is clamped to receive time (reason `future`).
 * - `auto`: `future-only`, plus a clock proven wrong: its offset (receive −
 *   device time) stayed within maxSpreadMs for at least stableReadings readings
 *   over at least stableSpanMs of receive time, so the readings arrived at the
 *   pace they were stamped, and that offset exceeds toleranceMs. Then the
 *   smallest offset of that run (the least delay, as NTP's clock filter takes)
 *   is added to every reading (reason `offset`) until a reading shows the
 *   clock has moved ahead of it.
 *
 * A backlog flush arrives faster than it was stamped, a batching gateway in
 * bursts, a jittery link with varying delay: each breaks the run long before
 * minutes have passed, so none is ever corrected. A link whose delay is long
 * and constant cannot be told from a clock behind by as much; that is why
 * `auto` is not the default (docs/wire-format.md, "Time").
 *
 * Per device in `auto`, a handful of numbers:
 *
 *   offsets (receive − device)   ─●──●─●──●───●──●─●──●──▶ receive time
 *   run: since runStartRecv,      │◀──── span ≥ stableSpanMs ────▶│
 *        runMin … runMax ≤ spread  count ≥ stableReadings ⇒ applied = runMin
 *   a sample outside the spread starts a new run; applied is kept while
 *   samples stay at or above applied − spread (delay only adds), and
 *   dropped at once when one falls below (the clock moved ahead).
 */

import { CLOCK_VALID_FROM_NS } from '../src/core/time.js'

/** How much a device's time is trusted (docs/wire-format.md, "Time"). */
export type ClockCorrection = 'off' | 'future-only' | 'auto'

export const CLOCK_CORRECTIONS: readonly ClockCorrection[] = ['off', 'future-only', 'auto']

/** Why a reading's time is not its device's: `telemetry_clock_corrections_total{reason}`. */
export type CorrectionReason = 'future' | 'offset'

export interface ClockOptions {
  /** The policy for every device without an override. Default `future-only`. */
  readonly mode: ClockCorrection
  /** Per-device policies, by device id. Default none. */
  readonly devices: Readonly<Record<string, ClockCorrection>>
  /** A time later than receive time by more than this, in ms, is clamped to receive time (not in `off`). Default 5000. */
  readonly futureToleranceMs: number
  /** `auto`: an offset no larger than this, in ms, is not applied. Default 2000. */
  readonly toleranceMs: number
  /** `auto`: largest spread of a run's offsets, in ms, for the offset to count as stable. Default 1000. */
  readonly maxSpreadMs: number
  /** `auto`: receive time a run must span before its offset is applied, ms. Default 300000 (5 min). */
  readonly stableSpanMs: number
  /** `auto`: readings a run must hold before its offset is applied. Default 30. */
  readonly stableReadings: number
}

export const DEFAULT_CLOCK_OPTIONS: ClockOptions = Object.freeze({
  mode: 'future-only',
  devices: Object.freeze({}),
  futureToleranceMs: 5000,
  toleranceMs: 2000,
  maxSpreadMs: 1000,
  stableSpanMs: 300_000,
  stableReadings: 30,
})

export interface NormalizedTime {
  /** Corrected event time, epoch ns. */
  readonly tsNs: bigint
  /** What was added to the device's time; receive time minus device time when clamped. */
  readonly offsetNs: bigint
  /** Why the time was changed; null when it was not. */
  readonly reason: CorrectionReason | null
}

/** `auto`'s evidence about one device's clock. Offsets are ns as numbers: their precision is far below a ms. */
class ClockRun {
  runStartRecvNs = 0n
  runCount = 0
  runMin = 0
  runMax = 0
  /** The offset being added to this device's readings, ns; null when none. */
  applied: number | null = null

  observe(offsetNs: number, recvNs: bigint, o: ClockOptions): void {
    const spreadNs = o.maxSpreadMs * 1e6
    const min = Math.min(this.runMin, offsetNs)
    const max = Math.max(this.runMax, offsetNs)
    if (this.runCount === 0 || max - min > spreadNs) {
      this.runStartRecvNs = recvNs
      this.runCount = 1
      this.runMin = offsetNs
      this.runMax = offsetNs
    } else {
      this.runCount++
      this.runMin = min
      this.runMax = max
    }
    // Delay only adds to an offset: one below the applied one by more than the
    // spread means the clock moved ahead, and the correction would now push
    // readings into the future.
    if (this.applied !== null && offsetNs < this.applied - spreadNs) this.applied = null
    const proven =
      this.runCount >= o.stableReadings && recvNs - this.runStartRecvNs >= BigInt(o.stableSpanMs) * 1_000_000n
    if (proven) this.applied = Math.abs(this.runMin) > o.toleranceMs * 1e6 ? this.runMin : null
  }
}

export class ClockTracker {
  readonly #runs = new Map<string, ClockRun>()
  readonly #options: ClockOptions
  readonly #futureToleranceNs: bigint

  constructor(options: ClockOptions = DEFAULT_CLOCK_OPTIONS) {
    this.#options = options
    this.#futureToleranceNs = BigInt(options.futureToleranceMs) * 1_000_000n
  }

  /**
   * The event time to store for a reading. `deviceNs` is null when the device
   * sent no time. Without one, or with one before 2001 (no clock, wire format
   * v1), the receive time is used and the offset is zero.
   */
  normalize(device: string, deviceNs: bigint | null, recvNs: bigint): NormalizedTime {
    if (deviceNs === null || deviceNs < CLOCK_VALID_FROM_NS)
      return { tsNs: recvNs, offsetNs: 0n, reason: null }
    const mode = this.#options.devices[device] ?? this.#options.mode
    if (mode === 'off') return { tsNs: deviceNs, offsetNs: 0n, reason: null }
    let offsetNs = 0n
    if (mode === 'auto') {
      let run = this.#runs.get(device)
      if (run === undefined) {
        run = new ClockRun()
        this.#runs.set(device, run)
      }
      run.observe(Number(recvNs - deviceNs), recvNs, this.#options)
      if (run.applied !== null) offsetNs = BigInt(Math.round(run.applied))
    }
    const tsNs = deviceNs + offsetNs
    if (tsNs > recvNs + this.#futureToleranceNs)
      return { tsNs: recvNs, offsetNs: recvNs - deviceNs, reason: 'future' }
    return { tsNs, offsetNs, reason: offsetNs === 0n ? null : 'offset' }
  }

  /** Forgets a device, for example when it has been idle for long. */
  forget(device: string): void {
    this.#runs.delete(device)
  }
}
