/**
 * What the pipeline counts. src/metrics.ts registers these (and the rest of
 * the process's metrics) with prom-client; the bridge names only its own, so
 * it depends on nothing above it.
 */

import type { Counter, Histogram } from 'prom-client'

export interface BridgeMetrics {
  readonly messagesReceived: Counter
  readonly messagesRejected: Counter<'reason'>
  readonly duplicates: Counter
  readonly unitsInferred: Counter<'unit'>
  readonly clockOffset: Histogram
  readonly clockCorrections: Counter<'reason'>
  readonly readingsLate: Counter
  readonly readingsAccepted: Counter
  readonly commitSeconds: Histogram
  readonly commitReadings: Histogram
  readonly commitErrors: Counter
  readonly deadLettersNotStored: Counter<'cap'>
}
