/**
 * Group commit: one durable write serves every reading that arrived while
 * the previous one was in flight, or during a short linger.
 *
 *   add() ──▶ [ open batch ] ──(no commit running, and full or old enough)──▶ commit() ──▶ resolve all
 *                  ▲                                                            │
 *                  └────────────── fills while a commit runs ◀──────────────────┘
 *
 * A commit has a fixed cost (~1.3 ms of CPU in DuckDB, fsync included)
 * whatever its size. Committing the moment the disk is free would run those
 * back to back and spend a core at moderate load; so a batch waits until it
 * holds `minBatch` items or its oldest item is `lingerMs` old. Under heavy load
 * a commit takes longer than the linger and batches grow without waiting.
 */

import type { DeadLetter, Reading } from '../src/core/telemetry.js'

export type CommitFn = (readings: Reading[], deadLetters: DeadLetter[]) => Promise<void>

export interface GroupCommitOptions {
  /** Longest an item waits for company before its batch commits, ms. Default 3. */
  readonly lingerMs: number
  /** A batch this large commits without lingering. Default 256. */
  readonly minBatch: number
}

export const DEFAULT_GROUP_COMMIT_OPTIONS: GroupCommitOptions = Object.freeze({ lingerMs: 3, minBatch: 256 })

interface Batch {
  readonly readings: Reading[]
  readonly deadLetters: DeadLetter[]
  readonly openedAt: number
  readonly done: Promise<void>
  resolve(): void
  reject(err: unknown): void
}

export class GroupCommit {
  readonly #commit: CommitFn
  readonly #options: GroupCommitOptions
  #open: Batch | null = null
  #running: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null

  constructor(commit: CommitFn, options: GroupCommitOptions = DEFAULT_GROUP_COMMIT_OPTIONS) {
    this.#commit = commit
    this.#options = options
  }

  /** Resolves when the items are durable; rejects if their commit failed. */
  add(readings: readonly Reading[], deadLetters: readonly DeadLetter[]): Promise<void> {
    this.#open ??= newBatch()
    const batch = this.#open
    for (const r of readings) batch.readings.push(r)
    for (const d of deadLetters) batch.deadLetters.push(d)
    this.#schedule()
    return batch.done
  }

  /** Resolves when everything added so far has been committed or has failed. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#running !== null) await this.#running
      else if (this.#open !== null) this.#start()
      else return
    }
  }

  #schedule(): void {
    const batch = this.#open
    if (this.#running !== null || batch === null) return
    const size = batch.readings.length + batch.deadLetters.length
    const age = performance.now() - batch.openedAt
    if (size >= this.#options.minBatch || age >= this.#options.lingerMs) this.#start()
    else this.#timer ??= setTimeout(() => this.#start(), this.#options.lingerMs - age)
  }

  #start(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    const batch = this.#open
    if (this.#running !== null || batch === null) return
    this.#open = null
    this.#running = this.#commit(batch.readings, batch.deadLetters).then(
      () => batch.resolve(),
      (err: unknown) => batch.reject(err),
    )
    void this.#running.then(() => {
      this.#running = null
      this.#schedule()
    })
  }
}

function newBatch(): Batch {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const done = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // A batch whose every waiter has gone (a client disconnected) must not
  // surface as an unhandled rejection.
  done.catch(() => undefined)
  return { readings: [], deadLetters: [], openedAt: performance.now(), done, resolve, reject }
}
