/**
 * Window math, table-driven from test/fixtures/features/windows.json, then
 * checked against the definition itself (start ≤ t < start + size, starts on
 * the hop grid) by brute force over small times.
 */

import t from 'tap'
import {
  floorDiv,
  isWindowClosed,
  newestWindowStart,
  oldestWindowStart,
  windowEnd,
  windowStartsContaining,
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

for (const c of fixture.containing) {
  t.test(`features - windows containing t: ${c.name}`, async (t) => {
    const spec = { sizeNs: BigInt(c.size), hopNs: BigInt(c.hop) }
    const tNs = BigInt(c.t)
    const starts = windowStartsContaining(tNs, spec)
    t.strictSame(
      starts.map((s) => s.toString()),
      c.starts,
      'starts, oldest first',
    )
    t.equal(oldestWindowStart(tNs, spec).toString(), c.starts[0], 'oldest start')
    t.equal(newestWindowStart(tNs, spec).toString(), c.starts[c.starts.length - 1], 'newest start')
    t.equal(windowsPerTime(spec), c.starts.length, 'size / hop windows')
    for (const s of starts)
      t.ok(s <= tNs && tNs < windowEnd(s, spec), `[${s}, ${windowEnd(s, spec)}) holds t`)
  })
}

for (const c of fixture.closed) {
  t.test(`features - window closed: ${c.name}`, async (t) => {
    const spec = { sizeNs: BigInt(c.size), hopNs: BigInt(c.hop) }
    t.equal(isWindowClosed(BigInt(c.start), spec, BigInt(c.watermark)), c.closed)
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

t.test('features - the windows containing t are exactly those the definition allows', async (t) => {
  const wrong: string[] = []
  for (const [size, hop] of [
    [10n, 10n],
    [30n, 10n],
    [12n, 4n],
    [6n, 1n],
  ] as const) {
    const spec = { sizeNs: size, hopNs: hop }
    for (let tNs = -50n; tNs <= 50n; tNs++) {
      const expected: string[] = []
      // Every start on the hop grid near t, kept when [start, start + size) holds t.
      for (let s = -100n; s <= 100n; s++)
        if (((s % hop) + hop) % hop === 0n && s <= tNs && tNs < s + size) expected.push(s.toString())
      const got = windowStartsContaining(tNs, spec).map(String)
      if (JSON.stringify(got) !== JSON.stringify(expected))
        wrong.push(`size ${size} hop ${hop} t ${tNs}: ${got} instead of ${expected}`)
    }
  }
  t.strictSame(wrong, [])
})
