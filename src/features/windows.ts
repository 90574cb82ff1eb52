/**
 * Window math, the one copy of it: the live engine and the history API
 * (issue 4) both call these, so a window means the same thing in both.
 *
 * Windows are half-open [start, end), aligned to the epoch, every value in
 * bigint ns. A sliding window of size 30 and hop 10 (size a multiple of hop):
 *
 *   time ──┬─────────┬─────────┬─────────┬─────────┬───▶
 *         -10        0         10        20        30
 *          [─────────────────────────────)               start -10
 *                    [─────────────────────────────)     start 0
 *                              [───────────────────────…  start 10
 *                                   ▲ t = 15 lies in the windows starting -10, 0 and 10
 *
 * A tumbling window is the case hop = size: each time lies in exactly one.
 */

export interface WindowSpec {
  /** Window length, ns; a multiple of hopNs. */
  readonly sizeNs: bigint
  /** Distance between consecutive window starts, ns. */
  readonly hopNs: bigint
}

/** floor(a / b) for b > 0; bigint division truncates toward zero, which is wrong for a < 0. */
export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b < 0n ? q - 1n : q
}

/**
 * The hop index of the newest window containing tNs: floor(t / hop). A window
 * is named by its hop index k: it is [k·hop, k·hop + size), and t lies in the
 * size / hop windows k - size/hop + 1 … k. A hop is at least 1 ms
 * (definitions.ts), so k fits a double exactly.
 */
export function hopIndex(tNs: bigint, spec: WindowSpec): bigint {
  return floorDiv(tNs, spec.hopNs)
}

/** How many windows contain any one time: size / hop. */
export function windowsPerTime(spec: WindowSpec): number {
  return Number(spec.sizeNs / spec.hopNs)
}

export function windowEnd(startNs: bigint, spec: WindowSpec): bigint {
  return startNs + spec.sizeNs
}

/**
 * A window is final once the watermark reaches its end: nothing at or after
 * the watermark can fall in it. So the windows closed at a watermark are those
 * with a hop index up to floor((watermark - size) / hop), returned here.
 */
export function newestClosedHop(watermarkNs: bigint, spec: WindowSpec): bigint {
  return floorDiv(watermarkNs - spec.sizeNs, spec.hopNs)
}
