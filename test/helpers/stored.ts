/**
 * After a run: did the system store every reading it acknowledged? Asked the
 * way an operator and an ML job would, over HTTP: the Prometheus counter,
 * then the rows themselves from GET /v1/telemetry as NDJSON, every page.
 */

import { telemetryLines } from '../../simulators/index.js'
import { scrape } from './http.js'

/** Which (device, seq) pairs were acknowledged (or received): one bit each, 50 KB for 1,000 devices × 400 seqs. */
export class AckLedger {
  readonly #bits: Uint32Array
  readonly #stride: number
  readonly devices: number
  count = 0

  constructor(devices: number, readingsPerDevice: number) {
    this.devices = devices
    this.#stride = readingsPerDevice + 1
    this.#bits = new Uint32Array(Math.ceil((devices * this.#stride) / 32))
  }

  /** Marks the pair; false when it was marked already or is out of range. */
  ack(device: number, seq: number): boolean {
    if (device < 0 || device >= this.devices || seq < 0 || seq >= this.#stride || this.has(device, seq))
      return false
    const i = device * this.#stride + seq
    this.#bits[i >>> 5]! |= 1 << (i & 31)
    this.count++
    return true
  }

  has(device: number, seq: number): boolean {
    const i = device * this.#stride + seq
    return seq >= 0 && seq < this.#stride && (this.#bits[i >>> 5]! & (1 << (i & 31))) !== 0
  }

  forEachAcked(fn: (device: number, seq: number) => void): void {
    for (let d = 0; d < this.devices; d++)
      for (let seq = 0; seq < this.#stride; seq++) if (this.has(d, seq)) fn(d, seq)
  }
}

/** The app's counters that a run moves, from /metrics; commitsOver10ms: those past the histogram's 10 ms bucket. */
export type Counters = Readonly<
  Record<'accepted' | 'commits' | 'commitReadings' | 'commitSeconds' | 'commitsOver10ms', number>
>

export async function scrapeCounters(httpUrl: string): Promise<Counters> {
  return countersFrom(await scrape(httpUrl, 120_000))
}

/** The counters from /metrics text (prom-client's exposition format). */
export function countersFrom(text: string): Counters {
  const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  const bucket = /^telemetry_group_commit_seconds_bucket\{le="0\.01"\} (\S+)$/m.exec(text)
  const under10ms = Number(bucket?.[1] ?? NaN)
  return {
    accepted: metric('telemetry_readings_accepted_total'),
    commits: metric('telemetry_group_commit_readings_count'),
    commitReadings: metric('telemetry_group_commit_readings_sum'),
    commitSeconds: metric('telemetry_group_commit_seconds_sum'),
    commitsOver10ms: metric('telemetry_group_commit_seconds_count') - under10ms,
  }
}

/** The group commits between two scrapes, for a check column: how many, how large, how long. */
export function commitsText(before: Counters, after: Counters): string {
  const commits = after.commits - before.commits
  if (commits === 0) return '0 commits'
  const readings = (after.commitReadings - before.commitReadings) / commits
  const ms = ((after.commitSeconds - before.commitSeconds) / commits) * 1000
  const over = ((after.commitsOver10ms - before.commitsOver10ms) / commits) * 100
  return `${commits} commits of ${readings.toFixed(0)} readings, ${ms.toFixed(2)} ms mean, ${over.toFixed(1)}% over 10 ms`
}

/**
 * Every reading in the ledger must come back from /v1/telemetry, once; and
 * the accepted counter must have moved by at least as many since `before`.
 */
export async function checkStored(
  httpUrl: string,
  before: Counters,
  ledger: AckLedger,
  idPrefix: string,
  fromMs: number,
): Promise<{ acceptedCounter: number; missing: number; duplicates: number; commits: string; ok: boolean }> {
  const after = await scrapeCounters(httpUrl)
  const acceptedCounter = after.accepted - before.accepted
  const ids = Array.from({ length: ledger.devices }, (_, i) => `${idPrefix}${i}`)
  const index = new Map(ids.map((id, i) => [id, i]))
  const seen = ids.map(() => new Set<number>())
  // Every device (a run may have more than the 100 a list may name), every page; others' rows are skipped below.
  const query = new URLSearchParams({
    device: '*',
    from: String(Math.floor(fromMs)),
    to: String(Date.now() + 60_000),
    format: 'ndjson',
    limit: '100000',
  })
  let duplicates = 0
  for await (const line of telemetryLines(`${httpUrl}/v1/telemetry?${query}`, 120_000)) {
    const row = JSON.parse(line) as { device: string; seq: number }
    const s = seen[index.get(row.device) ?? -1]
    if (s?.has(row.seq)) duplicates++
    else s?.add(row.seq)
  }
  let missing = 0
  ledger.forEachAcked((device, seq) => {
    if (!seen[device]!.has(seq)) missing++
  })
  const ok = missing === 0 && duplicates === 0 && acceptedCounter >= ledger.count
  return { acceptedCounter, missing, duplicates, commits: commitsText(before, after), ok }
}
