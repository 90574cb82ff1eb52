/**
 * The app's garbage collections while a scenario runs, from prom-client's
 * `nodejs_gc_duration_seconds` on its /metrics, scraped once a second (a
 * scrape holds the app's event loop a few ms, as Prometheus's would): how
 * many and how long, and in which stretches a major (mark-compact) one
 * ended, so that a latency spike can be set beside them.
 */

import { performance } from 'node:perf_hooks'
import { LatencyHistogram, type LatencySummary } from '../simulators/index.js'

const SCRAPE_TIMEOUT_MS = 5000

export interface GcTotals {
  readonly major: number
  /** Seconds the main thread was paused by them (prom-client measures each pause). */
  readonly majorS: number
  readonly minor: number
  readonly minorS: number
}

interface Sample extends GcTotals {
  /** The clock's time when the scrape came back. */
  readonly atMs: number
}

/** Collections so far and their pauses, from prom-client text; 0 where a kind has none yet. */
export function gcCounts(metrics: string): GcTotals {
  const metric = (suffix: 'count' | 'sum', kind: 'major' | 'minor'): number =>
    Number(
      new RegExp(`^nodejs_gc_duration_seconds_${suffix}\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(
        metrics,
      )?.[1] ?? 0,
    )
  return {
    major: metric('count', 'major'),
    majorS: metric('sum', 'major'),
    minor: metric('count', 'minor'),
    minorS: metric('sum', 'minor'),
  }
}

/** Latency of the seconds in or next to which a major collection ended, and of the others. */
export interface LatencyByMajorGc {
  readonly secondsWithMajor: number
  readonly seconds: number
  readonly withMajor: LatencySummary
  readonly other: LatencySummary
}

/** Splits one-second latency histograms, each given with its start, by whether a major collection ended in or next to it. */
export function latencyByMajorGc(
  gc: GcSampler,
  seconds: Iterable<readonly [startMs: number, latency: LatencyHistogram]>,
): LatencyByMajorGc {
  const withMajor = new LatencyHistogram()
  const other = new LatencyHistogram()
  let secondsWithMajor = 0
  let count = 0
  for (const [startMs, latency] of seconds) {
    count++
    if (gc.majorDuring(startMs, startMs + 1000)) {
      secondsWithMajor++
      withMajor.merge(latency)
    } else other.merge(latency)
  }
  return { secondsWithMajor, seconds: count, withMajor: withMajor.summary(), other: other.summary() }
}

export class GcSampler {
  readonly #url: string
  readonly #clock: () => number
  readonly #samples: Sample[] = []
  readonly #timer: NodeJS.Timeout
  #inFlight: Promise<void> = Promise.resolve()

  /** `clock` gives the times every method here takes: performance.now() unless said otherwise. */
  constructor(httpUrl: string, everyMs = 1000, clock: () => number = () => performance.now()) {
    this.#url = `${httpUrl}/metrics`
    this.#clock = clock
    this.#take()
    this.#timer = setInterval(() => this.#take(), everyMs)
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#inFlight
  }

  /** Between the samples nearest fromMs and toMs. */
  totals(fromMs: number, toMs: number): GcTotals {
    const a = this.#at(fromMs)
    const b = this.#at(toMs)
    if (a === undefined || b === undefined)
      return { major: Number.NaN, majorS: Number.NaN, minor: Number.NaN, minorS: Number.NaN }
    return {
      major: b.major - a.major,
      majorS: b.majorS - a.majorS,
      minor: b.minor - a.minor,
      minorS: b.minorS - a.minorS,
    }
  }

  /** Whether a major collection ended between the samples around [fromMs, toMs). */
  majorDuring(fromMs: number, toMs: number): boolean {
    const s = this.#samples
    for (let i = 1; i < s.length; i++)
      if (s[i]!.atMs > fromMs && s[i - 1]!.atMs < toMs && s[i]!.major > s[i - 1]!.major) return true
    return false
  }

  /** The last sample at or before atMs (the first, before any). */
  #at(atMs: number): Sample | undefined {
    let found = this.#samples[0]
    for (const s of this.#samples) if (s.atMs <= atMs) found = s
    return found
  }

  #take(): void {
    this.#inFlight = this.#inFlight.then(async () => {
      try {
        // Bounded: a stalled server must not hold the bench up at stop().
        const response = await fetch(this.#url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) })
        const counts = gcCounts(await response.text())
        this.#samples.push({ atMs: this.#clock(), ...counts })
      } catch {
        // The server has gone, or did not answer in time: the samples so far stand.
      }
    })
  }
}
