/**
 * `npm run export`: a training set pulled from a running server in slices
 * and joined into one Parquet file, equal to what GET /v1/windows returns for
 * the whole range; the CLI's exit codes and its plain progress off a terminal.
 */

import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import mqtt from 'mqtt'
import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import { formatRfc3339Ns } from '../../src/core/time.js'
import { parseExportArgs, progressLine, runExport, sliceBounds } from '../../src/export.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { getJson } from '../helpers/http.js'

const EXPORT_JS = join(import.meta.dirname, '..', '..', 'dist', 'src', 'export.js')
const FEATURES = {
  features: [
    {
      name: 't',
      field: 'temp',
      window: { size: '10s' },
      aggregations: ['mean', 'count', 'last'],
      grace: '1m',
    },
    { name: 't30', field: 'temp', window: { size: '30s', hop: '10s' }, aggregations: ['max'], grace: '1m' },
  ],
}

interface Teardown {
  teardown(fn: () => unknown): void
}

async function seededApp(t: Teardown) {
  const featuresPath = join(tempDir(t), 'features.json')
  writeFileSync(featuresPath, JSON.stringify(FEATURES))
  const app = await startTestApp(t, { featuresPath })
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  // Two devices, a reading every 1.5 s over 90 s of the past, sent raw (no clock correction applies to a backlog).
  const start = Math.floor((Date.now() - 200_000) / 10_000) * 10_000
  let seq = 0
  for (const device of ['e1', 'e2'])
    for (let k = 0; k < 60; k++)
      await c.publishAsync(
        `devices/${device}/telemetry`,
        encodeMessage({
          seq: ++seq,
          boot: 1,
          ts: start + k * 1_500,
          fields: { temp: float(10.5 + k * 0.25) },
        }),
        { qos: 1 },
      )
  return { app, start }
}

async function readParquet(file: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const r = await conn.runAndReadAll(
      `SELECT device, epoch_ns(window_end), temp_mean_10s, temp_count_10s, temp_last_10s, temp_max_30s FROM read_parquet('${file}')`,
    )
    return r.getRowsJS()
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

t.test('export - slices joined into one Parquet file equal the whole range from /v1/windows', async (t) => {
  const { app, start } = await seededApp(t)
  const out = join(tempDir(t), 'train.parquet')
  const fromNs = BigInt(start - 5_000) * 1_000_000n
  const toNs = BigInt(start + 95_000) * 1_000_000n
  const progress: number[] = []
  const summary = await runExport(
    {
      ...{ kind: 'windows', url: `http://127.0.0.1:${app.httpPort}`, fromNs, toNs, out, format: 'parquet' },
      ...{ features: null, fields: null, devices: '*', asOfNs: null, slices: 7, pageRows: 1, token: null },
    },
    (done) => progress.push(done),
  )
  t.same(progress, [1, 2, 3, 4, 5, 6, 7], 'progress after every slice')
  const whole = await getJson<{ windows: Array<Record<string, string | number | null>> }>(
    app.httpPort,
    `/v1/windows?device=*&from=${formatRfc3339Ns(fromNs)}&to=${formatRfc3339Ns(toNs)}`,
  )
  t.equal(summary.rows, whole.body.windows.length, `${summary.rows} rows`)
  t.ok(summary.rows >= 18, 'two devices × 9 window ends')
  const rows = await readParquet(out)
  t.same(
    rows.map((r) => [
      r[0],
      formatRfc3339Ns(r[1] as bigint),
      r[2],
      r[3] === null ? null : Number(r[3]),
      r[4],
      r[5],
    ]),
    whole.body.windows.map((w) => [
      w.device,
      w.window_end,
      w.temp_mean_10s,
      w.temp_count_10s,
      w.temp_last_10s,
      w.temp_max_30s,
    ]),
    'the same rows, in device and window order: no window lost or doubled at slice edges',
  )
})

t.test('export - the CLI: bad arguments exit 2, a run off a terminal prints plain progress', async (t) => {
  t.ok(existsSync(EXPORT_JS), 'dist/src/export.js is built (npm test builds first)')
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [EXPORT_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      child.once('close', (code) => resolve({ code, stdout, stderr }))
    })
  const bad = await run(['--from', '2026-01-02T00:00:00Z', '--to', '2026-01-01T00:00:00Z', '--out', 'x.txt'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--from must be before --to/)
  t.match(bad.stderr, /must end in \.parquet or \.csv/)

  const { app, start } = await seededApp(t)
  const out = join(tempDir(t), 'cli.parquet')
  const ok = await run([
    '--url',
    `http://127.0.0.1:${app.httpPort}`,
    '--from',
    String(start - 5_000),
    '--to',
    String(start + 95_000),
    '--feature',
    't',
    '--slices',
    '3',
    '--out',
    out,
  ])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stderr, /export: 3\/3 slices, \d+ rows/)
  t.match(ok.stdout, /^wrote .*cli\.parquet: \d+ rows/)
  t.ok(existsSync(out))

  const refused = await run([
    '--url',
    `http://127.0.0.1:${app.httpPort}`,
    '--from',
    String(start),
    '--to',
    String(start + 10_000),
    '--feature',
    'nope',
    '--out',
    join(tempDir(t), 'no.parquet'),
  ])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /unknown feature "nope"/)
})

t.test('export - argument parsing, slice bounds and the progress line', async (t) => {
  const parsed = parseExportArgs(['--from', '0', '--to', String(86_400_000), '--out', 'a.parquet'])
  t.ok(typeof parsed === 'object' && 'slices' in parsed && parsed.slices === 24, 'a day: one slice per hour')
  const bounds = sliceBounds(0n, 10n, 3)
  t.same(bounds, [0n, 3n, 6n, 10n], 'slices cover the range edge to edge')
  t.equal(
    progressLine(42, 100, 1234, 12_000, 10),
    '[████░░░░░░]  42%  42/100 slices  1,234 rows  0:12 elapsed  0:17 left',
  )
  // Node's own message, which goes on to say how to pass a positional that starts with '-'.
  t.match(parseExportArgs(['--bogus']), { problems: [/^Unknown option '--bogus'/] })
  t.match(parseExportArgs(['rollups', '--from', '-1h', '--to', 'now', '--out', 'a.csv']), {
    problems: ['"rollups": windows or telemetry'],
  })
  const before = BigInt(Date.now()) * 1_000_000n
  const relative = parseExportArgs(['--from', '-2h', '--to', 'now', '--out', 'b.parquet'])
  const after = BigInt(Date.now()) * 1_000_000n
  if (typeof relative !== 'object' || !('slices' in relative)) throw new Error(JSON.stringify(relative))
  t.ok(relative.toNs >= before && relative.toNs <= after, '--to now is now')
  t.equal(relative.toNs - relative.fromNs, 7_200_000_000_000n, '--from -2h is two hours before')
  t.equal(relative.slices, 2)
  t.match(parseExportArgs(['--from', 'yesterday', '--to', 'now', '--out', 'c.parquet']), {
    problems: [/--from: "yesterday" is not a time \(RFC 3339, epoch milliseconds, now, or before now/],
  })
})

/** Every row of a CSV or Parquet file, each cell as text (CSV is read as the server wrote it). */
async function rowsOf(file: string): Promise<string[][]> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const source = file.endsWith('.csv')
      ? `read_csv('${file}', header = true, all_varchar = true)`
      : `read_parquet('${file}')`
    const r = await conn.runAndReadAll(`SELECT * FROM ${source}`)
    return r.getRowsJS().map((row) => row.map((cell) => String(cell)))
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

t.test(
  'export - telemetry: the raw readings page after page, as CSV and Parquet, equal one answer',
  async (t) => {
    const { app, start } = await seededApp(t)
    const base = `http://127.0.0.1:${app.httpPort}`
    const [fromNs, toNs] = [BigInt(start - 5_000) * 1_000_000n, BigInt(start + 95_000) * 1_000_000n]
    const range = `device=*&from=${formatRfc3339Ns(fromNs)}&to=${formatRfc3339Ns(toNs)}&limit=1000`
    for (const format of ['csv', 'parquet'] as const) {
      const dir = tempDir(t)
      const [out, whole] = [join(dir, `raw.${format}`), join(dir, `whole.${format}`)]
      writeFileSync(
        whole,
        Buffer.from(await (await fetch(`${base}/v1/telemetry?${range}&format=${format}`)).arrayBuffer()),
      )
      const pages: number[] = []
      const summary = await runExport(
        {
          ...{ kind: 'telemetry', url: base, fromNs, toNs, out, format, features: null, fields: null },
          ...{ devices: '*', asOfNs: null, slices: 1, pageRows: 25, token: null },
        },
        (done, _rows, total) => pages.push(total ?? -done),
      )
      t.same(
        pages,
        [-1, -2, -3, -4, -5],
        `${format}: 120 readings in pages of 25, their number not known ahead`,
      )
      t.equal(summary.rows, 120, `${format}: every reading`)
      const [got, wanted] = [await rowsOf(out), await rowsOf(whole)]
      t.equal(got.length, 120)
      t.same(got, wanted, `${format}: the same rows, in the same order, as one answer of the API`)
    }
    const cli = parseExportArgs(['telemetry', '--from', '-1h', '--to', 'now', '--out', 'r.csv'], {
      TELEMETRY_TOKEN: 'tok',
    })
    t.match(
      cli,
      { kind: 'telemetry', format: 'csv', token: 'tok', pageRows: 100_000 },
      'the CLI: telemetry, CSV, the token',
    )
    t.match(
      parseExportArgs(['telemetry', '--feature', 'x', '--from', '-1h', '--to', 'now', '--out', 'r.csv']),
      {
        problems: ['--feature is for windows: telemetry takes --fields'],
      },
    )
  },
)
