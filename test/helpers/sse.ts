/**
 * Server-Sent Events for tests: a parser of the event stream format (WHATWG
 * HTML §9.2.6, the parts a server can send), a reader that waits on a stream
 * for what a test expects, and the two ways tests open one: an HTTP/2 client
 * stream and an HTTP/1.1 (or HTTPS) response.
 */

import type { OutgoingHttpHeaders } from 'node:http'
import { request as http1Request, type IncomingMessage } from 'node:http'
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import type { Readable } from 'node:stream'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface SseEvent {
  /** The id field of this event's block, or null when the block had none. */
  readonly id: string | null
  /** `message` when the block named no event type. */
  readonly event: string
  readonly data: string
}

export class SseParser {
  readonly events: SseEvent[] = []
  /** Comment lines, without the colon. */
  readonly comments: string[] = []
  /** The last `retry:` hint, ms. */
  retry: number | null = null
  #buffer = ''
  #id: string | null = null
  #event = ''
  #data: string[] = []

  /** Takes the next piece of the stream; returns the events it completed. */
  feed(text: string): SseEvent[] {
    this.#buffer += text
    const lines = this.#buffer.split('\n')
    this.#buffer = lines.pop() ?? ''
    const done: SseEvent[] = []
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      if (line === '') {
        // §9.2.6: a block without data lines dispatches nothing (e.g. `retry:` alone).
        if (this.#data.length > 0) {
          done.push({
            id: this.#id,
            event: this.#event === '' ? 'message' : this.#event,
            data: this.#data.join('\n'),
          })
        }
        this.#id = null
        this.#event = ''
        this.#data = []
        continue
      }
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim())
        continue
      }
      const colon = line.indexOf(':')
      const name = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (name === 'data') this.#data.push(value)
      else if (name === 'event') this.#event = value
      else if (name === 'id') this.#id = value
      else if (name === 'retry' && /^\d+$/.test(value)) this.retry = Number(value)
    }
    this.events.push(...done)
    return done
  }
}

/** Parses a whole event stream text. */
export function parseSse(text: string): SseParser {
  const parser = new SseParser()
  parser.feed(text)
  return parser
}

/** The JSON data of the events of one type. */
export function dataOf<T = Record<string, unknown>>(events: readonly SseEvent[], type: string): T[] {
  return events.filter((e) => e.event === type).map((e) => JSON.parse(e.data) as T)
}

/** Follows an event stream as it arrives, and waits for what a test expects of it. */
export class SseReader {
  readonly parser = new SseParser()
  /** The stream ended or closed: nothing more will come. */
  ended = false
  readonly #wake = new Set<() => void>()

  constructor(stream: Readable) {
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      this.parser.feed(chunk)
      this.#notify()
    })
    const end = (): void => {
      this.ended = true
      this.#notify()
    }
    stream.once('end', end)
    stream.once('close', end)
    stream.on('error', end)
  }

  get events(): readonly SseEvent[] {
    return this.parser.events
  }

  /**
   * Resolves once `done` holds. Rejects, saying what it waited for, when the
   * stream ends first or `boundMs` passes: a bound against hangs, not a timing claim.
   */
  until(done: (reader: SseReader) => boolean, what: string, boundMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (done(this)) finish(null)
        else if (this.ended) finish(new Error(`stream ended before: ${what} (${this.events.length} events)`))
      }
      const timer = setTimeout(
        () => finish(new Error(`not within ${boundMs} ms: ${what} (${this.events.length} events)`)),
        boundMs,
      )
      const finish = (err: Error | null): void => {
        clearTimeout(timer)
        this.#wake.delete(check)
        if (err === null) resolve()
        else reject(err)
      }
      this.#wake.add(check)
      check()
    })
  }

  #notify(): void {
    for (const check of [...this.#wake]) check()
  }
}

/** Opens a stream on an HTTP/2 session and waits for the response headers. */
export function h2Get(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ stream: ClientHttp2Stream; status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...headers })
    stream.once('error', reject)
    stream.once('response', (h) => {
      stream.off('error', reject)
      // A stream the test stops reading must not fail the session on teardown.
      stream.on('error', () => undefined)
      resolve({ stream, status: Number(h[':status']), headers: h })
    })
  })
}

/** The whole body of a finished response, as text. */
export async function bodyText(stream: Readable): Promise<string> {
  let text = ''
  stream.setEncoding('utf8')
  for await (const chunk of stream) text += chunk as string
  return text
}

/**
 * GET over HTTP/1.1 (or HTTPS when `tls` is given), without an agent so
 * nothing outlives the test; resolves with the response once its headers arrive.
 */
export function h1Get(
  t: Teardown,
  url: string,
  headers: OutgoingHttpHeaders = {},
  tls: RequestOptions | null = null,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions = { headers, agent: false, ...(tls ?? {}) }
    const req = tls === null ? http1Request(url, options) : httpsRequest(url, options)
    t.teardown(() => req.destroy())
    req.once('error', reject)
    req.once('response', (res) => {
      req.off('error', reject)
      req.on('error', () => undefined)
      resolve(res)
    })
    req.end()
  })
}
