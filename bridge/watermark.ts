/**
 * A device's watermark (issue 19): the event time its feature windows close
 * by and lateness is judged against. It is stored with every reading as
 * newest_ts, so the live engine and the history API (src/store/window-sql.ts)
 * judge alike, across restarts too.
 *
 * The newest event time alone is too easy to move: one reading stamped a
 * minute ahead of the others (a firmware glitch, a wrong clock guess) made
 * every reading after it late, and so left out of every window. Here a
 * reading moves the watermark to its time only when one of these holds:
 *
 * - the step is no larger than the receive time elapsed since the device's
 *   previous reading plus slackMs: the device's time advances as the receive
 *   clock does (live traffic, a gateway that forwards every 30 s);
 * - at least `confirmations` readings have reached that time: the watermark
 *   is at least the confirmations-th newest event time (a backlog flush,
 *   which outruns the receive clock, trails its newest reading by
 *   confirmations − 1 readings).
 *
 *   event time ─────────────────────────────────────────────▶
 *        w            r1  r2  r3                      glitch
 *        │            │   │   │                         │
 *        └─ moves to r1 (top 3 newest: glitch, r3, r2)   └─ alone: never reaches the watermark
 *
 * The watermark never moves back.
 */

export interface WatermarkOptions {
  /** Readings that must reach an event time before a step that outruns the receive clock is taken. Default 3. */
  readonly confirmations: number
  /** How far a step may outrun the receive time elapsed since the device's previous reading, ms. Default 1000. */
  readonly slackMs: number
}

export const DEFAULT_WATERMARK_OPTIONS: WatermarkOptions = Object.freeze({ confirmations: 3, slackMs: 1000 })

interface DeviceMark {
  watermarkNs: bigint
  /** Receive time of the device's previous reading; null after a restart, when it is not known. */
  lastRecvNs: bigint | null
  /** The receive time of its last reading, or when it was restored. */
  lastSeenNs: bigint
  /** The newest event times seen, newest first, at most `confirmations` of them. */
  readonly newest: bigint[]
}

export class Watermarks {
  readonly #devices = new Map<string, DeviceMark>()
  readonly #confirmations: number
  readonly #slackNs: bigint

  constructor(options: WatermarkOptions = DEFAULT_WATERMARK_OPTIONS) {
    if (!Number.isInteger(options.confirmations) || options.confirmations < 1)
      throw new RangeError(`confirmations must be a whole number of at least 1, not ${options.confirmations}`)
    this.#confirmations = options.confirmations
    this.#slackNs = BigInt(options.slackMs) * 1_000_000n
  }

  /** The watermark a stored device had before a restart; `nowNs` counts as its last receive time for idleness. */
  restore(device: string, watermarkNs: bigint, nowNs: bigint): void {
    this.#devices.set(device, { watermarkNs, lastRecvNs: null, lastSeenNs: nowNs, newest: [watermarkNs] })
  }

  /** The device's watermark before this reading; null for a device not seen yet. */
  current(device: string): bigint | null {
    return this.#devices.get(device)?.watermarkNs ?? null
  }

  /** Takes one reading's event time and returns the device's watermark with it. */
  advance(device: string, tsNs: bigint, recvNs: bigint): bigint {
    const mark = this.#devices.get(device)
    if (mark === undefined) {
      this.#devices.set(device, { watermarkNs: tsNs, lastRecvNs: recvNs, lastSeenNs: recvNs, newest: [tsNs] })
      return tsNs
    }
    const newest = mark.newest
    if (newest.length < this.#confirmations || tsNs > newest[newest.length - 1]!) {
      let i = newest.length
      while (i > 0 && newest[i - 1]! < tsNs) i--
      newest.splice(i, 0, tsNs)
      if (newest.length > this.#confirmations) newest.pop()
    }
    let next = mark.watermarkNs
    if (newest.length === this.#confirmations && newest[newest.length - 1]! > next)
      next = newest[newest.length - 1]!
    if (tsNs > next) {
      const elapsedNs = mark.lastRecvNs === null || recvNs < mark.lastRecvNs ? null : recvNs - mark.lastRecvNs
      if (elapsedNs === null || tsNs - next <= elapsedNs + this.#slackNs) next = tsNs
    }
    mark.watermarkNs = next
    mark.lastRecvNs = recvNs
    mark.lastSeenNs = recvNs
    return next
  }

  /** The devices with no reading received since `beforeNs`. */
  *idleSince(beforeNs: bigint): Generator<string> {
    for (const [device, mark] of this.#devices) if (mark.lastSeenNs < beforeNs) yield device
  }

  forget(device: string): void {
    this.#devices.delete(device)
  }
}
