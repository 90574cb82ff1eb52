/**
 * Which (device, boot, seq) the store already holds, or is about to.
 *
 * A device's seq goes up by one per message, so the seqs stored for one
 * (device, boot) form a few runs: an interval set stays tiny however long the
 * device lives, and tells *exactly* whether a seq was stored, with no window
 * to fall out of. It is rebuilt from the store at start-up (gaps and islands
 * over the readings table), which is what makes dedupe survive a restart.
 *
 * A seq moves through two states:
 *
 *   claim() ──▶ pending (in a group commit) ──commit ok──▶ stored (interval set)
 *                        └──────────commit failed──▶ forgotten (device resends)
 *
 * A redelivery that arrives while the first copy is pending must wait for that
 * commit before it is acknowledged: acknowledging it earlier would promise a
 * reading that a failed commit could still lose.
 */

const RECENT_CRCS = 256

export type Verdict =
  | { readonly kind: 'new' }
  /** Same seq seen before; `crc` is its payload CRC when known without the store. */
  | { readonly kind: 'stored'; readonly crc: number | null }
  | { readonly kind: 'pending'; readonly crc: number; readonly durable: Promise<void> }

/** Sorted, disjoint, non-adjacent closed intervals [lo, hi]. */
export class IntervalSet {
  readonly #lo: number[] = []
  readonly #hi: number[] = []

  has(x: number): boolean {
    const i = this.#find(x)
    return i >= 0 && x <= this.#hi[i]!
  }

  add(x: number): void {
    this.addRange(x, x)
  }

  addRange(lo: number, hi: number): void {
    // Index of the last interval starting at or before lo.
    let i = this.#find(lo)
    if (i >= 0 && lo <= this.#hi[i]! + 1) {
      this.#hi[i] = Math.max(this.#hi[i]!, hi)
    } else {
      i++
      this.#lo.splice(i, 0, lo)
      this.#hi.splice(i, 0, hi)
    }
    // Swallow the following intervals the new one now touches.
    while (i + 1 < this.#lo.length && this.#lo[i + 1]! <= this.#hi[i]! + 1) {
      this.#hi[i] = Math.max(this.#hi[i]!, this.#hi[i + 1]!)
      this.#lo.splice(i + 1, 1)
      this.#hi.splice(i + 1, 1)
    }
  }

  get size(): number {
    return this.#lo.length
  }

  /** Binary search: index of the last interval with lo ≤ x, or -1. */
  #find(x: number): number {
    let a = 0
    let b = this.#lo.length - 1
    let found = -1
    // Fast path: devices almost always extend their last run.
    if (b >= 0 && this.#lo[b]! <= x) return b
    while (a <= b) {
      const mid = (a + b) >> 1
      if (this.#lo[mid]! <= x) {
        found = mid
        a = mid + 1
      } else b = mid - 1
    }
    return found
  }
}

interface Stream {
  readonly stored: IntervalSet
  readonly pending: Map<number, { crc: number; durable: Promise<void> }>
  /** seq → CRC of recently stored messages, insertion-ordered, bounded. */
  readonly recent: Map<number, number>
}

export class DedupeIndex {
  /** device → boot → stream: nested rather than a joined string key, which costs an allocation per lookup. */
  readonly #streams = new Map<string, Map<number, Stream>>()

  #stream(device: string, boot: number): Stream {
    let boots = this.#streams.get(device)
    if (boots === undefined) {
      boots = new Map()
      this.#streams.set(device, boots)
    }
    let stream = boots.get(boot)
    if (stream === undefined) {
      stream = { stored: new IntervalSet(), pending: new Map(), recent: new Map() }
      boots.set(boot, stream)
    }
    return stream
  }

  /** Whether any message of this device was stored or is being stored. */
  hasDevice(device: string): boolean {
    return this.#streams.has(device)
  }

  /** Loads what the store holds: one call per run of consecutive seqs. */
  loadRange(device: string, boot: number, lo: number, hi: number): void {
    this.#stream(device, boot).stored.addRange(lo, hi)
  }

  check(device: string, boot: number, seq: number): Verdict {
    const stream = this.#stream(device, boot)
    const pending = stream.pending.get(seq)
    if (pending !== undefined) return { kind: 'pending', crc: pending.crc, durable: pending.durable }
    if (stream.stored.has(seq)) return { kind: 'stored', crc: stream.recent.get(seq) ?? null }
    return { kind: 'new' }
  }

  /** Marks seq as in flight; call settle() once its commit has finished. */
  claim(device: string, boot: number, seq: number, crc: number, durable: Promise<void>): void {
    this.#stream(device, boot).pending.set(seq, { crc, durable })
  }

  settle(device: string, boot: number, seq: number, committed: boolean): void {
    const stream = this.#stream(device, boot)
    const pending = stream.pending.get(seq)
    if (pending === undefined) return
    stream.pending.delete(seq)
    if (!committed) return
    stream.stored.add(seq)
    stream.recent.set(seq, pending.crc)
    if (stream.recent.size > RECENT_CRCS) {
      const oldest = stream.recent.keys().next().value as number
      stream.recent.delete(oldest)
    }
  }
}
