/**
 * Server-Sent Events (WHATWG HTML §9.2) for many clients, none of which may
 * slow ingest or each other.
 *
 *   publish(event) ─▶ replay log (bytes of the last N events, monotonic ids; replay-log.ts)
 *                 └─▶ each live client (sse-client.ts) ─▶ socket, or while it is full a queue
 *                      within a byte budget per client and per process (sse-budget.ts)
 *                        └─ past it: a `gap` in its place, or disconnect
 *   a resuming client (Last-Event-ID) reads the log from its id at its socket's
 *   pace, then goes live; a `reset` if the log no longer reaches back that far
 *
 * The log fills only while someone may come back for it: from the first
 * client's arrival until `replayIdleMs` after the last one left. A hub nobody
 * listens to keeps no events and no buffer for them. Ids advance all the
 * same, so a client resuming from before is told `reset`.
 *
 * Event ids increase by one per event of the hub.
 */

import { type LoggedEvent, ReplayLog } from './replay-log.js'
import { SseBudget } from './sse-budget.js'
import { Client, type ClientOptions, type SharedFrame } from './sse-client.js'

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

/** What both HTTP/1.1 and HTTP/2 (compat) responses offer. */
export interface StreamResponse {
  writeHead(status: number, headers: Record<string, string>): unknown
  /** `taken` runs once the socket or HTTP/2 stream has taken the chunk, or failed to. */
  write(chunk: string, taken: () => void): boolean
  end(): unknown
  /** Closes the underlying stream at once (an HTTP/2 stream, or an HTTP/1.1 socket). */
  destroy(): unknown
  once(event: 'drain' | 'close', listener: () => void): unknown
}

/** The hub's replay log, as a client catching up reads it. */
export interface EventLog {
  /** The event with this id, if the ring still holds it. */
  at(id: number): HubEvent | undefined
  readonly oldestId: number
  readonly nextId: number
}

export interface HubOptions {
  /** Events kept for Last-Event-ID replay. Default 10000. */
  readonly replayEvents: number
  /** Bytes those events may take (their JSON, device and names); the oldest go first. Default 8 MiB. */
  readonly replayBytes: number
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
   * Bytes its clients may hold, each and together (sse-budget.ts); one per
   * process, shared by its hubs. Default: a budget of this hub's own with
   * DEFAULT_SSE_BUDGET.
   */
  readonly budget?: SseBudget
  /**
   * Write each client's events of one tick together (default true): a
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
  slowClient: 'gap',
  heartbeatMs: 15_000,
  replayIdleMs: 300_000,
})

export interface HubCounters {
  eventsSent(n: number): void
  eventsDropped(n: number): void
  clients(delta: number): void
  /** Slow clients closed: over their own budget in disconnect mode, or over the process's. */
  clientsCut(n: number): void
}

export class SseHub {
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
  /** What every client of this hub is given. */
  readonly #clientOptions: ClientOptions

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
    this.#counters = counters
    this.#log = new ReplayLog({ slots: options.replayEvents, bytes: options.replayBytes })
    this.#clientOptions = {
      budget: options.budget ?? new SseBudget(),
      slowClient: options.slowClient,
      coalesce: options.coalesceWrites ?? true,
      dropped: (n) => counters.eventsDropped(n),
      cut: (client) => this.#cut(client),
    }
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
    // The frame of every client without a names filter is the same string.
    const shared: SharedFrame = {}
    const offer = (client: Client): void => {
      const outcome = client.offer(full, shared)
      if (outcome === 'sent') sent++
      else if (outcome === 'dropped') dropped++
      else if (outcome === 'disconnect') {
        dropped++
        this.#cut(client)
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
  attach(res: StreamResponse, filter: ClientFilter, lastEventId: number | null): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Tell nginx and the like not to buffer the stream.
      'x-accel-buffering': 'no',
    })
    const client = new Client(res, filter, lastEventId === null ? null : lastEventId + 1, this.#clientOptions)
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
  }

  #remove(client: Client): void {
    if (!this.#clients.delete(client)) return
    this.#anyDevice.delete(client)
    for (const device of client.devices ?? []) {
      const clients = this.#byDevice.get(device)
      clients?.delete(client)
      if (clients?.size === 0) this.#byDevice.delete(device)
    }
    client.release()
    this.#counters.clients(-1)
    if (this.#clients.size === 0) this.#idleSince = performance.now()
  }

  /** Closes a slow client's stream at once. */
  #cut(client: Client): void {
    this.#remove(client)
    client.cut()
    this.#counters.clientsCut(1)
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
