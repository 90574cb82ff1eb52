/**
 * The store's catalog (src/store/catalog.ts): what it says of each device
 * and field equals what the readings say, counted here from the readings
 * committed; it pages each device once; it is the same after a close and
 * after a crash (a process killed between two of its saves); and a file of
 * a release without it gets one built from its readings.
 */

import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import type { Reading } from '../../src/core/telemetry.js'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import type { DeviceRow, Store } from '../../src/store/store.js'
import { tempDir } from '../helpers/app.js'
import { storeReading } from '../helpers/store.js'
import { DEVICES, fixtureReading, READINGS } from '../helpers/wide-layout.js'

/** The least and greatest of some bigints. */
function extent(values: readonly bigint[]): [bigint, bigint] {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return [sorted[0]!, sorted.at(-1)!]
}

/** What the catalog must say of each device, from the readings themselves, in id order. */
function expected(readings: readonly Reading[], kinds: Record<string, string>): DeviceRow[] {
  const by = new Map<string, Reading[]>()
  for (const r of readings) by.set(r.device, [...(by.get(r.device) ?? []), r])
  return [...by.keys()].sort().map((device) => {
    const rs = by.get(device)!
    const names = new Set(rs.flatMap((r) => r.fields.map((f) => f.name)))
    return {
      device,
      firstTsNs: extent(rs.map((r) => r.tsNs))[0],
      lastTsNs: extent(rs.map((r) => r.tsNs))[1],
      lastRecvTsNs: extent(rs.map((r) => r.recvTsNs))[1],
      readings: rs.length,
      fields: Object.keys(kinds)
        .filter((n) => names.has(n))
        .map((name) => ({ name, kind: kinds[name] })),
    } as DeviceRow
  })
}

/** Every device, a page of `limit` at a time, and how many pages it took. */
async function allDevices(store: Pick<Store, 'devices'>, limit = 1000): Promise<[DeviceRow[], number]> {
  const rows: DeviceRow[] = []
  let [after, pages] = [null as string | null, 0]
  do {
    const page = await store.devices({ devices: null, after, limit })
    rows.push(...page.devices)
    after = page.next
    pages++
  } while (after !== null && pages < 100)
  return [rows, pages]
}

/** Readings of devices a, b, c: b late and out of order, c with a bool field that comes later. */
function batch(from: number, n: number): Reading[] {
  return Array.from({ length: n }, (_, k) => {
    const seq = from + k
    const r = storeReading(seq, 3)
    const device = ['a', 'b', 'c'][seq % 3]!
    const tsNs = r.tsNs - (device === 'b' ? BigInt((seq * 7919) % 1000) * 1_000_000_000n : 0n)
    const fields =
      device === 'c' && seq >= 30 ? [...r.fields, { name: 'on', kind: 'bool', value: true }] : r.fields
    return { ...r, device, tsNs, recvTsNs: r.recvTsNs + BigInt(seq % 5), fields } as Reading
  })
}

const KINDS = { temp: 'float', count: 'int', on: 'bool' }
const LETTER = { recvTsNs: 1n, device: 'a', topic: 'devices/a/telemetry', reason: 'x', detail: 'y' }

t.test('store - the catalog says what the committed readings say, and pages each device once', async (t) => {
  const dir = tempDir(t)
  const store = await DuckDBStore.open(dir)
  t.teardown(() => store.close())
  t.same(await allDevices(store), [[], 1], 'an empty store has no devices')
  t.equal(await store.span(null), null)
  const readings = [...batch(0, 30), ...batch(30, 30)]
  // New fields: the commit is a transaction; then the standing appender alone; then dead letters only.
  await store.commit(
    readings.slice(0, 30),
    [],
    [
      { name: 'temp', kind: 'float' },
      { name: 'count', kind: 'int' },
    ],
  )
  await store.commit(readings.slice(30, 31), [], [{ name: 'on', kind: 'bool' }])
  await store.commit(readings.slice(31), [], [])
  await store.commit([], [{ ...LETTER, payload: new Uint8Array(3) }], [])
  const want = expected(readings, KINDS)
  for (const limit of [1, 2, 3, 1000]) {
    const [rows, pages] = await allDevices(store, limit)
    t.same(rows, want, `pages of ${limit}: every device once, in id order`)
    t.equal(pages, Math.ceil(want.length / limit), `in ${Math.ceil(want.length / limit)} pages`)
  }
  t.same(
    await store.devices({ devices: ['c', 'nope', 'a', 'c'], after: null, limit: 10 }),
    { devices: [want[0], want[2]], next: null },
    'named devices: those the store holds, once, in id order',
  )
  t.same(await store.devices({ devices: ['a', 'b', 'c'], after: 'a', limit: 1 }), {
    devices: [want[1]],
    next: 'b',
  })
  const use = await store.fieldUse()
  t.same(
    use.map((f) => [f.name, f.kind, f.devices]),
    [
      ['temp', 'float', 3],
      ['count', 'int', 3],
      ['on', 'bool', 1],
    ],
  )
  t.ok(
    use.every((f) => f.addedNs !== null && f.addedNs > 1_700_000_000_000_000_000n),
    'each field says when it was added',
  )
  t.same(await store.span(['b', 'nope']), { firstTsNs: want[1]!.firstTsNs, lastTsNs: want[1]!.lastTsNs })
  t.same(await store.span(null), {
    firstTsNs: extent(want.map((d) => d.firstTsNs))[0],
    lastTsNs: extent(want.map((d) => d.lastTsNs))[1],
  })
  t.equal(await store.span(['nope']), null, 'a device without readings has no span')

  await store.close()
  const reopened = await DuckDBStore.open(dir)
  t.teardown(() => reopened.close())
  t.same((await allDevices(reopened))[0], want, 'the same after a close and reopen')
  t.same(
    (await reopened.fieldUse()).map((f) => f.devices),
    [3, 3, 1],
  )
})

t.test(
  'store - after a crash between two saves of the catalog, it counts every committed reading',
  async (t) => {
    const dir = tempDir(t)
    const readings = batch(0, 250)
    // A process of its own: saves every 100 readings, commits 250 in batches of 25, and is killed.
    const duckdbStore = pathToFileURL(join(import.meta.dirname, '../../src/store/duckdb-store.ts')).href
    const script = `
    import { DuckDBStore } from ${JSON.stringify(duckdbStore)}
    const readings = JSON.parse(process.argv[1], (k, v) => typeof v === 'string' && /^-?\\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v)
    const store = await DuckDBStore.open(${JSON.stringify(dir)}, { memoryMb: 200, catalogSaveReadings: 100 })
    const fields = [{ name: 'temp', kind: 'float' }, { name: 'count', kind: 'int' }, { name: 'on', kind: 'bool' }]
    for (let i = 0; i < readings.length; i += 25) await store.commit(readings.slice(i, i + 25), [], i === 0 ? fields : [])
    process.kill(process.pid, 'SIGKILL')`
    const json = JSON.stringify(readings, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))
    const loader = process.execArgv.filter((a) => a.includes('typescript'))
    const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', script, json], {
      cwd: join(import.meta.dirname, '../..'),
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    t.teardown(() => child.kill('SIGKILL'))
    t.equal(await new Promise((resolve) => child.once('exit', (_, signal) => resolve(signal))), 'SIGKILL')
    const db = await DuckDBInstance.create(join(dir, 'telemetry.duckdb'))
    const c = await db.connect()
    const saved = await c.runAndReadAll(`SELECT (SELECT sum(readings) FROM devices)::INTEGER,
    (SELECT count(*) FROM readings WHERE stored_ts <= (SELECT stored_ts FROM checkpoints WHERE name = 'catalog'))::INTEGER`)
    c.closeSync()
    db.closeSync()
    t.same(saved.getRowsJS(), [[200, 200]], 'its last save held the first 200 readings, and says so')

    const store = await DuckDBStore.open(dir)
    t.teardown(() => store.close())
    t.same((await allDevices(store))[0], expected(readings, KINDS), 'all 250, none twice')
  },
)

t.test('store - a file of a release without the catalog gets one built from its readings', async (t) => {
  const dir = tempDir(t)
  const gz = readFileSync(join(import.meta.dirname, '../fixtures/wide-layout/telemetry.duckdb.gz'))
  writeFileSync(join(dir, 'telemetry.duckdb'), gunzipSync(gz))
  const store = await DuckDBStore.open(dir)
  t.teardown(() => store.close())
  // The fixture's readings, level as it was stored (an int field widened to float half-way: float now).
  const readings = Array.from({ length: READINGS }, (_, i) => fixtureReading(i, 'int'))
  const kinds = { temp: 'float', count: 'int', level: 'float', on: 'bool', rare: 'float' }
  const [rows] = await allDevices(store)
  t.equal(rows.length, DEVICES)
  t.same(rows, expected(readings, kinds))
  t.same(
    (await store.fieldUse()).map((f) => [f.name, f.devices]),
    Object.keys(kinds).map((name) => [name, DEVICES]),
  )
})

t.test('store - retention takes deleted readings out of the catalog, and a restart agrees', async (t) => {
  const dir = tempDir(t)
  const store = await DuckDBStore.open(dir)
  t.teardown(() => store.close())
  // Device c stops before the horizon: all its readings go; a (and b, late, for its newest) keeps its newer ones.
  const readings = batch(0, 90).filter((r) => r.device !== 'c' || r.seq < 40)
  await store.commit(
    readings.slice(0, 30),
    [],
    [
      { name: 'temp', kind: 'float' },
      { name: 'count', kind: 'int' },
      { name: 'on', kind: 'bool' },
    ],
  )
  await store.commit(readings.slice(30), [], [])
  const horizon = readings.find((r) => r.seq === 45)!.tsNs
  const kept = readings.filter((r) => r.tsNs >= horizon)
  t.ok(kept.length > 0 && kept.length < readings.length && !kept.some((r) => r.device === 'c'))
  // Slices of 7, as the retention job asks for them, until one comes back short.
  let deleted = 0
  for (let n = 7; n === 7; deleted += n) n = await store.deleteOlderThan('readings', horizon, 7)
  t.equal(deleted, readings.length - kept.length, 'every old reading deleted')
  const want = expected(kept, KINDS)
  t.same(
    (await allDevices(store))[0],
    want,
    'counts and first event times are those of the readings kept; c is gone',
  )
  const senders = (name: string) =>
    new Set(kept.filter((r) => r.fields.some((f) => f.name === name)).map((r) => r.device)).size
  t.same(
    (await store.fieldUse()).map((f) => [f.name, f.devices]),
    ['temp', 'count', 'on'].map((name) => [name, senders(name)]),
    'each field counts the kept devices that send it; on, sent by c alone, by none',
  )
  await store.close()
  const reopened = await DuckDBStore.open(dir)
  t.teardown(() => reopened.close())
  t.same(
    (await allDevices(reopened))[0],
    want,
    'the same after a restart: the deleted readings are not counted again',
  )
})
