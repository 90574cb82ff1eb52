/**
 * A real InfluxDB 1.x (Debian's `influxdb` package) for tests and for
 * bench:influx: a config in a directory of the caller's, free loopback
 * ports, started, stopped and started again on the same data (outage
 * tests), and never outliving this process.
 */

import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'csv-parse/sync'
import mqtt, { type MqttClient } from 'mqtt'
import type { Config } from '../../src/config.js'
import { DEFAULT_MAX_BACKLOG_BYTES } from '../../src/config.js'
import { metric } from './http.js'
import { freePort, sleep, stopChild, tail, track } from './process.js'

const HOST = '127.0.0.1'
const START_LIMIT_MS = 30_000

export interface InfluxdProcess {
  readonly url: string
  readonly port: number
  readonly pid: number
  /** X-Influxdb-Version of /ping. */
  readonly version: string
  /** SIGTERM, SIGKILL after 10 s; resolves once it has exited. */
  stop(): Promise<void>
}

/**
 * influxd with its data in `dir`. The first start writes `dir/influxd.conf`
 * on two free ports; a later start in the same dir reuses it, so the server
 * comes back on the same URL with the same data.
 */
export async function launchInfluxd(dir: string): Promise<InfluxdProcess> {
  const config = join(dir, 'influxd.conf')
  if (!existsSync(config)) {
    const [httpPort, rpcPort] = [await freePort(), await freePort()]
    const off = (section: string): string => `[${section}]\n  enabled = false`
    writeFileSync(
      config,
      [
        `reporting-disabled = true\nbind-address = "${HOST}:${rpcPort}"\n[meta]\n  dir = "${dir}/meta"`,
        `[data]\n  dir = "${dir}/data"\n  wal-dir = "${dir}/wal"\n  query-log-enabled = false`,
        `${off('retention')}\n${off('shard-precreation')}\n[monitor]\n  store-enabled = false`,
        `${off('continuous_queries')}\n[http]\n  bind-address = "${HOST}:${httpPort}"\n  log-enabled = false`,
        '[logging]\n  level = "warn"\n',
      ].join('\n'),
    )
  }
  const port = Number(/\[http\]\s+bind-address = "[^:]+:(\d+)"/.exec(readFileSync(config, 'utf8'))?.[1])
  const url = `http://${HOST}:${port}`
  const child = track(spawn('influxd', ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const output = tail(child)
  const deadline = Date.now() + START_LIMIT_MS
  for (;;) {
    if (child.exitCode !== null) throw new Error(`influxd exited with ${child.exitCode}: ${output()}`)
    const res = await fetch(`${url}/ping`).catch(() => null)
    if (res?.status === 204) {
      const version = res.headers.get('x-influxdb-version') ?? 'unknown'
      return { url, port, pid: child.pid!, version, stop: () => stopChild(child, 10_000) }
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`influxd did not answer /ping in ${START_LIMIT_MS / 1000} s: ${output()}`)
    }
    await sleep(100)
  }
}

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

/** An InfluxQL statement on /query (epoch=ns, bounded to 5 min): the first result's series. */
export async function influxQuery(url: string, db: string, q: string): Promise<Series[]> {
  // CSV, not JSON: nanosecond integers would lose their low digits as JSON numbers.
  const res = await fetch(`${url}/query?${new URLSearchParams({ db, q, epoch: 'ns' })}`, {
    method: 'POST',
    headers: { accept: 'application/csv' },
    signal: AbortSignal.timeout(300_000),
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

export async function startInfluxd(t: Teardown, db = 'tlm'): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'influxd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
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

  const query = (q: string): Promise<Series[]> => influxQuery(url, db, q)
  await query(`CREATE DATABASE "${db}"`)
  return { url, db, query, stop, start }
}

/** The app's config for forwarding to this influxd (tags: `site`). */
export function influxConfig(
  influx: Influxd,
  overrides: Partial<NonNullable<Config['influx']>> = {},
): Partial<Config> {
  return {
    influx: {
      url: influx.url,
      version: 'auto',
      token: null,
      org: null,
      bucket: null,
      db: influx.db,
      rp: null,
      measurement: 'telemetry',
      tags: ['site'],
      maxBacklogBytes: DEFAULT_MAX_BACKLOG_BYTES,
      ...overrides,
    },
  }
}

/** An mqtt.js client of the app, ended at teardown. */
export async function client(t: Teardown, port: number, id = `c-${Math.random()}`): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: id, reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  return c
}

/** Waits, bounded, until the forwarder has nothing left to send. */
export async function drained(port: number, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs
  while ((await metric(port, 'influx_backlog_readings')) !== 0) {
    if (Date.now() > deadline) throw new Error(`backlog not drained in ${boundMs} ms`)
    await sleep(100)
  }
}

/** Readings of the telemetry measurement in influxd (`where`: a WHERE clause). */
export async function seriesCount(influx: Influxd, where = ''): Promise<number> {
  const series = await influx.query(`SELECT count("@seq") FROM telemetry ${where}`)
  return Number(series[0]?.values[0]?.[1] ?? 0)
}
