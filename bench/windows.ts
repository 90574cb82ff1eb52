/**
 * `npm run bench:windows`: how long does `GET /v1/windows?format=parquet`
 * take for one day of 10 s windows over 10 million stored readings, next to
 * the query a data scientist would write, run by DuckDB itself on the same
 * file (the floor)? Issue 4; the method in words is bench/sections/windows.md.
 * DuckDB lets one process at a time open a database file, so the floor's
 * connection is closed before the server starts, and the server stopped
 * before the next floor.
 *
 * Flags: --runs 3 --readings 10000000 --devices 1000 --write true|false
 */

import { createWriteStream, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream } from 'node:stream/web'
import { version as duckdbVersion } from '@duckdb/node-api'
import { cpuSeconds, memoryMb } from '../test/helpers/probes.js'
import { spawnApp, tempDir } from '../test/helpers/process.js'
import { begin, benchMain, parseFlags, prefixed, type Row, runLine } from './doc.js'
import { publish } from './render.js'
import { seedStore, withDuckDB } from './store-data.js'

const FLAGS = {
  runs: [3, 1, 20],
  readings: [10_000_000, 1000, 100_000_000],
  devices: [1000, 1, 100_000],
} as const
/** The day the readings span: fixed, so every run of the bench stores the same data. */
const [DAY_START_NS, DAY_NS] = [1_704_067_200_000_000_000n, 86_400_000_000_000n] // 2024-01-01T00:00:00Z
const [WINDOW_NS, GRACE_NS] = [10_000_000_000n, 2_000_000_000n]
const FEATURE = {
  ...{ name: 'temp_10s', field: 'temp', window: { size: '10s' } },
  ...{ aggregations: ['mean', 'min', 'max', 'count', 'std'], grace: '2s' },
}
/** Every step is bounded in time: a query or a request, the server's start-up. */
const [QUERY_LIMIT_MS, LISTEN_LIMIT_MS] = [10 * 60_000, 5 * 60_000]
const VALUE_COLUMNS = ['temp_mean_10s', 'temp_min_10s', 'temp_max_10s', 'temp_count_10s', 'temp_std_10s']
/** Mean and std: the floor's avg() and ours (fsum / count) may round differently in the last bits. */
const VALUE_TOLERANCE = 1e-9

/**
 * Reading i belongs to device i mod D and is its k-th (k = i div D); the
 * devices report in turn, each every day/(N/D) (8.64 s by default) with up to
 * half a period of jitter. One reading in 100 carries an event time 0.5–20.5 s
 * older, as if delayed in transit: it arrives after newer ones, and beyond the
 * 2 s grace it is late. stored_ts follows i (unique, increasing); newest_ts is
 * the device's running maximum of ts in that order, as the bridge records it.
 */
function readingsSql(readings: number, devices: number): string {
  const periodNs = (DAY_NS * BigInt(devices)) / BigInt(readings)
  return `WITH g AS (
      SELECT i, i % ${devices} AS d, i // ${devices} AS k, hash(i) AS h FROM range(${readings}) t(i)
    ), t AS (
      SELECT *, ${DAY_START_NS} + k * ${periodNs} + (h % ${periodNs / 2n})::BIGINT
          - CASE WHEN (h >> 32) % 100 = 0 THEN 500000000 + (hash(i, 1) % 20000000000)::BIGINT ELSE 0 END AS ts,
        ${DAY_START_NS} + 30000000000 + i * ${DAY_NS / BigInt(readings)} AS stored_ts
      FROM g)
    SELECT printf('dev-%05d', d), 1, k, 0, ts, ts, stored_ts - 1000000, 0, (h % 4294967296)::UINTEGER, NULL,
      stored_ts, max(ts) OVER (PARTITION BY d ORDER BY i ROWS UNBOUNDED PRECEDING),
      round(20 + d % 10 + 3 * sin(k / 500.0) + ((h >> 16) % 1000) / 1000.0, 3)
    FROM t ORDER BY i`
}

/**
 * The floor: what a data scientist would write for the same rows, with the
 * same late-reading rule (a reading counts while its window ends after the
 * device's newest event time minus the grace). `temp` is field 1 of the
 * seeded store, so its value is `fields[1].f`.
 */
function floorSql(outPath: string): string {
  return `COPY (
  SELECT device, make_timestamp_ns(window_end) AS window_end,
    avg(temp) AS temp_mean_10s, min(temp) AS temp_min_10s, max(temp) AS temp_max_10s,
    count(temp) AS temp_count_10s, stddev_samp(temp) AS temp_std_10s
  FROM (
    SELECT device, fields[1].f AS temp, newest_ts, ts // ${WINDOW_NS} * ${WINDOW_NS} + ${WINDOW_NS} AS window_end
    FROM readings
    WHERE ts >= ${DAY_START_NS} AND ts < ${DAY_START_NS + DAY_NS} AND fields[1].f IS NOT NULL)
  WHERE window_end > newest_ts - ${GRACE_NS}
  GROUP BY device, window_end
  ORDER BY device, window_end
) TO '${outPath}' (FORMAT parquet, COMPRESSION zstd)`
}

/** `work`, with the RSS of `pid` before and at its highest while it ran (polled every 50 ms), and its CPU seconds. */
async function measured<T>(pid: number | 'self', cpu: () => number, work: () => Promise<T>) {
  const [idleRssMb, cpuBefore, t0] = [memoryMb(pid).rssMb, cpu(), performance.now()]
  let peak = idleRssMb
  const timer = setInterval(() => {
    peak = Math.max(peak, memoryMb(pid).rssMb)
  }, 50)
  try {
    const [result, seconds] = [await work(), (performance.now() - t0) / 1000]
    const peakRssMb = Math.max(peak, memoryMb(pid).rssMb)
    return { result, seconds, cpuS: cpu() - cpuBefore, idleRssMb, peakRssMb }
  } finally {
    clearInterval(timer)
  }
}

/** The floor: this process opens the store and times the COPY. */
function runFloor(dbPath: string, outPath: string) {
  const ownCpu = (): number => (process.cpuUsage().user + process.cpuUsage().system) / 1e6
  return withDuckDB(dbPath, async (c) => {
    const limit = setTimeout(() => c.interrupt(), QUERY_LIMIT_MS)
    const { result, ...m } = await measured('self', ownCpu, () => c.runAndReadAll(floorSql(outPath)))
    clearTimeout(limit)
    return { ...m, rows: Number(result.getRowsJS()[0]?.[0] ?? Number.NaN), MB: statSync(outPath).size / 1e6 }
  })
}

/** Ours: a fresh server on the store; from fetch() to the last byte on disk. */
async function runOurs(dataDir: string, featuresPath: string, outPath: string) {
  const startedAt = performance.now()
  const app = await spawnApp({
    dataDir,
    args: ['--features', featuresPath],
    listenTimeoutMs: LISTEN_LIMIT_MS,
  })
  try {
    const startupS = (performance.now() - startedAt) / 1000
    const [from, to] = [DAY_START_NS / 1_000_000n, (DAY_START_NS + DAY_NS) / 1_000_000n]
    const url = `${app.httpUrl}/v1/windows?device=*&feature=${FEATURE.name}&format=parquet&from=${from}&to=${to}`
    const t0 = performance.now()
    const { result, ...m } = await measured(
      app.pid,
      () => cpuSeconds(app.pid),
      async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(QUERY_LIMIT_MS) })
        const headersS = (performance.now() - t0) / 1000
        if (res.status !== 200 || res.body === null)
          throw new Error(`GET /v1/windows: HTTP ${res.status}: ${(await res.text()).slice(0, 500)}`)
        await pipeline(Readable.fromWeb(res.body as ReadableStream<Uint8Array>), createWriteStream(outPath))
        return { headersS, headerRows: Number(res.headers.get('x-rows') ?? Number.NaN) }
      },
    )
    const size = { hwmMb: memoryMb(app.pid).hwmMb, MB: statSync(outPath).size / 1e6 }
    return { ...m, ...result, streamingS: m.seconds - result.headersS, startupS, ...size }
  } finally {
    await app.stop()
  }
}

/**
 * Reads the files back with DuckDB: ours must have the floor's rows and
 * values. Against the first run's file, how many windows came out other than
 * bit for bit the same, from the same query over the same data.
 */
function compare(ours: string, floor: string, firstOurs: string | null) {
  return withDuckDB(':memory:', async (c) => {
    const near = (col: string) =>
      `((o.${col} IS NULL) <> (f.${col} IS NULL) OR abs(o.${col} - f.${col}) > ${VALUE_TOLERANCE})`
    const r = await c.runAndReadAll(`
      SELECT (SELECT count(*) FROM read_parquet('${ours}')),
        count(*) FILTER (WHERE o.device IS NULL OR f.device IS NULL
          OR o.temp_count_10s IS DISTINCT FROM f.temp_count_10s
          OR o.temp_min_10s IS DISTINCT FROM f.temp_min_10s OR o.temp_max_10s IS DISTINCT FROM f.temp_max_10s
          OR ${near('temp_mean_10s')} OR ${near('temp_std_10s')}),
        count(*) FILTER (WHERE o.temp_mean_10s <> f.temp_mean_10s OR o.temp_std_10s <> f.temp_std_10s)
      FROM read_parquet('${ours}') o
      FULL JOIN read_parquet('${floor}') f ON o.device = f.device AND o.window_end = f.window_end`)
    const [rows, differing, inexact] = (r.getRowsJS()[0] ?? []).map(Number)
    let unrepeated = Number.NaN
    if (firstOurs !== null) {
      const distinct = VALUE_COLUMNS.map((col) => `a.${col} IS DISTINCT FROM b.${col}`).join(' OR ')
      const again = await c.runAndReadAll(`SELECT count(*) FROM read_parquet('${ours}') a
        FULL JOIN read_parquet('${firstOurs}') b USING (device, window_end) WHERE ${distinct}`)
      unrepeated = Number(again.getRowsJS()[0]?.[0] ?? Number.NaN)
    }
    return { rows: rows ?? NaN, differing: differing ?? NaN, inexact: inexact ?? NaN, unrepeated }
  })
}

benchMain(60, async () => {
  const o = parseFlags(FLAGS, (f) =>
    f.readings % f.devices === 0 ? [] : ['--readings must be a multiple of --devices'],
  )
  const done = begin('windows')
  const dataDir = tempDir('bench-windows-')
  const dbPath = join(dataDir, 'telemetry.duckdb')
  const featuresPath = join(dataDir, 'features.json')
  writeFileSync(featuresPath, JSON.stringify({ features: [FEATURE] }))
  const data = await seedStore(dataDir, { temp: ['DOUBLE', 'float'] }, readingsSql(o.readings, o.devices))
  process.stdout.write(
    `${o.readings} readings stored in ${data.seconds.toFixed(1)} s (${data.storeMB.toFixed(0)} MB)\n`,
  )
  // Not counted: in a trial the first query after generating ran at half speed
  // (7.6 s against 3.9–4.3 s, the same CPU time), while the new file was still being written back.
  await runFloor(dbPath, join(dataDir, 'warmup.parquet'))
  const runs: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    const [floorPath, oursPath] = [
      join(dataDir, `floor-${run}.parquet`),
      join(dataDir, `ours-${run}.parquet`),
    ]
    const floor = await runFloor(dbPath, floorPath)
    const ours = await runOurs(dataDir, featuresPath, oursPath)
    const check = await compare(oursPath, floorPath, run === 1 ? null : join(dataDir, 'ours-1.parquet'))
    const ok = check.rows === floor.rows && ours.headerRows === floor.rows && check.differing === 0
    runs.push({
      run,
      ...prefixed('floor', floor),
      ...prefixed('ours', ours),
      ...prefixed('check', check),
      ok,
    })
    rmSync(floorPath)
    if (run > 1) rmSync(oursPath)
    const line =
      'floor.seconds ours.seconds ours.headersS floor.peakRssMb ours.peakRssMb ours.hwmMb check.unrepeated'
    process.stdout.write(
      `${runLine(`run ${run}/${o.runs}`, { ...runs.at(-1)!, check: ok ? 'same rows and values' : 'MISMATCH' }, line)}\n`,
    )
  }
  const context = {
    ...{ generateS: data.seconds, storeMB: data.storeMB, periodS: (86_400 * o.devices) / o.readings },
    ...{ feature: JSON.stringify(FEATURE), floorSql: floorSql('floor.parquet') },
  }
  const options = { runs: o.runs, readings: o.readings, devices: o.devices }
  if (o.write) publish(done({ versions: { duckdb: duckdbVersion() }, options, context, runs, profiles: [] }))
  return runs.every((r) => r.ok === true)
})
