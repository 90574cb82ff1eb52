/**
 * Files of older layouts open, and answer as they did:
 * - one written before readings had stored_ts and newest_ts (the layout of
 *   the first release): both columns are made, the old rows keep their
 *   order and values, and ingest goes on;
 * - one of the wide layout (a column per field), made by the store of that
 *   layout (test/fixtures/wide-layout): migrated to the `fields` map in
 *   slices, with the same readings, windows and InfluxDB lines as that
 *   store answered, also when the migration was killed half-way.
 */

import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { DuckDBInstance } from '@duckdb/node-api'
import t, { type Test } from 'tap'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import { tempDir } from '../helpers/app.js'
import { type Answers, answers, fillFixture, fixtureReading, READINGS } from '../helpers/wide-layout.js'

const S = 1_000_000_000n

t.test('store - a database of the first layout gains stored_ts and newest_ts', async (t) => {
  const dir = tempDir(t)
  const db = await DuckDBInstance.create(join(dir, 'telemetry.duckdb'))
  const c = await db.connect()
  await c.run(`CREATE TABLE readings (device VARCHAR NOT NULL, boot UBIGINT NOT NULL, seq UBIGINT NOT NULL,
    idx USMALLINT NOT NULL, ts BIGINT NOT NULL, device_ts BIGINT, recv_ts BIGINT NOT NULL,
    offset_ns BIGINT NOT NULL, crc UINTEGER NOT NULL, tags VARCHAR, "f_temp" DOUBLE)`)
  await c.run('CREATE TABLE fields (name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, added_ns BIGINT)')
  await c.run("INSERT INTO fields VALUES ('temp', 'float', 0)")
  // In insertion order: a's second reading is older than its first.
  await c.run(`INSERT INTO readings VALUES
    ('a', 0, 1, 0, ${10n * S}, NULL, ${11n * S}, 0, 7, NULL, 1.5),
    ('b', 0, 1, 0, ${20n * S}, NULL, ${11n * S}, 0, 8, NULL, 2.5),
    ('a', 0, 2, 0, ${5n * S}, NULL, ${12n * S}, 0, 9, NULL, 3.5)`)
  c.closeSync()
  db.closeSync()

  const store = await DuckDBStore.open(dir)
  t.teardown(() => store.close())
  t.same(store.storedFields(), [{ name: 'temp', kind: 'float' }])
  t.same(
    await store.newestTimes().then((r) => new Map(r)),
    new Map([
      ['a', 10n * S],
      ['b', 20n * S],
    ]),
  )
  const rows = []
  for await (const chunk of store.readings({
    devices: ['a', 'b'],
    fromNs: 0n,
    toNs: 100n * S,
    fields: null,
    limit: 10,
  }))
    rows.push(...chunk.map((r) => [r.device, Number(r.seq), r.fields.temp]))
  t.same(
    rows,
    [
      ['a', 2, 3.5],
      ['a', 1, 1.5],
      ['b', 1, 2.5],
    ],
    'every old row, its values kept',
  )

  // newest_ts is the running maximum per device in the old insertion order, so windows see a's seq 2 as late.
  const feature = {
    name: 'f',
    field: 'temp',
    sizeNs: 10n * S,
    hopNs: 10n * S,
    graceNs: 0n,
    sizeLabel: '10s',
    aggregations: ['count'] as const,
  }
  const windows = []
  for await (const chunk of store.windows({
    features: [feature],
    devices: null,
    fromNs: 0n,
    toNs: 100n * S,
    asOfNs: null,
    includeLate: false,
  }))
    windows.push(...chunk.map((w) => [w.device, w.windowEndNs, w.values[0]]))
  t.same(
    windows,
    [
      ['a', 20n * S, 1],
      ['b', 30n * S, 1],
    ],
    'a seq 2 (ts 5 s, after ts 10 s had arrived) is late for [0, 10 s)',
  )

  await store.commit(
    [
      {
        device: 'a',
        boot: 0,
        seq: 3,
        idx: 0,
        tsNs: 30n * S,
        newestTsNs: 30n * S,
        deviceTsNs: null,
        recvTsNs: 31n * S,
        offsetNs: 0n,
        crc: 1,
        tags: null,
        fields: [{ name: 'temp', kind: 'float', value: 4.5 }],
      },
    ],
    [],
    [],
  )
  t.same(
    await store.newestTimes().then((r) => new Map(r).get('a')),
    30n * S,
    'and a new reading commits after the old rows',
  )
})

/** The fixture's file of the wide layout, in a new data directory. */
function wideFixture(t: Test): string {
  const dir = tempDir(t)
  const gz = readFileSync(join(import.meta.dirname, '../fixtures/wide-layout/telemetry.duckdb.gz'))
  writeFileSync(join(dir, 'telemetry.duckdb'), gunzipSync(gz))
  return dir
}

const recorded = JSON.parse(
  readFileSync(join(import.meta.dirname, '../fixtures/wide-layout/answers.json'), 'utf8'),
) as Answers

/** The tables of the file in `dir` and the columns of its readings, opened by DuckDB alone. */
async function layoutOf(dir: string): Promise<{ tables: string[]; columns: string[]; rows: number }> {
  const db = await DuckDBInstance.create(join(dir, 'telemetry.duckdb'))
  const c = await db.connect()
  try {
    const tables = (await c.runAndReadAll('SELECT table_name FROM duckdb_tables() ORDER BY 1')).getRowsJS()
    const columns = (
      await c.runAndReadAll(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'readings' ORDER BY column_index",
      )
    ).getRowsJS()
    const rows = (await c.runAndReadAll('SELECT count(*) FROM readings')).getRowsJS()
    return {
      tables: tables.map(([n]) => n as string),
      columns: columns.map(([n]) => n as string),
      rows: Number(rows[0]![0]),
    }
  } finally {
    c.closeSync()
    db.closeSync()
  }
}

/** After the migration: the same answers as the wide layout's store gave, and ingest goes on with new names. */
async function checkMigrated(t: Test, dir: string): Promise<void> {
  const store = await DuckDBStore.open(dir)
  t.same(await answers(store), recorded, 'readings, windows and lines as the wide layout answered them')
  await store.commit(
    [{ ...fixtureReading(READINGS, 'float'), fields: [{ name: 'extra', kind: 'int', value: 7n }] }],
    [],
    [{ name: 'extra', kind: 'int' }],
  )
  t.same(
    store.storedFields().map((f) => f.name),
    ['temp', 'count', 'level', 'on', 'rare', 'extra'],
    'a new name comes after the old ones',
  )
  const batch = await store.linesAfter(0n, READINGS + 1, { measurement: 'telemetry', allowedTags: [] })
  t.match(batch!.body.split('\n').at(-1), / extra=7i,@boot=/)
  await store.close()
  const layout = await layoutOf(dir)
  t.notOk(layout.tables.includes('readings_wide'), 'the wide table is gone')
  t.notOk(
    layout.columns.some((c) => c.startsWith('f_')),
    `readings has no column per field: ${layout.columns.join(', ')}`,
  )
}

t.test('store - a file of the wide layout is migrated at open and answers as before', async (t) => {
  const dir = wideFixture(t)
  t.ok((await layoutOf(dir)).columns.includes('f_temp'), 'the fixture has one column per field')
  await checkMigrated(t, dir)
})

t.test('store - a migration killed between slices resumes at the next open', async (t) => {
  const dir = wideFixture(t)
  // The migration in a process of its own, 200 rows a slice, killed once two slices are committed.
  const open = pathToFileURL(join(import.meta.dirname, '../../src/store/open.ts')).href
  const script = `
    import { DuckDBInstance } from '@duckdb/node-api'
    import { migrate } from ${JSON.stringify(open)}
    const db = await DuckDBInstance.create(${JSON.stringify(join(dir, 'telemetry.duckdb'))})
    await migrate(await db.connect(), { sliceRows: 200, onSlice: (copied) => console.log(copied) })
    console.log('done')`
  const loader = process.execArgv.filter((a) => a.includes('typescript'))
  const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => child.kill('SIGKILL'))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === 'done' || Number(line) >= 400) {
      child.kill('SIGKILL')
      break
    }
  }
  t.equal(await exited, null, 'killed')
  const layout = await layoutOf(dir)
  t.ok(layout.tables.includes('readings_wide'), 'killed mid-migration: the wide table is still there')
  t.ok(
    layout.rows >= 400 && layout.rows < READINGS,
    `and ${layout.rows} of ${READINGS} rows were copied, in whole slices`,
  )
  t.equal(layout.rows % 200, 0, 'whole slices only')
  await checkMigrated(t, dir)
})

t.test('store - the same commits give the answers the wide layout gave, a field widened too', async (t) => {
  // level is widened half-way: a row of fields changes, its older values stay ints in the map.
  const store = await DuckDBStore.open(tempDir(t))
  t.teardown(() => store.close())
  await fillFixture(store)
  t.same(await answers(store), recorded)
})
