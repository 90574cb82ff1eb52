/**
 * Admission for history queries (readings, windows, Parquet exports): at
 * most `maxRunning` at once, each on its own DuckDB connection; up to
 * `maxQueued` more wait their turn; beyond that a query is refused at once
 * (StoreBusyError: 503 with Retry-After) instead of piling up. Each one is
 * interrupted (DuckDB's interrupt) when its caller goes away or it runs past
 * `timeoutMs`. Commits, health checks and the forwarder never wait here.
 */

import type { DuckDBConnection } from '@duckdb/node-api'
import { QueryTimeoutError, StoreBusyError } from '../core/errors.js'

export interface QueryLimits {
  /** History queries running at once. Default 2. */
  readonly maxRunning: number
  /** History queries waiting for one of those places; more are refused. Default 32. */
  readonly maxQueued: number
  /** A history query running longer is interrupted, ms. Default 120000. */
  readonly timeoutMs: number
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = Object.freeze({
  maxRunning: 2,
  maxQueued: 32,
  timeoutMs: 120_000,
})

/** What a query is told to wait for before retrying, when the queue is full. */
const RETRY_AFTER_S = 5
/**
 * DuckDB forgets an interrupt that reaches a connection before its query
 * starts (between admission and execution: a cancelled request under load),
 * and that query then runs to its end. So a stop is repeated this often
 * until the query is done.
 */
const INTERRUPT_REPEAT_MS = 50

/** One admitted query: its connection, interrupted on abort or timeout. */
export interface Admitted {
  readonly connection: DuckDBConnection
  /** Throws the error the query ended with, as the caller should see it (a timeout as QueryTimeoutError). */
  rethrow(err: unknown): never
  /** Interrupts what still runs, closes the connection, frees the place. */
  done(): void
}

export class QueryGate {
  readonly #connect: () => Promise<DuckDBConnection>
  readonly #limits: QueryLimits
  readonly #waiting: Array<() => void> = []
  #running = 0

  /** `connect`: a new connection to the store's database. */
  constructor(connect: () => Promise<DuckDBConnection>, limits: QueryLimits) {
    this.#connect = connect
    this.#limits = limits
  }

  /** Waits for a place (or refuses at once), then gives the query its own connection. */
  async admit(signal: AbortSignal | undefined): Promise<Admitted> {
    signal?.throwIfAborted()
    if (this.#running >= this.#limits.maxRunning) {
      if (this.#waiting.length >= this.#limits.maxQueued)
        throw new StoreBusyError(
          `${this.#running} history queries running and ${this.#waiting.length} waiting`,
          RETRY_AFTER_S,
        )
      await new Promise<void>((resolve, reject) => {
        const turn = () => {
          signal?.removeEventListener('abort', leave)
          resolve()
        }
        const leave = () => {
          this.#waiting.splice(this.#waiting.indexOf(turn), 1)
          reject(signal!.reason)
        }
        this.#waiting.push(turn)
        signal?.addEventListener('abort', leave, { once: true })
      })
    }
    this.#running++
    let connection: DuckDBConnection
    try {
      connection = await this.#connect()
    } catch (err) {
      this.#leave()
      throw err
    }
    let timedOut = false
    let repeating: NodeJS.Timeout | undefined
    const interrupt = () => {
      connection.interrupt()
      repeating ??= setInterval(() => connection.interrupt(), INTERRUPT_REPEAT_MS).unref()
    }
    const timer = setTimeout(() => {
      timedOut = true
      interrupt()
    }, this.#limits.timeoutMs)
    signal?.addEventListener('abort', interrupt, { once: true })
    let finished = false
    // An interrupt reaches only a query that runs: one aborted before it starts must not start.
    if (signal?.aborted) {
      clearTimeout(timer)
      connection.closeSync()
      this.#leave()
      throw signal.reason
    }
    return {
      connection,
      rethrow: (err) => {
        if (timedOut)
          throw new QueryTimeoutError(`the query ran past ${this.#limits.timeoutMs} ms and was stopped`)
        throw err
      },
      done: () => {
        if (finished) return
        finished = true
        clearTimeout(timer)
        clearInterval(repeating)
        signal?.removeEventListener('abort', interrupt)
        connection.interrupt()
        connection.closeSync()
        this.#leave()
      },
    }
  }

  #leave(): void {
    this.#running--
    this.#waiting.shift()?.()
  }
}
