/**
 * ReplayLog: what it reads back is exactly what was appended, it keeps the
 * newest events its slots and bytes allow, and it drops an event only when
 * the count bound or a newer entry's bytes cover it.
 */

import t from 'tap'
import { type LoggedEvent, ReplayLog } from '../../../src/api/replay-log.js'

interface Appended {
  device: string
  type: string
  names: string[]
  data: string | null
}

/** Bytes an event takes in the log: its type code, then device, names and data in UTF-8. */
function size(e: Appended): number {
  if (e.data === null) return 1
  return 1 + Buffer.byteLength(e.device) + Buffer.byteLength(e.names.join('\n')) + Buffer.byteLength(e.data)
}

function expected(id: number, e: Appended): LoggedEvent | undefined {
  return e.data === null ? undefined : { id, device: e.device, type: e.type, names: e.names, data: e.data }
}

/** A small deterministic generator, so a failure replays. */
function random(seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648
    return s / 2_147_483_648
  }
}

t.test('replay log - reads back each event as appended, UTF-8 included', async (t) => {
  const log = new ReplayLog({ slots: 10, bytes: 4096 })
  log.start(100)
  const events: Appended[] = [
    { device: 'd-1', type: 'telemetry', names: ['temp', 'hum'], data: '{"fields":{"temp":21.5}}' },
    { device: 'капля-7', type: 'feature', names: ['temp_10s'], data: '{"note":"größer ✓ 🌡"}' },
    { device: 'd-1', type: 'late', names: [], data: '' },
    { device: 'd-2', type: 'telemetry', names: ['x'], data: null },
  ]
  for (const [i, e] of events.entries()) log.append(100 + i, e.device, e.type, e.names, e.data)
  t.same(
    events.map((_, i) => log.at(100 + i)),
    events.map((e, i) => expected(100 + i, e)),
  )
  t.equal(log.oldestId, 100)
  t.equal(log.nextId, 104)
  t.equal(log.at(99), undefined, 'before the first')
  t.equal(log.at(104), undefined, 'not yet appended')
  t.throws(() => log.append(106, 'd', 'telemetry', [], '{}'), /expects id 104/, 'ids must follow each other')
})

t.test('replay log - keeps the last `slots` events', async (t) => {
  const log = new ReplayLog({ slots: 3, bytes: 4096 })
  log.start(1)
  for (let id = 1; id <= 7; id++) log.append(id, 'd', 'telemetry', ['temp'], `{"n":${id}}`)
  t.equal(log.oldestId, 5)
  t.same(
    [4, 5, 6, 7].map((id) => log.at(id)?.data),
    [undefined, '{"n":5}', '{"n":6}', '{"n":7}'],
  )
})

t.test(
  'replay log - under random sizes, it holds exactly the events no newer entry has overwritten',
  async (t) => {
    const capacity = 2000
    const slots = 64
    const next = random(7)
    const failures: string[] = []
    let wraps = 0
    for (let run = 0; run < 20; run++) {
      const log = new ReplayLog({ slots, bytes: capacity })
      const first = 1 + run * 1000
      log.start(first)
      const all: Appended[] = []
      // Where each entry lies: appended one after another, from 0 again when one does not fit before the end.
      const ranges: Array<[number, number]> = []
      let pos = 0
      let overwritten = first - 1
      for (let i = 0; i < 400; i++) {
        const id = first + i
        const e: Appended = {
          device: next() < 0.1 ? `dév-${i}` : `d${i % 7}`,
          type: ['telemetry', 'feature', 'partial'][i % 3]!,
          names: next() < 0.5 ? ['temp'] : ['a', 'b'],
          data: next() < 0.05 ? null : 'x'.repeat(Math.floor(next() ** 3 * 300)) + (next() < 0.2 ? 'é' : ''),
        }
        all.push(e)
        log.append(id, e.device, e.type, e.names, e.data)
        if (pos + size(e) > capacity) {
          pos = 0
          wraps++
        }
        ranges.push([pos, pos + size(e)])
        pos += size(e)
        // The log is a run of ids: an overwritten entry takes every older one with it.
        for (let j = overwritten + 1; j < id; j++) {
          const [start, end] = ranges[j - first]!
          if (start < pos && pos - size(e) < end) overwritten = j
        }
        const oldest = Math.max(overwritten + 1, id + 1 - slots)
        if (log.oldestId !== oldest)
          failures.push(`run ${run}, after ${id}: oldest ${log.oldestId}, not ${oldest}`)
        for (let held = log.oldestId; held < log.nextId; held++) {
          const got = JSON.stringify(log.at(held))
          const want = JSON.stringify(expected(held, all[held - first]!))
          if (got !== want) failures.push(`run ${run}, after ${id}: ${held} reads ${got}, not ${want}`)
        }
      }
    }
    t.ok(wraps > 20, `the bytes went round ${wraps} times`)
    t.same(failures.slice(0, 5), [], `${failures.length} failures`)
  },
)

t.test('replay log - an event larger than the whole log drops everything before it', async (t) => {
  const log = new ReplayLog({ slots: 10, bytes: 64 })
  log.start(1)
  log.append(1, 'd', 'telemetry', [], 'small')
  log.append(2, 'd', 'telemetry', [], 'x'.repeat(100))
  t.equal(log.oldestId, 3)
  t.equal(log.at(1), undefined)
  t.equal(log.at(2), undefined)
  log.append(3, 'd', 'telemetry', [], 'next')
  t.equal(log.at(3)?.data, 'next', 'the log goes on')
})

t.test('replay log - stop forgets every event; start begins again from the given id', async (t) => {
  const log = new ReplayLog({ slots: 10, bytes: 256 })
  t.equal(log.started, false)
  t.throws(() => log.append(1, 'd', 'telemetry', [], '{}'), /not started/)
  log.start(1)
  log.append(1, 'd', 'telemetry', [], '{}')
  log.stop()
  t.equal(log.started, false)
  t.equal(log.at(1), undefined)
  t.equal(log.oldestId, log.nextId, 'nothing held')
  log.start(50)
  t.equal(log.at(1), undefined, 'not resurrected')
  log.append(50, 'd', 'telemetry', [], '{"n":50}')
  t.equal(log.at(50)?.data, '{"n":50}')
  t.equal(log.oldestId, 50)
})
