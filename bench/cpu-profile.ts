/**
 * A V8 .cpuprofile (from `node --cpu-prof`) reduced to where the time went:
 * self time per function and per package, largest first.
 */

import { readFileSync } from 'node:fs'

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
