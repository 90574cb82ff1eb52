/**
 * A real InfluxDB 1.x (Debian's `influxdb` package) for tests, as
 * bench/influxd.ts starts it: in a temp dir, on free loopback ports, stopped
 * and started again on the same data for outage tests, stopped at teardown.
 */

import { parse } from 'csv-parse/sync'
import { type InfluxdProcess, startInfluxd as launchInfluxd } from '../../bench/influxd.js'
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

export async function startInfluxd(t: Teardown, db = 'tlm'): Promise<Influxd> {
  const dir = tempDir(t, 'influxd-')
  let running: InfluxdProcess | null = await launchInfluxd(dir)
  const url = running.url
  const stop = async () => {
    const r = running
    running = null
    await r?.stop()
  }
  t.teardown(stop)
  const start = async () => {
    running ??= await launchInfluxd(dir)
  }

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
