/**
 * A data directory written before readings had stored_ts and newest_ts
 * (the layout of the first release) opens: the table is rebuilt once with
 * both columns in place, the old rows keep their order and values, and
 * ingest goes on.
 */

import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import { tempDir } from '../helpers/app.js'

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
