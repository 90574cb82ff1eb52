/**
 * A real InfluxDB 1.x (Debian's `influxdb` package) for tests: started from
 * a config in a temp dir, on free loopback ports, stopped and started again
 * on the same data for outage tests, and killed at teardown.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { parse } from 'csv-parse/sync'
import { tempDir } from './app.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface Influxd {
  readonly url: string
  readonly db: string
  /** Runs an InfluxQL statement on /query (epoch=ns); the first result's series. */
  query(q: string): Promise<Series[]>
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>
  /** Starts it again on the same port and data. */
  start(): Promise<void>
}

export interface Series {
  readonly name: string
  readonly columns: string[]
  /** Integers beyond 2^53 as bigint, other numbers as number, booleans, strings; null for empty. */
  readonly values: unknown[][]
}

function cell(text: string): unknown {
  if (text === '') return null
  if (text === 'true' || text === 'false') return text === 'true'
  if (/^-?\d+$/.test(text)) return Number.isSafeInteger(Number(text)) ? Number(text) : BigInt(text)
  if (/^-?[\d.]+(e[-+]?\d+)?$/i.test(text)) return Number(text)
  return text
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

export async function startInfluxd(t: Teardown, db = 'tlm'): Promise<Influxd> {
  const dir = tempDir(t, 'influxd-')
  const httpPort = await freePort()
  const rpcPort = await freePort()
  const config = join(dir, 'influxd.conf')
  writeFileSync(
    config,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
[logging]
  level = "warn"
`,
  )
  const url = `http://127.0.0.1:${httpPort}`
  let child: ChildProcess | null = null
  let output = ''

  const start = async () => {
    const c = spawn('influxd', ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] })
    c.stdout!.on('data', (d) => (output = (output + d).slice(-4000)))
    c.stderr!.on('data', (d) => (output = (output + d).slice(-4000)))
    child = c
    const deadline = Date.now() + 30_000
    for (;;) {
      if (c.exitCode !== null) throw new Error(`influxd exited with ${c.exitCode}: ${output}`)
      try {
        if ((await fetch(`${url}/ping`)).status === 204) return
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`influxd did not answer /ping in 30 s: ${output}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const stop = async () => {
    const c = child
    child = null
    if (c === null || c.exitCode !== null) return
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGTERM')
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  t.teardown(stop)
  await start()

  // CSV, not JSON: nanosecond integers would lose their low digits as JSON numbers.
  const query = async (q: string): Promise<Series[]> => {
    const res = await fetch(`${url}/query?${new URLSearchParams({ db, q, epoch: 'ns' })}`, {
      method: 'POST',
      headers: { accept: 'application/csv' },
    })
    const text = await res.text()
    if (text.startsWith('{')) {
      const error = (JSON.parse(text) as { error?: string }).error
      if (error !== undefined) throw new Error(`influxd: ${q}: ${error}`)
      return []
    }
    const rows = parse(text, { skip_empty_lines: true }) as string[][]
    if (rows.length === 0) return []
    const [header, ...data] = rows as [string[], ...string[][]]
    const series = new Map<string, Series>()
    for (const row of data) {
      const name = row[0]!
      let s = series.get(name)
      if (s === undefined) {
        s = { name, columns: header.slice(2), values: [] }
        series.set(name, s)
      }
      s.values.push(row.slice(2).map(cell))
    }
    return [...series.values()]
  }
  await query(`CREATE DATABASE "${db}"`)
  return { url, db, query, stop, start }
}
