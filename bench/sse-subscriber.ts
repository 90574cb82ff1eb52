/**
 * One SSE subscriber of bench:live: its own HTTP/2 connection (h2c, prior
 * knowledge, Node's `http2` client) and one stream on it, for every device
 * (`device=*`) or for a list of them, read as it arrives.
 *
 *   DATA frames ─▶ text ─▶ blocks ("…\n\n") ─┬─ telemetry ─▶ (device, seq) seen, latency
 *                                            ├─ feature ───▶ window-close latency, count per device
 *                                            ├─ gap/reset ─▶ counted as loss
 *                                            ├─ device ────▶ must be one asked for
 *                                            └─ id ────────▶ must rise; on device=*, by exactly one
 *
 * The parser reads only what it measures, by position, not by JSON.parse:
 * the generator reads up to about a million events a second, and a full parse
 * of each would make it, not the server, the thing measured. The data's key
 * order is fixed by src/api/stream-events.ts.
 */

import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2'
import type { DeliveryRecorder } from './live-recorder.js'

export type StreamKind = 'telemetry' | 'features'

/** Flow-control windows the subscriber grants: a firehose stream should not wait on WINDOW_UPDATEs. */
const STREAM_WINDOW_BYTES = 1 << 20
const SESSION_WINDOW_BYTES = 16 << 20
/** An event block is a few hundred bytes; one this long means the parser lost its place. */
const MAX_PENDING_CHARS = 1 << 20
/** How much of a refusal's body goes into the error. */
const REFUSAL_CHARS = 300

export interface SubscriberOptions {
  readonly httpUrl: string
  readonly kind: StreamKind
  readonly recorder: DeliveryRecorder
  /** Device ids are `<devicePrefix><index>`. */
  readonly devicePrefix: string
  /** Devices in the fleet: indices run from 0 to this − 1. */
  readonly fleetDevices: number
  /** The device indices to ask for (`device=a,b,…`); null asks for every device (`device=*`). */
  readonly devices: readonly number[] | null
  /** The highest telemetry seq a device sends. */
  readonly maxSeq: number
  /** How long the server may take to answer and add the stream, ms. */
  readonly timeoutMs: number
}

export interface SubscriberCounts {
  readonly kind: StreamKind
  /** Events of each type (`telemetry`, `feature`, `partial`, `late`, `gap`, `reset`). */
  readonly events: Readonly<Record<string, number>>
  /** Events lost as the server reported them: the sum of `gap` events' `lost`. */
  readonly gapLost: number
  /** Ids skipped: on a `device=*` stream, an event id more than one above the last (it sees every event of its hub). */
  readonly idSkipped: number
  /** Ids not above the last one. */
  readonly idBackwards: number
  /** Telemetry (device, seq) pairs delivered twice. */
  readonly duplicates: number
  /** Events of a device the subscriber did not ask for: the server's filter let them through. */
  readonly foreign: number
  /** Events the stream carried whose data could not be read. */
  readonly unreadable: number
  /** Why the stream ended before the bench closed it, if it did. */
  readonly failure: string | null
}

/**
 * The (device, seq) pairs one telemetry subscriber received: one bit each,
 * so 1,000 devices × 400 seqs is 50 KB per subscriber.
 */
export class SeenSet {
  readonly #bits: Uint32Array
  readonly #stride: number
  readonly #devices: number

  constructor(devices: number, maxSeq: number) {
    this.#devices = devices
    this.#stride = maxSeq + 1
    this.#bits = new Uint32Array(Math.ceil((devices * this.#stride) / 32))
  }

  /** Marks the pair; false when it was already marked or is out of range. */
  add(device: number, seq: number): boolean {
    if (device < 0 || device >= this.#devices || seq < 0 || seq >= this.#stride) return false
    const i = device * this.#stride + seq
    const word = i >>> 5
    const bit = 1 << (i & 31)
    if ((this.#bits[word]! & bit) !== 0) return false
    this.#bits[word]! |= bit
    return true
  }

  has(device: number, seq: number): boolean {
    if (device < 0 || device >= this.#devices || seq < 0 || seq >= this.#stride) return false
    const i = device * this.#stride + seq
    return (this.#bits[i >>> 5]! & (1 << (i & 31))) !== 0
  }
}

export class SseSubscriber {
  readonly kind: StreamKind
  /** The device indices asked for; null: every device. */
  readonly devices: readonly number[] | null
  /** Telemetry streams: the (device, seq) pairs received. */
  readonly seen: SeenSet | null
  /** Feature streams: `feature` events in the recorder's measured time, per device index. */
  readonly measuredFeatures: Uint32Array | null
  /** Events delivered, of every type: read by the bench at the edges of its window. */
  delivered = 0
  /** Telemetry events delivered. */
  telemetry = 0
  readonly #recorder: DeliveryRecorder
  readonly #devicePrefix: string
  /** One byte per device of the fleet, 1 where asked for; null: every device. */
  readonly #asked: Uint8Array | null
  readonly #fleetDevices: number
  readonly #session: ClientHttp2Session
  readonly #stream: ClientHttp2Stream
  readonly #events: Record<string, number> = {}
  #pending = ''
  #lastId = -1
  #gapLost = 0
  #idSkipped = 0
  #idBackwards = 0
  #duplicates = 0
  #foreign = 0
  #unreadable = 0
  #failure: string | null = null
  #closing = false
  #ready: Promise<void>

  private constructor(o: SubscriberOptions) {
    this.kind = o.kind
    this.devices = o.devices
    this.seen = o.kind === 'telemetry' ? new SeenSet(o.fleetDevices, o.maxSeq) : null
    this.measuredFeatures = o.kind === 'features' ? new Uint32Array(o.fleetDevices) : null
    this.#recorder = o.recorder
    this.#devicePrefix = o.devicePrefix
    this.#fleetDevices = o.fleetDevices
    this.#asked = o.devices === null ? null : new Uint8Array(o.fleetDevices)
    for (const d of o.devices ?? []) this.#asked![d] = 1
    const query = o.devices === null ? '*' : o.devices.map((d) => `${o.devicePrefix}${d}`).join(',')
    this.#session = connect(o.httpUrl, { settings: { initialWindowSize: STREAM_WINDOW_BYTES } })
    this.#session.on('error', (err) => this.#fail(`session: ${err.message}`))
    this.#session.once('connect', () => this.#session.setLocalWindowSize(SESSION_WINDOW_BYTES))
    this.#stream = this.#session.request({
      ':path': `/v1/stream/${o.kind}?device=${query}`,
      accept: 'text/event-stream',
    })
    this.#stream.setEncoding('utf8')
    this.#ready = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${o.kind} stream within ${o.timeoutMs} ms`)),
        o.timeoutMs,
      )
      let status: number | undefined
      this.#stream.once('response', (headers) => {
        status = headers[':status']
      })
      // The hub writes `retry:` right after it adds the client: from then on nothing published is missed.
      this.#stream.once('data', () => {
        if (status !== 200) return
        clearTimeout(timer)
        resolve()
      })
      this.#stream.once('close', () => {
        clearTimeout(timer)
        // A refusal's body (a JSON error with its code) is in #pending: it holds no event boundary.
        const why =
          status !== undefined && status !== 200
            ? `answered ${status}: ${this.#pending.trim().slice(0, REFUSAL_CHARS)}`
            : `closed before its first bytes: ${this.#failure ?? 'no error'}`
        reject(new Error(`${o.kind} stream ${why}`))
      })
    })
    this.#stream.on('data', (chunk: string) => this.#feed(chunk))
    this.#stream.on('error', (err) => this.#fail(`stream: ${err.message}`))
    this.#stream.once('close', () => {
      if (!this.#closing) this.#fail('stream closed by the server')
    })
  }

  /** Opens the stream and resolves once the server has added it to its hub. */
  static async open(options: SubscriberOptions): Promise<SseSubscriber> {
    const s = new SseSubscriber(options)
    try {
      await s.#ready
    } catch (err) {
      s.close()
      throw err
    }
    return s
  }

  /** Whether this subscriber asked for the device. */
  expects(device: number): boolean {
    return this.#asked === null ? device >= 0 && device < this.#fleetDevices : this.#asked[device] === 1
  }

  counts(): SubscriberCounts {
    return {
      kind: this.kind,
      events: { ...this.#events },
      gapLost: this.#gapLost,
      idSkipped: this.#idSkipped,
      idBackwards: this.#idBackwards,
      duplicates: this.#duplicates,
      foreign: this.#foreign,
      unreadable: this.#unreadable,
      failure: this.#failure,
    }
  }

  close(): void {
    this.#closing = true
    this.#stream.close()
    this.#session.destroy()
  }

  #fail(why: string): void {
    if (!this.#closing) this.#failure ??= why
  }

  #feed(chunk: string): void {
    // Every event in one chunk arrived together: one clock reading for all of them.
    const now = Date.now()
    const text = this.#pending === '' ? chunk : this.#pending + chunk
    let start = 0
    for (;;) {
      const end = text.indexOf('\n\n', start)
      if (end < 0) break
      this.#block(text, start, end, now)
      start = end + 2
    }
    this.#pending = start === 0 ? text : text.slice(start)
    if (this.#pending.length > MAX_PENDING_CHARS) {
      this.#fail(`no event boundary in ${MAX_PENDING_CHARS} characters`)
      this.#pending = ''
    }
  }

  /** One event block, text[start, end): `id:`, `event:`, `data:` lines, or a comment, or `retry:`. */
  #block(text: string, start: number, end: number, now: number): void {
    let id = -1
    let type = 'message'
    let dataStart = -1
    let dataEnd = -1
    let pos = start
    while (pos < end) {
      let nl = text.indexOf('\n', pos)
      if (nl < 0 || nl > end) nl = end
      if (text.startsWith('data: ', pos)) {
        dataStart = pos + 6
        dataEnd = nl
      } else if (text.startsWith('id: ', pos)) id = Number(text.slice(pos + 4, nl))
      else if (text.startsWith('event: ', pos)) type = text.slice(pos + 7, nl)
      pos = nl + 1
    }
    if (dataStart < 0) return // `retry:` or a `: ping` comment
    this.delivered++
    this.#events[type] = (this.#events[type] ?? 0) + 1
    if (id >= 0) {
      if (this.#lastId >= 0) {
        // A filtered stream skips the ids of the hub's other devices' events.
        if (id > this.#lastId + 1 && this.#asked === null) this.#idSkipped += id - this.#lastId - 1
        else if (id <= this.#lastId) this.#idBackwards++
      }
      this.#lastId = id
    }
    if (type === 'gap') {
      this.#gapLost += numberAfter(text, '"lost":', dataStart, dataEnd)
      return
    }
    // `device` comes first in every event that names one (telemetry, feature, partial, late).
    const device = stringAfter(text, '"device":"', dataStart, dataEnd)
    if (device === null) return // `reset`
    const index = device.startsWith(this.#devicePrefix) ? Number(device.slice(this.#devicePrefix.length)) : -1
    if (!Number.isInteger(index) || index < 0) {
      this.#unreadable++
      return
    }
    if (!this.expects(index)) {
      this.#foreign++
      return
    }
    if (type === 'telemetry') this.#telemetry(text, dataStart, dataEnd, index, now)
    else if (type === 'feature') this.#feature(text, dataStart, dataEnd, index, now)
  }

  #telemetry(text: string, from: number, to: number, device: number, now: number): void {
    this.telemetry++
    const seq = numberAfter(text, '"seq":', from, to)
    const publishedMs = timeAfter(text, '"device_ts":"', from, to)
    const receivedMs = timeAfter(text, '"recv_ts":"', from, to)
    if (Number.isNaN(seq) || Number.isNaN(publishedMs)) {
      this.#unreadable++
      return
    }
    if (this.seen !== null && !this.seen.add(device, seq)) this.#duplicates++
    this.#recorder.telemetry(seq, publishedMs, receivedMs, now)
  }

  #feature(text: string, from: number, to: number, device: number, now: number): void {
    const feature = stringAfter(text, '"feature":"', from, to)
    const windowEndMs = timeAfter(text, '"window_end":"', from, to)
    const watermarkMs = timeAfter(text, '"watermark":"', from, to)
    const stalenessMs = numberAfter(text, '"staleness_ms":', from, to)
    const closedBy = stringAfter(text, '"closed_by":"', from, to)
    if (feature === null || Number.isNaN(windowEndMs) || Number.isNaN(watermarkMs)) {
      this.#unreadable++
      return
    }
    if (this.#recorder.feature(feature, windowEndMs, watermarkMs, stalenessMs, closedBy, now))
      this.measuredFeatures![device]!++
  }
}

function stringAfter(text: string, key: string, from: number, to: number): string | null {
  const i = text.indexOf(key, from)
  if (i < 0 || i >= to) return null
  const start = i + key.length
  const end = text.indexOf('"', start)
  return end < 0 || end > to ? null : text.slice(start, end)
}

function numberAfter(text: string, key: string, from: number, to: number): number {
  const i = text.indexOf(key, from)
  if (i < 0 || i >= to) return Number.NaN
  const start = i + key.length
  let end = start
  while (end < to) {
    const c = text.charCodeAt(end)
    // digits, '-', '.', 'e', '+'
    if (!((c >= 48 && c <= 57) || c === 45 || c === 46 || c === 101 || c === 43)) break
    end++
  }
  return end === start ? Number.NaN : Number(text.slice(start, end))
}

/**
 * An RFC 3339 time with nine fraction digits (`2025-11-26T00:00:00.250000000Z`),
 * in epoch ms. Date.parse of the whole second is cached: it changes once a second.
 */
function timeAfter(text: string, key: string, from: number, to: number): number {
  const i = text.indexOf(key, from)
  if (i < 0 || i >= to) return Number.NaN
  const start = i + key.length
  if (text.charCodeAt(start + 19) !== 46 || text.charCodeAt(start + 29) !== 90) return Number.NaN
  const second = text.slice(start, start + 19)
  if (second !== cachedSecond) {
    cachedSecond = second
    cachedSecondMs = Date.parse(`${second}Z`)
  }
  return cachedSecondMs + Number(text.slice(start + 20, start + 29)) / 1e6
}

let cachedSecond = ''
let cachedSecondMs = Number.NaN
