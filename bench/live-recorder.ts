/**
 * What bench:live measures of the events its subscribers receive, all
 * subscribers of a run together. Every time here is `Date.now()` of one
 * process or another on this machine, in ms:
 *
 *   device_ts  the publisher's Date.now() when it made the reading (the
 *              simulator stamps it just before publish()), carried in the event
 *   recv_ts    the server's Date.now() when the broker handed it the message
 *   delivery   the subscriber's Date.now() when the event's bytes reached it
 *
 * device_ts and delivery are one process's clock: publish-to-delivery needs
 * nothing about clocks. recv_ts is another process's, but Date.now() reads the
 * kernel's one CLOCK_REALTIME on both, so the split of it at recv_ts holds on
 * one machine (not across machines). Each figure is within ±1 ms (integer ms
 * at both ends).
 */

import { LatencyHistogram } from '../simulators/index.js'

const HISTOGRAMS = [
  ...['publishToDelivery', 'publishToReceive', 'receiveToDelivery'],
  ...['closeToDelivery', 'closingReadingToDelivery', 'staleness'],
] as const

export class DeliveryRecorder {
  /**
   * Telemetry: publish to delivery, and the same split at the server's
   * receive. Features: window end + the feature's grace to delivery (the
   * issue's window-close-to-delivery); from the publish of the reading that
   * closed the window (its ts is the event's watermark + grace) to delivery,
   * the pipeline's own part of it; and the server's own `staleness_ms` (emit
   * time − the newest receive time among the window's readings). A latency
   * below zero (a clock step) counts as 0.
   */
  readonly latency = Object.fromEntries(HISTOGRAMS.map((h) => [h, new LatencyHistogram()])) as Record<
    (typeof HISTOGRAMS)[number],
    LatencyHistogram
  >
  /** Publish → delivery by the second (epoch) the reading was published in. */
  readonly bySecond = new Map<number, LatencyHistogram>()
  /** Feature windows whose close moment lies in [from, to) are measured; none until the window opens. */
  featureFromMs = Number.POSITIVE_INFINITY
  featureToMs = Number.POSITIVE_INFINITY
  readonly #graceMs: ReadonlyMap<string, number>
  readonly #seqs: { readonly first: number; readonly last: number }

  /** `graceMs`: each feature's grace; `measuredSeqs`: the telemetry seqs measured (the warm-up's come before). */
  constructor(graceMs: ReadonlyMap<string, number>, measuredSeqs: { first: number; last: number }) {
    this.#graceMs = graceMs
    this.#seqs = measuredSeqs
  }

  telemetry(seq: number, publishedMs: number, receivedMs: number, deliveredMs: number): void {
    if (seq < this.#seqs.first || seq > this.#seqs.last) return
    const ms = Math.max(0, deliveredMs - publishedMs)
    this.latency.publishToDelivery.record(ms)
    const second = Math.floor(publishedMs / 1000)
    const histogram = this.bySecond.get(second) ?? new LatencyHistogram()
    this.bySecond.set(second, histogram)
    histogram.record(ms)
    if (Number.isNaN(receivedMs)) return
    this.latency.publishToReceive.record(Math.max(0, receivedMs - publishedMs))
    this.latency.receiveToDelivery.record(Math.max(0, deliveredMs - receivedMs))
  }

  /**
   * One `feature` event; true when its window's close moment lies in the
   * measured time (every device's windows close at the same moments, so each
   * device has as many of these as any other).
   */
  feature(
    feature: string,
    windowEndMs: number,
    watermarkMs: number,
    stalenessMs: number,
    closedBy: string | null,
    deliveredMs: number,
  ): boolean {
    const grace = this.#graceMs.get(feature)
    if (grace === undefined) return false
    const closeMs = windowEndMs + grace
    if (closeMs < this.featureFromMs || closeMs >= this.featureToMs) return false
    // Closed early (capacity) or on eviction (idle), a window did not wait for its close moment.
    if (closedBy !== 'watermark') return true
    this.latency.closeToDelivery.record(Math.max(0, deliveredMs - closeMs))
    this.latency.closingReadingToDelivery.record(Math.max(0, deliveredMs - (watermarkMs + grace)))
    if (!Number.isNaN(stalenessMs)) this.latency.staleness.record(stalenessMs)
    return true
  }
}
