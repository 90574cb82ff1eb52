/**
 * What dead letters may cost (issue 21): a firmware that sends nothing but
 * junk, or a flood of large refused payloads, once filled the disk and the
 * heap, and stored at 10 MB/s they slowed every device's acknowledgements.
 * Each device may have `perDevicePerMinute` dead letters stored a minute (a
 * bucket holding as many, refilled continuously); all devices together at
 * most `maxBytesPerSecond` of payload a second, whatever the number of
 * device ids; and all stored dead letters at most `maxTotalBytes`. A refusal
 * beyond any of them is still acknowledged (resending it would not help)
 * and counted, but not stored.
 */

export interface DeadLetterLimits {
  /** Dead letters stored per device per minute, and its burst. 0: none stored. Default 60. */
  readonly perDevicePerMinute: number
  /**
   * Payload bytes stored per second, all devices together; a second's worth
   * may come at once. 0: no bound. Default 1,000,000.
   */
  readonly maxBytesPerSecond: number
  /** Payload bytes all stored dead letters may hold. Default 1 GB. */
  readonly maxTotalBytes: number
}

export const DEFAULT_DEAD_LETTER_LIMITS: DeadLetterLimits = Object.freeze({
  perDevicePerMinute: 60,
  maxBytesPerSecond: 1_000_000,
  maxTotalBytes: 1_000_000_000,
})

/** Why a dead letter was not stored. */
export type DeadLetterCap = 'rate' | 'byte_rate' | 'size'

interface Bucket {
  tokens: number
  atMs: number
}

export class DeadLetterBudget {
  readonly #limits: DeadLetterLimits
  /** By device id; refusals without one (a malformed topic) share the key ''. */
  readonly #buckets = new Map<string, Bucket>()
  /**
   * Bytes, for all devices: a letter is stored while the bucket is not in
   * debt and takes its whole size, so one larger than a second's worth is
   * stored too, and the ones after it wait until the debt is paid.
   */
  readonly #bytes: Bucket
  #totalBytes: number

  /** `storedBytes`: the payload bytes the store holds already. */
  constructor(limits: DeadLetterLimits, storedBytes: number, nowMs = Date.now()) {
    this.#limits = limits
    this.#totalBytes = storedBytes
    this.#bytes = { tokens: limits.maxBytesPerSecond, atMs: nowMs }
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
    refill(bucket, perMinute, perMinute / 60_000, nowMs)
    if (bucket.tokens < 1) return 'rate'
    const perSecond = this.#limits.maxBytesPerSecond
    if (perSecond > 0) {
      refill(this.#bytes, perSecond, perSecond / 1000, nowMs)
      if (this.#bytes.tokens <= 0) return 'byte_rate'
    }
    if (this.#totalBytes + bytes > this.#limits.maxTotalBytes) return 'size'
    bucket.tokens -= 1
    if (perSecond > 0) this.#bytes.tokens -= bytes
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

function refill(bucket: Bucket, capacity: number, perMs: number, nowMs: number): void {
  bucket.tokens = Math.min(capacity, bucket.tokens + (nowMs - bucket.atMs) * perMs)
  bucket.atMs = nowMs
}
