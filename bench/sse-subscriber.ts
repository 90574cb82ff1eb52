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

import { connect } from 'node:http2'
import { AckLedger } from '../test/helpers/stored.js'
import type { DeliveryRecorder } from './live-recorder.js'

export type StreamKind = 'telemetry' | 'features'
/** Flow-control windows the subscriber grants: a firehose stream should not wait on WINDOW_UPDATEs. */
const [STREAM_WINDOW_BYTES, SESSION_WINDOW_BYTES] = [1 << 20, 16 << 20]
/** An event block is a few hundred bytes; one this long means the parser lost its place. */
const MAX_PENDING_CHARS = 1 << 20

/**
 * Device ids are `<devicePrefix><index>`, indices from 0 to fleetDevices − 1;
 * `devices` are those to ask for (`device=a,b,…`), null for `device=*`;
 * `maxSeq` the highest telemetry seq a device sends; `timeoutMs` how long the
 * server may take to answer and add the stream.
 */
export interface SubscriberOptions {
  readonly httpUrl: string
  readonly kind: StreamKind
  readonly recorder: DeliveryRecorder
  readonly devicePrefix: string
  readonly fleetDevices: number
  readonly devices: readonly number[] | null
  readonly maxSeq: number
  readonly timeoutMs: number
}

export class SseSubscriber {
  readonly kind: StreamKind
  /**
   * Events of each type (`telemetry`, `feature`, `gap`, `reset`, …, and
   * `events` of all), and what went wrong: `gapLost` (the sum of the gaps'
   * `lost`), `idSkipped` (on `device=*`, ids more than one above the last),
   * `idBackwards`, `duplicates` (a telemetry (device, seq) twice), `foreign`
   * (a device not asked for), `unreadable`.
   */
  readonly counts: Record<string, number> = {}
  /** Telemetry streams: the (device, seq) pairs received. */
  readonly seen: AckLedger | null
  /** Feature streams: `feature` events in the recorder's measured time, per device index. */
  readonly features: Uint32Array | null
  /** Why the stream ended before the bench closed it, if it did. */
  failure: string | null = null
  readonly #o: SubscriberOptions
  /** One byte per device of the fleet, 1 where asked for; null: every device. */
  readonly #asked: Uint8Array | null
  readonly #close: () => void
  readonly #ready: Promise<void>
  #pending = ''
  #lastId = -1
  #closing = false

  private constructor(o: SubscriberOptions) {
    this.#o = o
    this.kind = o.kind
    this.seen = o.kind === 'telemetry' ? new AckLedger(o.fleetDevices, o.maxSeq) : null
    this.features = o.kind === 'features' ? new Uint32Array(o.fleetDevices) : null
    this.#asked = o.devices === null ? null : new Uint8Array(o.fleetDevices)
    for (const d of o.devices ?? []) this.#asked![d] = 1
    const query = o.devices === null ? '*' : o.devices.map((d) => `${o.devicePrefix}${d}`).join(',')
    const session = connect(o.httpUrl, { settings: { initialWindowSize: STREAM_WINDOW_BYTES } })
    session.on('error', (err) => this.#fail(`session: ${err.message}`))
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW_BYTES))
    const stream = session.request({
      ':path': `/v1/stream/${o.kind}?device=${query}`,
      accept: 'text/event-stream',
    })
    this.#close = () => {
      stream.close()
      session.destroy()
    }
    stream.setEncoding('utf8')
    this.#ready = new Promise((resolve, reject) => {
      const late = (): void => reject(new Error(`no ${o.kind} stream within ${o.timeoutMs} ms`))
      const timer = setTimeout(late, o.timeoutMs)
      let status: number | undefined
      stream.once('response', (headers) => {
        status = headers[':status']
      })
      // The hub writes `retry:` right after it adds the client: from then on nothing published is missed.
      stream.once('data', () => {
        if (status !== 200) return
        clearTimeout(timer)
        resolve()
      })
      stream.once('close', () => {
        clearTimeout(timer)
        // A refusal's body (a JSON error with its code) is in #pending: it holds no event boundary.
        const why =
          status === 200
            ? 'closed before its first bytes'
            : `answered ${status}: ${this.#pending.trim().slice(0, 300)}`
        reject(new Error(`${o.kind} stream ${why} (${this.failure ?? 'no error'})`))
      })
    })
    stream.on('data', (chunk: string) => this.#feed(chunk))
    stream.on('error', (err) => this.#fail(`stream: ${err.message}`))
    stream.once('close', () => this.#fail('stream closed by the server'))
  }

  /** Opens the stream and resolves once the server has added it to its hub. */
  static async open(options: SubscriberOptions): Promise<SseSubscriber> {
    const s = new SseSubscriber(options)
    await s.#ready.catch((err: unknown) => {
      s.close()
      throw err
    })
    return s
  }

  /** Whether this subscriber asked for the device. */
  expects(device: number): boolean {
    return this.#asked === null ? device >= 0 && device < this.#o.fleetDevices : this.#asked[device] === 1
  }

  close(): void {
    this.#closing = true
    this.#close()
  }

  #count(what: string, n = 1): void {
    this.counts[what] = (this.counts[what] ?? 0) + n
  }

  #fail(why: string): void {
    if (!this.#closing) this.failure ??= why
  }

  #feed(chunk: string): void {
    // Every event in one chunk arrived together: one clock reading for all of them.
    const now = Date.now()
    const text = this.#pending === '' ? chunk : this.#pending + chunk
    let start = 0
    for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n', start)) {
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
    let [id, type, from, to] = [-1, 'message', -1, -1]
    for (let pos = start; pos < end; ) {
      let nl = text.indexOf('\n', pos)
      if (nl < 0 || nl > end) nl = end
      if (text.startsWith('data: ', pos)) [from, to] = [pos + 6, nl]
      else if (text.startsWith('id: ', pos)) id = Number(text.slice(pos + 4, nl))
      else if (text.startsWith('event: ', pos)) type = text.slice(pos + 7, nl)
      pos = nl + 1
    }
    if (from < 0) return // `retry:` or a `: ping` comment
    this.#count('events')
    this.#count(type)
    if (id >= 0 && this.#lastId >= 0) {
      // A filtered stream skips the ids of the hub's other devices' events.
      if (id > this.#lastId + 1 && this.#asked === null) this.#count('idSkipped', id - this.#lastId - 1)
      else if (id <= this.#lastId) this.#count('idBackwards')
    }
    if (id >= 0) this.#lastId = id
    if (type === 'gap') this.#count('gapLost', numberAfter(text, '"lost":', from, to))
    else {
      const wrong = this.#event(type, text, from, to, now)
      if (wrong !== null) this.#count(wrong)
    }
  }

  /** An event's data, text[from, to): measured, or what was wrong with it (a `counts` key). */
  #event(type: string, text: string, from: number, to: number, now: number): string | null {
    // `device` comes first in every event that names one (telemetry, feature, partial, late).
    const device = stringAfter(text, '"device":"', from, to)
    if (device === null) return null // `reset`
    const prefix = this.#o.devicePrefix
    const d = device.startsWith(prefix) ? Number(device.slice(prefix.length)) : -1
    if (!Number.isInteger(d) || d < 0) return 'unreadable'
    if (!this.expects(d)) return 'foreign'
    const recorder = this.#o.recorder
    if (type === 'telemetry') {
      const seq = numberAfter(text, '"seq":', from, to)
      const publishedMs = timeAfter(text, '"device_ts":"', from, to)
      if (Number.isNaN(seq) || Number.isNaN(publishedMs)) return 'unreadable'
      recorder.telemetry(seq, publishedMs, timeAfter(text, '"recv_ts":"', from, to), now)
      return this.seen!.ack(d, seq) ? null : 'duplicates'
    }
    if (type !== 'feature') return null
    const feature = stringAfter(text, '"feature":"', from, to)
    const windowEndMs = timeAfter(text, '"window_end":"', from, to)
    const watermarkMs = timeAfter(text, '"watermark":"', from, to)
    if (feature === null || Number.isNaN(windowEndMs) || Number.isNaN(watermarkMs)) return 'unreadable'
    const staleness = numberAfter(text, '"staleness_ms":', from, to)
    const closedBy = stringAfter(text, '"closed_by":"', from, to)
    if (recorder.feature(feature, windowEndMs, watermarkMs, staleness, closedBy, now)) this.features![d]!++
    return null
  }
}

function stringAfter(text: string, key: string, from: number, to: number): string | null {
  const i = text.indexOf(key, from)
  const end = i < 0 || i >= to ? -1 : text.indexOf('"', i + key.length)
  return end < 0 || end > to ? null : text.slice(i + key.length, end)
}

function numberAfter(text: string, key: string, from: number, to: number): number {
  const i = text.indexOf(key, from)
  if (i < 0 || i >= to) return Number.NaN
  let end = i + key.length
  // digits, '-', '.', 'e', '+'
  for (
    let c = text.charCodeAt(end);
    end < to && ((c >= 48 && c <= 57) || c === 45 || c === 46 || c === 101 || c === 43);
  )
    c = text.charCodeAt(++end)
  return end === i + key.length ? Number.NaN : Number(text.slice(i + key.length, end))
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
  if (second !== cachedSecond) [cachedSecond, cachedSecondMs] = [second, Date.parse(`${second}Z`)]
  return cachedSecondMs + Number(text.slice(start + 20, start + 29)) / 1e6
}

let cachedSecond = ''
let cachedSecondMs = Number.NaN
