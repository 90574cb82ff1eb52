/**
 * The InfluxDB forwarder (docs/influxdb.md): every stored reading, in stored
 * order, to InfluxDB, however long InfluxDB is away.
 *
 *   store ── linesAfter(checkpoint) ──▶ lines ──▶ write ──┬─ written ──▶ checkpoint := last stored_ts (durable)
 *     ▲                                                       ├─ retry ────▶ back off (capped, jittered, Retry-After), same batch
 *     │                                                       └─ rejected ─▶ halve until the bad line is alone:
 *     └── bridge commits (backlog grows)                                    it becomes a dead letter, the rest goes on
 *
 * The store renders a batch's lines itself (src/store/line-sql.ts), and the next
 * batch is read while this one is written. The local store is the buffer:
 * nothing waits in memory but the batch in hand and the next, the checkpoint
 * moves only after InfluxDB confirmed a write, and a batch written again
 * after a crash overwrites the same points (src/store/line-sql.ts), so every
 * reading arrives once. Past --max-backlog-bytes of unforwarded readings,
 * `admit()` holds ingest back (PUBACKs wait) instead of dropping anything,
 * and `problem()` says so for /readyz.
 */

import type { Logger } from 'pino'
import type { InfluxConfig } from '../config.js'
import type { Metrics } from '../metrics.js'
import type { ForwardLog, LineBatch, LineOptions } from '../store/index.js'
import { type LineWriter, openWriter } from './writer.js'

const CHECKPOINT = 'influx'
const BATCH = 20_000
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
  readonly #store: ForwardLog
  readonly #config: InfluxConfig
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #backoffCapMs: number
  readonly #lineOptions: LineOptions
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
  /** The newest checkpoint not yet saved, and the save in progress. */
  #unsaved: bigint | null = null
  /** How far in stored time the next read looks (#read); null until a batch was read. */
  #span: bigint | null = null
  #saving: Promise<void> | null = null

  private constructor(
    store: ForwardLog,
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
    this.#lineOptions = { measurement: config.measurement, allowedTags: config.tags }
  }

  /** Resumes from the durable checkpoint; the loop runs until stop(). */
  static async start(
    store: ForwardLog,
    config: InfluxConfig,
    metrics: Metrics,
    log: Logger,
    options: ForwarderOptions = {},
  ): Promise<Forwarder> {
    const f = new Forwarder(store, config, metrics, log, options)
    f.#checkpoint = await store.checkpoint(CHECKPOINT)
    f.#backlog = await store.backlog(f.#checkpoint)
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
    // The batch after the one being written, read while it is written.
    let next: Promise<LineBatch | null> | null = null
    while (!this.#stopped) {
      try {
        writer ??= await openWriter(this.#config)
      } catch (err) {
        failures++
        this.#failed('probe', (err as Error).message, null, failures)
        await this.#pause(this.#backoff(failures, null), false)
        continue
      }
      let batch: LineBatch | null
      try {
        batch = await (next ?? this.#read(this.#checkpoint))
      } catch (err) {
        next = null
        if (this.#stopped) break
        this.#log.error({ err }, 'forwarder could not read the store')
        await this.#pause(1000, false)
        continue
      }
      next = null
      if (batch === null) {
        this.#oldestWaiting = null
        this.#refreshLag()
        await this.#pause(IDLE_POLL_MS, true)
        continue
      }
      this.#oldestWaiting = batch.firstStoredTs
      this.#refreshLag()
      next = this.#read(batch.lastStoredTs)
      // A read that fails is read again by the loop; its rejection must not go unhandled meanwhile.
      next.catch(() => undefined)
      const stop = this.#metrics.influxWriteSeconds.startTimer()
      const outcome = await this.#writeAll(writer, batch.body, batch.count)
      if (outcome !== null) {
        failures++
        this.#failed(outcome.cause, outcome.message, outcome.delayMs, failures)
        // The same batch again, read afresh from the checkpoint.
        next = null
        await this.#pause(this.#backoff(failures, outcome.delayMs), false)
        continue
      }
      stop()
      if (failures > 0) this.#log.info({ after: failures }, 'InfluxDB writes succeed again')
      failures = 0
      this.#lastError = null
      this.#checkpoint = batch.lastStoredTs
      this.#persist(this.#checkpoint)
      this.#lineBytes = Math.ceil(0.8 * this.#lineBytes + (0.2 * (batch.body.length + 1)) / batch.count)
      this.#backlog = Math.max(0, this.#backlog - batch.count)
      this.#metrics.influxForwarded.inc(batch.count)
      this.#gauges()
      this.#release()
    }
    await writer?.close()
    await this.#saving
  }

  /**
   * Saves the checkpoint beside the writes, not between them: a save (a
   * store commit) would otherwise wait between every two batches. Saves go
   * in order, the newest replacing one not yet begun. A crash before a save
   * lands only means the batches after the saved one are written again,
   * which overwrites the same points.
   */
  #persist(checkpoint: bigint): void {
    this.#unsaved = checkpoint
    this.#saving ??= (async () => {
      while (this.#unsaved !== null) {
        const next = this.#unsaved
        this.#unsaved = null
        try {
          await this.#store.saveCheckpoint(CHECKPOINT, next)
        } catch (err) {
          this.#log.error({ err }, 'could not save the InfluxDB checkpoint; it is saved with the next batch')
        }
      }
      this.#saving = null
    })()
  }

  /**
   * The next batch. The store is in stored_ts order, so asking only for the
   * stretch of stored times a full batch is likely to span lets DuckDB skip
   * the rest of the table (bench:influx: a fifth of the drain's CPU); when
   * that stretch holds nothing, the open-ended question follows.
   */
  async #read(afterStoredTs: bigint): Promise<LineBatch | null> {
    if (this.#span !== null) {
      const batch = await this.#store.linesAfter(
        afterStoredTs,
        BATCH,
        this.#lineOptions,
        afterStoredTs + this.#span,
      )
      if (batch !== null) {
        this.#learnSpan(batch)
        return batch
      }
    }
    const batch = await this.#store.linesAfter(afterStoredTs, BATCH, this.#lineOptions)
    if (batch !== null) this.#learnSpan(batch)
    return batch
  }

  /** Twice the stored-time stretch a full batch took, scaled up from a partial one. */
  #learnSpan(batch: LineBatch): void {
    const span = batch.lastStoredTs - batch.firstStoredTs + 1n
    this.#span = (span * 2n * BigInt(BATCH)) / BigInt(batch.count)
  }

  /**
   * Writes the body; a refused body is halved, line by line, until each
   * refused line is alone, and that line's reading becomes a dead letter.
   * Returns null when every line is written or dead-lettered, or the failure
   * to retry.
   */
  async #writeAll(
    writer: LineWriter,
    body: string,
    lines: number,
  ): Promise<{ cause: string; message: string; delayMs: number | null } | null> {
    const outcome = await writer.write(body)
    if (outcome.kind === 'written') return null
    if (outcome.kind === 'retry') return outcome
    if (lines === 1) {
      await this.#deadLetter(body, outcome.message)
      return null
    }
    const all = body.split('\n')
    const half = all.length >> 1
    return (
      (await this.#writeAll(writer, all.slice(0, half).join('\n'), half)) ??
      this.#writeAll(writer, all.slice(half).join('\n'), all.length - half)
    )
  }

  async #deadLetter(line: string, message: string): Promise<void> {
    // Device ids have no commas or spaces; the meta fields are ours.
    const device = /,device=([^, ]+)/.exec(line)?.[1] ?? null
    const seq = /[ ,]@seq=(\d+)i/.exec(line)?.[1]
    this.#metrics.influxLinesRejected.inc()
    this.#log.warn(
      { device, seq: seq === undefined ? null : Number(seq), message },
      'InfluxDB refused a line',
    )
    await this.#store.commit(
      [],
      [
        {
          recvTsNs: BigInt(Date.now()) * 1_000_000n,
          device,
          topic: `devices/${device ?? '?'}/telemetry`,
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
