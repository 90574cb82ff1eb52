/**
 * The bytes SSE clients hold, counted per client and for the whole process
 * (issue 21: 1,000 clients that never read held 2.3-2.6 GB and lagged the
 * event loop by 12-14 s).
 *
 *   live event ─▶ client queue ─▶ res.write ─▶ socket / HTTP/2 stream buffer ─▶ kernel
 *                 └──────────── held: counted until the write's callback ──┘
 *
 * A client holds what the hub queued for it while its socket was full, plus
 * what it wrote that the socket or HTTP/2 stream has not taken yet (a write's
 * callback runs once it has). Sizes are string lengths: the stream is ASCII
 * but for tag values, and Node counts a socket's buffered strings the same way.
 */

/** What the budget can ask of a client whose socket is full, to make room. */
export interface Holder {
  /**
   * Drops what it holds: its queue becomes a gap, or in disconnect mode it
   * is cut; with `cut`, it is cut in any case (what its socket has not
   * taken cannot be dropped otherwise).
   */
  shed(cut: boolean): void
}

export interface SseBudgetOptions {
  /** Bytes one client may hold before it is slow (a `gap`, or cut). Default 1 MiB: one large group commit's events. */
  readonly clientBytes: number
  /** Bytes all clients of the process may hold together; past it the longest-waiting slow clients are shed. Default 64 MiB. */
  readonly totalBytes: number
}

export const DEFAULT_SSE_CLIENT_BYTES = 1024 * 1024
export const DEFAULT_SSE_TOTAL_BYTES = 64 * 1024 * 1024

export const DEFAULT_SSE_BUDGET: SseBudgetOptions = Object.freeze({
  clientBytes: DEFAULT_SSE_CLIENT_BYTES,
  totalBytes: DEFAULT_SSE_TOTAL_BYTES,
})

/** One per process, shared by its hubs. */
export class SseBudget {
  readonly clientBytes: number
  readonly totalBytes: number
  #held = 0
  /** Clients whose socket is full, the longest waiting first: the first to shed. */
  readonly #waiting = new Set<Holder>()

  constructor(options: SseBudgetOptions = DEFAULT_SSE_BUDGET) {
    if (!(options.clientBytes > 0 && options.totalBytes >= options.clientBytes))
      throw new RangeError('SSE budget: need 0 < clientBytes <= totalBytes')
    this.clientBytes = options.clientBytes
    this.totalBytes = options.totalBytes
  }

  /** Bytes held by every client now. */
  get held(): number {
    return this.#held
  }

  /** Whether `bytes` more fit within the total. */
  fits(bytes: number): boolean {
    return this.#held + bytes <= this.totalBytes
  }

  add(bytes: number): void {
    this.#held += bytes
  }

  release(bytes: number): void {
    this.#held -= bytes
  }

  waiting(holder: Holder, full: boolean): void {
    if (full) this.#waiting.add(holder)
    else this.#waiting.delete(holder)
  }

  /**
   * Sheds slow clients, the longest waiting first, until `bytes` more fit.
   * A client that keeps up asks: it must not pay for those that do not.
   */
  makeRoom(bytes: number): void {
    // The first pass drops queues; the second cuts, while their sockets still hold too much.
    for (const cut of [false, true])
      for (const holder of this.#waiting) {
        if (this.fits(bytes)) return
        holder.shed(cut)
      }
  }
}
