/**
 * One SSE stream of the hub (sse.ts). It is either catching up, reading the
 * replay log at the pace its socket drains (so a resume never overflows
 * anything), or live, taking events into a queue that its socket empties:
 *
 *   offer(event) ─▶ queue ─▶ res.write, up to 16 KiB a write, once per tick ─▶ socket
 *                     │ socket full (write() said false): kept until 'drain',
 *                     │ within the byte budget (sse-budget.ts)
 *                     └─ past it: a `gap` in its place, or the stream is cut
 *
 * Writes never wait: a socket that stops draining only fills its own
 * client's queue, and a client that goes away frees everything it held on
 * 'close' (a write awaiting 'drain' on a dead socket would hang forever).
 */

import type { ClientFilter, EventLog, HubEvent, StreamResponse } from './sse.js'
import type { Holder, SseBudget } from './sse-budget.js'

/** One event's frame for every client without a names filter: made once, shared by all of them. */
export interface SharedFrame {
  text?: string | null
}

export interface ClientOptions {
  readonly budget: SseBudget
  /** What a slow client gets: `gap` (events dropped, then told how many) or `disconnect`. */
  readonly slowClient: 'gap' | 'disconnect'
  /** Write a tick's events together (HubOptions.coalesceWrites); else one event a write. */
  readonly coalesce: boolean
  /** Events it dropped when the budget shed its queue. */
  dropped(n: number): void
  /** The budget cut it: the hub forgets it and closes its stream. */
  cut(client: Client): void
}

/** Bytes of one write: the HTTP/2 maximum frame size, and a socket's highWaterMark. */
const CHUNK_BYTES = 16_384

/** A gap in a client's queue: events dropped at this point of its stream. */
interface Gap {
  lost: number
}

const gapFrame = (gap: Gap): string => `event: gap\ndata: ${JSON.stringify({ lost: gap.lost })}\n\n`

function frameOf(event: HubEvent, names: ReadonlySet<string> | null): string | null {
  const data = typeof event.data === 'string' ? event.data : event.data(names)
  return data === null ? null : `id: ${event.id}\nevent: ${event.type}\ndata: ${data}\n\n`
}

export class Client implements Holder {
  readonly #res: StreamResponse
  readonly #filter: ClientFilter
  readonly #options: ClientOptions
  /** Events not yet written, and at most one gap, last. */
  readonly #queue: (string | Gap)[] = []
  #queuedBytes = 0
  /** Written, not yet taken by the socket. */
  #inFlight = 0
  /** Next log id to read while catching up; null once live. */
  #cursor: number | null
  /** The socket said it is full: nothing more is written until 'drain'. */
  #waiting = false
  #flushScheduled = false
  /** Set by the hub: continue catching up once the socket drains. */
  #onDrained: (() => void) | null = null
  closed = false

  constructor(res: StreamResponse, filter: ClientFilter, cursor: number | null, options: ClientOptions) {
    this.#res = res
    this.#filter = filter
    this.#cursor = cursor
    this.#options = options
  }

  /** The devices it asked for; null for all. */
  get devices(): ReadonlySet<string> | null {
    return this.#filter.devices
  }

  /** Bytes it holds: queued, and written but not yet taken. */
  get held(): number {
    return this.#queuedBytes + this.#inFlight
  }

  matches(event: HubEvent): boolean {
    if (this.#filter.devices !== null && !this.#filter.devices.has(event.device)) return false
    if (this.#filter.names === null) return true
    return event.names.some((n) => this.#filter.names!.has(n))
  }

  frame(event: HubEvent, shared?: SharedFrame): string | null {
    if (!this.matches(event)) return null
    if (this.#filter.names !== null || shared === undefined) return frameOf(event, this.#filter.names)
    if (shared.text === undefined) shared.text = frameOf(event, null)
    return shared.text
  }

  /** A live event: sent (or queued), not for this client, dropped, or the client must go. */
  offer(event: HubEvent, shared: SharedFrame): 'sent' | 'none' | 'dropped' | 'disconnect' {
    if (this.closed || this.#cursor !== null) return 'none' // catching up reads the log itself
    const text = this.frame(event, shared)
    if (text === null) return 'none'
    if (this.#extendGap()) return 'dropped'
    const budget = this.#options.budget
    if (!budget.fits(text.length)) {
      budget.makeRoom(text.length)
      // It may itself have been shed: cut (and counted as such), or its queue made a gap.
      if (this.closed) return 'none'
      if (this.#extendGap()) return 'dropped'
    }
    // A client that keeps up queues only within one tick; one whose socket is full, within the budget.
    if (this.#waiting && (this.held + text.length > budget.clientBytes || !budget.fits(text.length))) {
      if (this.#options.slowClient === 'disconnect') return 'disconnect'
      // The gap takes its place in the stream, after what was queued before it.
      this.#queue.push({ lost: 1 })
      return 'dropped'
    }
    this.#queue.push(text)
    this.#queuedBytes += text.length
    budget.add(text.length)
    if (this.#waiting) return 'sent'
    if (!this.#options.coalesce || this.#queuedBytes >= CHUNK_BYTES) this.#flush()
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => {
        this.#flushScheduled = false
        this.#flush()
      })
    }
    return 'sent'
  }

  /** Once a gap ends the queue, every newer event only adds to it. */
  #extendGap(): boolean {
    const last = this.#queue[this.#queue.length - 1]
    if (typeof last !== 'object') return false
    last.lost++
    return true
  }

  /** Writes the queue while the socket takes it. */
  #flush(): void {
    const limit = this.#options.coalesce ? CHUNK_BYTES : 1
    while (!this.#waiting && !this.closed && this.#queue.length > 0) {
      let text = ''
      let queued = 0
      while (text.length < limit && this.#queue.length > 0) {
        const next = this.#queue.shift()!
        if (typeof next === 'object') text += gapFrame(next)
        else {
          text += next
          queued += next.length
        }
      }
      this.#queuedBytes -= queued
      this.#options.budget.release(queued)
      this.#write(text)
    }
  }

  /** Sends raw SSE text (comments, retry) unless the socket is full. */
  send(text: string): void {
    if (!this.#waiting && !this.closed) this.#write(text)
  }

  /** Reads the log from the cursor while the socket takes it; goes live at the end. Returns how many events it wrote. */
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
      // Up to a chunk of the log per write (one event per write when not coalescing).
      const limit = this.#options.coalesce ? CHUNK_BYTES : 1
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
    const bytes = text.length
    this.#inFlight += bytes
    this.#options.budget.add(bytes)
    // false: the socket's buffer is full. Hold everything else until it drains.
    if (!this.#res.write(text, () => this.#taken(bytes))) {
      this.#waiting = true
      this.#options.budget.waiting(this, true)
      this.#res.once('drain', () => this.#drained())
    }
  }

  #taken(bytes: number): void {
    // Once closed, release() has let go of everything at once.
    if (this.closed) return
    this.#inFlight -= bytes
    this.#options.budget.release(bytes)
  }

  #drained(): void {
    if (this.closed) return
    this.#waiting = false
    this.#options.budget.waiting(this, false)
    this.#flush()
    this.#onDrained?.()
  }

  whenDrained(fn: () => void): void {
    this.#onDrained = fn
  }

  /**
   * The budget is over and this client waits longest: its queue becomes one
   * gap (the events are dropped for it alone), or in disconnect mode or
   * when told to `cut`, it is cut.
   */
  shed(cut: boolean): void {
    if (this.closed) return
    if (cut || this.#options.slowClient === 'disconnect') {
      this.#options.cut(this)
      return
    }
    if (this.#queuedBytes > 0) {
      let dropped = 0
      let lost = 0
      for (const item of this.#queue) {
        if (typeof item === 'string') dropped++
        else lost += item.lost
      }
      this.#queue.length = 0
      this.#queue.push({ lost: lost + dropped })
      this.#options.budget.release(this.#queuedBytes)
      this.#queuedBytes = 0
      this.#options.dropped(dropped)
    }
  }

  heartbeat(): void {
    this.send(': ping\n\n')
  }

  /** The hub forgets it: it writes nothing more, and what it held is released. */
  release(): void {
    if (this.closed) return
    this.closed = true
    this.#options.budget.release(this.held)
    this.#options.budget.waiting(this, false)
    this.#queue.length = 0
    this.#queuedBytes = 0
    this.#inFlight = 0
  }

  end(): void {
    this.#res.end()
  }

  /** Cuts a client that stopped reading: ending would wait behind its unread data. */
  cut(): void {
    this.#res.end()
    this.#res.destroy()
  }
}
