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
 *                        └──────────commit failed──▶ uncertain (device resends)
 *
 * A failed commit may still have been made durable: a full disk made DuckDB
 * fail the checkpoint after a commit it had written. So a seq whose commit
 * failed is not forgotten but uncertain, and its resend is looked up in the
 * store before it is stored again or acknowledged as a duplicate.
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
  /** Its commit failed, perhaps after it was made durable: ask the store. */
  | { readonly kind: 'uncertain' }

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

interface Claim {
  readonly seq: number
  readonly crc: number
  readonly durable: Promise<void>
}

/**
 * The claims of one stream in a commit, oldest first. Seqs mostly arrive in
 * order and their commits finish in order, so a new seq is told apart by one
 * comparison and a settled one is at the head. A Map here would allocate a
 * new table on nearly every delete (V8 shrinks it from one entry to none),
 * and at one reading per second per device each table lived long enough to
 * be copied into the old generation.
 */
class Claims {
  readonly #claims: Claim[] = []
  #newestSeq = Number.NEGATIVE_INFINITY

  get(seq: number): Claim | undefined {
    if (seq > this.#newestSeq) return undefined
    for (const claim of this.#claims) if (claim.seq === seq) return claim
    return undefined
  }

  add(claim: Claim): void {
    this.#claims.push(claim)
    if (claim.seq > this.#newestSeq) this.#newestSeq = claim.seq
  }

  /** Removes and returns the claim of seq; shifting and popping move elements, they allocate nothing. */
  take(seq: number): Claim | undefined {
    const claims = this.#claims
    if (claims[0]?.seq === seq) return claims.shift()
    const i = claims.findIndex((claim) => claim.seq === seq)
    if (i < 0) return undefined
    const claim = claims[i]!
    for (let k = i; k + 1 < claims.length; k++) claims[k] = claims[k + 1]!
    claims.pop()
    return claim
  }
}

/**
 * The CRCs of recently stored seqs, direct-mapped by seq: consecutive seqs
 * take consecutive slots, so it holds the last RECENT_CRCS of them, and
 * storing one overwrites one number in place. It starts small and doubles
 * when a slot in use is needed, so a device that sent ten readings holds
 * sixteen slots, not RECENT_CRCS.
 */
class RecentCrcs {
  // Plain arrays of numbers, unboxed in the V8 heap: a pair of them is made in a third of the
  // time of a pair of typed arrays (measured, 10,000 pairs), and a device makes them on its first reading.
  #seqs: number[] = new Array(16).fill(-1)
  #crcs: number[] = new Array(16).fill(0)

  get(seq: number): number | null {
    const i = seq % this.#seqs.length
    return this.#seqs[i] === seq ? this.#crcs[i]! : null
  }

  set(seq: number, crc: number): void {
    let i = seq % this.#seqs.length
    const held = this.#seqs[i]!
    if (held !== -1 && held !== seq && this.#seqs.length < RECENT_CRCS) {
      this.#grow()
      i = seq % this.#seqs.length
    }
    this.#seqs[i] = seq
    this.#crcs[i] = crc
  }

  #grow(): void {
    const seqs = this.#seqs
    const crcs = this.#crcs
    this.#seqs = new Array(seqs.length * 2).fill(-1)
    this.#crcs = new Array(seqs.length * 2).fill(0)
    seqs.forEach((seq, i) => {
      if (seq !== -1) this.set(seq, crcs[i]!)
    })
  }
}

interface Stream {
  readonly stored: IntervalSet
  readonly pending: Claims
  readonly recent: RecentCrcs
  /** Seqs whose commit failed; made on the first such failure. */
  uncertain: IntervalSet | null
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
      stream = { stored: new IntervalSet(), pending: new Claims(), recent: new RecentCrcs(), uncertain: null }
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
    if (stream.stored.has(seq)) return { kind: 'stored', crc: stream.recent.get(seq) }
    if (stream.uncertain?.has(seq)) return { kind: 'uncertain' }
    return { kind: 'new' }
  }

  /** Marks seq as in flight; call settle() once its commit has finished. */
  claim(device: string, boot: number, seq: number, crc: number, durable: Promise<void>): void {
    this.#stream(device, boot).pending.add({ seq, crc, durable })
  }

  settle(device: string, boot: number, seq: number, committed: boolean): void {
    const stream = this.#stream(device, boot)
    const pending = stream.pending.take(seq)
    if (pending === undefined) return
    if (committed) {
      this.stored(device, boot, seq, pending.crc)
    } else {
      stream.uncertain ??= new IntervalSet()
      stream.uncertain.add(seq)
    }
  }

  /** Records seq as stored with this CRC (an uncertain one the store turned out to hold). */
  stored(device: string, boot: number, seq: number, crc: number): void {
    const stream = this.#stream(device, boot)
    stream.stored.add(seq)
    stream.recent.set(seq, crc)
  }
}
