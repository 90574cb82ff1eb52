/**
 * `npm run bench:influx`: how fast does the forwarder drain a backlog of a
 * million stored readings into InfluxDB, next to InfluxDB's own ingest of
 * the very same lines (the ceiling)? Issue 5, "Benchmark"; target: at least
 * 80 % of the ceiling's readings/s.
 *
 *   once:      a store with the readings (one INSERT … SELECT), no forwarder checkpoint;
 *              its lines made as the forwarder makes them (the store's linesAfter, in batches),
 *              to a file for `influx -import` and kept in memory for HTTP; influxd started
 *   each run:  import: `influx -import` of the file          ─┐ each into a fresh database,
 *              HTTP:   the lines posted, 20,000 a request     ├ checked with count() and sum()
 *              ours:   a fresh server on a copy of the store ─┘ against the store, then dropped
 *
 * The medians go to bench/RESULTS.md (section "InfluxDB forwarding (bench:influx)").
 * When ours misses the target (or with --profile true), one more run of ours
 * under `node --cpu-prof` prints where the server's time went.
 *
 * Flags: --runs 3 --readings 1000000 --devices 100 --write true|false --profile auto|true|false
 */

import { spawn } from 'node:child_process'
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { DuckDBInstance } from '@duckdb/node-api'
import { DuckDBStore } from '../src/store/index.js'
import { writeFigures } from './chart.js'
import { formatProfile, summarizeProfile } from './cpu-profile.js'
import { flagReaders, writeFlag } from './flags.js'
import {
  type CeilingRun,
  type Content,
  influxFigures,
  type OursRun,
  type Run,
  renderInfluxReport,
  runLine,
} from './influx-report.js'
import { startInfluxd as launchInfluxd } from './influxd.js'
import { cpuSeconds, REPO_ROOT, removeTempDir, sleep, startApp, tempDir } from './processes.js'
import { median, writeSection } from './results-doc.js'

export interface InfluxBenchOptions {
  readonly runs: number
  readonly readings: number
  readonly devices: number
  readonly write: boolean
  readonly profile: 'auto' | 'true' | 'false'
}

const DEFAULTS: InfluxBenchOptions = {
  runs: 3,
  readings: 1_000_000,
  devices: 100,
  write: true,
  profile: 'auto',
}

const HOST = '127.0.0.1'
const DB = 'bench'
const MEASUREMENT = 'telemetry'
const SITES = ['north', 'south', 'east', 'west']
/** The forwarder's batch (src/influx/forwarder.ts), and the `influx` CLI's. */
/** Lines a request, as the forwarder writes them (src/influx/forwarder.ts). */
const BATCH = 20_000
const START_NS = 1_704_067_200_000_000_000n // 2024-01-01T00:00:00Z
const TARGET = 0.8
/** Every step is bounded in time. */
const DRAIN_LIMIT_MS = 15 * 60_000
const WRITE_LIMIT_MS = 15 * 60_000
const REQUEST_LIMIT_MS = 5 * 60_000
const LISTEN_LIMIT_MS = 5 * 60_000
const SETTLE_LIMIT_MS = 60_000
const WHOLE_BENCH_LIMIT_MS = 90 * 60_000
const POLL_MS = 100
/** Relative tolerance on sum("temp"): InfluxDB adds the floats in another order than the bench. */
const FLOAT_TOLERANCE = 1e-9

function parseOptions(argv: readonly string[]): InfluxBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      runs: { type: 'string' },
      readings: { type: 'string' },
      devices: { type: 'string' },
      write: { type: 'string' },
      profile: { type: 'string' },
    },
  })
  const problems: string[] = []
  const { int, choice } = flagReaders(values, problems)
  const o: InfluxBenchOptions = {
    runs: int('runs', DEFAULTS.runs, 1, 20),
    readings: int('readings', DEFAULTS.readings, 1000, 50_000_000),
    devices: int('devices', DEFAULTS.devices, 1, 10_000),
    write: writeFlag(choice, DEFAULTS.write),
    profile: choice('profile', ['auto', 'true', 'false'], DEFAULTS.profile),
  }
  if (o.readings % o.devices !== 0) problems.push('--readings must be a multiple of --devices')
  if (problems.length > 0) throw new RangeError(problems.join('; '))
  return o
}

/**
 * The store's schema (made by the store itself), then every reading in one
 * INSERT … SELECT. Reading i is device i mod D's k-th (k = i div D): the
 * devices report in turn, each every second, with their own phase and a
 * sub-millisecond jitter; each device keeps one `site`. stored_ts follows i
 * (unique, increasing), 10 ms after the reading's slot: after its receive time.
 */
async function generateStore(dataDir: string, o: InfluxBenchOptions): Promise<void> {
  const store = await DuckDBStore.open(dataDir)
  await store.close()
  const sites = `[${SITES.map((s) => `'{"site":"${s}"}'`).join(', ')}]`
  const instance = await DuckDBInstance.create(join(dataDir, 'telemetry.duckdb'))
  const c = await instance.connect()
  try {
    await c.run('ALTER TABLE readings ADD COLUMN "f_temp" DOUBLE')
    await c.run('ALTER TABLE readings ADD COLUMN "f_count" BIGINT')
    await c.run('ALTER TABLE readings ADD COLUMN "f_on" BOOLEAN')
    await c.run("INSERT INTO fields VALUES ('temp', 'float', 0), ('count', 'int', 0), ('on', 'bool', 0)")
    await c.run(`INSERT INTO readings (device, boot, seq, idx, ts, device_ts, recv_ts, offset_ns, crc, tags,
        stored_ts, newest_ts, f_temp, f_count, f_on)
      WITH g AS (
        SELECT i, i % ${o.devices} AS d, i // ${o.devices} AS k, hash(i) AS h FROM range(${o.readings}) t(i)
      ), t AS (
        SELECT *, ${START_NS} + k * 1000000000 + d * (1000000000 // ${o.devices}) + (h % 1000000)::BIGINT AS ts,
          ((d % 7) - 3) * 1500000 AS offset_ns
        FROM g)
      SELECT printf('dev-%04d', d), 1, k, 0, ts, ts - offset_ns, ts + 3000000 + ((h >> 20) % 2000000)::BIGINT,
        offset_ns, (h % 4294967296)::UINTEGER, ${sites}[d % ${SITES.length} + 1],
        ${START_NS} + 10000000 + k * 1000000000 + d * (1000000000 // ${o.devices}), ts,
        round(18 + d % 10 + 3 * sin(k / 300.0) + ((h >> 16) % 1000) / 1000.0, 3), k * 3 + d, (h >> 8) % 2 = 0
      FROM t ORDER BY i`)
  } finally {
    c.closeSync()
    instance.closeSync()
  }
}

interface Lines {
  /** Request bodies of up to 20,000 lines, in stored order. */
  readonly bodies: Buffer[]
  readonly bytes: number
  /** Reading and rendering the lines in the store, all batches. */
  readonly readSeconds: number
  readonly sample: string
  readonly expected: Content
}

/**
 * The lines as the forwarder makes them: the store's linesAfter in batches
 * of 20,000 (DuckDB renders them). They go to `path` as an `influx -import`
 * file and are kept as request bodies. What InfluxDB should hold afterwards
 * is summed by SQL over the same table.
 */
async function makeLines(dataDir: string, path: string): Promise<Lines> {
  const store = await DuckDBStore.open(dataDir)
  const options = { measurement: MEASUREMENT, allowedTags: ['site'] }
  const file = openSync(path, 'w')
  const bodies: Buffer[] = []
  let readMs = 0
  let after = 0n
  try {
    writeSync(file, `# DML\n# CONTEXT-DATABASE: ${DB}\n`)
    for (;;) {
      const t0 = performance.now()
      const batch = await store.linesAfter(after, BATCH, options)
      readMs += performance.now() - t0
      if (batch === null) break
      const body = Buffer.from(batch.body)
      bodies.push(body)
      writeSync(file, body)
      writeSync(file, '\n')
      after = batch.lastStoredTs
    }
  } finally {
    closeSync(file)
    await store.close()
  }
  const instance = await DuckDBInstance.create(join(dataDir, 'telemetry.duckdb'))
  const c = await instance.connect()
  let expected: Content
  try {
    const r = await c.runAndReadAll(
      'SELECT count(*), sum(seq), sum(f_count), sum(f_temp), count(f_on) FROM readings',
    )
    const [points, seqSum, countSum, tempSum, onCount] = r.getRowsJS()[0] as [
      bigint,
      bigint,
      bigint,
      number,
      bigint,
    ]
    expected = {
      points: Number(points),
      seqSum: Number(seqSum),
      countSum: Number(countSum),
      tempSum,
      onCount: Number(onCount),
    }
  } finally {
    c.closeSync()
    instance.closeSync()
  }
  const sample = bodies[0]?.toString().split('\n', 1)[0] ?? ''
  return {
    bodies,
    bytes: bodies.reduce((n, b) => n + b.length + 1, 0),
    readSeconds: readMs / 1000,
    sample,
    expected,
  }
}

interface Influxd {
  readonly url: string
  readonly port: number
  readonly pid: number
  readonly version: string
  /** Runs InfluxQL on /query; the first series' values. */
  query(q: string, db?: string): Promise<unknown[][]>
  stop(): Promise<void>
}

/** influxd (bench/influxd.ts), and InfluxQL on it. */
async function startInfluxd(dir: string): Promise<Influxd> {
  const influxd = await launchInfluxd(dir)
  const query = async (q: string, db?: string): Promise<unknown[][]> => {
    const params = new URLSearchParams({ q })
    if (db !== undefined) params.set('db', db)
    const res = await fetch(`${influxd.url}/query?${params}`, {
      method: 'POST',
      signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
    })
    const body = (await res.json()) as {
      results?: Array<{ series?: Array<{ values?: unknown[][] }>; error?: string }>
      error?: string
    }
    const error = body.error ?? body.results?.[0]?.error
    if (error !== undefined) throw new Error(`influxd: ${q}: ${error}`)
    return body.results?.[0]?.series?.[0]?.values ?? []
  }
  return {
    url: influxd.url,
    port: influxd.port,
    pid: influxd.pid,
    version: influxd.version,
    query,
    stop: influxd.stop,
  }
}

/** Waits until influxd is idle (under 5 % of a core for a second): a drop's or a compaction's work is not the next writer's. */
async function settle(influxd: Influxd): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS
  while (Date.now() < deadline) {
    const before = cpuSeconds(influxd.pid)
    await sleep(1000)
    if (cpuSeconds(influxd.pid) - before < 0.05) return
  }
}

/** A run's measurements, before InfluxDB's content is checked. */
type Measured<T> = Omit<T, 'content' | 'ok' | 'check'>

/** A writer's measurement, with the database fresh before and dropped after, and its content checked. */
async function inFreshDatabase<T extends { content: Content; ok: boolean; check: string }>(
  influxd: Influxd,
  expected: Content,
  measure: () => Promise<Measured<T>>,
  extraProblems: (m: Measured<T>) => string[] = () => [],
): Promise<Measured<T> & { content: Content; ok: boolean; check: string }> {
  await influxd.query(`DROP DATABASE "${DB}"`)
  await influxd.query(`CREATE DATABASE "${DB}"`)
  await settle(influxd)
  const m = await measure()
  const content = await contentOf(influxd)
  await influxd.query(`DROP DATABASE "${DB}"`)
  const problems = [...compareContent(content, expected), ...extraProblems(m)]
  return {
    ...m,
    content,
    ok: problems.length === 0,
    check: problems.length === 0 ? 'ok' : problems.join(', '),
  }
}

async function contentOf(influxd: Influxd): Promise<Content> {
  const [row = []] = await influxd.query(
    `SELECT count("@seq"), sum("@seq"), sum("count"), sum("temp"), count("on") FROM "${MEASUREMENT}"`,
    DB,
  )
  const n = (i: number): number => Number(row[i] ?? Number.NaN)
  return { points: n(1), seqSum: n(2), countSum: n(3), tempSum: n(4), onCount: n(5) }
}

function compareContent(actual: Content, expected: Content): string[] {
  const problems: string[] = []
  for (const key of ['points', 'seqSum', 'countSum', 'onCount'] as const)
    if (actual[key] !== expected[key]) problems.push(`**${key} ${actual[key]}, expected ${expected[key]}**`)
  if (!(Math.abs(actual.tempSum - expected.tempSum) <= FLOAT_TOLERANCE * Math.abs(expected.tempSum)))
    problems.push(`**sum("temp") ${actual.tempSum}, expected ${expected.tempSum}**`)
  return problems
}

/** `influx -import` of the file, spawn to exit; bash's `times` reports the CLI's CPU time. */
async function runImport(influxd: Influxd, path: string): Promise<Measured<CeilingRun>> {
  const script = 'influx -host "$1" -port "$2" -import -path="$3" -precision=ns; s=$?; times; exit $s'
  const influxdBefore = cpuSeconds(influxd.pid)
  const t0 = performance.now()
  const child = spawn('bash', ['-c', script, 'bash', HOST, String(influxd.port), path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), WRITE_LIMIT_MS)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (c) => resolve(c))
  })
  clearTimeout(timer)
  const seconds = (performance.now() - t0) / 1000
  const failed = /Failed (\d+) inserts/.exec(output)?.[1]
  if (code !== 0 || (failed !== undefined && failed !== '0'))
    throw new Error(`influx -import exited with ${code}: ${output.slice(-2000)}`)
  // `times`: the shell's user and system time, then its children's.
  const times = [...output.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)][1]
  const clientCpuSeconds =
    times === undefined
      ? Number.NaN
      : Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4])
  return { seconds, clientCpuSeconds, influxdCpuSeconds: cpuSeconds(influxd.pid) - influxdBefore }
}

/** The lines posted to /write in bodies of 20,000, one request at a time, as the forwarder posts them. */
async function runHttp(influxd: Influxd, bodies: readonly Buffer[]): Promise<Measured<CeilingRun>> {
  const url = `${influxd.url}/write?${new URLSearchParams({ db: DB, precision: 'ns' })}`
  const influxdBefore = cpuSeconds(influxd.pid)
  const t0 = performance.now()
  for (const body of bodies) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body,
      signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
    })
    const text = await res.text()
    if (res.status !== 204) throw new Error(`POST /write: HTTP ${res.status}: ${text.slice(0, 500)}`)
    if (performance.now() - t0 > WRITE_LIMIT_MS)
      throw new Error(`HTTP writes still going after ${WRITE_LIMIT_MS} ms`)
  }
  const seconds = (performance.now() - t0) / 1000
  return { seconds, clientCpuSeconds: Number.NaN, influxdCpuSeconds: cpuSeconds(influxd.pid) - influxdBefore }
}

/** Resident set size (now) and its high-water mark (over the process's life), MB (proc(5)). */
function memoryMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 }
}

/** A metric's value from the Prometheus text, summed over its labels; NaN when absent. */
function metric(text: string, name: string): number {
  let total = Number.NaN
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')))
    total = (Number.isNaN(total) ? 0 : total) + Number(m[1])
  return total
}

/** A fresh server on a copy of the store, from its listening line to an empty backlog. */
async function runOurs(
  storeDir: string,
  influxd: Influxd,
  o: InfluxBenchOptions,
  nodeArgs: readonly string[] = [],
): Promise<Measured<OursRun>> {
  const dataDir = tempDir('bench-influx-app-')
  for (const name of ['telemetry.duckdb', 'telemetry.duckdb.wal'])
    if (existsSync(join(storeDir, name))) copyFileSync(join(storeDir, name), join(dataDir, name))
  const spawnedAt = performance.now()
  const app = await startApp({
    dataDir,
    nodeArgs,
    listenTimeoutMs: LISTEN_LIMIT_MS,
    args: ['--influx-url', influxd.url, '--influx-db', DB, '--influx-version', '1', '--influx-tags', 'site'],
  })
  const t0 = performance.now()
  try {
    const serverBefore = cpuSeconds(app.pid)
    const influxdBefore = cpuSeconds(influxd.pid)
    let forwardedAtListen = Number.NaN
    let peakRssMb = 0
    let text = ''
    for (;;) {
      const res = await fetch(`${app.httpUrl}/metrics`, { signal: AbortSignal.timeout(REQUEST_LIMIT_MS) })
      text = await res.text()
      peakRssMb = Math.max(peakRssMb, memoryMb(app.pid).rss)
      if (Number.isNaN(forwardedAtListen)) forwardedAtListen = metric(text, 'influx_readings_forwarded_total')
      if (metric(text, 'influx_backlog_readings') === 0) break
      if (performance.now() - t0 > DRAIN_LIMIT_MS)
        throw new Error(
          `backlog not drained after ${DRAIN_LIMIT_MS / 60_000} min: ${metric(text, 'influx_backlog_readings')} left`,
        )
      await sleep(POLL_MS)
    }
    const seconds = (performance.now() - t0) / 1000
    const m = {
      seconds,
      startupSeconds: (t0 - spawnedAt) / 1000,
      forwardedAtListen,
      serverCpuSeconds: cpuSeconds(app.pid) - serverBefore,
      influxdCpuSeconds: cpuSeconds(influxd.pid) - influxdBefore,
      peakRssMb,
      hwmRssMb: memoryMb(app.pid).hwm,
      writeSeconds: metric(text, 'influx_write_seconds_sum'),
      writes: metric(text, 'influx_write_seconds_count'),
      retries: metric(text, 'influx_write_retries_total'),
      rejected: metric(text, 'influx_lines_rejected_total'),
    }
    const forwarded = metric(text, 'influx_readings_forwarded_total')
    if (forwarded !== o.readings) process.stderr.write(`bench: ${forwarded} forwarded, not ${o.readings}\n`)
    return m
  } finally {
    await app.stop()
    removeTempDir(dataDir)
  }
}

function oursProblems(m: Measured<OursRun>): string[] {
  const problems: string[] = []
  if (m.retries > 0) problems.push(`**${m.retries} write retries**`)
  if (m.rejected > 0) problems.push(`**${m.rejected} lines refused**`)
  return problems
}

/** One more run of ours under `node --cpu-prof`: each thread's profile (main, store worker) reduced. */
async function profileOurs(
  storeDir: string,
  influxd: Influxd,
  o: InfluxBenchOptions,
  expected: Content,
): Promise<string> {
  const dir = tempDir('bench-influx-profile-')
  const m = await inFreshDatabase<OursRun>(influxd, expected, () =>
    runOurs(storeDir, influxd, o, ['--cpu-prof', `--cpu-prof-dir=${dir}`]),
  )
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  const parts = [
    `CPU profile of the server draining ${o.readings} readings (not in the results; whole process life, ` +
      `start-up included): drain ${m.seconds.toFixed(2)} s, server CPU ${m.serverCpuSeconds.toFixed(1)} s, ` +
      `waiting on writes ${m.writeSeconds.toFixed(1)} s, ${m.check}`,
  ]
  for (const file of files.sort()) {
    // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
    const thread = /\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1]
    parts.push(`\n${thread === '0' ? 'main thread' : `thread ${thread} (worker)`}: ${file}`)
    parts.push(formatProfile(summarizeProfile(join(dir, file), 25)))
  }
  if (files.length === 0) parts.push('no .cpuprofile was written')
  return parts.join('\n')
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2))
  const limit = setTimeout(() => {
    process.stderr.write(`bench: still running after ${WHOLE_BENCH_LIMIT_MS / 60_000} min, giving up\n`)
    process.exit(1)
  }, WHOLE_BENCH_LIMIT_MS)
  limit.unref()

  const root = tempDir('bench-influx-')
  const storeDir = join(root, 'store')
  const t0 = performance.now()
  await generateStore(storeDir, o)
  const generateSeconds = (performance.now() - t0) / 1000
  const storeBytes = statSync(join(storeDir, 'telemetry.duckdb')).size
  const linesPath = join(root, 'lines.txt')
  const lines = await makeLines(storeDir, linesPath)
  if (lines.expected.points !== o.readings)
    throw new Error(`the store holds ${lines.expected.points} readings`)
  process.stdout.write(
    `${o.readings} readings stored in ${generateSeconds.toFixed(1)} s (${(storeBytes / 1e6).toFixed(0)} MB); ` +
      `lines ${(lines.bytes / 1e6).toFixed(0)} MB (rendered by the store in ${lines.readSeconds.toFixed(1)} s)\n` +
      `${lines.sample}\n`,
  )

  const influxdDir = join(root, 'influxd')
  mkdirSync(influxdDir)
  const influxd = await startInfluxd(influxdDir)
  const runs: Run[] = []
  let profile: string | null = null
  try {
    for (let i = 1; i <= o.runs; i++) {
      const importRun = await inFreshDatabase<CeilingRun>(influxd, lines.expected, () =>
        runImport(influxd, linesPath),
      )
      const http = await inFreshDatabase<CeilingRun>(influxd, lines.expected, () =>
        runHttp(influxd, lines.bodies),
      )
      const ours = await inFreshDatabase<OursRun>(
        influxd,
        lines.expected,
        () => runOurs(storeDir, influxd, o),
        oursProblems,
      )
      const run = { importRun, http, ours }
      runs.push(run)
      process.stdout.write(`run ${i}/${o.runs}: ${runLine(o, run)}\n`)
    }
    const perS = (s: number): number => o.readings / s
    const ceiling = Math.max(
      median(runs.map((r) => perS(r.importRun.seconds))),
      median(runs.map((r) => perS(r.http.seconds))),
    )
    const missed = median(runs.map((r) => perS(r.ours.seconds))) < TARGET * ceiling
    if (o.profile === 'true' || (o.profile === 'auto' && missed))
      profile = await profileOurs(storeDir, influxd, o, lines.expected)
  } finally {
    await influxd.stop()
  }

  const args = process.argv.slice(2)
  const report = renderInfluxReport(o, runs, {
    command: `npm run bench:influx${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    influxdVersion: influxd.version,
    generateSeconds,
    storeBytes,
    lineBytes: lines.bytes,
    readSeconds: lines.readSeconds,
    sampleLine: lines.sample,
    expected: lines.expected,
  })
  process.stdout.write(`\n${report}\n`)
  if (profile !== null) process.stdout.write(`\n${profile}\n`)
  if (o.write) {
    const path = join(REPO_ROOT, 'bench', 'RESULTS.md')
    writeSection(path, 'InfluxDB forwarding (bench:influx)', report)
    writeFigures(influxFigures(o, runs, influxd.version))
    process.stdout.write(`written to ${path} and bench/results.svg\n`)
  }
  const bad = runs.filter((r) => !(r.importRun.ok && r.http.ok && r.ours.ok)).length
  process.exitCode = bad > 0 ? 1 : 0
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
