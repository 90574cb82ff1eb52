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

import { LatencyHistogram, type LatencySummary } from '../simulators/index.js'

export interface FeatureTimes {
  /** Window end + the feature's grace to delivery: the window-close-to-delivery. */
  readonly closeToDelivery: LatencySummary
  /**
   * From the publish of the reading that closed the window (its ts is the
   * event's watermark + grace) to delivery: the pipeline's own part of the above.
   */
  readonly closingReadingToDelivery: LatencySummary
  /** The server's own `staleness_ms`: emit time − the newest receive time among the window's readings. */
  readonly staleness: LatencySummary
  /** `feature` events measured, by `closed_by`. */
  readonly closedBy: Readonly<Record<string, number>>
  /** Feature events naming a feature the definitions file does not have. */
  readonly unknownFeatures: number
}

export interface TelemetryTimes {
  readonly publishToDelivery: LatencySummary
  readonly publishToReceive: LatencySummary
  readonly receiveToDelivery: LatencySummary
  /** Latencies below zero, recorded as 0: a clock step during the run. */
  readonly negative: number
}

export class DeliveryRecorder {
  readonly #publishToDelivery = new LatencyHistogram()
  readonly #publishToReceive = new LatencyHistogram()
  readonly #receiveToDelivery = new LatencyHistogram()
  readonly #closeToDelivery = new LatencyHistogram()
  readonly #closingReadingToDelivery = new LatencyHistogram()
  readonly #staleness = new LatencyHistogram()
  /** Publish → delivery by the second (epoch) the reading was published in. */
  readonly #bySecond = new Map<number, LatencyHistogram>()
  readonly #closedBy: Record<string, number> = {}
  readonly #graceMs: ReadonlyMap<string, number>
  readonly #firstSeq: number
  readonly #lastSeq: number
  #negative = 0
  #unknownFeatures = 0
  /** Feature windows whose close moment lies in [from, to) are measured; none until the window opens. */
  #featureFromMs = Number.POSITIVE_INFINITY
  #featureToMs = Number.POSITIVE_INFINITY

  /**
   * @param graceMs each feature's grace, ms
   * @param measuredSeqs the telemetry seqs measured (the warm-up's come before them)
   */
  constructor(graceMs: ReadonlyMap<string, number>, measuredSeqs: { first: number; last: number }) {
    this.#graceMs = graceMs
    this.#firstSeq = measuredSeqs.first
    this.#lastSeq = measuredSeqs.last
  }

  openFeatureWindow(fromMs: number): void {
    this.#featureFromMs = fromMs
  }

  closeFeatureWindow(toMs: number): void {
    this.#featureToMs = toMs
  }

  telemetry(seq: number, publishedMs: number, receivedMs: number, deliveredMs: number): void {
    if (seq < this.#firstSeq || seq > this.#lastSeq) return
    this.#record(this.#publishToDelivery, deliveredMs - publishedMs)
    const second = Math.floor(publishedMs / 1000)
    const histogram = this.#bySecond.get(second) ?? new LatencyHistogram()
    this.#bySecond.set(second, histogram)
    histogram.record(Math.max(0, deliveredMs - publishedMs))
    if (Number.isNaN(receivedMs)) return
    this.#record(this.#publishToReceive, receivedMs - publishedMs)
    this.#record(this.#receiveToDelivery, deliveredMs - receivedMs)
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
    if (grace === undefined) {
      this.#unknownFeatures++
      return false
    }
    const closeMs = windowEndMs + grace
    if (closeMs < this.#featureFromMs || closeMs >= this.#featureToMs) return false
    const by = closedBy ?? 'unknown'
    this.#closedBy[by] = (this.#closedBy[by] ?? 0) + 1
    // Closed early (capacity) or on eviction (idle), a window did not wait for its close moment.
    if (by !== 'watermark') return true
    this.#record(this.#closeToDelivery, deliveredMs - closeMs)
    this.#record(this.#closingReadingToDelivery, deliveredMs - (watermarkMs + grace))
    if (!Number.isNaN(stalenessMs)) this.#staleness.record(stalenessMs)
    return true
  }

  telemetryTimes(): TelemetryTimes {
    return {
      publishToDelivery: this.#publishToDelivery.summary(),
      publishToReceive: this.#publishToReceive.summary(),
      receiveToDelivery: this.#receiveToDelivery.summary(),
      negative: this.#negative,
    }
  }

  /** Telemetry publish → delivery of each second (epoch seconds, by publish time). */
  bySecond(): ReadonlyMap<number, LatencyHistogram> {
    return this.#bySecond
  }

  featureTimes(): FeatureTimes {
    return {
      closeToDelivery: this.#closeToDelivery.summary(),
      closingReadingToDelivery: this.#closingReadingToDelivery.summary(),
      staleness: this.#staleness.summary(),
      closedBy: { ...this.#closedBy },
      unknownFeatures: this.#unknownFeatures,
    }
  }

  #record(histogram: LatencyHistogram, ms: number): void {
    if (ms < 0) this.#negative++
    histogram.record(Math.max(0, ms))
  }
}
