import t from 'tap'
import type { ReadingRow } from '../../../bridge/store.js'
import { escapeKey, escapeMeasurement, pointTime, toLine } from '../../../src/influx/line-protocol.js'

const row: ReadingRow = {
  device: 'meter-7',
  boot: 2n,
  seq: 17n,
  idx: 1,
  ts: 1_764_115_200_123_456_789n,
  device_ts: 1_764_115_200_123_000_000n,
  recv_ts: 1_764_115_200_200_000_000n,
  offset_ns: 456_789n,
  stored_ts: 1_764_115_200_210_000_001n,
  newest_ts: 1_764_115_200_123_456_789n,
  tags: '{"rack":"r 9","site":"north,east"}',
  fields: { temp: 20, count: 3n, on: false, 'a b': 1.5e-7 },
}

t.test('line protocol - one line with tags, typed fields, meta fields and the tie-broken time', async (t) => {
  t.equal(
    toLine(row, { measurement: 'telemetry', allowedTags: new Set(['site']) }),
    'telemetry,device=meter-7,site=north\\,east temp=20,count=3i,on=false,a\\ b=1.5e-7,' +
      '@boot=2i,@seq=17i,@idx=1i,@ts=1764115200123456789i,@recv=1764115200200000000i,' +
      '@stored=1764115200210000001i,@newest=1764115200123456789i,@offset=456789i,@device_ts=1764115200123000000i ' +
      '1764115200123001017',
  )
  t.notMatch(
    toLine(row, { measurement: 'telemetry', allowedTags: new Set() }),
    /site=|rack=/,
    'no tags unless allowed',
  )
  t.match(
    toLine({ ...row, device_ts: null }, { measurement: 'm', allowedTags: new Set() }),
    /@offset=456789i \d+$/,
    'no @device_ts without a device time',
  )
})

t.test(
  'line protocol - the tie-breaker separates readings of one millisecond, and a redelivery reproduces it',
  async (t) => {
    const ms = 1_764_115_200_123_000_000n
    const times = new Set<bigint>()
    for (let seq = 0n; seq < 5000n; seq++) times.add(pointTime(ms + (seq % 7n), seq, 0))
    t.equal(times.size, 5000, '5,000 consecutive seqs in one millisecond: 5,000 times')
    t.equal(pointTime(ms + 999_999n, 5n, 0), ms + 5n, 'the time stays within its millisecond')
    t.equal(pointTime(ms, 5n, 0), pointTime(ms, 5n, 0))
    t.not(pointTime(ms, 5n, 0), pointTime(ms, 5n, 1), 'samples of one batch differ')
    t.equal(pointTime(-1n, 0n, 0), -1_000_000n, 'floor, also before 1970')
  },
)

t.test('line protocol - escaping', async (t) => {
  t.equal(escapeMeasurement('a b,c=d'), 'a\\ b\\,c=d')
  t.equal(escapeKey('a b,c=d'), 'a\\ b\\,c\\=d')
})
