/**
 * A fake SSE response and a hub around it, for the hub's unit tests: pure
 * logic, so a fake is enough. The fake's write() returns false while `full`
 * is set, as a socket whose buffer is full does, and takes the chunk (runs
 * its callback) only once it is not full; the test emits 'drain' and 'close'
 * when it chooses.
 */

import { EventEmitter } from 'node:events'
import {
  type ClientFilter,
  DEFAULT_HUB_OPTIONS,
  type HubCounters,
  type HubEvent,
  type HubOptions,
  SseHub,
  type StreamResponse,
} from '../../../src/api/sse.js'
import { SseBudget } from '../../../src/api/sse-budget.js'
import { parseSse, type SseEvent } from '../../helpers/sse.js'

export class FakeResponse extends EventEmitter implements StreamResponse {
  status: number | null = null
  headers: Record<string, string> = {}
  readonly chunks: string[] = []
  ended = false
  writesAfterEnd = 0
  /** While set, write() reports a full buffer. */
  full = false

  writeHead(status: number, headers: Record<string, string>): this {
    this.status = status
    this.headers = headers
    return this
  }

  /** Callbacks of chunks written while full: the socket has not taken them yet. */
  readonly untaken: (() => void)[] = []

  write(chunk: string, taken: () => void): boolean {
    if (this.ended) this.writesAfterEnd++
    this.chunks.push(chunk)
    if (this.full) this.untaken.push(taken)
    else taken()
    return !this.full
  }

  end(): this {
    this.ended = true
    return this
  }

  destroyed = false
  destroy(): this {
    this.destroyed = true
    return this
  }

  /** The socket emptied its buffer. */
  drain(stillFull = false): void {
    this.full = stillFull
    for (const taken of this.untaken.splice(0)) taken()
    this.emit('drain')
  }

  /** The client went away. */
  close(): void {
    this.emit('close')
  }

  get text(): string {
    return this.chunks.join('')
  }

  get events(): SseEvent[] {
    return parseSse(this.text).events
  }

  /** Ids of the events of one type, as numbers. */
  ids(type = 'telemetry'): number[] {
    return this.events.filter((e) => e.event === type).map((e) => Number(e.id))
  }
}

export class Counters implements HubCounters {
  sent = 0
  dropped = 0
  connected = 0
  cut = 0
  eventsSent(n: number): void {
    this.sent += n
  }
  eventsDropped(n: number): void {
    this.dropped += n
  }
  clients(delta: number): void {
    this.connected += delta
  }
  clientsCut(n: number): void {
    this.cut += n
  }
}

// Ids from 1, so that tables of ids read plainly.
// Writes not coalesced, so that each publish shows in the fake response at once.
export const QUIET: HubOptions = {
  ...DEFAULT_HUB_OPTIONS,
  heartbeatMs: 3_600_000,
  firstId: 1,
  coalesceWrites: false,
}
export const EVERYTHING: ClientFilter = { devices: null, names: null }

interface Teardown {
  teardown(fn: () => unknown): void
}

export function hub(t: Teardown, options: Partial<HubOptions> = {}): { hub: SseHub; counters: Counters } {
  const counters = new Counters()
  const h = new SseHub({ ...QUIET, ...options }, counters)
  t.teardown(() => h.close())
  return { hub: h, counters }
}

export function filter(devices: string[] | null, names: string[] | null = null): ClientFilter {
  return { devices: devices && new Set(devices), names: names && new Set(names) }
}

/** Length of the frame of event(device) with an id of `digits` digits: budgets in tests are counted in these. */
export function frameBytes(device: string, digits = 1): number {
  return `id: ${'1'.repeat(digits)}\nevent: telemetry\ndata: ${JSON.stringify({ device, names: ['temp'] })}\n\n`
    .length
}

/** A budget with room for `frames` frames per client, and `totalFrames` in all. */
export function budget(frames: number, totalFrames = 1_000_000, digits = 1): SseBudget {
  const size = frameBytes('a', digits)
  return new SseBudget({ clientBytes: frames * size, totalBytes: totalFrames * size })
}

export function event(
  device: string,
  names: string[] = ['temp'],
  data?: HubEvent['data'],
): Omit<HubEvent, 'id'> {
  return { device, type: 'telemetry', names, data: data ?? JSON.stringify({ device, names }) }
}

export function attach(
  h: SseHub,
  f: ClientFilter = EVERYTHING,
  lastEventId: number | null = null,
): FakeResponse {
  const res = new FakeResponse()
  h.attach(res, f, lastEventId)
  return res
}
