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

/** The start of the newest window containing tNs: floor(t / hop) * hop. */
export function newestWindowStart(tNs: bigint, spec: WindowSpec): bigint {
  return floorDiv(tNs, spec.hopNs) * spec.hopNs
}

/** The start of the oldest window containing tNs. */
export function oldestWindowStart(tNs: bigint, spec: WindowSpec): bigint {
  return newestWindowStart(tNs, spec) - spec.sizeNs + spec.hopNs
}

/** How many windows contain any one time: size / hop. */
export function windowsPerTime(spec: WindowSpec): number {
  return Number(spec.sizeNs / spec.hopNs)
}

/** The starts of every window containing tNs, oldest first. */
export function windowStartsContaining(tNs: bigint, spec: WindowSpec): bigint[] {
  // Sized up front: the engine keeps one of these per device and feature, and
  // an array grown by push() would hold room for 17.
  const starts = new Array<bigint>(windowsPerTime(spec))
  let start = newestWindowStart(tNs, spec) - spec.sizeNs
  for (let k = 0; k < starts.length; k++) {
    start += spec.hopNs
    starts[k] = start
  }
  return starts
}

export function windowEnd(startNs: bigint, spec: WindowSpec): bigint {
  return startNs + spec.sizeNs
}

/** A window is final once the watermark reaches its end: nothing at or after the watermark can fall in it. */
export function isWindowClosed(startNs: bigint, spec: WindowSpec, watermarkNs: bigint): boolean {
  return startNs + spec.sizeNs <= watermarkNs
}
