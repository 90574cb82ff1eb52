/**
 * What the benches read of a running server, besides its answers: CPU and
 * memory from /proc (proc(5)), sampled over a scenario so that a stretch of
 * it can be looked at afterwards; its garbage collections and heap spaces
 * from prom-client's metrics on its /metrics.
 */

import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { LatencyHistogram, type LatencySummary } from '../simulators/index.js'

let ticks: number | undefined
const hz = (): number =>
  (ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100)

/** User + system CPU seconds of a process, all threads; of its main thread alone with `mainThread`. */
export function cpuSeconds(pid: number, mainThread = false): number {
  const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which may itself hold spaces and parentheses.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) / hz()
}

/** CPU seconds the whole machine spent busy: user nice system (idle iowait) irq softirq steal. */
export function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.split(/\s+/).slice(1)
  const [u = 0, n = 0, s = 0, , , irq = 0, soft = 0, steal = 0] = cpu.map(Number)
  return (u + n + s + irq + soft + steal) / hz()
}

/** VmRSS now, VmHWM (the peak over the process's life) and RssFile (pages of mapped files), MB. */
export function memoryMb(pid: number | 'self'): { rssMb: number; hwmMb: number; fileMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const mb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024
  return { rssMb: mb('VmRSS'), hwmMb: mb('VmHWM'), fileMb: mb('RssFile') }
}

export function mosquittoVersion(): string {
  // `mosquitto -h` prints its version in its usage, and exits with status 3.
  const run = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' })
  return /mosquitto version (\S+)/.exec(`${run.stdout}${run.stderr}`)?.[1] ?? 'unknown'
}

/** This process's CPU seconds: the load generator's. */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

type Sample = Readonly<Record<'atMs' | 'cpuS' | 'rssMb' | 'ownS' | 'machineS', number>>
type Stretch = Record<'cpuS' | 'cores' | 'ownCores' | 'machineCores' | 'endRssMb', number>

/** A server's CPU and RSS, this process's CPU and the machine's, every 250 ms until stop(). */
export class UsageSampler {
  readonly #samples: Sample[] = []
  readonly #take: () => void
  readonly #timer: NodeJS.Timeout

  constructor(pid: number) {
    this.#take = () => {
      try {
        const [atMs, cpuS, { rssMb }] = [performance.now(), cpuSeconds(pid), memoryMb(pid)]
        this.#samples.push({ atMs, cpuS, rssMb, ownS: ownCpuSeconds(), machineS: machineBusySeconds() })
      } catch {
        // The process has exited; the samples so far stand.
      }
    }
    this.#take()
    this.#timer = setInterval(this.#take, 250)
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#take()
  }

  /**
   * From the samples nearest `fromMs` and `toMs` (performance.now()), widened
   * to one on each side: the server's CPU seconds, and CPU seconds per wall
   * second of the server, this process and the machine; the last RSS sampled by `toMs`.
   */
  stretch(fromMs: number, toMs: number): Stretch {
    const s = this.#samples
    const atOrBefore = (ms: number): number => s.reduce((found, x, i) => (x.atMs <= ms ? i : found), -1)
    const after = s.findIndex((x) => x.atMs >= toMs)
    const [a, b] = [s[Math.max(0, atOrBefore(fromMs))], s[after < 0 ? s.length - 1 : after]]
    const wallS = a !== undefined && b !== undefined ? (b.atMs - a.atMs) / 1000 : 0
    const delta = (k: keyof Sample): number => (wallS > 0 ? b![k] - a![k] : Number.NaN)
    const [cores, ownCores] = [delta('cpuS') / wallS, delta('ownS') / wallS]
    const machineCores = delta('machineS') / wallS
    const endRssMb = s[atOrBefore(toMs)]?.rssMb ?? Number.NaN
    return { cpuS: delta('cpuS'), cores, ownCores, machineCores, endRssMb }
  }
}

/** A metric's value from prom-client's text, summed over its labels; NaN when absent. */
export function metric(text: string, name: string): number {
  let total = Number.NaN
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')))
    total = (Number.isNaN(total) ? 0 : total) + Number(m[1])
  return total
}

export async function scrape(httpUrl: string, timeoutMs = 10_000): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text()
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
