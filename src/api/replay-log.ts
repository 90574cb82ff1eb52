/**
 * The SSE hub's replay log: the latest events, kept as bytes in one buffer.
 *
 *   slot of id (id % slots)          bytes: a ring of entries; one that does not
 *   ┌──────┬───────┬──────────┐      fit before the end starts again at 0
 *   │  id  │ start │ lengths  │ ──▶  ┌─────────────────┬─────────────────┬─────┬────────┐
 *   └──────┴───────┴──────────┘      │type device names data│type device names data│ ... │ unused │
 *                                    └─────────────────┴─────────────────┴─────┴────────┘
 *                                                write here ▲  ▲ the oldest entry kept
 *
 * It holds the last `slots` events, or as many of the latest as fit in
 * `bytes`. Writing an entry drops the oldest ones its bytes cover.
 *
 * Why bytes: at 10,000 readings/s a log of 10,000 events holds each for about
 * a second. Kept as objects (the event, its reading, its JSON), that was long
 * enough for V8 to move them all to the old generation: in bench:live's
 * partitioned scenario they were about three quarters of what V8's heap
 * profiler saw survive young collections, and the full collections that
 * cleared them made the p99. With the log as bytes in one buffer, made once,
 * the same scenario's p99 went from 67-69 ms to 32-44 ms (two alternating
 * runs each). A resuming client pays instead: each event it reads back is
 * decoded again.
 */

/** An event read back from the log. */
export interface LoggedEvent {
  readonly id: number
  readonly device: string
  readonly type: string
  /** The names the event carries; none of them may contain a newline. */
  readonly names: readonly string[]
  /** The event's JSON for a client that asked for every name. */
  readonly data: string
}

export interface ReplayLogOptions {
  /** Events kept at most. */
  readonly slots: number
  /** Bytes the events may take, type, device, names and data together. */
  readonly bytes: number
}

/** A slot's entry when its event had no data: it takes one byte and reads back as nothing. */
const NO_DATA = 255
const MAX_TYPES = 255

export class ReplayLog {
  readonly #slots: number
  readonly #capacity: number
  /** Made when the log starts, freed when it stops. */
  #bytes: Buffer | null = null
  readonly #ids: Float64Array
  readonly #starts: Int32Array
  readonly #deviceBytes: Int32Array
  readonly #namesBytes: Int32Array
  readonly #dataBytes: Int32Array
  readonly #typeCodes = new Map<string, number>()
  readonly #typeNames: string[] = []
  #writeAt = 0
  #oldest = 0
  #next = 0

  constructor(options: ReplayLogOptions) {
    this.#slots = options.slots
    this.#capacity = options.bytes
    this.#ids = new Float64Array(options.slots).fill(-1)
    this.#starts = new Int32Array(options.slots)
    this.#deviceBytes = new Int32Array(options.slots)
    this.#namesBytes = new Int32Array(options.slots)
    this.#dataBytes = new Int32Array(options.slots)
  }

  get started(): boolean {
    return this.#bytes !== null
  }

  /** Starts keeping events, the first of them `firstId`. */
  start(firstId: number): void {
    this.#bytes ??= Buffer.allocUnsafeSlow(this.#capacity)
    this.#ids.fill(-1)
    this.#writeAt = 0
    this.#oldest = firstId
    this.#next = firstId
  }

  /** Forgets every event and frees the buffer. */
  stop(): void {
    this.#bytes = null
    this.#oldest = this.#next
  }

  /** The oldest id still held; equal to nextId when none is. */
  get oldestId(): number {
    return this.#oldest
  }

  /** The id the next append must carry. */
  get nextId(): number {
    return this.#next
  }

  /** Keeps an event; data null keeps only its id, which reads back as nothing. */
  append(id: number, device: string, type: string, names: readonly string[], data: string | null): void {
    const bytes = this.#bytes
    if (bytes === null) throw new Error('replay log not started')
    if (id !== this.#next) throw new Error(`replay log expects id ${this.#next}, got ${id}`)
    this.#next++
    if (this.#next - this.#oldest > this.#slots) this.#oldest = this.#next - this.#slots
    const joined = data === null ? '' : names.join('\n')
    const deviceBytes = data === null ? 0 : Buffer.byteLength(device)
    const namesBytes = Buffer.byteLength(joined)
    const dataBytes = data === null ? 0 : Buffer.byteLength(data)
    const length = 1 + deviceBytes + namesBytes + dataBytes
    const slot = id % this.#slots
    if (length > this.#capacity) {
      // Larger than the whole log: nothing before it can be kept either.
      this.#ids[slot] = -1
      this.#oldest = this.#next
      return
    }
    let at = this.#writeAt
    if (at + length > this.#capacity) {
      this.#dropOverlapping(at, this.#capacity)
      at = 0
    }
    this.#dropOverlapping(at, at + length)
    bytes[at] = data === null ? NO_DATA : this.#typeCode(type)
    let pos = at + 1
    pos += bytes.write(device, pos, deviceBytes)
    pos += bytes.write(joined, pos, namesBytes)
    if (data !== null) bytes.write(data, pos, dataBytes)
    this.#ids[slot] = id
    this.#starts[slot] = at
    this.#deviceBytes[slot] = deviceBytes
    this.#namesBytes[slot] = namesBytes
    this.#dataBytes[slot] = dataBytes
    this.#writeAt = at + length
  }

  /** The event with this id, decoded, if the log still holds it and it had data. */
  at(id: number): LoggedEvent | undefined {
    const bytes = this.#bytes
    if (bytes === null || id < this.#oldest || id >= this.#next) return undefined
    const slot = id % this.#slots
    if (this.#ids[slot] !== id) return undefined
    const start = this.#starts[slot]!
    const code = bytes[start]!
    if (code === NO_DATA) return undefined
    const deviceEnd = start + 1 + this.#deviceBytes[slot]!
    const namesEnd = deviceEnd + this.#namesBytes[slot]!
    const names = bytes.toString('utf8', deviceEnd, namesEnd)
    return {
      id,
      device: bytes.toString('utf8', start + 1, deviceEnd),
      type: this.#typeNames[code]!,
      names: names === '' ? [] : names.split('\n'),
      data: bytes.toString('utf8', namesEnd, namesEnd + this.#dataBytes[slot]!),
    }
  }

  /** Drops the oldest entries while they lie in [from, to) of the bytes: the entries are laid out oldest first from the write position on. */
  #dropOverlapping(from: number, to: number): void {
    while (this.#oldest < this.#next - 1) {
      const slot = this.#oldest % this.#slots
      if (this.#ids[slot] === this.#oldest) {
        const start = this.#starts[slot]!
        const end = start + 1 + this.#deviceBytes[slot]! + this.#namesBytes[slot]! + this.#dataBytes[slot]!
        if (start >= to || end <= from) return
      }
      this.#oldest++
    }
  }

  #typeCode(type: string): number {
    let code = this.#typeCodes.get(type)
    if (code === undefined) {
      if (this.#typeNames.length >= MAX_TYPES)
        throw new Error(`replay log holds at most ${MAX_TYPES} event types`)
      code = this.#typeNames.length
      this.#typeCodes.set(type, code)
      this.#typeNames.push(type)
    }
    return code
  }
}
