/**
 * A server process's CPU time and resident memory, sampled from /proc while
 * a scenario runs, so that a stretch of it (the steady load, not the
 * connecting and disconnecting around it) can be looked at afterwards.
 */

import { performance } from 'node:perf_hooks'
import { cpuSeconds, machineBusySeconds, memoryMb } from './processes.js'

export interface Sample {
  /** performance.now() when taken. */
  readonly atMs: number
  readonly cpuS: number
  readonly rssMb: number
  /** This process's own CPU seconds (the load generator's). */
  readonly ownCpuS: number
  /** The whole machine's busy CPU seconds (/proc/stat). */
  readonly machineS: number
}

export interface Stretch {
  /** CPU seconds per wall second between the samples nearest the stretch's ends. */
  readonly cores: number
  /** The highest VmRSS sampled in the stretch. */
  readonly peakRssMb: number
  /** The last VmRSS sampled in the stretch. */
  readonly endRssMb: number
  /** This process's CPU seconds per wall second over the stretch: the load generator's. */
  readonly ownCores: number
  /** The machine's busy CPU seconds per wall second over the stretch: everything on it. */
  readonly machineCores: number
}

export class UsageSampler {
  readonly #pid: number
  readonly #samples: Sample[] = []
  readonly #timer: NodeJS.Timeout

  constructor(pid: number, everyMs = 250) {
    this.#pid = pid
    this.#take()
    this.#timer = setInterval(() => this.#take(), everyMs)
  }

  /** Takes a last sample and stops. */
  stop(): void {
    clearInterval(this.#timer)
    this.#take()
  }

  /** From the first sample to the last: the whole scenario, CPU seconds. */
  get cpuS(): number {
    const first = this.#samples[0]
    const last = this.#samples.at(-1)
    return first === undefined || last === undefined ? Number.NaN : last.cpuS - first.cpuS
  }

  /** The samples from `fromMs` to `toMs` (performance.now()), widened to one on each side. */
  stretch(fromMs: number, toMs: number): Stretch {
    const s = this.#samples
    const from = Math.max(0, lastIndexAtOrBefore(s, fromMs))
    const after = s.findIndex((x) => x.atMs >= toMs)
    const to = after < 0 ? s.length - 1 : after
    const inside = s.slice(from, to + 1)
    const a = s[from]
    const b = s[to]
    const wallS = a !== undefined && b !== undefined ? (b.atMs - a.atMs) / 1000 : 0
    const lastInside = lastIndexAtOrBefore(s, toMs)
    const perWallSecond = (f: (x: Sample) => number): number =>
      a !== undefined && b !== undefined && wallS > 0 ? (f(b) - f(a)) / wallS : Number.NaN
    return {
      cores: perWallSecond((x) => x.cpuS),
      ownCores: perWallSecond((x) => x.ownCpuS),
      machineCores: perWallSecond((x) => x.machineS),
      peakRssMb: Math.max(...inside.map((x) => x.rssMb)),
      endRssMb: s[lastInside]?.rssMb ?? Number.NaN,
    }
  }

  #take(): void {
    try {
      this.#samples.push({
        atMs: performance.now(),
        cpuS: cpuSeconds(this.#pid),
        rssMb: memoryMb(this.#pid).rssMb,
        ownCpuS: ownCpuSeconds(),
        machineS: machineBusySeconds(),
      })
    } catch {
      // The process has exited; the samples so far stand.
    }
  }
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

function lastIndexAtOrBefore(samples: readonly Sample[], atMs: number): number {
  for (let i = samples.length - 1; i >= 0; i--) if (samples[i]!.atMs <= atMs) return i
  return -1
}
