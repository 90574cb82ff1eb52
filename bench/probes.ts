/**
 * What the benches read of a running server besides its answers and what
 * test/helpers/probes.ts samples from /proc: its garbage collections and
 * heap spaces from prom-client's metrics on its /metrics; Mosquitto's version.
 */

import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { LatencyHistogram, type LatencySummary } from '../simulators/index.js'
import { scrape } from '../test/helpers/http.js'
import { memoryMb } from '../test/helpers/probes.js'

export function mosquittoVersion(): string {
  // `mosquitto -h` prints its version in its usage, and exits with status 3.
  const run = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' })
  return /mosquitto version (\S+)/.exec(`${run.stdout}${run.stderr}`)?.[1] ?? 'unknown'
}

/** Major and minor collections, and the seconds they paused the main thread (prom-client measures each pause). */
export type GcTotals = Readonly<Record<'major' | 'majorS' | 'minor' | 'minorS', number>>

/** Collections so far and their pauses, from `nodejs_gc_duration_seconds`; 0 where a kind has none yet. */
export function gcCounts(metrics: string): GcTotals {
  const gc = (suffix: string, kind: string): number => {
    const line = new RegExp(`^nodejs_gc_duration_seconds_${suffix}\\{kind="${kind}"\\} (\\S+)$`, 'm')
    return Number(line.exec(metrics)?.[1] ?? 0)
  }
  return {
    major: gc('count', 'major'),
    majorS: gc('sum', 'major'),
    minor: gc('count', 'minor'),
    minorS: gc('sum', 'minor'),
  }
}

/**
 * The app's garbage collections while a scenario runs, its /metrics scraped
 * once a second (a scrape holds its event loop a few ms, as Prometheus's
 * would): how many, how long, and in which stretches a major one ended.
 */
export class GcSampler {
  readonly #samples: Array<GcTotals & { readonly atMs: number }> = []
  readonly #timer: NodeJS.Timeout
  #inFlight: Promise<void> = Promise.resolve()

  /** `clock` gives the times every method here takes: performance.now() unless said otherwise. */
  constructor(httpUrl: string, everyMs = 1000, clock: () => number = () => performance.now()) {
    const take = (): void => {
      this.#inFlight = this.#inFlight.then(async () => {
        // Bounded: a stalled server must not hold the bench up at stop(); a failed scrape leaves a gap.
        const counts = await scrape(httpUrl, 5000).then(gcCounts, () => null)
        if (counts !== null) this.#samples.push({ atMs: clock(), ...counts })
      })
    }
    take()
    this.#timer = setInterval(take, everyMs)
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#inFlight
  }

  /** Between the samples nearest fromMs and toMs. */
  totals(fromMs: number, toMs: number): GcTotals {
    const at = (ms: number) =>
      this.#samples.reduce((found, s) => (s.atMs <= ms ? s : found), this.#samples[0])
    const [a, b] = [at(fromMs), at(toMs)]
    const d = (k: keyof GcTotals): number => (a === undefined || b === undefined ? Number.NaN : b[k] - a[k])
    return { major: d('major'), majorS: d('majorS'), minor: d('minor'), minorS: d('minorS') }
  }

  /** Whether a major collection ended between the samples around [fromMs, toMs). */
  majorDuring(fromMs: number, toMs: number): boolean {
    const s = this.#samples
    return s.some((x, i) => i > 0 && x.atMs > fromMs && s[i - 1]!.atMs < toMs && x.major > s[i - 1]!.major)
  }

  /** One-second latency histograms, each with its start, split by whether a major collection ended in or next to it. */
  split(seconds: Iterable<readonly [startMs: number, latency: LatencyHistogram]>) {
    const [withMajor, other] = [new LatencyHistogram(), new LatencyHistogram()]
    let [secondsWithMajor, count] = [0, 0]
    for (const [startMs, latency] of seconds) {
      const major = this.majorDuring(startMs, startMs + 1000)
      ;[secondsWithMajor, count] = [secondsWithMajor + (major ? 1 : 0), count + 1]
      ;(major ? withMajor : other).merge(latency)
    }
    const summary: { withMajor: LatencySummary; other: LatencySummary } = {
      withMajor: withMajor.summary(),
      other: other.summary(),
    }
    return { secondsWithMajor, seconds: count, ...summary }
  }
}

/** Committed and used MB per V8 space from prom-client's `nodejs_heap_space_size_*` (`new`, `old`, `code`, …). */
export function heapSpacesMb(metrics: string): Map<string, { totalMb: number; usedMb: number }> {
  const spaces = new Map<string, { totalMb: number; usedMb: number }>()
  const pattern = /^nodejs_heap_space_size_(total|used)_bytes\{space="([a-z_]+)"\} (\S+)$/gm
  for (const [, kind, space, value] of metrics.matchAll(pattern)) {
    const entry = spaces.get(space!) ?? { totalMb: 0, usedMb: 0 }
    spaces.set(space!, { ...entry, [kind === 'total' ? 'totalMb' : 'usedMb']: Number(value) / 1048576 })
  }
  return spaces
}

/**
 * Where the app's resident memory is, at one moment, MB:
 *
 *   VmRSS = RssFile (node, libduckdb: code)
 *         + V8 heap of the main thread, committed (young generation, old generation, the other spaces)
 *         + outside it: malloc (Node, libuv, DuckDB), the store worker's own V8 heap, buffers
 */
export async function memoryBreakdown(pid: number, httpUrl: string): Promise<Record<string, number>> {
  const spaces = heapSpacesMb(await scrape(httpUrl))
  const { rssMb, fileMb } = memoryMb(pid)
  const [young, old] = [spaces.get('new'), spaces.get('old')]
  if (young === undefined || old === undefined) throw new Error('no nodejs_heap_space_size_* in /metrics')
  const heapMb = [...spaces.values()].reduce((sum, s) => sum + s.totalMb, 0)
  return {
    ...{ memRssMb: rssMb, memFileMb: fileMb, memYoungMb: young.totalMb, memOldMb: old.totalMb },
    ...{ memOldUsedMb: old.usedMb, memOtherHeapMb: heapMb - young.totalMb - old.totalMb },
    memOutsideMb: rssMb - fileMb - heapMb,
  }
}
