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
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  return ticks
}

/** User + system CPU seconds of a process, all threads; of its main thread alone with `mainThread`. */
export function cpuSeconds(pid: number, mainThread = false): number {
  const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which may itself hold spaces and parentheses.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) / clockTicks()
}

/** CPU seconds the whole machine spent busy (not idle, not waiting for I/O). */
export function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu
  return (user + nice + system + irq + softirq + steal) / clockTicks()
}

/** VmRSS now, VmHWM (the peak over the process's life) and RssFile (pages of mapped files), MB. */
export function memoryMb(pid: number | 'self'): { rssMb: number; hwmMb: number; fileMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) / 1024
  return { rssMb: kb('VmRSS'), hwmMb: kb('VmHWM'), fileMb: kb('RssFile') }
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

interface Sample {
  readonly atMs: number
  readonly cpuS: number
  readonly rssMb: number
  readonly ownCpuS: number
  readonly machineS: number
}

/** A server's CPU and RSS, this process's CPU and the machine's, every 250 ms until stop(). */
export class UsageSampler {
  readonly #pid: number
  readonly #samples: Sample[] = []
  readonly #timer: NodeJS.Timeout

  constructor(pid: number, everyMs = 250) {
    this.#pid = pid
    this.#take()
    this.#timer = setInterval(() => this.#take(), everyMs)
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#take()
  }

  /**
   * From the samples nearest `fromMs` and `toMs` (performance.now()), widened
   * to one on each side: CPU seconds per wall second of the server, this
   * process and the machine, and the last RSS sampled by `toMs`.
   */
  stretch(
    fromMs: number,
    toMs: number,
  ): Record<'cpuS' | 'cores' | 'ownCores' | 'machineCores' | 'endRssMb', number> {
    const s = this.#samples
    const atOrBefore = (ms: number): number => {
      let i = s.length - 1
      while (i >= 0 && s[i]!.atMs > ms) i--
      return i
    }
    const a = s[Math.max(0, atOrBefore(fromMs))]
    const after = s.findIndex((x) => x.atMs >= toMs)
    const b = s[after < 0 ? s.length - 1 : after]
    const wallS = a !== undefined && b !== undefined ? (b.atMs - a.atMs) / 1000 : 0
    const rate = (f: (x: Sample) => number): number => (wallS > 0 ? (f(b!) - f(a!)) / wallS : Number.NaN)
    return {
      cpuS: wallS > 0 ? b!.cpuS - a!.cpuS : Number.NaN,
      cores: rate((x) => x.cpuS),
      ownCores: rate((x) => x.ownCpuS),
      machineCores: rate((x) => x.machineS),
      endRssMb: s[atOrBefore(toMs)]?.rssMb ?? Number.NaN,
    }
  }

  #take(): void {
    try {
      const cpuS = cpuSeconds(this.#pid)
      const { rssMb } = memoryMb(this.#pid)
      this.#samples.push({
        atMs: performance.now(),
        cpuS,
        rssMb,
        ownCpuS: ownCpuSeconds(),
        machineS: machineBusySeconds(),
      })
    } catch {
      // The process has exited; the samples so far stand.
    }
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

export interface GcTotals {
  readonly major: number
  /** Seconds the main thread was paused by them (prom-client measures each pause). */
  readonly majorS: number
  readonly minor: number
  readonly minorS: number
}

/** Collections so far and their pauses, from `nodejs_gc_duration_seconds`; 0 where a kind has none yet. */
export function gcCounts(metrics: string): GcTotals {
  const gc = (suffix: 'count' | 'sum', kind: string): number => {
    const re = new RegExp(`^nodejs_gc_duration_seconds_${suffix}\\{kind="${kind}"\\} (\\S+)$`, 'm')
    return Number(re.exec(metrics)?.[1] ?? 0)
  }
  return {
    major: gc('count', 'major'),
    majorS: gc('sum', 'major'),
    minor: gc('count', 'minor'),
    minorS: gc('sum', 'minor'),
  }
}

/** Latency of the seconds in or next to which a major collection ended, and of the others. */
export interface LatencyByMajorGc {
  readonly secondsWithMajor: number
  readonly seconds: number
  readonly withMajor: LatencySummary
  readonly other: LatencySummary
}

/**
 * The app's garbage collections while a scenario runs, its /metrics scraped
 * once a second (a scrape holds its event loop a few ms, as Prometheus's
 * would): how many, how long, and in which stretches a major one ended.
 */
export class GcSampler {
  readonly #url: string
  readonly #clock: () => number
  readonly #samples: Array<GcTotals & { readonly atMs: number }> = []
  readonly #timer: NodeJS.Timeout
  #inFlight: Promise<void> = Promise.resolve()

  /** `clock` gives the times every method here takes: performance.now() unless said otherwise. */
  constructor(httpUrl: string, everyMs = 1000, clock: () => number = () => performance.now()) {
    this.#url = httpUrl
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
    const at = (ms: number) => {
      let found = this.#samples[0]
      for (const s of this.#samples) if (s.atMs <= ms) found = s
      return found
    }
    const [a, b] = [at(fromMs), at(toMs)]
    if (a === undefined || b === undefined) return { major: NaN, majorS: NaN, minor: NaN, minorS: NaN }
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

  /** Splits one-second latency histograms, each given with its start, by whether a major collection ended in or next to it. */
  split(seconds: Iterable<readonly [startMs: number, latency: LatencyHistogram]>): LatencyByMajorGc {
    const withMajor = new LatencyHistogram()
    const other = new LatencyHistogram()
    let secondsWithMajor = 0
    let count = 0
    for (const [startMs, latency] of seconds) {
      count++
      const major = this.majorDuring(startMs, startMs + 1000)
      if (major) secondsWithMajor++
      ;(major ? withMajor : other).merge(latency)
    }
    return { secondsWithMajor, seconds: count, withMajor: withMajor.summary(), other: other.summary() }
  }

  #take(): void {
    this.#inFlight = this.#inFlight.then(async () => {
      try {
        // Bounded: a stalled server must not hold the bench up at stop().
        const counts = gcCounts(await scrape(this.#url, 5000))
        this.#samples.push({ atMs: this.#clock(), ...counts })
      } catch {
        // The server has gone, or did not answer in time: the samples so far stand.
      }
    })
  }
}

/** Committed and used MB per V8 space from prom-client's `nodejs_heap_space_size_*` (`new`, `old`, `code`, …). */
export function heapSpacesMb(metrics: string): Map<string, { totalMb: number; usedMb: number }> {
  const spaces = new Map<string, { totalMb: number; usedMb: number }>()
  const pattern = /^nodejs_heap_space_size_(total|used)_bytes\{space="([a-z_]+)"\} (\S+)$/gm
  for (const [, kind, space, value] of metrics.matchAll(pattern)) {
    const entry = spaces.get(space!) ?? { totalMb: 0, usedMb: 0 }
    const mb = Number(value) / 1048576
    spaces.set(space!, kind === 'total' ? { ...entry, totalMb: mb } : { ...entry, usedMb: mb })
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
  if (!spaces.has('new') || !spaces.has('old')) throw new Error('no nodejs_heap_space_size_* in /metrics')
  const total = (name: string): number => spaces.get(name)?.totalMb ?? 0
  const heapMb = [...spaces.values()].reduce((sum, s) => sum + s.totalMb, 0)
  return {
    memRssMb: rssMb,
    memFileMb: fileMb,
    memYoungMb: total('new'),
    memOldMb: total('old'),
    memOldUsedMb: spaces.get('old')!.usedMb,
    memOtherHeapMb: heapMb - total('new') - total('old'),
    memOutsideMb: rssMb - fileMb - heapMb,
  }
}
