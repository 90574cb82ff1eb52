/**
 * Window math, table-driven from test/fixtures/features/windows.json, then
 * checked against the definition itself (start ≤ t < start + size, starts on
 * the hop grid) by brute force over small times.
 */

import t from 'tap'
import {
  floorDiv,
  hopIndex,
  newestClosedHop,
  type WindowSpec,
  windowEnd,
  windowsPerTime,
} from '../../../src/features/index.js'
import { loadFixture } from '../../helpers/fixtures.js'

const fixture = loadFixture<{
  containing: Array<{ name: string; size: string; hop: string; t: string; starts: string[] }>
  closed: Array<{
    name: string
    size: string
    hop: string
    start: string
    watermark: string
    closed: boolean
  }>
}>('features/windows.json')

/** The starts of every window containing tNs, oldest first, from its hop index. */
function startsContaining(tNs: bigint, spec: WindowSpec): bigint[] {
  const newest = hopIndex(tNs, spec)
  return Array.from(
    { length: windowsPerTime(spec) },
    (_, k) => (newest - BigInt(windowsPerTime(spec) - 1 - k)) * spec.hopNs,
  )
}

for (const c of fixture.containing) {
  t.test(`features - windows containing t: ${c.name}`, async (t) => {
    const spec = { sizeNs: BigInt(c.size), hopNs: BigInt(c.hop) }
    const tNs = BigInt(c.t)
    const starts = startsContaining(tNs, spec)
    t.strictSame(
      starts.map((s) => s.toString()),
      c.starts,
      'starts, oldest first',
    )
    t.equal(windowsPerTime(spec), c.starts.length, 'size / hop windows')
    for (const s of starts)
      t.ok(s <= tNs && tNs < windowEnd(s, spec), `[${s}, ${windowEnd(s, spec)}) holds t`)
  })
}

for (const c of fixture.closed) {
  t.test(`features - window closed: ${c.name}`, async (t) => {
    const spec = { sizeNs: BigInt(c.size), hopNs: BigInt(c.hop) }
    const hop = floorDiv(BigInt(c.start), spec.hopNs)
    t.equal(hop <= newestClosedHop(BigInt(c.watermark), spec), c.closed)
  })
}

t.test('features - floorDiv rounds toward minus infinity', async (t) => {
  const cases: Array<[bigint, bigint, bigint]> = [
    [7n, 2n, 3n],
    [-7n, 2n, -4n],
    [-8n, 2n, -4n],
    [0n, 5n, 0n],
    [-1n, 5n, -1n],
    [-5n, 5n, -1n],
    [-6n, 5n, -2n],
  ]
  for (const [a, b, q] of cases) t.equal(floorDiv(a, b), q, `floor(${a} / ${b})`)
})

/** Tumbling and sliding windows small enough to check every time near zero by brute force. */
const SMALL_SPECS: readonly WindowSpec[] = [
  { sizeNs: 10n, hopNs: 10n },
  { sizeNs: 30n, hopNs: 10n },
  { sizeNs: 12n, hopNs: 4n },
  { sizeNs: 6n, hopNs: 1n },
]

t.test('features - the windows containing t are exactly those the definition allows', async (t) => {
  const wrong: string[] = []
  for (const spec of SMALL_SPECS) {
    const { sizeNs: size, hopNs: hop } = spec
    for (let tNs = -50n; tNs <= 50n; tNs++) {
      const expected: string[] = []
      // Every start on the hop grid near t, kept when [start, start + size) holds t.
      for (let s = -100n; s <= 100n; s++)
        if (((s % hop) + hop) % hop === 0n && s <= tNs && tNs < s + size) expected.push(s.toString())
      const got = startsContaining(tNs, spec).map(String)
      if (JSON.stringify(got) !== JSON.stringify(expected))
        wrong.push(`size ${size} hop ${hop} t ${tNs}: ${got} instead of ${expected}`)
    }
  }
  t.strictSame(wrong, [])
})

t.test(
  'features - the windows closed at a watermark are exactly those it has reached the end of',
  async (t) => {
    const wrong: string[] = []
    for (const spec of SMALL_SPECS) {
      const { sizeNs: size, hopNs: hop } = spec
      for (let watermarkNs = -50n; watermarkNs <= 50n; watermarkNs++) {
        const newest = newestClosedHop(watermarkNs, spec)
        // Every window on the hop grid near the watermark: closed exactly when its end is reached.
        for (let k = -30n; k <= 30n; k++) {
          const closed = windowEnd(k * hop, spec) <= watermarkNs
          if (k <= newest !== closed)
            wrong.push(`size ${size} hop ${hop} watermark ${watermarkNs} window ${k}`)
        }
      }
    }
    t.strictSame(wrong, [])
  },
)
