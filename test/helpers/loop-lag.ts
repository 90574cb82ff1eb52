/**
 * How late an event loop ran, p99: this process's, or a server's from its
 * /metrics. Node's `monitorEventLoopDelay`, which prom-client's
 * `nodejs_eventloop_lag_*` gauges read too (its default precision is the
 * same 10 ms), records each timer's whole interval, so an idle loop reads
 * 10.1 ms: the lag is what exceeds the resolution.
 */

import { type Histogram, type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import { metricIn, scrape } from './http.js'

export const LOOP_RESOLUTION_MS = 10

/** A recorded interval, ms, as lag: what it exceeds the resolution by. */
export function lagMs(intervalMs: number): number {
  return Math.max(0, intervalMs - LOOP_RESOLUTION_MS)
}

/** This process's loop, sampled every LOOP_RESOLUTION_MS while enabled. */
export function loopMonitor(): IntervalHistogram {
  return monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
}

/** The p99 lag of what the monitor recorded, ms; NaN when nothing was. */
export function lagP99Ms(h: Histogram): number {
  return h.count > 0 ? lagMs(h.percentile(99) / 1e6) : Number.NaN
}

/**
 * The app's p99 lag since its /metrics was last scraped, ms (prom-client
 * resets its histogram at each scrape, so one scrape before a stretch and
 * one after it bracket it); NaN when the metric is missing.
 */
export async function serverLagP99Ms(httpUrl: string): Promise<number> {
  return lagMs(metricIn(await scrape(httpUrl), 'nodejs_eventloop_lag_p99_seconds') * 1000)
}
