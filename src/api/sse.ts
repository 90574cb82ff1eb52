/**
 * Server-Sent Events (WHATWG HTML §9.2) for many clients, none of which may
 * slow ingest or each other.
 *
 *   publish(event) ─▶ replay log (ring, last N events, monotonic ids)
 *                 └─▶ each matching client ─▶ socket, or its bounded queue
 *                                               │ full: drop and send `gap`, or disconnect
 *
 * Event ids increase by one per event of the hub, so a client reconnecting
 * with Last-Event-ID gets what it missed from the log; when the log no longer
 * reaches back that far it gets a `reset` event first. Writes never wait: a
 * socket that stops draining only fills its client's queue, and a client
 * that goes away frees everything it held on 'close' (a write awaiting
 * 'drain' on a dead socket would hang forever).
 */

export interface HubEvent {
  /** Assigned by the hub. */
  readonly id: number
  readonly device: string
  /** SSE event type: `telemetry`, `feature`, `partial`, `late`. */
  readonly type: string
  /** The field or feature names the event carries, for filtering. */
  readonly names: readonly string[]
  /** JSON data, or a function giving it for one client's name filter. */
  readonly data: string | ((names: ReadonlySet<string> | null) => string | null)
}

export interface ClientFilter {
  /** null: every device. */
  readonly devices: ReadonlySet<string> | null
  /** null: every name. */
  readonly names: ReadonlySet<string> | null
}

export interface HubOptions {
  /** Events kept for Last-Event-ID replay. Default 10000. */
  readonly replayEvents: number
  /** Events a client may have queued before it is slow. Default 1000. */
  readonly maxQueuedEvents: number
  /** What a slow client gets: `gap` (events dropped, then told how many) or `disconnect`. */
  readonly slowClient: 'gap' | 'disconnect'
  /** Comment line sent to idle streams, ms. Default 15000. */
  readonly heartbeatMs: number
}

export const DEFAULT_HUB_OPTIONS: HubOptions = Object.freeze({
  replayEvents: 10_000,
  maxQueuedEvents: 1_000,
  slowClient: 'gap',
  heartbeatMs: 15_000,
})

export interface HubCounters {
  eventsSent(n: number): void
  eventsDropped(n: number): void
  clients(delta: number): void
}

/** What both HTTP/1.1 and HTTP/2 (compat) responses offer. */
export interface StreamResponse {
  writeHead(status: number, headers: Record<string, string>): unknown
  write(chunk: string): boolean
  end(): unknown
  once(event: 'drain' | 'close', listener: () => void): unknown
}

type Response = StreamResponse

class Client {
  readonly #res: Response
  readonly #filter: ClientFilter
  readonly #queue: string[] = []
  #waiting = false
  #lost = 0
  closed = false

  constructor(res: Response, filter: ClientFilter) {
    this.#res = res
    this.#filter = filter
  }

  matches(event: HubEvent): boolean {
    if (this.#filter.devices !== null && !this.#filter.devices.has(event.device)) return false
    if (this.#filter.names === null) return true
    return event.names.some((n) => this.#filter.names!.has(n))
  }

  frame(event: HubEvent): string | null {
    const data = typeof event.data === 'string' ? event.data : event.data(this.#filter.names)
    return data === null ? null : `id: ${event.id}\nevent: ${event.type}\ndata: ${data}\n\n`
  }

  /** Sends or queues; returns the events dropped (0 or 1), or -1 when the client must go. */
  offer(text: string, options: HubOptions): number {
    if (this.closed) return 0
    if (!this.#waiting) {
      this.#write(text)
      return 0
    }
    if (this.#queue.length >= options.maxQueuedEvents) {
      if (options.slowClient === 'disconnect') return -1
      this.#lost++
      return 1
    }
    this.#queue.push(text)
    return 0
  }

  #write(text: string): void {
    // false: the socket's buffer is full. Keep queueing until it drains.
    if (!this.#res.write(text)) {
      this.#waiting = true
      this.#res.once('drain', () => this.#drain())
    }
  }

  #drain(): void {
    this.#waiting = false
    if (this.#lost > 0) {
      this.#write(`event: gap\ndata: ${JSON.stringify({ lost: this.#lost })}\n\n`)
      this.#lost = 0
    }
    while (!this.#waiting && this.#queue.length > 0) this.#write(this.#queue.shift()!)
  }

  heartbeat(): void {
    if (!this.#waiting) this.#write(': ping\n\n')
  }

  end(): void {
    this.closed = true
    this.#queue.length = 0
    this.#res.end()
  }
}

export class SseHub {
  readonly #options: HubOptions
  readonly #counters: HubCounters
  readonly #clients = new Set<Client>()
  /** The replay log: a ring of the last `replayEvents` events. */
  readonly #log: (HubEvent | undefined)[]
  #nextId = 1
  readonly #heartbeat: NodeJS.Timeout

  constructor(options: HubOptions, counters: HubCounters) {
    this.#options = options
    this.#counters = counters
    this.#log = new Array(options.replayEvents)
    this.#heartbeat = setInterval(() => {
      for (const c of this.#clients) c.heartbeat()
    }, options.heartbeatMs)
    this.#heartbeat.unref()
  }

  publish(event: Omit<HubEvent, 'id'>): void {
    const full = { ...event, id: this.#nextId++ } as HubEvent
    this.#log[full.id % this.#log.length] = full
    let sent = 0
    let dropped = 0
    for (const client of this.#clients) {
      if (!client.matches(full)) continue
      const text = client.frame(full)
      if (text === null) continue
      const lost = client.offer(text, this.#options)
      if (lost < 0) {
        this.#remove(client)
        client.end()
      } else if (lost > 0) dropped++
      else sent++
    }
    if (sent > 0) this.#counters.eventsSent(sent)
    if (dropped > 0) this.#counters.eventsDropped(dropped)
  }

  /**
   * Starts a stream on a response whose headers are not sent yet: replays
   * what the client missed after `lastEventId`, then follows live events.
   */
  attach(res: Response, filter: ClientFilter, lastEventId: number | null): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Tell nginx and the like not to buffer the stream.
      'x-accel-buffering': 'no',
    })
    const client = new Client(res, filter)
    // A reconnecting EventSource waits this long between attempts.
    client.offer('retry: 2000\n\n', this.#options)
    if (lastEventId !== null) this.#replay(client, lastEventId)
    this.#clients.add(client)
    this.#counters.clients(1)
    res.once('close', () => this.#remove(client))
  }

  #replay(client: Client, lastEventId: number): void {
    const oldest = Math.max(1, this.#nextId - this.#log.length)
    if (lastEventId + 1 < oldest) {
      client.offer(`event: reset\ndata: ${JSON.stringify({ oldestId: oldest })}\n\n`, this.#options)
    }
    for (let id = Math.max(lastEventId + 1, oldest); id < this.#nextId; id++) {
      const event = this.#log[id % this.#log.length]
      if (event === undefined || event.id !== id || !client.matches(event)) continue
      const text = client.frame(event)
      if (text !== null) client.offer(text, this.#options)
    }
  }

  #remove(client: Client): void {
    if (!this.#clients.delete(client)) return
    client.closed = true
    this.#counters.clients(-1)
  }

  /** Ends every stream: for shutdown. */
  close(): void {
    clearInterval(this.#heartbeat)
    for (const client of this.#clients) {
      this.#remove(client)
      client.end()
    }
  }

  get lastId(): number {
    return this.#nextId - 1
  }
}
