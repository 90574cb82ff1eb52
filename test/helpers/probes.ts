/**
 * A running process as /proc shows it (proc(5)): CPU and memory, sampled
 * over a scenario so that a stretch of it can be looked at afterwards. Used
 * by the benches and by tests that bound memory or time (the soak).
 */

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

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
