/**
 * GET /v1/telemetry a page at a time (issue 23), read by outside clients
 * (Node's fetch, curl, DuckDB for the Parquet) that follow `Link:
 * rel="next"`: a range of more readings than a page holds comes back whole,
 * each reading once, in one order, readings of several devices at one time
 * included; a reading stored after the first page is in none of the pages;
 * every format says before its body whether it is cut; a cursor the API did
 * not make is a 400; device=* serves every device; the Parquet has the CSV's
 * columns, with UTC-adjusted times whatever the server's time zone.
 */

import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { DuckDBInstance } from '@duckdb/node-api'
import { parse } from 'csv-parse/sync'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import { nextPage, telemetryLines } from '../../simulators/index.js'
import { parseRfc3339 } from '../../src/core/time.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { spawnApp } from '../helpers/process.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A page as a client sees it: its rows' `device/seq`, and what its headers say. */
interface Page {
  readonly keys: string[]
  readonly truncated: string | null
  readonly link: string | null
}

const DEVICES = ['pg-a', 'pg-b', 'pg-c']
/** More pages than that is a loop that does not end: a cursor that does not move on. */
const MAX_PAGES = 20

async function client(t: Teardown, port: number): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `pg-${Math.random()}`,
    reconnectPeriod: 0,
  })
  t.teardown(() => c.endAsync(true))
  return c
}

/** One reading at QoS 1: stored once the promise resolves (the PUBACK waits for the commit). */
function publish(c: MqttClient, device: string, seq: number, ts: number | { rfc3339: string }) {
  const message = encodeMessage({
    seq,
    boot: 1,
    ts,
    fields: { temp: float(seq + 0.5), n: seq },
    tags: { site: 'x' },
  })
  return c.publishAsync(`devices/${device}/telemetry`, message, { qos: 1 })
}

/**
 * 8 times a second apart from `startMs`, each with a reading of every one of
 * DEVICES: the `device/seq` of each, in the order of the API (time, then
 * device).
 */
async function publishGrid(c: MqttClient, startMs: number): Promise<string[]> {
  const order: string[] = []
  for (let k = 0; k < 8; k++)
    for (const device of DEVICES) {
      await publish(c, device, k + 1, startMs + k * 1000)
      order.push(`${device}/${k + 1}`)
    }
  return order
}

/** Every page from `url` on, following rel="next"; `read` gives a page's keys from its response. */
async function follow(url: string, read: (response: Response) => Promise<string[]>): Promise<Page[]> {
  const pages: Page[] = []
  for (let next: string | null = url; next !== null; ) {
    if (pages.length === MAX_PAGES) throw new Error(`more than ${MAX_PAGES} pages`)
    const response = await fetch(next)
    if (response.status !== 200) throw new Error(`GET ${next}: ${response.status} ${await response.text()}`)
    const [truncated, link] = [response.headers.get('telemetry-truncated'), response.headers.get('link')]
    pages.push({ keys: await read(response), truncated, link })
    next = nextPage(link, next)
  }
  return pages
}

const keyOf = (r: { device: string; seq: number | string }) => `${r.device}/${r.seq}`
const jsonKeys = async (r: Response) =>
  ((await r.json()) as { readings: Array<{ device: string; seq: number }> }).readings.map(keyOf)

t.test(
  'paging - every reading of a range once, in order, ties across devices too; later ones in no page',
  async (t) => {
    const app = await startTestApp(t)
    const c = await client(t, app.mqttPort)
    const start = Date.now() - 60_000
    const grid = await publishGrid(c, start)
    const base = `http://127.0.0.1:${app.httpPort}`
    // A relative from and a defaulted to: the range moves with the clock unless the link holds it still.
    const query = `/v1/telemetry?device=${DEVICES.join(',')}&from=-10m&limit=5`

    const first = await fetch(`${base}${query}`)
    const body = (await first.json()) as {
      truncated: boolean
      next: string | null
      readings: Array<{ device: string; seq: number }>
    }
    t.equal(first.headers.get('telemetry-truncated'), 'true', 'page 1 says it is cut')
    t.equal(body.truncated, true, 'and so does its body')
    t.type(body.next, 'string', 'with a cursor')
    t.same(
      body.readings.map(keyOf),
      grid.slice(0, 5),
      'page 1: the first five, the tie at the second time cut in two',
    )
    const link = /^<([^>]+)>; rel="next"$/.exec(first.headers.get('link') ?? '')
    t.ok(link, `Link: ${first.headers.get('link')}`)
    const next = new URL(link![1]!, base)
    t.equal(next.pathname, '/v1/telemetry')
    t.equal(next.searchParams.get('after'), body.next, 'the link carries the cursor')
    t.equal(next.searchParams.get('device'), DEVICES.join(','), 'and the query as it was')
    t.equal(next.searchParams.get('limit'), '5')
    for (const p of ['from', 'to', 'as_of'])
      t.match(next.searchParams.get(p), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, `${p} made absolute`)
    t.ok(
      parseRfc3339(next.searchParams.get('to')!)! <= BigInt(Date.now()) * 1_000_000n,
      'to: the first page’s now',
    )

    // Stored after page 1: one before where it ended, one after.
    await publish(c, 'pg-a', 100, start - 500)
    await publish(c, 'pg-b', 101, start + 7_500)

    const rest = await follow(next.href, jsonKeys)
    t.same(
      rest.map((p) => p.keys.length),
      [5, 5, 5, 4],
      'the other pages: 5, 5, 5 and 4 readings',
    )
    t.same(
      rest.map((p) => p.truncated),
      ['true', 'true', 'true', 'false'],
      'each says whether it is cut',
    )
    t.equal(rest.at(-1)!.link, null, 'the last one has no next')
    t.same(
      [...body.readings.map(keyOf), ...rest.flatMap((p) => p.keys)],
      grid,
      'every reading once, in order',
    )

    const now = await fetch(`${base}/v1/telemetry?device=${DEVICES.join(',')}&from=-10m&limit=100`)
    const fresh = await jsonKeys(now)
    t.equal(now.headers.get('telemetry-truncated'), 'false')
    t.ok(fresh.includes('pg-a/100') && fresh.includes('pg-b/101'), 'a new first page has the later ones')
    t.equal(fresh.length, grid.length + 2)
  },
)

t.test('paging - NDJSON, CSV (curl) and Parquet say before their body whether they are cut', async (t) => {
  const app = await startTestApp(t)
  const c = await client(t, app.mqttPort)
  const grid = await publishGrid(c, Date.now() - 60_000)
  const base = `http://127.0.0.1:${app.httpPort}`
  const query = (format: string) =>
    `${base}/v1/telemetry?device=${DEVICES.join(',')}&from=-10m&limit=7&format=${format}`
  const expectPages = (pages: Page[], what: string) => {
    t.same(
      pages.map((p) => [p.keys.length, p.truncated, p.link !== null]),
      [
        [7, 'true', true],
        [7, 'true', true],
        [7, 'true', true],
        [3, 'false', false],
      ],
      `${what}: four pages, each saying whether a next follows`,
    )
    t.same(
      pages.flatMap((p) => p.keys),
      grid,
      `${what}: every reading once, in order`,
    )
  }

  expectPages(
    await follow(query('ndjson'), async (r) =>
      (await r.text())
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => keyOf(JSON.parse(l) as { device: string; seq: number })),
    ),
    'NDJSON',
  )

  const dir = tempDir(t)
  const duck = await (await DuckDBInstance.create(':memory:')).connect()
  t.teardown(() => duck.closeSync())
  let n = 0
  expectPages(
    await follow(query('parquet'), async (r) => {
      t.equal(r.headers.get('content-type'), 'application/vnd.apache.parquet')
      const file = join(dir, `p${n++}.parquet`)
      writeFileSync(file, Buffer.from(await r.arrayBuffer()))
      const rows = (await duck.runAndReadAll(`SELECT device, seq FROM read_parquet('${file}')`)).getRowsJS()
      return rows.map(([device, seq]) => `${device}/${seq}`)
    }),
    'Parquet',
  )

  if (!haveProgram(t, 'curl', 'curl')) return
  const pages: Page[] = []
  for (let url: string | null = query('csv'); url !== null && pages.length < MAX_PAGES; ) {
    const bodyFile = join(dir, 'page.csv')
    const { stdout } = await promisify(execFile)('curl', ['-sS', '--fail', '-D', '-', '-o', bodyFile, url])
    const header = (name: string) => new RegExp(`^${name}: (.*?)\r?$`, 'im').exec(stdout)?.[1] ?? null
    const rows = parse(readFileSync(bodyFile), { columns: true }) as Array<{ device: string; seq: string }>
    pages.push({ keys: rows.map(keyOf), truncated: header('telemetry-truncated'), link: header('link') })
    url = nextPage(header('link'), url)
  }
  expectPages(pages, 'CSV through curl')
})

t.test('paging - a cursor this API did not make is a 400 naming after', async (t) => {
  const app = await startTestApp(t)
  const c = await client(t, app.mqttPort)
  await publishGrid(c, Date.now() - 60_000)
  const base = `http://127.0.0.1:${app.httpPort}/v1/telemetry?device=pg-a&from=-10m&limit=2`
  const good = (await (await fetch(base)).json()) as { next: string }
  const cursor = (items: unknown[]) => Buffer.from(JSON.stringify(items)).toString('base64url')
  const key = ['1700000000000000000', 'pg-a', '1', '1', 0, '1700000000000000000']
  const bad: Array<[string, string]> = [
    ['not base64url', '!!'],
    ['not JSON', Buffer.from('{[').toString('base64url')],
    ['an object', Buffer.from('{}').toString('base64url')],
    ['too short', cursor([1, ...key.slice(1)])],
    ['another version', cursor([2, ...key])],
    ['a device id no device has', cursor([1, key[0], 'a/b', ...key.slice(2)])],
    ['a number where a string goes', cursor([1, 1700000000000000000, ...key.slice(1)])],
    ['seq past 64 bits', cursor([1, key[0], 'pg-a', '1', '18446744073709551616', 0, key[5]])],
    ['idx past 16 bits', cursor([1, ...key.slice(0, 4), 65_536, key[5]])],
    ['too long', 'A'.repeat(401)],
  ]
  for (const [what, after] of bad) {
    const res = await fetch(`${base}&after=${after}`)
    const error = (await res.json()) as { code: string; parameter: string }
    t.equal(res.status, 400, `${what}: 400`)
    t.same([error.code, error.parameter], ['TLM_ERR_INVALID_PARAMETER', 'after'], `${what}: names after`)
  }
  const res = await fetch(`${base}&after=${good.next}`)
  t.equal(res.status, 200, 'the cursor of a page is taken')
  t.same(
    ((await res.json()) as { readings: Array<{ seq: number }> }).readings.map((r) => r.seq),
    [3, 4],
  )
})

t.test(
  'paging - device=* pages through every device; the verifiers’ reader follows every page',
  async (t) => {
    const app = await startTestApp(t)
    const c = await client(t, app.mqttPort)
    const grid = await publishGrid(c, Date.now() - 60_000)
    const base = `http://127.0.0.1:${app.httpPort}`
    const all = await follow(`${base}/v1/telemetry?device=*&from=-10m&limit=10`, jsonKeys)
    t.same(
      all.flatMap((p) => p.keys),
      grid,
      'device=*: every device, every reading once',
    )
    const lines: string[] = []
    for await (const line of telemetryLines(
      `${base}/v1/telemetry?device=*&from=-10m&limit=4&format=ndjson`,
      10_000,
    ))
      lines.push(keyOf(JSON.parse(line) as { device: string; seq: number }))
    t.same(lines, grid, 'simulators/telemetry-pages.ts: six pages of four, read whole')
  },
)

t.test(
  'paging - Parquet: the CSV’s columns in its order, times UTC-adjusted whatever the server’s zone',
  async (t) => {
    // The server's zone is five hours from UTC: a time read as local would be off by that much.
    const zone = process.env.TZ
    process.env.TZ = 'America/New_York'
    t.teardown(() => {
      process.env.TZ = zone
    })
    const server = await spawnApp()
    t.teardown(() => server.stop())
    const c = await client(t, server.mqttPort)
    // A device time with nanoseconds (RFC 3339 in CBOR tag 0), and one in milliseconds.
    const ms = Date.now() - 60_000
    const rfc3339 = `${new Date(ms).toISOString().slice(0, 19)}.123456789Z`
    await publish(c, 'pq-1', 1, { rfc3339 })
    await publish(c, 'pq-1', 2, ms + 1000)
    const url = `${server.httpUrl}/v1/telemetry?device=pq-1&from=-10m&fields=temp,n`
    const csvText = await (await fetch(`${url}&format=csv`)).text()
    const csv = parse(csvText, { columns: true }) as Array<Record<string, string>>
    const header = csvText.split('\n')[0]!.split(',')
    t.same(
      header,
      ['device', 'ts', 'boot', 'seq', 'idx', 'device_ts', 'recv_ts', 'offset_ns', 'temp', 'n', 'tags'],
      'CSV header',
    )
    const swapped = parse(await (await fetch(`${url.replace('temp,n', 'n,temp')}&format=csv`)).text(), {
      to: 1,
    }) as string[][]
    t.same(swapped[0]!.slice(8, 10), ['n', 'temp'], 'fields in the order asked for')

    const response = await fetch(`${url}&format=parquet`)
    t.equal(response.headers.get('telemetry-truncated'), 'false')
    const file = join(tempDir(t), 'r.parquet')
    writeFileSync(file, Buffer.from(await response.arrayBuffer()))
    const duck = await (await DuckDBInstance.create(':memory:')).connect()
    t.teardown(() => duck.closeSync())
    const schema = (
      await duck.runAndReadAll(
        `SELECT name, logical_type FROM parquet_schema('${file}') WHERE name <> 'duckdb_schema'`,
      )
    ).getRowsJS() as Array<[string, string | null]>
    t.same(
      schema.map(([name]) => name),
      header,
      'Parquet: the CSV’s columns in its order, and no others',
    )
    for (const [name, type] of schema.filter(([n]) => n.endsWith('ts')))
      t.match(
        type,
        /^TimestampType\(isAdjustedToUTC=1, unit=TimeUnit\(.*MICROS=MicroSeconds\(\)/,
        `${name}: UTC-adjusted`,
      )
    const swappedParquet = await fetch(`${url.replace('temp,n', 'n,temp')}&format=parquet`)
    const file2 = join(tempDir(t), 's.parquet')
    writeFileSync(file2, Buffer.from(await swappedParquet.arrayBuffer()))
    const names = (await duck.runAndReadAll(`SELECT name FROM parquet_schema('${file2}')`)).getRowsJS().flat()
    t.same(names.slice(9, 11), ['n', 'temp'], 'Parquet: fields in the order asked for too')

    const rows = (
      await duck.runAndReadAll(
        `SELECT device, epoch_us(ts), boot, seq, idx, epoch_us(device_ts), epoch_us(recv_ts), offset_ns, temp, n, tags FROM read_parquet('${file}')`,
      )
    ).getRowsJS()
    const micros = (text: string) => String(parseRfc3339(text)! / 1000n)
    t.same(
      rows.map((r) => r.map((v) => (v === null ? '' : String(v)))),
      csv.map((r) => [
        r.device,
        micros(r.ts!),
        r.boot,
        r.seq,
        r.idx,
        micros(r.device_ts!),
        micros(r.recv_ts!),
        r.offset_ns,
        r.temp,
        r.n,
        r.tags,
      ]),
      'the CSV’s values, times to the microsecond (UTC)',
    )
    t.equal(csv[0]!.ts, rfc3339, 'CSV keeps the nanoseconds')
  },
)

t.test('paging - a page of a --cors-origin origin may read Link and Telemetry-Truncated', async (t) => {
  const origin = 'https://dash.example'
  const app = await startTestApp(t, { corsOrigin: [origin] })
  const c = await client(t, app.mqttPort)
  await publish(c, 'pg-a', 1, Date.now() - 2_000)
  await publish(c, 'pg-a', 2, Date.now() - 1_000)
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/v1/telemetry?device=pg-a&from=-1m&limit=1`, {
    headers: { origin },
  })
  t.equal(res.headers.get('access-control-allow-origin'), origin)
  const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/)
  t.ok(exposed.includes('link') && exposed.includes('telemetry-truncated'), `exposed: ${exposed.join(', ')}`)
  t.ok(res.headers.get('link'), 'and there is a next page to read')
})

t.test('paging - an answer that fails after its page end is known carries no paging headers', async (t) => {
  const app = await startTestApp(t)
  const c = await client(t, app.mqttPort)
  await publish(c, 'pg-a', 1, Date.now() - 2_000)
  await publish(c, 'pg-a', 2, Date.now() - 1_000)
  // Parquet is written under exports/ first: without the directory the export fails, after the page's end was found.
  rmSync(join(app.dataDir, 'exports'), { recursive: true, force: true })
  const res = await fetch(
    `http://127.0.0.1:${app.httpPort}/v1/telemetry?device=pg-a&from=-1m&limit=1&format=parquet`,
  )
  t.equal(res.status, 500)
  t.same(
    [res.headers.get('link'), res.headers.get('telemetry-truncated')],
    [null, null],
    'an error does not say a next page follows',
  )
})
