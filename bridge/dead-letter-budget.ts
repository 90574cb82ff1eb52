/**
 * What dead letters may cost (issue 21): a firmware that sends nothing but
 * junk, or a flood of large refused payloads, once filled the disk and the
 * heap. Each device may have `perDevicePerMinute` dead letters stored a
 * minute (a bucket holding as many, refilled continuously), and all of them
 * together at most `maxTotalBytes` of payload. A refusal beyond either is
 * still acknowledged (resending it would not help) and counted, but not
 * stored.
 */

export interface DeadLetterLimits {
  /** Dead letters stored per device per minute, and its burst. 0: none stored. Default 60. */
  readonly perDevicePerMinute: number
  /** Payload bytes all stored dead letters may hold. Default 1 GB. */
  readonly maxTotalBytes: number
}

export const DEFAULT_DEAD_LETTER_LIMITS: DeadLetterLimits = Object.freeze({
  perDevicePerMinute: 60,
  maxTotalBytes: 1_000_000_000,
})

/** Why a dead letter was not stored. */
export type DeadLetterCap = 'rate' | 'size'

interface Bucket {
  tokens: number
  atMs: number
}

export class DeadLetterBudget {
  readonly #limits: DeadLetterLimits
  /** By device id; refusals without one (a malformed topic) share the key ''. */
  readonly #buckets = new Map<string, Bucket>()
  #totalBytes: number

  /** `storedBytes`: the payload bytes the store holds already. */
  constructor(limits: DeadLetterLimits, storedBytes: number) {
    this.#limits = limits
    this.#totalBytes = storedBytes
  }

  /** null: store it (its bytes are counted now); else the cap it hit. */
  admit(device: string | null, bytes: number, nowMs: number): DeadLetterCap | null {
    const perMinute = this.#limits.perDevicePerMinute
    const key = device ?? ''
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: perMinute, atMs: nowMs }
      this.#buckets.set(key, bucket)
    }
    bucket.tokens = Math.min(perMinute, bucket.tokens + ((nowMs - bucket.atMs) * perMinute) / 60_000)
    bucket.atMs = nowMs
    if (bucket.tokens < 1) return 'rate'
    if (this.#totalBytes + bytes > this.#limits.maxTotalBytes) return 'size'
    bucket.tokens -= 1
    this.#totalBytes += bytes
    return null
  }

  /** A dead letter admitted but not stored after all (its commit failed). */
  unstored(bytes: number): void {
    this.#totalBytes -= bytes
  }

  /** Forgets the buckets of devices with none taken since `beforeMs` (they are full again anyway). */
  forgetIdle(beforeMs: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.atMs < beforeMs) this.#buckets.delete(key)
  }
}
