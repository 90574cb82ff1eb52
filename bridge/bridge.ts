/**
 * The ingest pipeline, one message at a time:
 *
 *   topic ─ decode ─ verify CRC-32C ─ validate ─ dedupe ─ pin field types
 *         ─ normalize time ─ group commit (durable) ─▶ resolve: the broker may ack
 *
 * Every refusal becomes a dead letter, committed durably like a reading, so
 * the message is acknowledged and never redelivered in a loop. ingest()
 * rejects only when the store could not make the message durable: the broker
 * must then not acknowledge it, and the device sends it again.
 */

import { Rejection, reject } from '../src/core/errors.js'
import {
  DEVICE_ID_PATTERN,
  type DeadLetter,
  type FieldKind,
  nowNs,
  type Reading,
} from '../src/core/telemetry.js'
import { CLOCK_VALID_FROM_NS } from '../src/core/time.js'
import type { DeadLetterLog, IngestLog } from '../src/store/index.js'
import { type ClockOptions, ClockTracker, DEFAULT_CLOCK_OPTIONS } from './clock.js'
import { DEFAULT_DEAD_LETTER_LIMITS, DeadLetterBudget, type DeadLetterLimits } from './dead-letter-budget.js'
import { decodePayload } from './decode.js'
import { DedupeIndex, type Verdict } from './dedupe.js'
import { FieldRegistry } from './field-types.js'
import { GroupCommit } from './group-commit.js'
import type { BridgeMetrics } from './metrics.js'
import { DEFAULT_VALIDATE_LIMITS, type Message, type ValidateLimits, validateMessage } from './validate.js'
import { DEFAULT_WATERMARK_OPTIONS, type WatermarkOptions, Watermarks } from './watermark.js'

/** What the bridge asks of the store: its ingest log, and dead letters to replay. */
type BridgeStore = IngestLog & DeadLetterLog

export interface BridgeOptions {
  /** Accept payloads without the CRC-32C envelope. Default true. */
  readonly acceptUnwrapped: boolean
  /** Refuse a message whose publisher (MQTT client id) is not the topic's device. Default false. */
  readonly ownTopicOnly: boolean
  /** Distinct fields the store may hold. Default 1024. */
  readonly maxFields: number
  /** Distinct fields one device may add (since start). Default 256. */
  readonly maxFieldsPerDevice: number
  /** Field types fixed by configuration; they win over first-seen types. */
  readonly fieldTypes: Readonly<Record<string, FieldKind>>
  readonly clock: ClockOptions
  readonly watermark: WatermarkOptions
  readonly limits: ValidateLimits
  readonly deadLetters: DeadLetterLimits
}

export const DEFAULT_BRIDGE_OPTIONS: BridgeOptions = Object.freeze({
  acceptUnwrapped: true,
  ownTopicOnly: false,
  maxFields: 1024,
  maxFieldsPerDevice: 256,
  fieldTypes: {},
  clock: DEFAULT_CLOCK_OPTIONS,
  watermark: DEFAULT_WATERMARK_OPTIONS,
  limits: DEFAULT_VALIDATE_LIMITS,
  deadLetters: DEFAULT_DEAD_LETTER_LIMITS,
})

export type IngestOutcome =
  | { readonly kind: 'accepted'; readonly readings: readonly Reading[] }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'rejected'; readonly reason: string; readonly detail: string }
  /** Not a telemetry topic: ordinary MQTT traffic the bridge leaves alone. */
  | { readonly kind: 'ignored' }

type Listener = (readings: readonly Reading[]) => void

export class Bridge {
  readonly #store: BridgeStore
  readonly #options: BridgeOptions
  readonly #metrics: BridgeMetrics
  readonly #fields: FieldRegistry
  readonly #dedupe = new DedupeIndex()
  readonly #clock: ClockTracker
  readonly #commits: GroupCommit
  readonly #listeners = new Set<Listener>()
  readonly #deadLetterBudget: DeadLetterBudget
  #admission: () => Promise<void> | null = () => null
  /** Each device's watermark, over every reading handed to a commit: stored as newest_ts. */
  readonly #watermarks: Watermarks

  private constructor(
    store: BridgeStore,
    options: BridgeOptions,
    metrics: BridgeMetrics,
    deadLetterBytes: number,
  ) {
    this.#store = store
    this.#deadLetterBudget = new DeadLetterBudget(options.deadLetters, deadLetterBytes)
    this.#options = options
    this.#metrics = metrics
    this.#fields = new FieldRegistry(options.maxFields, options.maxFieldsPerDevice)
    this.#clock = new ClockTracker(options.clock)
    this.#watermarks = new Watermarks(options.watermark)
    this.#commits = new GroupCommit((readings, deadLetters) => this.#commit(readings, deadLetters))
  }

  /** Loads pinned types and the dedupe index from the store. */
  static async open(store: BridgeStore, options: BridgeOptions, metrics: BridgeMetrics): Promise<Bridge> {
    const bridge = new Bridge(store, options, metrics, await store.deadLetterBytes())
    for (const [name, kind] of Object.entries(options.fieldTypes)) {
      const stored = store.storedFields().find((f) => f.name.toLowerCase() === name.toLowerCase())
      if (stored !== undefined && stored.name !== name) {
        throw new Error(`field ${name} is stored as ${stored.name}: names are case-insensitive`)
      }
      if (stored?.kind === 'int' && kind === 'float') await store.widenField(name)
      else if (stored !== undefined && stored.kind !== kind) {
        throw new Error(`field ${name} is stored as ${stored.kind}; only int can be changed, to float`)
      }
    }
    for (const f of store.storedFields()) bridge.#fields.pin(f.name, f.kind, true)
    for (const [name, kind] of Object.entries(options.fieldTypes)) {
      if (bridge.#fields.get(name) === undefined) bridge.#fields.pin(name, kind, false)
    }
    for await (const run of store.seqRuns()) bridge.#dedupe.loadRange(run.device, run.boot, run.lo, run.hi)
    const now = nowNs()
    for (const [device, tsNs] of await store.newestTimes()) bridge.#watermarks.restore(device, tsNs, now)
    return bridge
  }

  /** Whether the system holds, or is storing, readings of this device. */
  knowsDevice(device: string): boolean {
    return this.#dedupe.hasDevice(device)
  }

  /**
   * A gate every message waits at before it is processed: the InfluxDB
   * forwarder holds ingest (and so the acknowledgements) back with it when
   * its backlog is over its bound. `gate` returns null to let a message through.
   */
  admitWith(gate: () => Promise<void> | null): void {
    this.#admission = gate
  }

  /** Called with every batch of readings once it is durable (the live stream's feed). */
  onReadings(listener: Listener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Takes one MQTT message. Resolves once its outcome is durable; rejects
   * when the store failed, in which case nothing may be acknowledged.
   * `publisher` is the MQTT client id, checked against the topic's device
   * when `ownTopicOnly` is set.
   */
  async ingest(
    topic: string,
    payload: Uint8Array,
    recvNs: bigint = nowNs(),
    publisher?: string,
  ): Promise<IngestOutcome> {
    const held = this.#admission()
    if (held !== null) await held
    const outcome = await this.#process(topic, payload, recvNs, publisher)
    if (outcome instanceof Rejection) {
      const device = deviceOf(topic)
      const cap = this.#deadLetterBudget.admit(device, payload.length, Date.now())
      // Over a cap: acknowledged all the same (a resend would be refused again), counted, not stored.
      if (cap !== null) this.#metrics.deadLettersNotStored.inc({ cap })
      else {
        const letter = {
          recvTsNs: recvNs,
          device,
          topic,
          reason: outcome.reason,
          detail: outcome.detail,
          payload,
        }
        try {
          await this.#commits.add([], [letter])
        } catch (err) {
          this.#deadLetterBudget.unstored(payload.length)
          throw err
        }
      }
      this.#metrics.messagesRejected.inc({ reason: outcome.reason })
      return { kind: 'rejected', reason: outcome.reason, detail: outcome.detail }
    }
    return outcome
  }

  /**
   * Runs stored dead letters through the pipeline again, for example after a
   * field's type was changed in configuration. Each is marked with what
   * happened; one refused again stays a dead letter, and no new one is made.
   */
  async replay(ids: readonly bigint[]): Promise<Array<{ id: bigint; result: string }>> {
    const letters = await this.#store.deadLetters({
      device: null,
      reason: null,
      ids,
      includeReplayed: false,
      limit: ids.length,
      afterId: 0n,
      payloadBytes: Number.POSITIVE_INFINITY,
    })
    const results: Array<{ id: bigint; result: string }> = []
    for (const letter of letters) {
      if (letter.payload === null) throw new Error(`dead letter ${letter.id} came without its payload`)
      const outcome = await this.#process(letter.topic, letter.payload, letter.recvTsNs)
      const result = outcome instanceof Rejection ? `rejected:${outcome.reason}` : outcome.kind
      await this.#store.markReplayed(letter.id, result)
      results.push({ id: letter.id, result })
    }
    return results
  }

  /**
   * Forgets the clock and watermark of every device with no reading for
   * idleNs, so that per-device state does not grow with every device ever
   * seen. app.ts calls it when the feature engine forgets the same devices:
   * a device that comes back starts afresh on both sides, and history
   * (newest_ts) agrees with what the live stream then sends. The dedupe
   * index keeps every device: forgetting it would store a resent reading twice.
   */
  forgetIdle(nowNs: bigint, idleNs: bigint): number {
    let forgotten = 0
    // A bucket untouched for a minute is full again: forgetting it changes nothing.
    this.#deadLetterBudget.forgetIdle(Number(nowNs / 1_000_000n) - 60_000)
    for (const device of [...this.#watermarks.idleSince(nowNs - idleNs)]) {
      this.#watermarks.forget(device)
      this.#clock.forget(device)
      forgotten++
    }
    return forgotten
  }

  /** Waits for every commit in flight. */
  async flush(): Promise<void> {
    await this.#commits.flush()
  }

  async #process(
    topic: string,
    payload: Uint8Array,
    recvNs: bigint,
    publisher?: string,
  ): Promise<IngestOutcome | Rejection> {
    const parts = topic.split('/')
    if (parts.length !== 3 || parts[0] !== 'devices' || parts[2] !== 'telemetry') return { kind: 'ignored' }
    this.#metrics.messagesReceived.inc()
    const device = parts[1]!
    if (!DEVICE_ID_PATTERN.test(device)) {
      return reject(
        'invalid_device_id',
        `device id ${JSON.stringify(device.slice(0, 80))} does not match ${DEVICE_ID_PATTERN}`,
      )
    }
    // A replayed dead letter has no publisher: the operator chose to let it in.
    if (this.#options.ownTopicOnly && publisher !== undefined && publisher !== device) {
      return reject(
        'device_not_authorized',
        `client ${JSON.stringify(publisher.slice(0, 80))} may publish only for its own device id`,
      )
    }

    const decoded = guarded(() => decodePayload(payload, this.#options))
    if (decoded instanceof Rejection) return decoded
    const message = guarded(() => validateMessage(decoded.body, decoded.floatPaths, this.#options.limits))
    if (message instanceof Rejection) return message

    // From the last check to the claim below nothing is awaited: a second copy
    // arriving meanwhile must find this one pending, not new.
    for (;;) {
      const verdict = this.#dedupe.check(device, message.boot, message.seq)
      if (verdict.kind === 'new') break
      const seen = await this.#seen(device, message, decoded.crc, verdict)
      if (seen !== null) return seen
      if (this.#dedupe.check(device, message.boot, message.seq).kind === 'uncertain') break
    }

    const readings = guarded(() => this.#readings(device, message, decoded.crc, recvNs))
    if (readings instanceof Rejection) return readings

    const durable = this.#commits.add(readings, [])
    this.#dedupe.claim(device, message.boot, message.seq, decoded.crc, durable)
    try {
      await durable
    } catch (err) {
      this.#dedupe.settle(device, message.boot, message.seq, false)
      throw err
    }
    this.#dedupe.settle(device, message.boot, message.seq, true)
    return { kind: 'accepted', readings }
  }

  /**
   * A seq seen before: a duplicate (acknowledged once its first copy is
   * durable) or a conflict. null: its commit had failed and the store does
   * not hold it after all (dedupe.ts), so it is to be stored.
   */
  async #seen(
    device: string,
    message: Message,
    crc: number,
    verdict: Exclude<Verdict, { kind: 'new' }>,
  ): Promise<IngestOutcome | Rejection | null> {
    const known =
      verdict.kind === 'pending' || verdict.kind === 'stored'
        ? (verdict.crc ?? (await this.#store.storedCrc(device, message.boot, message.seq)))
        : await this.#store.storedCrc(device, message.boot, message.seq)
    if (verdict.kind === 'uncertain') {
      if (known === null) return null
      this.#dedupe.stored(device, message.boot, message.seq, known)
    }
    if (known !== null && known !== crc) {
      return reject(
        'duplicate_conflict',
        `seq ${message.seq} (boot ${message.boot}) was stored with other content`,
      )
    }
    // The first copy may still be in a commit that can fail: ack only when it is durable.
    if (verdict.kind === 'pending') await verdict.durable
    this.#metrics.duplicates.inc()
    return { kind: 'duplicate' }
  }

  #readings(device: string, message: Message, crc: number, recvNs: bigint): Reading[] | Rejection {
    const tags = message.tags === null ? null : JSON.stringify(message.tags)
    const resolved = this.#fields.resolve(
      device,
      message.samples.map((s) => s.fields),
    )
    if (resolved instanceof Rejection) return resolved
    // The readings go to the group commit right after this, in this order:
    // the order in which they are stored and reach the feature engine.
    const readings: Reading[] = []
    for (let idx = 0; idx < message.samples.length; idx++) {
      const sample = message.samples[idx]!
      const fields = resolved[idx]!
      const deviceTsNs = sample.time?.ns ?? null
      if (sample.time !== null && sample.time.unit !== null && sample.time.unit !== 'ms') {
        this.#metrics.unitsInferred.inc({ unit: sample.time.unit })
      }
      const { tsNs, offsetNs, reason } = this.#clock.normalize(device, deviceTsNs, recvNs)
      // Before 2001 a time means no clock (wire format v1): it has no offset to observe.
      if (deviceTsNs !== null && deviceTsNs >= CLOCK_VALID_FROM_NS)
        this.#metrics.clockOffset.observe(Math.abs(Number(offsetNs)) / 1e9)
      if (reason !== null) this.#metrics.clockCorrections.inc({ reason })
      const before = this.#watermarks.current(device)
      if (before !== null && tsNs < before) this.#metrics.readingsLate.inc()
      readings.push({
        device,
        boot: message.boot,
        seq: message.seq,
        idx,
        tsNs,
        newestTsNs: this.#watermarks.advance(device, tsNs, recvNs),
        deviceTsNs,
        recvTsNs: recvNs,
        offsetNs,
        crc,
        tags,
        fields,
      })
    }
    return readings
  }

  async #commit(readings: Reading[], deadLetters: DeadLetter[]): Promise<void> {
    let newFields = this.#fields.all().filter((f) => !f.stored)
    if (newFields.length > 0) {
      // A commit that failed may have made its names durable all the same (dedupe.ts): not added twice.
      const held = new Set(this.#store.storedFields().map((f) => f.name))
      for (const f of newFields) if (held.has(f.name)) f.stored = true
      newFields = newFields.filter((f) => !f.stored)
    }
    const stop = this.#metrics.commitSeconds.startTimer()
    try {
      await this.#store.commit(readings, deadLetters, newFields)
    } catch (err) {
      this.#metrics.commitErrors.inc()
      throw err
    }
    stop()
    for (const f of newFields) f.stored = true
    this.#metrics.commitReadings.observe(readings.length + deadLetters.length)
    this.#metrics.readingsAccepted.inc(readings.length)
    if (readings.length > 0) for (const listener of this.#listeners) listener(readings)
  }
}

/**
 * Runs a step of the pipeline that touches no store. An exception there is
 * a bug, not a store failure: the message becomes an `internal_error` dead
 * letter and is acknowledged, instead of going unacknowledged and being
 * resent forever (issue 21). BridgeStore failures stay outside, and are not acked.
 */
function guarded<T>(step: () => T | Rejection): T | Rejection {
  try {
    return step()
  } catch (err) {
    return reject('internal_error', `${(err as Error).name}: ${(err as Error).message}`)
  }
}

function deviceOf(topic: string): string | null {
  const parts = topic.split('/')
  return parts.length === 3 && DEVICE_ID_PATTERN.test(parts[1]!) ? parts[1]! : null
}
