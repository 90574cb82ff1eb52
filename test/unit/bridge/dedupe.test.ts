/**
 * IntervalSet (table-driven from test/fixtures/dedupe.json, then against a
 * plain Set on seeded random operations) and DedupeIndex's seq states.
 */

import t from 'tap'
import { DedupeIndex, IntervalSet } from '../../../bridge/dedupe.js'
import { loadFixture } from '../../helpers/fixtures.js'

type Op = ['add', number] | ['addRange', number, number]

const { intervalSet: cases } = loadFixture<{
  intervalSet: Array<{ name: string; ops: Op[]; intervals: Array<[number, number]> }>
}>('dedupe.json')

function apply(set: IntervalSet, op: Op): void {
  if (op[0] === 'add') set.add(op[1])
  else set.addRange(op[1], op[2])
}

/** Points where a wrong merge shows: each bound, its neighbours, a midpoint; every point when the span is small. */
function probes(intervals: Array<[number, number]>): number[] {
  const points = new Set<number>([0, 1, 100])
  for (const [lo, hi] of intervals)
    for (const x of [lo - 1, lo, lo + 1, Math.floor((lo + hi) / 2), hi - 1, hi, hi + 1]) points.add(x)
  const first = intervals[0]?.[0]
  const last = intervals[intervals.length - 1]?.[1]
  if (first !== undefined && last !== undefined && last - first <= 10_000)
    for (let x = first - 2; x <= Math.min(last + 2, Number.MAX_SAFE_INTEGER); x++) points.add(x)
  return [...points].sort((a, b) => a - b)
}

for (const c of cases) {
  t.test(`dedupe - IntervalSet ${c.name}`, async (t) => {
    const set = new IntervalSet()
    for (const op of c.ops) apply(set, op)
    t.equal(set.size, c.intervals.length, 'number of intervals')
    const wrong = probes(c.intervals).filter(
      (x) => set.has(x) !== c.intervals.some(([lo, hi]) => lo <= x && x <= hi),
    )
    t.strictSame(wrong, [], 'has() is wrong for none of the probed seqs')
  })
}

t.test('dedupe - IntervalSet agrees with a plain Set on seeded random adds and ranges', async (t) => {
  let seed = 12345
  const random = (n: number): number => {
    // Park-Miller, so that a failure is reproducible.
    seed = (seed * 48271) % 2147483647
    return seed % n
  }
  const failures: string[] = []
  for (let round = 0; round < 200 && failures.length === 0; round++) {
    const set = new IntervalSet()
    const reference = new Set<number>()
    const ops: Op[] = []
    for (let k = 0; k < 60; k++) {
      const lo = random(200)
      const op: Op = random(3) === 0 ? ['addRange', lo, lo + random(8)] : ['add', lo]
      ops.push(op)
      apply(set, op)
      const hi = op[0] === 'add' ? op[1] : op[2]
      for (let x = op[1]; x <= hi; x++) reference.add(x)
    }
    let runs = 0
    for (let x = -1; x <= 210; x++) {
      if (reference.has(x) && !reference.has(x - 1)) runs++
      if (set.has(x) !== reference.has(x))
        failures.push(`round ${round}: has(${x}) after ${JSON.stringify(ops)}`)
    }
    if (set.size !== runs) failures.push(`round ${round}: size ${set.size}, expected ${runs}`)
  }
  t.strictSame(failures, [])
})

const never = new Promise<void>(() => {})

t.test('dedupe - DedupeIndex calls an unseen seq new', async (t) => {
  const index = new DedupeIndex()
  t.strictSame(index.check('d1', 0, 1), { kind: 'new' })
})

t.test('dedupe - DedupeIndex calls a claimed seq pending, with its CRC and commit', async (t) => {
  const index = new DedupeIndex()
  const durable = Promise.resolve()
  index.claim('d1', 0, 7, 0xdeadbeef, durable)
  const verdict = index.check('d1', 0, 7)
  t.equal(verdict.kind, 'pending')
  if (verdict.kind !== 'pending') return
  t.equal(verdict.crc, 0xdeadbeef)
  t.equal(verdict.durable, durable, 'the same promise, so a redelivery waits for that commit')
  t.equal(index.check('d1', 0, 8).kind, 'new', 'the next seq is still new')
})

t.test('dedupe - DedupeIndex calls a seq stored once its commit settles, keeping its CRC', async (t) => {
  const index = new DedupeIndex()
  index.claim('d1', 0, 7, 1234, never)
  index.settle('d1', 0, 7, true)
  t.strictSame(index.check('d1', 0, 7), { kind: 'stored', crc: 1234 })
})

t.test(
  'dedupe - DedupeIndex holds a seq whose commit failed as uncertain, for the store to decide',
  async (t) => {
    const index = new DedupeIndex()
    index.claim('d1', 0, 7, 1234, never)
    index.settle('d1', 0, 7, false)
    // The commit may have been made durable before it failed (a full disk): the resend asks the store.
    t.strictSame(index.check('d1', 0, 7), { kind: 'uncertain' }, 'the resend is looked up in the store')
    t.strictSame(index.check('d1', 0, 8), { kind: 'new' }, 'other seqs are not')
    index.claim('d1', 0, 7, 5678, never)
    index.settle('d1', 0, 7, true)
    t.strictSame(index.check('d1', 0, 7), { kind: 'stored', crc: 5678 }, 'the resent copy is the one kept')
    index.claim('d1', 0, 9, 1, never)
    index.settle('d1', 0, 9, false)
    index.stored('d1', 0, 9, 99)
    t.strictSame(index.check('d1', 0, 9), { kind: 'stored', crc: 99 }, 'the store held it after all')
  },
)

t.test('dedupe - DedupeIndex ignores settle() for a seq never claimed', async (t) => {
  const index = new DedupeIndex()
  index.settle('d1', 0, 7, true)
  t.strictSame(index.check('d1', 0, 7), { kind: 'new' })
})

t.test('dedupe - DedupeIndex calls seqs loaded from the store stored, CRC unknown', async (t) => {
  const index = new DedupeIndex()
  index.loadRange('d1', 2, 10, 20)
  t.strictSame(index.check('d1', 2, 10), { kind: 'stored', crc: null })
  t.strictSame(index.check('d1', 2, 20), { kind: 'stored', crc: null })
  t.strictSame(index.check('d1', 2, 21), { kind: 'new' })
  t.strictSame(index.check('d1', 2, 9), { kind: 'new' })
})

t.test('dedupe - DedupeIndex keeps devices and boots apart', async (t) => {
  const index = new DedupeIndex()
  index.loadRange('d1', 0, 1, 100)
  t.equal(index.check('d1', 0, 50).kind, 'stored')
  t.equal(index.check('d1', 1, 50).kind, 'new', 'another boot of the same device')
  t.equal(index.check('d2', 0, 50).kind, 'new', 'another device')
  t.equal(index.check('d10', 0, 50).kind, 'new', 'a device whose id extends the first')
  index.claim('d2', 0, 50, 1, never)
  t.equal(index.check('d1', 1, 50).kind, 'new', 'a claim is per device and boot')
})

t.test('dedupe - DedupeIndex remembers the CRCs of the last 256 stored seqs only', async (t) => {
  const index = new DedupeIndex()
  for (let seq = 1; seq <= 257; seq++) {
    index.claim('d1', 0, seq, 1000 + seq, never)
    index.settle('d1', 0, seq, true)
  }
  t.strictSame(
    index.check('d1', 0, 1),
    { kind: 'stored', crc: null },
    'the oldest CRC is dropped, the seq kept',
  )
  t.strictSame(index.check('d1', 0, 2), { kind: 'stored', crc: 1002 })
  t.strictSame(index.check('d1', 0, 257), { kind: 'stored', crc: 1257 })
})

t.test('dedupe - DedupeIndex finds pending seqs claimed and settled out of order', async (t) => {
  const index = new DedupeIndex()
  const durable = Promise.resolve()
  for (const seq of [5, 7, 6]) index.claim('d1', 0, seq, 100 + seq, durable)
  t.equal(index.check('d1', 0, 6).kind, 'pending', 'a seq older than the newest claim')
  t.equal(index.check('d1', 0, 4).kind, 'new')
  t.equal(index.check('d1', 0, 8).kind, 'new')
  index.settle('d1', 0, 7, true)
  t.strictSame(index.check('d1', 0, 7), { kind: 'stored', crc: 107 }, 'settled from the middle')
  t.equal(index.check('d1', 0, 5).kind, 'pending')
  t.equal(index.check('d1', 0, 6).kind, 'pending')
  index.settle('d1', 0, 5, true)
  index.settle('d1', 0, 6, false)
  t.strictSame(index.check('d1', 0, 5), { kind: 'stored', crc: 105 })
  t.strictSame(index.check('d1', 0, 6), { kind: 'uncertain' }, 'its commit failed')
})

t.test('dedupe - DedupeIndex keeps the CRCs of scattered seqs while it has room', async (t) => {
  const index = new DedupeIndex()
  // 1, 17, 33 … share a slot until the table grows: each must stay known.
  const seqs = [1, 17, 33, 49, 65, 4_000_000_002]
  for (const seq of seqs) {
    index.claim('d1', 3, seq, seq % 1000, never)
    index.settle('d1', 3, seq, true)
  }
  for (const seq of seqs)
    t.strictSame(index.check('d1', 3, seq), { kind: 'stored', crc: seq % 1000 }, `seq ${seq}`)
})
