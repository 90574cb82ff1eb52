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
 * When ours misses the target (or with --profile true), one more run of ours
 * under `node --cpu-prof` prints where the server's time went.
 *
 * Flags: --runs 3 --readings 1000000 --devices 100 --write true|false --profile auto|true|false
 */

import { spawn } from 'node:child_process'
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { DuckDBInstance } from '@duckdb/node-api'
import { DuckDBStore } from '../src/store/index.js'
import { type InfluxdProcess, launchInfluxd } from '../test/helpers/influxd.js'
import { removeTempDir, sleep, spawnApp, tempDir } from '../test/helpers/process.js'
import { profiled } from './cpu-profile.js'
import { benchMain, codeVersion, command, machine, med, parseFlags, type Row, runLine } from './doc.js'
import { TARGET } from './influx-report.js'
import { cpuSeconds, memoryMb, metric, scrape } from './probes.js'
import { publish } from './render.js'

const FLAGS = {
  runs: [3, 1, 20],
  readings: [1_000_000, 1000, 50_000_000],
  devices: [100, 1, 10_000],
  profile: ['auto', 'true', 'false'],
} as const
type Options = ReturnType<typeof options>
const options = () =>
  parseFlags(FLAGS, (o) =>
    o.readings % o.devices === 0 ? [] : ['--readings must be a multiple of --devices'],
  )

const HOST = '127.0.0.1'
const DB = 'bench'
const MEASUREMENT = 'telemetry'
const SITES = ['north', 'south', 'east', 'west']
/** Lines a request, as the forwarder writes them (src/influx/forwarder.ts). */
const BATCH = 20_000
const START_NS = 1_704_067_200_000_000_000n // 2024-01-01T00:00:00Z
/** Every step is bounded in time. */
const DRAIN_LIMIT_MS = 15 * 60_000
const WRITE_LIMIT_MS = 15 * 60_000
const REQUEST_LIMIT_MS = 5 * 60_000
const LISTEN_LIMIT_MS = 5 * 60_000
const SETTLE_LIMIT_MS = 60_000
const POLL_MS = 100
/** Relative tolerance on sum("temp"): InfluxDB adds the floats in another order than the bench. */
const FLOAT_TOLERANCE = 1e-9

/**
 * The store's schema (made by the store itself), then every reading in one
 * INSERT … SELECT. Reading i is device i mod D's k-th (k = i div D): the
 * devices report in turn, each every second, with their own phase and a
 * sub-millisecond jitter; each device keeps one `site`. stored_ts follows i
 * (unique, increasing), 10 ms after the reading's slot: after its receive time.
 */
async function generateStore(dataDir: string, o: Options): Promise<void> {
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

/** What InfluxDB holds after a run: `SELECT count("@seq"), sum("@seq"), sum("count"), sum("temp"), count("on")`. */
type Content = readonly [points: number, seqSum: number, countSum: number, tempSum: number, onCount: number]
const CONTENT_NAMES = ['points', 'sum("@seq")', 'sum("count")', 'sum("temp")', 'count("on")']

/**
 * The lines as the forwarder makes them: the store's linesAfter in batches
 * of 20,000 (DuckDB renders them), to `path` as an `influx -import` file and
 * kept as request bodies; and what InfluxDB should hold afterwards, summed by
 * SQL over the same table.
 */
async function makeLines(dataDir: string, path: string) {
  const store = await DuckDBStore.open(dataDir)
  const file = openSync(path, 'w')
  const bodies: Buffer[] = []
  let readMs = 0
  let after = 0n
  try {
    writeSync(file, `# DML\n# CONTEXT-DATABASE: ${DB}\n`)
    for (;;) {
      const t0 = performance.now()
      const batch = await store.linesAfter(after, BATCH, { measurement: MEASUREMENT, allowedTags: ['site'] })
      readMs += performance.now() - t0
      if (batch === null) break
      bodies.push(Buffer.from(batch.body))
      writeSync(file, `${batch.body}\n`)
      after = batch.lastStoredTs
    }
  } finally {
    closeSync(file)
    await store.close()
  }
  const instance = await DuckDBInstance.create(join(dataDir, 'telemetry.duckdb'))
  const c = await instance.connect()
  try {
    const sums = 'SELECT count(*), sum(seq), sum(f_count), sum(f_temp), count(f_on) FROM readings'
    const row = (await c.runAndReadAll(sums)).getRowsJS()[0]!
    const expected = row.map(Number) as unknown as Content
    const lineBytes = bodies.reduce((n, b) => n + b.length + 1, 0)
    return {
      bodies,
      lineBytes,
      readS: readMs / 1000,
      sample: bodies[0]?.toString().split('\n', 1)[0] ?? '',
      expected,
    }
  } finally {
    c.closeSync()
    instance.closeSync()
  }
}

/** InfluxQL on influxd's /query; the first series' values. */
async function query(influxd: InfluxdProcess, q: string, db?: string): Promise<unknown[][]> {
  const params = new URLSearchParams({ q, ...(db === undefined ? {} : { db }) })
  const res = await fetch(`${influxd.url}/query?${params}`, {
    method: 'POST',
    signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
  })
  type Answer = {
    results?: Array<{ series?: Array<{ values?: unknown[][] }>; error?: string }>
    error?: string
  }
  const body = (await res.json()) as Answer
  const error = body.error ?? body.results?.[0]?.error
  if (error !== undefined) throw new Error(`influxd: ${q}: ${error}`)
  return body.results?.[0]?.series?.[0]?.values ?? []
}

/**
 * One writer's run into a freshly created database, dropped after: influxd
 * left to settle first (under 5 % of a core for a second: a drop's or a
 * compaction's work is not the next writer's), its content checked after.
 */
async function inFreshDatabase(
  influxd: InfluxdProcess,
  expected: Content,
  write: () => Promise<Record<string, number>>,
): Promise<{ figures: Record<string, number>; problems: string[] }> {
  await query(influxd, `DROP DATABASE "${DB}"`)
  await query(influxd, `CREATE DATABASE "${DB}"`)
  for (const deadline = Date.now() + SETTLE_LIMIT_MS; Date.now() < deadline; ) {
    const before = cpuSeconds(influxd.pid)
    await sleep(1000)
    if (cpuSeconds(influxd.pid) - before < 0.05) break
  }
  const influxdBefore = cpuSeconds(influxd.pid)
  const figures = { ...(await write()) }
  figures.influxdCpuS = cpuSeconds(influxd.pid) - influxdBefore
  const fields = `count("@seq"), sum("@seq"), sum("count"), sum("temp"), count("on")`
  const [row = []] = await query(influxd, `SELECT ${fields} FROM "${MEASUREMENT}"`, DB)
  await query(influxd, `DROP DATABASE "${DB}"`)
  const problems = expected.flatMap((want, i) => {
    const got = Number(row[i + 1] ?? Number.NaN)
    const close = i === 3 ? Math.abs(got - want) <= FLOAT_TOLERANCE * Math.abs(want) : got === want
    return close ? [] : [`**${CONTENT_NAMES[i]} ${got}, expected ${want}**`]
  })
  return { figures, problems }
}

/** `influx -import` of the file, spawn to exit; bash's `times` reports the CLI's CPU time. */
async function runImport(influxd: InfluxdProcess, path: string): Promise<Record<string, number>> {
  const script = 'influx -host "$1" -port "$2" -import -path="$3" -precision=ns; s=$?; times; exit $s'
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
    child.once('exit', resolve)
  })
  clearTimeout(timer)
  const seconds = (performance.now() - t0) / 1000
  const failed = /Failed (\d+) inserts/.exec(output)?.[1]
  if (code !== 0 || (failed !== undefined && failed !== '0'))
    throw new Error(`influx -import exited with ${code}: ${output.slice(-2000)}`)
  // `times`: the shell's user and system time, then its children's.
  const t = [...output.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)][1]
  const clientCpuS =
    t === undefined ? NaN : Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4])
  return { seconds, clientCpuS }
}

/** The lines posted to /write in bodies of 20,000, one request at a time, as the forwarder posts them. */
async function runHttp(influxd: InfluxdProcess, bodies: readonly Buffer[]): Promise<Record<string, number>> {
  const url = `${influxd.url}/write?${new URLSearchParams({ db: DB, precision: 'ns' })}`
  const t0 = performance.now()
  for (const body of bodies) {
    const headers = { 'content-type': 'text/plain; charset=utf-8' }
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
    })
    const text = await res.text()
    if (res.status !== 204) throw new Error(`POST /write: HTTP ${res.status}: ${text.slice(0, 500)}`)
    if (performance.now() - t0 > WRITE_LIMIT_MS)
      throw new Error(`HTTP writes still going after ${WRITE_LIMIT_MS} ms`)
  }
  return { seconds: (performance.now() - t0) / 1000 }
}

/** A fresh server on a copy of the store, from its listening line to an empty backlog (/metrics polled). */
async function runOurs(storeDir: string, influxd: InfluxdProcess, nodeArgs: readonly string[] = []) {
  const dataDir = tempDir('bench-influx-app-')
  for (const name of ['telemetry.duckdb', 'telemetry.duckdb.wal'])
    if (existsSync(join(storeDir, name))) copyFileSync(join(storeDir, name), join(dataDir, name))
  const spawnedAt = performance.now()
  const args = [
    '--influx-url',
    influxd.url,
    '--influx-db',
    DB,
    '--influx-version',
    '1',
    '--influx-tags',
    'site',
  ]
  const app = await spawnApp({ dataDir, nodeArgs, listenTimeoutMs: LISTEN_LIMIT_MS, args })
  const t0 = performance.now()
  try {
    const serverBefore = cpuSeconds(app.pid)
    let forwardedAtListen = Number.NaN
    let peakRssMb = 0
    let text = ''
    for (;;) {
      text = await scrape(app.httpUrl, REQUEST_LIMIT_MS)
      peakRssMb = Math.max(peakRssMb, memoryMb(app.pid).rssMb)
      if (Number.isNaN(forwardedAtListen)) forwardedAtListen = metric(text, 'influx_readings_forwarded_total')
      const backlog = metric(text, 'influx_backlog_readings')
      if (backlog === 0) break
      if (performance.now() - t0 > DRAIN_LIMIT_MS)
        throw new Error(`backlog not drained in ${DRAIN_LIMIT_MS} ms: ${backlog} left`)
      await sleep(POLL_MS)
    }
    return {
      seconds: (performance.now() - t0) / 1000,
      startupS: (t0 - spawnedAt) / 1000,
      forwardedAtListen,
      serverCpuS: cpuSeconds(app.pid) - serverBefore,
      peakRssMb,
      hwmMb: memoryMb(app.pid).hwmMb,
      writeS: metric(text, 'influx_write_seconds_sum'),
      writes: metric(text, 'influx_write_seconds_count'),
      retries: metric(text, 'influx_write_retries_total'),
      rejected: metric(text, 'influx_lines_rejected_total'),
      forwarded: metric(text, 'influx_readings_forwarded_total'),
    }
  } finally {
    await app.stop()
    removeTempDir(dataDir)
  }
}

/** Ours, checked: the content, and no retries, no refused lines, every reading forwarded. */
async function checkedOurs(
  storeDir: string,
  influxd: InfluxdProcess,
  expected: Content,
  nodeArgs: readonly string[] = [],
) {
  const r = await inFreshDatabase(influxd, expected, () => runOurs(storeDir, influxd, nodeArgs))
  const f = r.figures
  if (f.retries! > 0) r.problems.push(`**${f.retries} write retries**`)
  if (f.rejected! > 0) r.problems.push(`**${f.rejected} lines refused**`)
  if (f.forwarded !== expected[0]) r.problems.push(`**${f.forwarded} forwarded**`)
  return r
}

const checkText = (problems: readonly string[]): string =>
  problems.length === 0 ? 'ok' : problems.join(', ')

benchMain(90, async () => {
  const o = options()
  const started = Date.now()
  const measuredAt = new Date().toISOString()
  const root = tempDir('bench-influx-')
  const storeDir = join(root, 'store')
  const t0 = performance.now()
  await generateStore(storeDir, o)
  const generateS = (performance.now() - t0) / 1000
  const storeMB = statSync(join(storeDir, 'telemetry.duckdb')).size / 1e6
  const linesPath = join(root, 'lines.txt')
  const lines = await makeLines(storeDir, linesPath)
  if (lines.expected[0] !== o.readings) throw new Error(`the store holds ${lines.expected[0]} readings`)
  process.stdout.write(
    `${o.readings} readings stored in ${generateS.toFixed(1)} s; lines rendered in ${lines.readS.toFixed(1)} s\n`,
  )

  const influxdDir = join(root, 'influxd')
  mkdirSync(influxdDir)
  const influxd = await launchInfluxd(influxdDir)
  const runs: Row[] = []
  const profiles: string[] = []
  try {
    for (let run = 1; run <= o.runs; run++) {
      const imp = await inFreshDatabase(influxd, lines.expected, () => runImport(influxd, linesPath))
      const http = await inFreshDatabase(influxd, lines.expected, () => runHttp(influxd, lines.bodies))
      const ours = await checkedOurs(storeDir, influxd, lines.expected)
      const [i, h, u] = [imp.figures, http.figures, ours.figures]
      const perS = (seconds: number | undefined): number => o.readings / Number(seconds)
      runs.push({
        ...{
          run,
          importS: i.seconds!,
          importPerS: perS(i.seconds),
          importClientCpuS: i.clientCpuS!,
          importInfluxdCpuS: i.influxdCpuS!,
        },
        ...{
          httpS: h.seconds!,
          httpPerS: perS(h.seconds),
          httpInfluxdCpuS: h.influxdCpuS!,
          oursS: u.seconds!,
        },
        ...{
          oursPerS: perS(u.seconds),
          serverCpuS: u.serverCpuS!,
          oursInfluxdCpuS: u.influxdCpuS!,
          peakRssMb: u.peakRssMb!,
        },
        ...{
          hwmMb: u.hwmMb!,
          writeS: u.writeS!,
          writes: u.writes!,
          startupS: u.startupS!,
          forwardedAtListen: u.forwardedAtListen!,
        },
        ...{
          usPerReading: (u.serverCpuS! * 1e6) / o.readings,
          ok: [imp, http, ours].every((r) => r.problems.length === 0),
        },
        ...{
          importCheck: checkText(imp.problems),
          httpCheck: checkText(http.problems),
          oursCheck: checkText(ours.problems),
        },
      })
      process.stdout.write(`${runLine(`run ${run}/${o.runs}`, { ...runs.at(-1)!, check: `import ${runs.at(-1)!.importCheck}, HTTP ${runs.at(-1)!.httpCheck}, ours ${runs.at(-1)!.oursCheck}` }, 'importPerS httpPerS oursPerS serverCpuS writeS peakRssMb')}
`)
    }
    const ceiling = Math.max(med(runs, 'importPerS'), med(runs, 'httpPerS'))
    if (o.profile === 'true' || (o.profile === 'auto' && med(runs, 'oursPerS') < TARGET * ceiling))
      profiles.push(
        await profiled(
          async (nodeArgs) => {
            const m = await checkedOurs(storeDir, influxd, lines.expected, nodeArgs)
            return (
              `CPU profile of the server draining ${o.readings} readings (one more run, not in the figures above; whole process life, start-up included): ` +
              `drain ${m.figures.seconds!.toFixed(2)} s, server CPU ${m.figures.serverCpuS!.toFixed(1)} s, ` +
              `waiting on writes ${m.figures.writeS!.toFixed(1)} s, ${checkText(m.problems)}`
            )
          },
          { main: 25, worker: 25 },
        ),
      )
  } finally {
    await influxd.stop()
  }
  const doc = {
    bench: 'influx' as const,
    measuredAt,
    machine: machine(),
    code: codeVersion(),
    command: command('influx'),
    loadAverage: null,
    minutes: (Date.now() - started) / 60_000,
    versions: { influxd: influxd.version },
    options: { runs: o.runs, readings: o.readings, devices: o.devices },
    context: {
      ...{ generateS, storeMB, lineMB: lines.lineBytes / 1e6, lineBytes: lines.lineBytes / o.readings },
      ...{ readS: lines.readS, sampleLine: lines.sample, points: lines.expected[0] },
    },
    runs,
    profiles,
  }
  if (o.write) publish(doc)
  return runs.every((r) => r.ok === true)
})
