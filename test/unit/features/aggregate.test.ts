/**
 * The window aggregate, table-driven from test/fixtures/features/aggregate.json
 * (hand-computed values), plus determinism and compensated summation.
 */

import t from 'tap'
import { AGGREGATIONS, fieldNumber, WindowAggregate } from '../../../src/features/index.js'
import type { Field } from '../../../src/telemetry.js'
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

const MS = 1_000_000n

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
    const aggregate = new WindowAggregate()
    for (const [tsMs, value, recvMs] of c.readings)
      aggregate.add(fieldNumber(field(value)), BigInt(tsMs) * MS, BigInt(recvMs) * MS)
    const values = aggregate.values(AGGREGATIONS)
    for (const [name, expected] of Object.entries(c.expected)) {
      const actual = values[name as keyof typeof values]
      t.ok(close(actual, expected), `${name}: ${actual}, expected ${expected}`)
    }
    t.equal(aggregate.count, c.readings.length, 'count')
    t.equal(aggregate.newestRecvNs, BigInt(c.newestRecv) * MS, 'newest receive time')
  })
}

t.test('features - aggregate values come back in the order asked, and only those', async (t) => {
  const aggregate = new WindowAggregate()
  aggregate.add(1, 0n, 0n)
  t.strictSame(Object.keys(aggregate.values(['rate', 'count', 'mean'])), ['rate', 'count', 'mean'])
})

t.test('features - aggregate sums with compensation: 0.1 + 0.2 + 0.3 is 0.6', async (t) => {
  const aggregate = new WindowAggregate()
  for (const [i, v] of [0.1, 0.2, 0.3].entries()) aggregate.add(v, BigInt(i), 0n)
  t.equal(aggregate.value('sum'), 0.6)
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
      tsNs: BigInt(Math.floor(random() * 1e6)) * MS,
      recvNs: BigInt(i) * MS,
    }))
    const run = () => {
      const aggregate = new WindowAggregate()
      for (const r of readings) aggregate.add(r.value, r.tsNs, r.recvNs)
      return aggregate.values(AGGREGATIONS)
    }
    const a = run()
    const b = run()
    for (const name of AGGREGATIONS) t.ok(Object.is(a[name], b[name]), `${name} identical`)
  },
)

t.test('features - an empty aggregate counts zero and has no other values', async (t) => {
  const aggregate = new WindowAggregate()
  t.strictSame(aggregate.values(AGGREGATIONS), {
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

t.test('features - aggregate reset() leaves nothing of the window before', async (t) => {
  for (const c of cases) {
    const reused = new WindowAggregate()
    // A window with values far from the case’s, a sum that lost low bits, and newer times, first.
    for (let k = 1; k <= 5; k++)
      reused.add(k < 5 ? 1e16 * k : 1.5, BigInt(9e12 + k) * MS, BigInt(9e12 + k) * MS)
    reused.reset()
    const fresh = new WindowAggregate()
    for (const [tsMs, value, recvMs] of c.readings) {
      reused.add(fieldNumber(field(value)), BigInt(tsMs) * MS, BigInt(recvMs) * MS)
      fresh.add(fieldNumber(field(value)), BigInt(tsMs) * MS, BigInt(recvMs) * MS)
    }
    t.strictSame(reused.values(AGGREGATIONS), fresh.values(AGGREGATIONS), c.name)
    t.equal(reused.count, fresh.count, `${c.name}: count`)
    t.equal(reused.newestRecvNs, fresh.newestRecvNs, `${c.name}: newest receive time`)
  }
  const emptied = new WindowAggregate()
  emptied.add(3, 1n, 1n)
  emptied.reset()
  t.strictSame(
    emptied.values(AGGREGATIONS),
    new WindowAggregate().values(AGGREGATIONS),
    'reset with no reading after',
  )
})
