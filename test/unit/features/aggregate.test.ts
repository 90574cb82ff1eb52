/**
 * The window aggregates, table-driven from test/fixtures/features/aggregate.json
 * (hand-computed values), plus determinism, compensated summation, and slots
 * that share one slab without touching each other.
 */

import t from 'tap'
import type { Field } from '../../../src/core/telemetry.js'
import { AGGREGATIONS, AggregateSlab, type Aggregation, fieldNumber } from '../../../src/features/index.js'
import { loadFixture } from '../../helpers/fixtures.js'

type FixtureValue = number | boolean | { int: string }

const { cases } = loadFixture<{
  cases: Array<{
    name: string
    readings: Array<[number, FixtureValue, number]>
    expected: Record<string, number | null>
    newestRecv: number
  }>
}>('features/aggregate.json')

const MS = 1e6

/** One window in a slab of its own, with the API the tests read. */
function aggregate(slab = new AggregateSlab(1)) {
  const slot = slab.alloc(0)
  return {
    slot,
    add: (value: number, tNs: number, recvNs: number) => slab.add(slot, value, tNs, recvNs),
    values: (aggregations: readonly Aggregation[] = AGGREGATIONS) => slab.values(slot, aggregations),
    value: (aggregation: Aggregation) => slab.value(slot, aggregation),
    count: () => slab.count(slot),
    newestRecvNs: () => slab.newestRecvNs(slot),
    release: () => slab.release(slot),
  }
}

function field(value: FixtureValue): Field {
  if (typeof value === 'boolean') return { name: 'x', kind: 'bool', value }
  if (typeof value === 'number') return { name: 'x', kind: 'float', value }
  return { name: 'x', kind: 'int', value: BigInt(value.int) }
}

/** Equal within 1e-12 relative: the fixtures hold hand-computed decimals. */
function close(actual: number | null | undefined, expected: number | null): boolean {
  if (expected === null || actual === null || actual === undefined) return actual === expected
  return Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected))
}

for (const c of cases) {
  t.test(`features - aggregate ${c.name}`, async (t) => {
    const window = aggregate()
    for (const [tsMs, value, recvMs] of c.readings)
      window.add(fieldNumber(field(value)), tsMs * MS, recvMs * MS)
    const values = window.values()
    for (const [name, expected] of Object.entries(c.expected)) {
      const actual = values[name as keyof typeof values]
      t.ok(close(actual, expected), `${name}: ${actual}, expected ${expected}`)
    }
    t.equal(window.count(), c.readings.length, 'count')
    t.equal(window.newestRecvNs(), c.newestRecv * MS, 'newest receive time')
  })
}

t.test('features - aggregate values come back in the order asked, and only those', async (t) => {
  const window = aggregate()
  window.add(1, 0, 0)
  t.strictSame(Object.keys(window.values(['rate', 'count', 'mean'])), ['rate', 'count', 'mean'])
})

t.test('features - aggregate sums with compensation: 0.1 + 0.2 + 0.3 is 0.6', async (t) => {
  const window = aggregate()
  for (const [i, v] of [0.1, 0.2, 0.3].entries()) window.add(v, i, 0)
  t.equal(window.value('sum'), 0.6)
})

t.test(
  'features - aggregate gives bit-identical values for the same readings in the same order',
  async (t) => {
    let seed = 42
    const random = (): number => {
      // Park-Miller, so that a failure is reproducible.
      seed = (seed * 48271) % 2147483647
      return seed / 2147483647
    }
    const readings = Array.from({ length: 1000 }, (_, i) => ({
      value: 1e6 + random() * 100 - 50,
      tNs: Math.floor(random() * 1e6) * MS,
      recvNs: i * MS,
    }))
    const run = () => {
      const window = aggregate()
      for (const r of readings) window.add(r.value, r.tNs, r.recvNs)
      return window.values()
    }
    const a = run()
    const b = run()
    for (const name of AGGREGATIONS) t.ok(Object.is(a[name], b[name]), `${name} identical`)
  },
)

t.test('features - an empty aggregate counts zero and has no other values', async (t) => {
  t.strictSame(aggregate().values(), {
    count: 0,
    mean: null,
    min: null,
    max: null,
    sum: 0,
    std: null,
    first: null,
    last: null,
    rate: null,
  })
})

/** A window whose slot held another window before: released, then taken again. */
function reusedSlot(before: (window: ReturnType<typeof aggregate>) => void) {
  const slab = new AggregateSlab(1)
  const old = aggregate(slab)
  before(old)
  old.release()
  const reused = aggregate(slab)
  return { reused, same: reused.slot === old.slot }
}

t.test(
  'features - aggregate in a released slot taken again leaves nothing of the window before',
  async (t) => {
    for (const c of cases) {
      // A window with values far from the case’s, a sum that lost low bits, and newer times, first.
      const { reused, same } = reusedSlot((old) => {
        for (let k = 1; k <= 5; k++) old.add(k < 5 ? 1e16 * k : 1.5, (9e12 + k) * MS, (9e12 + k) * MS)
      })
      t.ok(same, `${c.name}: the same slot`)
      const fresh = aggregate()
      for (const [tsMs, value, recvMs] of c.readings) {
        reused.add(fieldNumber(field(value)), tsMs * MS, recvMs * MS)
        fresh.add(fieldNumber(field(value)), tsMs * MS, recvMs * MS)
      }
      t.strictSame(reused.values(), fresh.values(), c.name)
      t.equal(reused.count(), fresh.count(), `${c.name}: count`)
      t.equal(reused.newestRecvNs(), fresh.newestRecvNs(), `${c.name}: newest receive time`)
    }
    const { reused: emptied } = reusedSlot((old) => old.add(3, 1, 1))
    t.strictSame(emptied.values(), aggregate().values(), 'taken again with no reading after')
  },
)

t.test('features - aggregates sharing a slab keep apart, through growth and reuse', async (t) => {
  // Two slots to start with, so that the slab grows twice under the cases.
  const slab = new AggregateSlab(2)
  const shared = cases.map(() => aggregate(slab))
  cases.forEach((c, k) => {
    for (const [tsMs, value, recvMs] of c.readings)
      shared[k]!.add(fieldNumber(field(value)), tsMs * MS, recvMs * MS)
  })
  t.equal(slab.size, cases.length, 'one slot per window')
  cases.forEach((c, k) => {
    const alone = aggregate()
    for (const [tsMs, value, recvMs] of c.readings)
      alone.add(fieldNumber(field(value)), tsMs * MS, recvMs * MS)
    t.strictSame(shared[k]!.values(), alone.values(), c.name)
    t.equal(shared[k]!.newestRecvNs(), alone.newestRecvNs(), `${c.name}: newest receive time`)
  })

  const released = shared[0]!
  released.add(1e9, 5, 5)
  released.release()
  t.equal(slab.size, cases.length - 1, 'a released slot is free')
  const next = aggregate(slab)
  t.equal(next.slot, released.slot, 'and taken again before the slab grows')
  t.strictSame(next.values(), aggregate().values(), 'empty when taken again')
  t.equal(slab.size, cases.length)
})
