/**
 * A server run under `node --cpu-prof`, each thread's .cpuprofile reduced to
 * where the time went: self time per function and per package, largest first.
 */

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../test/helpers/process.js'

interface Profile {
  readonly nodes: readonly {
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number }
  }[]
  readonly samples: readonly number[]
  /** timeDeltas[i] is the time before sample i, µs: charged to the sample's node. */
  readonly timeDeltas: readonly number[]
}

/** One thread's profile in words: sampled and busy (not idle) ms, then the `top` packages and functions. */
export function summarizeProfile(path: string, thread: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const [fns, pkgs] = [new Map<string, number>(), new Map<string, number>()]
  const add = (m: Map<string, number>, key: string, us: number): number =>
    m.set(key, (m.get(key) ?? 0) + us).size
  let [totalUs, idleUs] = [0, 0]
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id)
    const us = profile.timeDeltas[i] ?? 0
    if (frame === undefined) return
    totalUs += us
    if (frame.functionName === '(idle)') idleUs += us
    const where = frame.url === '' ? '' : ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    add(fns, `${frame.functionName || '(anonymous)'}${where}`, us)
    add(pkgs, packageOf(frame.url, frame.functionName), us)
  })
  const rank = (m: Map<string, number>): string[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => {
        const percent = totalUs > 0 ? (100 * us) / totalUs : 0
        return `  ${(us / 1000).toFixed(0).padStart(8)} ms ${percent.toFixed(1).padStart(5)}%  ${name}`
      })
  const head = `${thread}: ${(totalUs / 1000).toFixed(0)} ms sampled, ${((totalUs - idleUs) / 1000).toFixed(0)} ms busy`
  return [head, 'self time by package:', ...rank(pkgs), 'self time by function:', ...rank(fns)].join('\n')
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
  const [main, worker] = [(f: string) => thread(f) === 0, (f: string) => `worker thread ${thread(f)}`]
  const threads = files.map((f) =>
    summarizeProfile(join(dir, f), main(f) ? 'main thread' : worker(f), main(f) ? top.main : top.worker),
  )
  return [line, ...(threads.length > 0 ? threads : ['no .cpuprofile was written'])].join('\n')
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
  const rest = url.slice(i + '/node_modules/'.length).split('/')
  if (i >= 0) return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url)
  const dist = /\/dist\/([^/]+)\//.exec(url)
  return dist === null ? url : `project ${dist[1]}/`
}
