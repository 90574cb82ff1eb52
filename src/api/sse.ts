/**
 * Server-Sent Events (WHATWG HTML §9.2) for many clients, none of which may
 * slow ingest or each other.
 *
 *   publish(event) ─▶ replay log (bytes of the last N events, monotonic ids; replay-log.ts)
 *                 └─▶ each live client ─▶ socket, or while it is full a bounded queue
 *                                          └─ queue full: a `gap` in its place, or disconnect
 *   a resuming client (Last-Event-ID) reads the log from its id at its socket's
 *   pace, then goes live; a `reset` if the log no longer reaches back that far
 *
 * The log fills only while someone may come back for it: from the first
 * client's arrival until `replayIdleMs` after the last one left. A hub nobody
 * listens to keeps no events and no buffer for them. Ids advance all the
 * same, so a client resuming from before is told `reset`.
 *
 * Event ids increase by one per event of the hub. Writes never wait: a socket
 * that stops draining only fills its own client's queue, and a client that
 * goes away frees everything it held on 'close' (a write awaiting 'drain' on
 * a dead socket would hang forever).
 */

import { type LoggedEvent, ReplayLog } from './replay-log.js'

export interface HubEvent {
  /** Assigned by the hub, on the object published. */
  id: number
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
  /** Bytes those events may take (their JSON, device and names); the oldest go first. Default 8 MiB. */
  readonly replayBytes: number
  /** Events a live client may have queued while its socket is full. Default 4096: one large group commit's events arrive at once. */
  readonly maxQueuedEvents: number
  /** What a slow client gets: `gap` (events dropped, then told how many) or `disconnect`. */
  readonly slowClient: 'gap' | 'disconnect'
  /** Comment line sent to idle streams, ms. Default 15000. */
  readonly heartbeatMs: number
  /**
   * How long the replay log goes on filling after the last client left, ms;
   * checked at each heartbeat. Default 300000.
   */
  readonly replayIdleMs: number
  /**
   * Write each client's events of one tick as one write (default true): a
   * group commit publishes many readings at once, and one HTTP/2 DATA frame
   * or TCP write per event would cost more than the events themselves.
   */
  readonly coalesceWrites?: boolean
  /**
   * Id of the first event. Default: the hub's start in epoch ms × 1000, so ids
   * keep increasing across restarts and a Last-Event-ID from before one is
   * recognised as older than the replay log (a `reset`), not as current.
   */
  readonly firstId?: number
}

export const DEFAULT_HUB_OPTIONS: HubOptions = Object.freeze({
  replayEvents: 10_000,
  replayBytes: 8 * 1024 * 1024,
  maxQueuedEvents: 4_096,
  slowClient: 'gap',
  heartbeatMs: 15_000,
  replayIdleMs: 300_000,
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
  /** Closes the underlying stream at once (an HTTP/2 stream, or an HTTP/1.1 socket). */
  destroy(): unknown
  once(event: 'drain' | 'close', listener: () => void): unknown
}

type Response = StreamResponse

/** The hub's replay log, as a client catching up reads it. */
interface EventLog {
  /** The event with this id, if the ring still holds it. */
  at(id: number): HubEvent | undefined
  readonly oldestId: number
  readonly nextId: number
}

/** A gap in a client's queue: events dropped at this point of its stream. */
interface Gap {
  lost: number
}

/**
 * One stream. It is either catching up, reading the replay log at the pace
 * its socket drains (so a resume never overflows anything), or live, taking
 * events as they are published into a bounded queue while its socket is full.
 */
class Client {
  readonly #res: Response
  readonly #filter: ClientFilter
  readonly #queue: (string | Gap)[] = []
  /** Next log id to read while catching up; null once live. */
  #cursor: number | null
  #waiting = false
  /** Events of this tick, written together (coalesceWrites). */
  #batch: string[] = []
  readonly #coalesce: boolean
  closed = false

  constructor(res: Response, filter: ClientFilter, cursor: number | null, coalesce: boolean) {
    this.#res = res
    this.#filter = filter
    this.#cursor = cursor
    this.#coalesce = coalesce
  }

  /** The devices it asked for; null for all. */
  get devices(): ReadonlySet<string> | null {
    return this.#filter.devices
  }

  matches(event: HubEvent): boolean {
    if (this.#filter.devices !== null && !this.#filter.devices.has(event.device)) return false
    if (this.#filter.names === null) return true
    return event.names.some((n) => this.#filter.names!.has(n))
  }

  frame(event: HubEvent): string | null {
    if (!this.matches(event)) return null
    const data = typeof event.data === 'string' ? event.data : event.data(this.#filter.names)
    return data === null ? null : `id: ${event.id}\nevent: ${event.type}\ndata: ${data}\n\n`
  }

  /** A live event: sent (or queued), not for this client, dropped, or the client must go. */
  offer(event: HubEvent, options: HubOptions): 'sent' | 'none' | 'dropped' | 'disconnect' {
    if (this.closed || this.#cursor !== null) return 'none' // catching up reads the log itself
    const text = this.frame(event)
    if (text === null) return 'none'
    if (!this.#waiting) {
      if (!this.#coalesce) this.#write(text)
      else if (this.#batch.push(text) === 1) setImmediate(() => this.#flushBatch())
      else if (this.#batch.length >= options.maxQueuedEvents) this.#flushBatch()
      return 'sent'
    }
    const last = this.#queue[this.#queue.length - 1]
    if (typeof last === 'object') {
      last.lost++
      return 'dropped'
    }
    if (this.#queue.length >= options.maxQueuedEvents) {
      if (options.slowClient === 'disconnect') return 'disconnect'
      // The gap takes its place in the stream, after what was queued before it.
      this.#queue.push({ lost: 1 })
      return 'dropped'
    }
    this.#queue.push(text)
    return 'sent'
  }

  #flushBatch(): void {
    if (this.#batch.length === 0 || this.closed) return
    const text = this.#batch.length === 1 ? this.#batch[0]! : this.#batch.join('')
    this.#batch = []
    this.#write(text)
  }

  /** Sends raw SSE text (comments, retry) unless the socket is full. */
  send(text: string): void {
    if (!this.#waiting && !this.closed) this.#write(text)
  }

  /** Reads the log from the cursor while the socket takes it; goes live at the end. */
  /** Returns how many events it wrote. */
  catchUp(log: EventLog): number {
    let written = 0
    // An id this hub never issued (from before a restart, or another node) is no place to resume from.
    if (this.#cursor !== null && this.#cursor > log.nextId) this.#cursor = log.oldestId - 1
    while (this.#cursor !== null && !this.#waiting && !this.closed) {
      if (this.#cursor < log.oldestId) {
        this.#write(`event: reset\ndata: ${JSON.stringify({ oldestId: log.oldestId })}\n\n`)
        this.#cursor = log.oldestId
        continue
      }
      if (this.#cursor >= log.nextId) {
        this.#cursor = null
        break
      }
      // Up to ~64 KiB of the log per write (one event per write when not coalescing).
      const limit = this.#coalesce ? 65_536 : 1
      let chunk = ''
      while (this.#cursor < log.nextId && chunk.length < limit) {
        const event = log.at(this.#cursor++)
        const text = event === undefined ? null : this.frame(event)
        if (text === null) continue
        chunk += text
        written++
      }
      if (chunk !== '') this.#write(chunk)
    }
    return written
  }

  #write(text: string): void {
    // false: the socket's buffer is full. Hold everything else until it drains.
    if (!this.#res.write(text)) {
      this.#waiting = true
      this.#res.once('drain', () => this.#drained())
    }
  }

  #drained(): void {
    this.#waiting = false
    while (!this.#waiting && !this.closed && this.#queue.length > 0) {
      const next = this.#queue.shift()!
      this.#write(
        typeof next === 'string' ? next : `event: gap\ndata: ${JSON.stringify({ lost: next.lost })}\n\n`,
      )
    }
    this.#onDrained?.()
  }

  /** Set by the hub: continue catching up once the socket drains. */
  #onDrained: (() => void) | null = null
  whenDrained(fn: () => void): void {
    this.#onDrained = fn
  }

  heartbeat(): void {
    this.send(': ping\n\n')
  }

  end(): void {
    this.closed = true
    this.#queue.length = 0
    this.#batch = []
    this.#res.end()
  }

  /** Cuts a client that stopped reading: ending would wait behind its unread data. */
  cut(): void {
    this.end()
    this.#res.destroy()
  }
}

export class SseHub {
  readonly #options: HubOptions
  readonly #counters: HubCounters
  readonly #clients = new Set<Client>()
  /**
   * The clients an event of a device can be for: those of every device, and
   * those that named it. A live model names its own devices, so an event is
   * offered to a few clients, not to all of them.
   */
  readonly #anyDevice = new Set<Client>()
  readonly #byDevice = new Map<string, Set<Client>>()
  /** Started while published events go into it. */
  readonly #log: ReplayLog
  #nextId: number
  /** When the last client left (performance.now()). */
  #idleSince = 0
  readonly #heartbeat: NodeJS.Timeout

  /** The ring as clients catching up read it. */
  readonly #eventLog: EventLog

  /**
   * `revive` turns an event read back from the replay log into what clients
   * take; by default its data, for every client, is the JSON it had for a
   * client that asked for every name. A hub whose events' data depends on
   * the client's names must pass one that gives the same data as live.
   */
  constructor(
    options: HubOptions,
    counters: HubCounters,
    revive: (event: LoggedEvent) => HubEvent = (e) => e,
  ) {
    this.#options = options
    this.#counters = counters
    this.#log = new ReplayLog({ slots: options.replayEvents, bytes: options.replayBytes })
    this.#nextId = options.firstId ?? Date.now() * 1000
    const log = this.#log
    const hub = this
    this.#eventLog = {
      at(id) {
        const event = log.at(id)
        return event === undefined ? undefined : revive(event)
      },
      get oldestId() {
        return log.started ? log.oldestId : hub.#nextId
      },
      get nextId() {
        return hub.#nextId
      },
    }
    this.#heartbeat = setInterval(() => {
      for (const c of this.#clients) c.heartbeat()
      if (
        this.#log.started &&
        this.#clients.size === 0 &&
        performance.now() - this.#idleSince >= options.replayIdleMs
      )
        this.#log.stop()
    }, options.heartbeatMs)
    this.#heartbeat.unref()
  }

  publish(event: Omit<HubEvent, 'id'>): void {
    // The id goes on the object itself: a copy would cost every reading an allocation.
    const full = event as HubEvent
    full.id = this.#nextId++
    if (this.#log.started)
      this.#log.append(
        full.id,
        full.device,
        full.type,
        full.names,
        typeof full.data === 'string' ? full.data : full.data(null),
      )
    let sent = 0
    let dropped = 0
    const named = this.#byDevice.get(full.device)
    const offer = (client: Client): void => {
      const outcome = client.offer(full, this.#options)
      if (outcome === 'sent') sent++
      else if (outcome === 'dropped') dropped++
      else if (outcome === 'disconnect') {
        dropped++
        this.#remove(client)
        client.cut()
      }
    }
    for (const client of this.#anyDevice) offer(client)
    if (named !== undefined) for (const client of named) offer(client)
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
    const client = new Client(
      res,
      filter,
      lastEventId === null ? null : lastEventId + 1,
      this.#options.coalesceWrites ?? true,
    )
    // A reconnecting EventSource waits this long between attempts.
    client.send('retry: 2000\n\n')
    if (!this.#log.started) this.#log.start(this.#nextId)
    const log = this.#eventLog
    const catchUp = (): void => {
      const written = client.catchUp(log)
      if (written > 0) this.#counters.eventsSent(written)
    }
    client.whenDrained(catchUp)
    catchUp()
    this.#clients.add(client)
    if (filter.devices === null) this.#anyDevice.add(client)
    else
      for (const device of filter.devices) {
        const clients = this.#byDevice.get(device)
        if (clients === undefined) this.#byDevice.set(device, new Set([client]))
        else clients.add(client)
      }
    this.#counters.clients(1)
    res.once('close', () => this.#remove(client))
  }

  #remove(client: Client): void {
    if (!this.#clients.delete(client)) return
    this.#anyDevice.delete(client)
    for (const device of client.devices ?? []) {
      const clients = this.#byDevice.get(device)
      clients?.delete(client)
      if (clients?.size === 0) this.#byDevice.delete(device)
    }
    client.closed = true
    this.#counters.clients(-1)
    if (this.#clients.size === 0) this.#idleSince = performance.now()
  }

  /** Ends every stream: for shutdown. */
  close(): void {
    clearInterval(this.#heartbeat)
    for (const client of this.#clients) {
      this.#remove(client)
      client.end()
    }
  }

  /** Id of the newest event; one less than the first id while there is none. */
  get lastId(): number {
    return this.#nextId - 1
  }
}
