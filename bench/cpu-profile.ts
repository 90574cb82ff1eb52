/**
 * A server run under `node --cpu-prof`, each thread's .cpuprofile reduced to
 * where the time went: self time per function and per package, largest first.
 */

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../test/helpers/process.js'

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
}

interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
  readonly startTime: number
  readonly endTime: number
}

export interface ProfileEntry {
  readonly name: string
  readonly selfMs: number
  readonly percent: number
}

export interface ProfileSummary {
  readonly totalMs: number
  /** Time not idle: what the main thread spent working. */
  readonly busyMs: number
  readonly functions: readonly ProfileEntry[]
  readonly packages: readonly ProfileEntry[]
}

export function summarizeProfile(path: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  // timeDeltas[i] is the time before sample i; charge it to the sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const fns = new Map<string, number>()
  const pkgs = new Map<string, number>()
  let totalUs = 0
  let idleUs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    totalUs += us
    if (frame.functionName === '(idle)') idleUs += us
    const where = frame.url === '' ? '' : ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    const name = `${frame.functionName || '(anonymous)'}${where}`
    fns.set(name, (fns.get(name) ?? 0) + us)
    const pkg = packageOf(frame.url, frame.functionName)
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us)
  }
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, percent: totalUs > 0 ? (100 * us) / totalUs : 0 }))
  return {
    totalMs: totalUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    functions: rank(fns),
    packages: rank(pkgs),
  }
}

/**
 * Runs `run` with the server's node flags for a CPU profile, and returns its
 * one-line result followed by each thread's summary (main thread first).
 */
export async function profiled(
  run: (nodeArgs: readonly string[]) => Promise<string>,
  top: { main: number; worker: number } = { main: 20, worker: 8 },
): Promise<string> {
  const dir = tempDir('bench-profile-')
  const line = await run(['--cpu-prof', `--cpu-prof-dir=${dir}`])
  // One file a thread: CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile, the main thread's id 0.
  const thread = (f: string): number =>
    Number(/\.(\d+)\.\d+\.cpuprofile$/.exec(f)?.[1] ?? Number.MAX_SAFE_INTEGER)
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => thread(a) - thread(b))
  const threads = files.map((f) => {
    const id = thread(f)
    const text = formatProfile(summarizeProfile(join(dir, f), id === 0 ? top.main : top.worker))
    return id === 0 ? text : text.replace(/^main thread/, `worker thread ${id}`)
  })
  return [line, ...(threads.length > 0 ? threads : ['no .cpuprofile was written'])].join('\n')
}

export function formatProfile(s: ProfileSummary): string {
  const row = (e: ProfileEntry): string =>
    `  ${e.selfMs.toFixed(0).padStart(8)} ms ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`
  return [
    `main thread: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy`,
    'self time by package:',
    ...s.packages.map(row),
    'self time by function:',
    ...s.functions.map(row),
  ].join('\n')
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('/node_modules/')
  if (i >= 0) return url.slice(i + '/node_modules/'.length)
  const dist = url.indexOf('/dist/')
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, '')
}

function packageOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  if (url.startsWith('node:')) return 'node core'
  const i = url.lastIndexOf('/node_modules/')
  if (i >= 0) {
    const rest = url.slice(i + '/node_modules/'.length).split('/')
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url)
  }
  const dist = /\/dist\/([^/]+)\//.exec(url)
  return dist === null ? url : `project ${dist[1]}/`
}
