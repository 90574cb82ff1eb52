/**
 * One write of lines to InfluxDB, and what came of it. No retries and no
 * buffer here: the forwarder retries from the durable store, so a failure
 * only says whether to try again and when.
 *
 * - v2: `/api/v2/write` through @influxdata/influxdb-client's WriteApi
 *   (InfluxDB 1.8+, 2.x, and 3.x's v2 compatibility endpoint), with its
 *   retries off (maxRetries 0, and writeFailed ends the flush with the error)
 *   so nothing is kept in its memory.
 * - v1: `/write?db=&rp=&precision=ns` (InfluxDB 1.x).
 * - auto: GET /ping and read X-Influxdb-Version ("1.x" → v1, else v2).
 */

import { HttpError, InfluxDB, type WriteApi } from '@influxdata/influxdb-client'
import type { InfluxConfig } from '../config.js'

export type WriteOutcome =
  | { readonly kind: 'written' }
  /** Try the same lines again, after at least delayMs when the server said so (Retry-After). */
  | {
      readonly kind: 'retry'
      readonly cause: string
      readonly message: string
      readonly delayMs: number | null
    }
  /** The lines themselves were refused (400): trying again will not help. */
  | { readonly kind: 'rejected'; readonly message: string }

export interface LineWriter {
  readonly version: 1 | 2
  /** Lines, newline-separated. */
  write(body: string): Promise<WriteOutcome>
  close(): Promise<void>
}

const TIMEOUT_MS = 30_000

/** The writer for the configured version; `auto` asks the server (and fails while it cannot be reached). */
export async function openWriter(config: InfluxConfig): Promise<LineWriter> {
  let version = config.version
  if (version === 'auto') {
    const res = await fetch(`${config.url}/ping`, { signal: AbortSignal.timeout(TIMEOUT_MS) })
    const header = res.headers.get('x-influxdb-version') ?? ''
    // 1.x answers "1.6.7~rc0"; 2.x "v2.7.1" or "2.7.1"; 3.x "3.0.0".
    version = /^v?1\./.test(header) ? 1 : 2
    if (version === 1 && config.db === null)
      throw new Error(`InfluxDB ${header} is 1.x: --influx-db is needed`)
    if (version === 2 && (config.org === null || config.bucket === null))
      throw new Error(
        `InfluxDB ${header || '(no version header)'}: --influx-org and --influx-bucket are needed`,
      )
  }
  return version === 1 ? new V1Writer(config) : new V2Writer(config)
}

class V1Writer implements LineWriter {
  readonly version = 1
  readonly #url: string
  readonly #headers: Record<string, string>

  constructor(config: InfluxConfig) {
    const query = new URLSearchParams({ db: config.db!, precision: 'ns' })
    if (config.rp !== null) query.set('rp', config.rp)
    this.#url = `${config.url}/write?${query}`
    this.#headers = { 'content-type': 'text/plain; charset=utf-8' }
    if (config.token !== null) this.#headers.authorization = `Token ${config.token}`
  }

  async write(body: string): Promise<WriteOutcome> {
    let res: Response
    try {
      res = await fetch(this.#url, {
        method: 'POST',
        headers: this.#headers,
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
    } catch (err) {
      return networkFailure(err)
    }
    const text = await res.text().catch(() => '')
    if (res.status === 204 || res.status === 200) return { kind: 'written' }
    return httpFailure(res.status, errorMessage(text) ?? res.statusText, res.headers.get('retry-after'))
  }

  async close(): Promise<void> {}
}

class V2Writer implements LineWriter {
  readonly version = 2
  readonly #api: WriteApi

  constructor(config: InfluxConfig) {
    const client = new InfluxDB({
      url: config.url,
      timeout: TIMEOUT_MS,
      ...(config.token === null ? {} : { token: config.token }),
    })
    this.#api = client.getWriteApi(config.org!, config.bucket!, 'ns', {
      maxRetries: 0,
      // Each write is one record (a whole body), so only flush() sends; the client preallocates this many slots.
      batchSize: 2,
      maxBatchBytes: 1024 ** 3,
      flushInterval: 0,
      // Returning a promise makes it the flush's result: the error reaches us, nothing is buffered or logged.
      writeFailed: (error) => Promise.reject(error),
    })
  }

  async write(body: string): Promise<WriteOutcome> {
    try {
      // One record of many lines: the client joins records with newlines, and sends this as it is.
      this.#api.writeRecord(body)
      await this.#api.flush()
      return { kind: 'written' }
    } catch (err) {
      if (err instanceof HttpError)
        return httpFailure(err.statusCode, errorMessage(err.body ?? '') ?? err.message, retryAfter(err))
      return networkFailure(err)
    }
  }

  async close(): Promise<void> {
    this.#api.dispose()
  }
}

/** Retry-After as the client parsed it (whole seconds; 0 when absent), or the raw header. */
function retryAfter(err: HttpError): string | null {
  const seconds = err.retryAfter()
  if (seconds > 0) return String(seconds)
  const header = err.headers?.['retry-after']
  return typeof header === 'string' ? header : null
}

function httpFailure(status: number, message: string, retryAfterHeader: string | null): WriteOutcome {
  // 400: bad lines. 413: too large, which the forwarder also answers by splitting.
  if (status === 400 || status === 413) return { kind: 'rejected', message }
  let delayMs: number | null = null
  if (retryAfterHeader !== null) {
    const seconds = Number(retryAfterHeader)
    delayMs = Number.isFinite(seconds)
      ? seconds * 1000
      : Math.max(0, Date.parse(retryAfterHeader) - Date.now()) || null
  }
  return { kind: 'retry', cause: `http_${status}`, message: `${status}: ${message}`, delayMs }
}

function networkFailure(err: unknown): WriteOutcome {
  const e = err as Error & { cause?: { code?: string }; code?: string }
  const code = e.cause?.code ?? e.code ?? (e.name === 'TimeoutError' ? 'timeout' : 'network')
  return {
    kind: 'retry',
    cause: String(code).toLowerCase(),
    message: e.cause?.code ?? e.message,
    delayMs: null,
  }
}

/** InfluxDB's `{"error": "..."}` (1.x) or `{"message": "..."}` (2.x), or null. */
function errorMessage(body: string): string | null {
  try {
    const json = JSON.parse(body) as { error?: string; message?: string }
    return json.error ?? json.message ?? null
  } catch {
    return body.trim() === '' ? null : body.trim().slice(0, 500)
  }
}
