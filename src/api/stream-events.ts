/** Readings and feature results as the SSE streams carry them (docs/http-api.md). */

import { readingJson } from '../core/reading-json.js'
import type { Reading } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import type { FeatureEvent } from '../features/index.js'
import type { LoggedEvent } from './replay-log.js'
import type { HubEvent } from './sse.js'

/**
 * One `telemetry` event per stored reading; a client's `fields` filter trims
 * its fields. The JSON is built on first use and kept: the replay log and
 * every client without a filter take the same string. With no client
 * listening, a reading costs the stream this one small object.
 */
export function telemetryEvent(r: Reading): Omit<HubEvent, 'id'> {
  return new TelemetryEvent(r)
}

class TelemetryEvent {
  readonly type = 'telemetry'
  readonly #reading: Reading
  #names: readonly string[] | null = null
  #all: string | null = null

  constructor(reading: Reading) {
    this.#reading = reading
  }

  get device(): string {
    return this.#reading.device
  }

  /** Made on first use, then kept: every client with a fields filter asks. */
  get names(): readonly string[] {
    this.#names ??= this.#reading.fields.map((f) => f.name)
    return this.#names
  }

  data(names: ReadonlySet<string> | null): string {
    if (names !== null) return this.#json(names)
    this.#all ??= this.#json(null)
    return this.#all
  }

  #json(names: ReadonlySet<string> | null): string {
    const r = this.#reading
    const fields: Record<string, number | bigint | boolean> = {}
    for (const f of r.fields) if (names === null || names.has(f.name)) fields[f.name] = f.value
    return readingJson({ ...r, fields })
  }
}

/**
 * A telemetry event read back from the replay log, which holds its JSON for
 * every field: a client's `fields` filter trims that JSON to what the live
 * event would have sent it (the same keys in the same order).
 */
export function reviveTelemetry(e: LoggedEvent): HubEvent {
  return {
    ...e,
    data: (names) => {
      if (names === null) return e.data
      const event = JSON.parse(e.data) as { fields: Record<string, unknown> }
      const fields: Record<string, unknown> = {}
      for (const [name, value] of Object.entries(event.fields)) if (names.has(name)) fields[name] = value
      return JSON.stringify({ ...event, fields })
    },
  }
}

/**
 * One event per closed window (`feature`), partial update (`partial`) or
 * late reading (`late`), with its freshness: the staleness is the time from
 * the newest reading's arrival to this event. The JSON is built on first use,
 * like a telemetry event's: no client of that device, no cost.
 */
export function featureEvent(e: FeatureEvent, nowNs: bigint): Omit<HubEvent, 'id'> {
  let text: string | null = null
  if (e.kind === 'late') {
    const data = () =>
      (text ??= JSON.stringify({
        device: e.device,
        feature: e.feature,
        ts: formatRfc3339Ns(e.tsNs),
        watermark: formatRfc3339Ns(e.watermarkNs),
      }))
    return { device: e.device, type: 'late', names: [e.feature], data }
  }
  const stalenessMs = Number(nowNs - e.newestRecvNs) / 1e6
  const data = () =>
    (text ??= JSON.stringify({
      device: e.device,
      feature: e.feature,
      field: e.field,
      window_start: formatRfc3339Ns(e.windowStartNs),
      window_end: formatRfc3339Ns(e.windowEndNs),
      values: e.values,
      count: e.count,
      watermark: formatRfc3339Ns(e.watermarkNs),
      staleness_ms: stalenessMs,
      ...(e.kind === 'window' ? { closed_by: e.closedBy } : {}),
    }))
  return { device: e.device, type: e.kind === 'window' ? 'feature' : 'partial', names: [e.feature], data }
}
