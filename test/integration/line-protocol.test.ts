/**
 * The InfluxDB lines the store renders (src/store/line-sql.ts): tags,
 * typed fields, meta fields and the tie-broken time, exactly; escaping; and
 * distinct times for thousands of readings of one millisecond.
 */

import t from 'tap'
import type { Reading } from '../../src/core/telemetry.js'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import { tempDir } from '../helpers/app.js'

const base: Reading = {
  device: 'meter-7',
  boot: 2,
  seq: 17,
  idx: 1,
  tsNs: 1_764_115_200_123_456_789n,
  newestTsNs: 1_764_115_200_123_456_789n,
  deviceTsNs: 1_764_115_200_123_000_000n,
  recvTsNs: 1_764_115_200_200_000_000n,
  offsetNs: 456_789n,
  crc: 1,
  tags: '{"rack":"r 9","site":"north,east=1"}',
  fields: [
    { name: 'temp', kind: 'float', value: 20 },
    { name: 'count', kind: 'int', value: 3n },
    { name: 'on', kind: 'bool', value: false },
    { name: 'tiny', kind: 'float', value: 1.5e-7 },
  ],
}

async function store(t: { teardown(fn: () => unknown): void }) {
  const s = await DuckDBStore.open(tempDir(t))
  t.teardown(() => s.close())
  return s
}

const FIELDS = base.fields.map((f) => ({ name: f.name, kind: f.kind }))

t.test(
  'lines - one reading: tags on the allow-list, typed fields, meta fields, tie-broken time',
  async (t) => {
    const s = await store(t)
    await s.commit(
      [base, { ...base, seq: 18, idx: 0, deviceTsNs: null, tags: null, fields: [base.fields[1]!] }],
      [],
      FIELDS,
    )
    const batch = await s.linesAfter(0n, 10, { measurement: 'telemetry', allowedTags: ['site'] })
    const [first, second] = batch!.body.split('\n')
    const stored = batch!.firstStoredTs
    t.equal(
      first,
      'telemetry,device=meter-7,site=north\\,east\\=1 temp=20.0,count=3i,on=false,tiny=1.5e-07,' +
        '@boot=2i,@seq=17i,@idx=1i,@ts=1764115200123456789i,@recv=1764115200200000000i,' +
        `@stored=${stored}i,@newest=1764115200123456789i,@offset=456789i,@device_ts=1764115200123000000i ` +
        '1764115200123001017',
      'time: the millisecond of ts plus (seq + 1000 idx) mod 1e6',
    )
    t.equal(
      second,
      `telemetry,device=meter-7 count=3i,@boot=2i,@seq=18i,@idx=0i,@ts=1764115200123456789i,@recv=1764115200200000000i,@stored=${stored + 1n}i,@newest=1764115200123456789i,@offset=456789i 1764115200123000018`,
      'no tags when it has none, no @device_ts without a device time, only the fields it has',
    )
    t.same([batch!.count, batch!.lastStoredTs], [2, stored + 1n])
    t.equal(await s.linesAfter(batch!.lastStoredTs, 10, { measurement: 'telemetry', allowedTags: [] }), null)
    const noTags = await s.linesAfter(0n, 1, { measurement: 'my m,x', allowedTags: [] })
    t.match(noTags!.body, /^my\\ m\\,x,device=meter-7 temp=/, 'measurement escaped; no tags unless allowed')
  },
)

t.test(
  'lines - 5,000 readings of one device in one millisecond get 5,000 times, the same on every render',
  async (t) => {
    const s = await store(t)
    const ms = 1_764_115_200_123_000_000n
    const readings: Reading[] = Array.from({ length: 5000 }, (_, i) => ({
      ...base,
      seq: i,
      idx: 0,
      tsNs: ms + BigInt(i % 7),
      tags: null,
      fields: [base.fields[1]!],
    }))
    await s.commit(readings, [], FIELDS)
    const options = { measurement: 't', allowedTags: [] }
    const render = async () =>
      (await s.linesAfter(0n, 10_000, options))!.body.split('\n').map((l) => l.split(' ')[2])
    const times = await render()
    t.equal(new Set(times).size, 5000)
    t.ok(
      times.every((time) => BigInt(time!) >= ms && BigInt(time!) < ms + 1_000_000n),
      'each within its millisecond',
    )
    t.same(await render(), times, 'a second render (a redelivery, a retry) gives the same times')
  },
)
