/**
 * The InfluxDB forwarder (docs/influxdb.md): every stored reading, in stored
 * order, to InfluxDB, however long InfluxDB is away.
 *
 *   store ── readingsAfter(checkpoint) ──▶ lines ──▶ write ──┬─ written ──▶ checkpoint := last stored_ts (durable)
 *     ▲                                                       ├─ retry ────▶ back off (capped, jittered, Retry-After), same batch
 *     │                                                       └─ rejected ─▶ halve until the bad line is alone:
 *     └── bridge commits (backlog grows)                                    it becomes a dead letter, the rest goes on
 *
 * The local store is the buffer: nothing waits in memory, the checkpoint
 * moves only after InfluxDB confirmed a write, and a batch written again
 * after a crash overwrites the same points (line-protocol.ts), so every
 * reading arrives once. Past --max-backlog-bytes of unforwarded readings,
 * `admit()` holds ingest back (PUBACKs wait) instead of dropping anything,
 * and `problem()` says so for /readyz.
 */

import type { Logger } from 'pino'
import type { ReadingRow, Store } from '../../bridge/store.js'
import type { InfluxConfig } from '../config.js'
import type { Metrics } from '../metrics.js'
import { escapeMeasurement, toLine } from './line-protocol.js'
import { type LineWriter, openWriter } from './writer.js'

const CHECKPOINT = 'influx'
const BATCH = 5000
const IDLE_POLL_MS = 1000
const BACKOFF_BASE_MS = 100
const BACKOFF_CAP_MS = 30_000
/** Line size assumed until lines have been written: what the backlog's bytes are estimated with. */
const INITIAL_LINE_BYTES = 200

export interface ForwarderOptions {
  /** Longest pause between retries, ms. Default 30 s. */
  readonly backoffCapMs?: number
}

export class Forwarder {
  readonly #store: Store
  readonly #config: InfluxConfig
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #backoffCapMs: number
  readonly #measurement: string
  readonly #lineOptions: { measurement: string; allowedTags: ReadonlySet<string> }
  #checkpoint = 0n
  #backlog = 0
  #lineBytes = INITIAL_LINE_BYTES
  #stopped = false
  #wake: (() => void) | null = null
  #admitted: Array<() => void> = []
  #loop: Promise<void> = Promise.resolve()
  #lastError: string | null = null
  /** stored_ts of the oldest reading waiting to be written; null when none is. */
  #oldestWaiting: bigint | null = null
  #lagTimer: NodeJS.Timeout | undefined

  private constructor(
    store: Store,
    config: InfluxConfig,
    metrics: Metrics,
    log: Logger,
    options: ForwarderOptions,
  ) {
    this.#store = store
    this.#config = config
    this.#metrics = metrics
    this.#log = log
    this.#backoffCapMs = options.backoffCapMs ?? BACKOFF_CAP_MS
    this.#measurement = escapeMeasurement(config.measurement)
    this.#lineOptions = { measurement: config.measurement, allowedTags: new Set(config.tags) }
  }

  /** Resumes from the durable checkpoint; the loop runs until stop(). */
  static async start(
    store: Store,
    config: InfluxConfig,
    metrics: Metrics,
    log: Logger,
    options: ForwarderOptions = {},
  ): Promise<Forwarder> {
    const f = new Forwarder(store, config, metrics, log, options)
    f.#checkpoint = await store.checkpoint(CHECKPOINT)
    f.#backlog = (await store.backlog(f.#checkpoint)).readings
    f.#gauges()
    f.#loop = f.#run()
    // The lag grows while a write is retried, so it is refreshed by the clock, not by the loop.
    f.#lagTimer = setInterval(() => f.#refreshLag(), 1000)
    f.#lagTimer.unref()
    return f
  }

  /** Readings were committed: the backlog grew. */
  stored(readings: number): void {
    this.#backlog += readings
    this.#gauges()
    this.#wake?.()
  }

  get backlogBytes(): number {
    return this.#backlog * this.#lineBytes
  }

  /** Null when ingest may go on; else a promise that resolves once the backlog is back under the bound. */
  admit(): Promise<void> | null {
    if (this.#stopped || this.backlogBytes <= this.#config.maxBacklogBytes) return null
    return new Promise((resolve) => this.#admitted.push(resolve))
  }

  /** Why ingest is held back, for /readyz; null when it is not. */
  problem(): string | null {
    if (this.backlogBytes <= this.#config.maxBacklogBytes) return null
    return `InfluxDB backlog of ${this.#backlog} readings (~${this.backlogBytes} bytes) is over --max-backlog-bytes ${this.#config.maxBacklogBytes}: ingest is held back${this.#lastError === null ? '' : ` (last write error: ${this.#lastError})`}`
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#lagTimer)
    this.#wake?.()
    this.#release()
    await this.#loop
  }

  async #run(): Promise<void> {
    let writer: LineWriter | null = null
    let failures = 0
    while (!this.#stopped) {
      try {
        writer ??= await openWriter(this.#config)
      } catch (err) {
        failures++
        this.#failed('probe', (err as Error).message, null, failures)
        await this.#pause(this.#backoff(failures, null), false)
        continue
      }
      let rows: ReadingRow[]
      try {
        rows = await this.#store.readingsAfter(this.#checkpoint, BATCH)
      } catch (err) {
        if (this.#stopped) break
        this.#log.error({ err }, 'forwarder could not read the store')
        await this.#pause(1000, false)
        continue
      }
      if (rows.length === 0) {
        this.#oldestWaiting = null
        this.#refreshLag()
        await this.#pause(IDLE_POLL_MS, true)
        continue
      }
      this.#oldestWaiting = rows[0]!.stored_ts
      this.#refreshLag()
      const lines = rows.map((row) => toLine(row, this.#lineOptions, this.#measurement))
      const stop = this.#metrics.influxWriteSeconds.startTimer()
      const outcome = await this.#writeAll(writer, lines, rows)
      if (outcome !== null) {
        failures++
        this.#failed(outcome.cause, outcome.message, outcome.delayMs, failures)
        await this.#pause(this.#backoff(failures, outcome.delayMs), false)
        continue
      }
      stop()
      if (failures > 0) this.#log.info({ after: failures }, 'InfluxDB writes succeed again')
      failures = 0
      this.#lastError = null
      this.#checkpoint = rows[rows.length - 1]!.stored_ts
      await this.#store.saveCheckpoint(CHECKPOINT, this.#checkpoint)
      const bytes = lines.reduce((sum, line) => sum + line.length + 1, 0)
      this.#lineBytes = Math.ceil(0.8 * this.#lineBytes + (0.2 * bytes) / lines.length)
      this.#backlog = Math.max(0, this.#backlog - rows.length)
      this.#metrics.influxForwarded.inc(rows.length)
      this.#gauges()
      this.#release()
    }
    await writer?.close()
  }

  /**
   * Writes the lines; a refused batch is halved until each refused line is
   * alone, and that line's reading becomes a dead letter. Returns null when
   * every line is written or dead-lettered, or the failure to retry.
   */
  async #writeAll(
    writer: LineWriter,
    lines: readonly string[],
    rows: readonly ReadingRow[],
  ): Promise<{ cause: string; message: string; delayMs: number | null } | null> {
    const outcome = await writer.write(lines)
    if (outcome.kind === 'written') return null
    if (outcome.kind === 'retry') return outcome
    if (lines.length === 1) {
      await this.#deadLetter(rows[0]!, lines[0]!, outcome.message)
      return null
    }
    const half = lines.length >> 1
    return (
      (await this.#writeAll(writer, lines.slice(0, half), rows.slice(0, half))) ??
      this.#writeAll(writer, lines.slice(half), rows.slice(half))
    )
  }

  async #deadLetter(row: ReadingRow, line: string, message: string): Promise<void> {
    this.#metrics.influxLinesRejected.inc()
    this.#log.warn({ device: row.device, seq: Number(row.seq), message }, 'InfluxDB refused a line')
    await this.#store.commit(
      [],
      [
        {
          recvTsNs: BigInt(Date.now()) * 1_000_000n,
          device: row.device,
          topic: `devices/${row.device}/telemetry`,
          reason: 'influx_rejected',
          detail: `InfluxDB: ${message}`,
          payload: Buffer.from(line),
        },
      ],
      [],
    )
  }

  #failed(cause: string, message: string, delayMs: number | null, failures: number): void {
    this.#lastError = message
    this.#metrics.influxRetries.inc({ cause })
    // One line for the first failure and then every 10th: an outage of hours must not flood the log.
    if (failures === 1 || failures % 10 === 0)
      this.#log.warn({ cause, message, failures, retryAfterMs: delayMs }, 'InfluxDB write failed; retrying')
  }

  /** Capped exponential backoff with jitter (half to all of the step), never under Retry-After. */
  #backoff(failures: number, retryAfterMs: number | null): number {
    const step = Math.min(this.#backoffCapMs, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 20))
    const jittered = step / 2 + Math.random() * (step / 2)
    return Math.max(jittered, retryAfterMs ?? 0)
  }

  /** Sleeps ms, or until stop() wakes it, or stored() when `idle` (not while backing off from a failure). */
  #pause(ms: number, idle: boolean): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#wake = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#wake = idle ? done : () => (this.#stopped ? done() : undefined)
    })
  }

  #release(): void {
    if (!this.#stopped && this.backlogBytes > this.#config.maxBacklogBytes) return
    const waiting = this.#admitted
    this.#admitted = []
    for (const resolve of waiting) resolve()
  }

  #refreshLag(): void {
    const oldest = this.#oldestWaiting
    this.#metrics.influxLag.set(
      oldest === null ? 0 : Math.max(0, Date.now() - Number(oldest / 1_000_000n)) / 1000,
    )
  }

  #gauges(): void {
    this.#metrics.influxBacklogReadings.set(this.#backlog)
    this.#metrics.influxBacklogBytes.set(this.backlogBytes)
  }
}
