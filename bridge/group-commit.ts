/**
 * Group commit: one durable write serves every reading that arrived while
 * the previous one was in flight.
 *
 *   add() ──▶ [ open batch ] ──(no commit running)──▶ commit() ──▶ resolve all
 *                  ▲                                      │
 *                  └──── fills while a commit runs ◀──────┘
 *
 * There is no timer: the batch closes as soon as the disk is free, so the
 * latency under light load is one commit, and under heavy load the batches
 * grow until one fsync carries thousands of readings.
 */

import type { DeadLetter, Reading } from '../src/telemetry.js'

export type CommitFn = (readings: Reading[], deadLetters: DeadLetter[]) => Promise<void>

interface Batch {
  readonly readings: Reading[]
  readonly deadLetters: DeadLetter[]
  readonly done: Promise<void>
  resolve(): void
  reject(err: unknown): void
}

export class GroupCommit {
  readonly #commit: CommitFn
  #open: Batch | null = null
  #running: Promise<void> | null = null

  constructor(commit: CommitFn) {
    this.#commit = commit
  }

  /** Resolves when the items are durable; rejects if their commit failed. */
  add(readings: readonly Reading[], deadLetters: readonly DeadLetter[]): Promise<void> {
    this.#open ??= newBatch()
    const batch = this.#open
    for (const r of readings) batch.readings.push(r)
    for (const d of deadLetters) batch.deadLetters.push(d)
    // Let the rest of this socket read join the batch before it closes.
    if (this.#running === null)
      this.#running = new Promise((resolve) => setImmediate(resolve)).then(() => this.#drain())
    return batch.done
  }

  /** Resolves when everything added so far has been committed or has failed. */
  async flush(): Promise<void> {
    while (this.#running !== null) await this.#running
  }

  async #drain(): Promise<void> {
    for (let batch = this.#open; batch !== null; batch = this.#open) {
      this.#open = null
      try {
        await this.#commit(batch.readings, batch.deadLetters)
        batch.resolve()
      } catch (err) {
        batch.reject(err)
      }
    }
    this.#running = null
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
  return { readings: [], deadLetters: [], done, resolve, reject }
}
