/**
 * Where the app's resident memory is, at one moment: the RSS from /proc,
 * split into the code mapped from files, the main thread's V8 heap (from the
 * app's own /metrics, prom-client's `nodejs_heap_space_*`), and the rest.
 *
 *   VmRSS = RssFile (node, libduckdb: code)
 *         + V8 heap of the main thread, committed (young generation, old generation, the other spaces)
 *         + outside it: malloc (Node, libuv, DuckDB), the store worker's own V8 heap, buffers
 */

import { memoryMb } from './processes.js'

export interface MemoryBreakdown {
  readonly rssMb: number
  /** Resident pages of mapped files: mostly the code of node and of libduckdb. */
  readonly fileMb: number
  /** The young generation, committed: V8's two semi-spaces. */
  readonly youngMb: number
  /** The old generation, committed, and what its objects take (live, or garbage not yet collected). */
  readonly oldMb: number
  readonly oldUsedMb: number
  /** Every other space of the main thread's heap (code, large objects, …), committed. */
  readonly otherHeapMb: number
  /** RSS less all of the above. */
  readonly outsideMb: number
}

/** Committed and used MB per space from prom-client's text (`new`, `old`, `code`, …). */
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

export async function memoryBreakdown(pid: number, httpUrl: string): Promise<MemoryBreakdown> {
  const metrics = await (await fetch(`${httpUrl}/metrics`)).text()
  const { rssMb, fileMb } = memoryMb(pid)
  const spaces = heapSpacesMb(metrics)
  if (!spaces.has('new') || !spaces.has('old')) throw new Error('no nodejs_heap_space_size_* in /metrics')
  const total = (name: string): number => spaces.get(name)?.totalMb ?? 0
  const heapMb = [...spaces.values()].reduce((sum, s) => sum + s.totalMb, 0)
  return {
    rssMb,
    fileMb,
    youngMb: total('new'),
    oldMb: total('old'),
    oldUsedMb: spaces.get('old')!.usedMb,
    otherHeapMb: heapMb - total('new') - total('old'),
    outsideMb: rssMb - fileMb - heapMb,
  }
}
