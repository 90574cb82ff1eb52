/**
 * `npm run bench:influx`: how fast does the forwarder drain a backlog of a
 * million stored readings into InfluxDB, next to InfluxDB's own ingest of
 * the very same lines (the ceiling)? Issue 5; the method in words is
 * bench/sections/influx.md.
 *
 *   once:      a store, its lines as the forwarder makes them, influxd started
 *   each run:  `influx -import` of the lines ─┐ each into a fresh database,
 *              the lines posted over HTTP     ├ checked with count() and sum()
 *              ours: a fresh server draining  ┘ against the store, then dropped
 *
 * Flags: --runs 3 --readings 1000000 --devices 100 --write true|false --profile auto|true|false
 * (auto: one more run of ours under `node --cpu-prof` when it misses the target)
 */

import { spawn } from 'node:child_process'
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { DuckDBStore } from '../src/store/index.js'
import { metricIn, scrape } from '../test/helpers/http.js'
import { type InfluxdProcess, influxQuery, launchInfluxd } from '../test/helpers/influxd.js'
import { cpuSeconds, memoryMb } from '../test/helpers/probes.js'
import { removeTempDir, sleep, spawnApp, tail, tempDir } from '../test/helpers/process.js'
import { profiled } from './cpu-profile.js'
import { begin, benchMain, type Figure, med, parseFlags, prefixed, type Row, runLine } from './doc.js'
import { TARGET } from './influx-report.js'
import { publish } from './render.js'
import { seedStore, withDuckDB } from './store-data.js'

const FLAGS = {
  runs: [3, 1, 20],
  readings: [1_000_000, 1000, 50_000_000],
  devices: [100, 1, 10_000],
} as const
const multiple = (f: { readings: number; devices: number }): string[] =>
  f.readings % f.devices === 0 ? [] : ['--readings must be a multiple of --devices']
const [DB, MEASUREMENT, SITES] = ['bench', 'telemetry', ['north', 'south', 'east', 'west']] as const
/** Lines a request, as the forwarder writes them (src/influx/forwarder.ts). */
const BATCH = 20_000
const START_NS = 1_704_067_200_000_000_000n // 2024-01-01T00:00:00Z
/** Every step is bounded in time: a drain or a writer's whole write, one request, the server's start-up. */
const [WRITE_LIMIT_MS, REQUEST_LIMIT_MS, LISTEN_LIMIT_MS] = [15 * 60_000, 5 * 60_000, 5 * 60_000]
/** What InfluxDB holds after a run, against the same figures of the store; sum("temp") within 1e-9. */
const CONTENT = ['count("@seq")', 'sum("@seq")', 'sum("count")', 'sum("temp")', 'count("on")']
const FLOAT_TOLERANCE = 1e-9

/**
 * Reading i is device i mod D's k-th (k = i div D): the devices report in
 * turn, each every second, with their own phase and a sub-millisecond
 * jitter; each device keeps one `site`. stored_ts follows i (unique,
 * increasing), 10 ms after the reading's slot: after its receive time.
 */
function readingsSql(readings: number, devices: number): string {
  const sites = `[${SITES.map((s) => `'{"site":"${s}"}'`).join(', ')}]`
  const slot = `k * 1000000000 + d * (1000000000 // ${devices})`
  return `WITH g AS (
      SELECT i, i % ${devices} AS d, i // ${devices} AS k, hash(i) AS h FROM range(${readings}) t(i)
    ), t AS (
      SELECT *, ${START_NS} + ${slot} + (h % 1000000)::BIGINT AS ts, ((d % 7) - 3) * 1500000 AS offset_ns FROM g)
    SELECT printf('dev-%04d', d), 1, k, 0, ts, ts - offset_ns, ts + 3000000 + ((h >> 20) % 2000000)::BIGINT,
      offset_ns, (h % 4294967296)::UINTEGER, ${sites}[d % ${SITES.length} + 1], ${START_NS} + 10000000 + ${slot}, ts,
      round(18 + d % 10 + 3 * sin(k / 300.0) + ((h >> 16) % 1000) / 1000.0, 3), k * 3 + d, (h >> 8) % 2 = 0
    FROM t ORDER BY i`
}

/**
 * The lines as the forwarder makes them: the store's linesAfter in batches
 * of 20,000 (DuckDB renders them), to `path` as an `influx -import` file and
 * kept as request bodies; and what InfluxDB should hold, summed over the store.
 */
async function makeLines(dataDir: string, path: string, value: (field: string) => string) {
  const store = await DuckDBStore.open(dataDir)
  const [file, bodies] = [openSync(path, 'w'), [] as Buffer[]]
  let [readMs, after] = [0, 0n]
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
  const [temp, count, on] = ['temp', 'count', 'on'].map(value)
  const sums = `SELECT count(*), sum(seq), sum(${count}), sum(${temp}), count(${on}) FROM readings`
  const expected = await withDuckDB(join(dataDir, 'telemetry.duckdb'), async (c) =>
    ((await c.runAndReadAll(sums)).getRowsJS()[0] ?? []).map(Number),
  )
  const [lineBytes, sample] = [
    bodies.reduce((n, b) => n + b.length + 1, 0),
    String(bodies[0]).split('\n', 1)[0],
  ]
  return { bodies, lineBytes, readS: readMs / 1000, sample: sample ?? '', expected }
}

/** InfluxQL on the bench's database; the first series' values. */
async function query(influxd: InfluxdProcess, q: string): Promise<unknown[][]> {
  return (await influxQuery(influxd.url, DB, q))[0]?.values ?? []
}

/**
 * One writer's run into a freshly created database, dropped after: influxd
 * left to settle first (under 5 % of a core for a second: a drop's or a
 * compaction's work is not the next writer's), its content checked after.
 */
async function inFreshDatabase(
  influxd: InfluxdProcess,
  expected: readonly number[],
  write: () => Promise<Row>,
) {
  await query(influxd, `DROP DATABASE "${DB}"`)
  await query(influxd, `CREATE DATABASE "${DB}"`)
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    const before = cpuSeconds(influxd.pid)
    await sleep(1000)
    if (cpuSeconds(influxd.pid) - before < 0.05) break
  }
  const influxdBefore = cpuSeconds(influxd.pid)
  const figures: Record<string, Figure> = { ...(await write()) }
  figures.influxdCpuS = cpuSeconds(influxd.pid) - influxdBefore
  const [row = []] = await query(influxd, `SELECT ${CONTENT.join(', ')} FROM "${MEASUREMENT}"`)
  await query(influxd, `DROP DATABASE "${DB}"`)
  const problems = expected.flatMap((want, i) => {
    const got = Number(row[i + 1] ?? Number.NaN)
    const close = i === 3 ? Math.abs(got - want) <= FLOAT_TOLERANCE * Math.abs(want) : got === want
    return close ? [] : [`**${CONTENT[i]} ${got}, expected ${want}**`]
  })
  return { figures, problems }
}

/** `influx -import` of the file, spawn to exit; bash's `times` reports the CLI's CPU time. */
async function runImport(influxd: InfluxdProcess, path: string): Promise<Row> {
  const script = 'influx -host "$1" -port "$2" -import -path="$3" -precision=ns; s=$?; times; exit $s'
  const t0 = performance.now()
  const child = spawn('bash', ['-c', script, 'bash', '127.0.0.1', String(influxd.port), path])
  const output = tail(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), WRITE_LIMIT_MS)
  const code = await new Promise<number | null>((resolve, reject) =>
    child.once('error', reject).once('exit', resolve),
  )
  clearTimeout(timer)
  const seconds = (performance.now() - t0) / 1000
  if (code !== 0 || !/Failed 0 inserts|^(?![\s\S]*Failed \d+ inserts)/.test(output()))
    throw new Error(`influx -import exited with ${code}: ${output()}`)
  // `times`: the shell's user and system time, then its children's.
  const times = [...output().matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)][1]
  const t = times?.slice(1).map(Number) ?? [NaN, 0, 0, 0]
  return { seconds, clientCpuS: t[0]! * 60 + t[1]! + t[2]! * 60 + t[3]! }
}

/** The lines posted to /write in bodies of 20,000, one request at a time, as the forwarder posts them. */
async function runHttp(influxd: InfluxdProcess, bodies: readonly Buffer[]): Promise<Row> {
  const url = `${influxd.url}/write?${new URLSearchParams({ db: DB, precision: 'ns' })}`
  const t0 = performance.now()
  for (const body of bodies) {
    const res = await fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(REQUEST_LIMIT_MS) })
    const text = await res.text()
    if (res.status !== 204) throw new Error(`POST /write: HTTP ${res.status}: ${text.slice(0, 500)}`)
    if (performance.now() - t0 > WRITE_LIMIT_MS)
      throw new Error(`HTTP writes still going after ${WRITE_LIMIT_MS} ms`)
  }
  return { seconds: (performance.now() - t0) / 1000 }
}

/** A fresh server on a copy of the store, from its listening line to an empty backlog (/metrics every 100 ms). */
async function runOurs(
  storeDir: string,
  influxd: InfluxdProcess,
  nodeArgs: readonly string[] = [],
): Promise<Row> {
  const dataDir = tempDir('bench-influx-app-')
  for (const name of ['telemetry.duckdb', 'telemetry.duckdb.wal'])
    if (existsSync(join(storeDir, name))) copyFileSync(join(storeDir, name), join(dataDir, name))
  const spawnedAt = performance.now()
  const args = `--influx-url ${influxd.url} --influx-db ${DB} --influx-version 1 --influx-tags site`.split(
    ' ',
  )
  const app = await spawnApp({ dataDir, nodeArgs, listenTimeoutMs: LISTEN_LIMIT_MS, args })
  const [t0, serverBefore] = [performance.now(), cpuSeconds(app.pid)]
  try {
    let [forwardedAtListen, peakRssMb, text] = [Number.NaN, 0, '']
    for (;;) {
      text = await scrape(app.httpUrl, REQUEST_LIMIT_MS)
      peakRssMb = Math.max(peakRssMb, memoryMb(app.pid).rssMb)
      if (Number.isNaN(forwardedAtListen))
        forwardedAtListen = metricIn(text, 'influx_readings_forwarded_total')
      const backlog = metricIn(text, 'influx_backlog_readings')
      if (backlog === 0) break
      if (performance.now() - t0 > WRITE_LIMIT_MS)
        throw new Error(`backlog not drained in ${WRITE_LIMIT_MS} ms: ${backlog} left`)
      await sleep(100)
    }
    const m = (name: string): number => metricIn(text, name)
    return {
      ...{
        seconds: (performance.now() - t0) / 1000,
        startupS: (t0 - spawnedAt) / 1000,
        forwardedAtListen,
        peakRssMb,
      },
      ...{ serverCpuS: cpuSeconds(app.pid) - serverBefore, hwmMb: memoryMb(app.pid).hwmMb },
      ...{ writeS: m('influx_write_seconds_sum'), writes: m('influx_write_seconds_count') },
      ...{ retries: m('influx_write_retries_total'), rejected: m('influx_lines_rejected_total') },
      forwarded: m('influx_readings_forwarded_total'),
    }
  } finally {
    await app.stop()
    removeTempDir(dataDir)
  }
}

/** Ours, checked: the content, and no retries, no refused lines, every reading forwarded. */
async function checkedOurs(
  dir: string,
  influxd: InfluxdProcess,
  expected: readonly number[],
  nodeArgs?: string[],
) {
  const r = await inFreshDatabase(influxd, expected, () => runOurs(dir, influxd, nodeArgs))
  const f = r.figures
  if (Number(f.retries) > 0) r.problems.push(`**${f.retries} write retries**`)
  if (Number(f.rejected) > 0) r.problems.push(`**${f.rejected} lines refused**`)
  if (f.forwarded !== expected[0]) r.problems.push(`**${f.forwarded} forwarded**`)
  return r
}

type Checked = { figures: Record<string, Figure>; problems: string[] }

benchMain(90, async () => {
  const [o, done] = [parseFlags({ ...FLAGS, profile: ['auto', 'true', 'false'] }, multiple), begin('influx')]
  const root = tempDir('bench-influx-')
  const [storeDir, linesPath, influxdDir] = [join(root, 'store'), join(root, 'lines'), join(root, 'influxd')]
  const fields = { temp: ['DOUBLE', 'float'], count: ['BIGINT', 'int'], on: ['BOOLEAN', 'bool'] } as const
  const data = await seedStore(storeDir, fields, readingsSql(o.readings, o.devices))
  const lines = await makeLines(storeDir, linesPath, data.value)
  if (lines.expected[0] !== o.readings) throw new Error(`the store holds ${lines.expected[0]} readings`)
  process.stdout.write(`${o.readings} readings stored in ${data.seconds.toFixed(1)} s\n`)
  mkdirSync(influxdDir)
  const influxd = await launchInfluxd(influxdDir)
  const [runs, profiles] = [[] as Row[], [] as string[]]
  const checked = ({ figures, problems }: Checked): Record<string, Figure> => {
    const check = problems.length === 0 ? 'ok' : problems.join(', ')
    return { ...figures, perS: o.readings / Number(figures.seconds), check }
  }
  const fresh = (write: () => Promise<Row>) => inFreshDatabase(influxd, lines.expected, write)
  try {
    for (let run = 1; run <= o.runs; run++) {
      const imp = checked(await fresh(() => runImport(influxd, linesPath)))
      const http = checked(await fresh(() => runHttp(influxd, lines.bodies)))
      const ours = checked(await checkedOurs(storeDir, influxd, lines.expected))
      const usPerReading = (Number(ours.serverCpuS) * 1e6) / o.readings
      const ok = [imp, http, ours].every((r) => r.check === 'ok')
      const check = `import ${imp.check}, HTTP ${http.check}, ours ${ours.check}`
      const all = {
        ...prefixed('import', imp),
        ...prefixed('http', http),
        ...prefixed('ours', { ...ours, usPerReading }),
      }
      runs.push({ run, ...all, ok })
      const line = 'import.perS http.perS ours.perS ours.serverCpuS ours.writeS'
      process.stdout.write(`${runLine(`run ${run}`, { ...all, ok, check }, line)}\n`)
    }
    const ceiling = Math.max(med(runs, 'import.perS'), med(runs, 'http.perS'))
    if (o.profile === 'true' || (o.profile === 'auto' && med(runs, 'ours.perS') < TARGET * ceiling)) {
      const text = await profiled(async (nodeArgs) => {
        const m = checked(await checkedOurs(storeDir, influxd, lines.expected, [...nodeArgs]))
        const s = (k: string, d: number): string => Number(m[k]).toFixed(d)
        return `CPU profile of the server draining ${o.readings} readings (one more run, not in the figures above; whole process life, start-up included): drain ${s('seconds', 2)} s, server CPU ${s('serverCpuS', 1)} s, ${m.check}`
      })
      profiles.push(text)
    }
  } finally {
    await influxd.stop()
  }
  const context = {
    ...{ generateS: data.seconds, storeMB: data.storeMB, lineMB: lines.lineBytes / 1e6 },
    ...{ lineBytes: lines.lineBytes / o.readings, readS: lines.readS, sampleLine: lines.sample },
    points: lines.expected[0] ?? null,
  }
  const options = { runs: o.runs, readings: o.readings, devices: o.devices }
  if (o.write) publish(done({ versions: { influxd: influxd.version }, options, context, runs, profiles }))
  return runs.every((r) => r.ok === true)
})
