/**
 * Device time to epoch ns, table-driven from test/fixtures/time.json.
 */

import t from 'tap'
import { TaggedTime } from '../../../bridge/decode.js'
import { inferUnit, parseDeviceTime } from '../../../bridge/time.js'
import { formatRfc3339Ns, parseRfc3339 } from '../../../src/core/time.js'
import { loadFixture } from '../../helpers/fixtures.js'

function revive(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const v = value as Record<string, unknown>
  if (typeof v.$bigint === 'string') return BigInt(v.$bigint)
  if (typeof v.$number === 'string') return Number(v.$number)
  if (v.$tag === 0 || v.$tag === 1) return new TaggedTime(v.$tag, v.value)
  return value
}

const fixture = loadFixture<{
  inferUnit: Array<[string, string]>
  parseDeviceTime: Array<{ name: string; value: unknown; ns: string | null; unit: string | null }>
  parseRfc3339: Array<{ text: string; ns: string | null; note?: string }>
  formatRfc3339Ns: Array<{ ns: string; text: string }>
}>('time.json', revive)

t.test('time - inferUnit reads the unit from the magnitude', async (t) => {
  for (const [value, unit] of fixture.inferUnit) t.equal(inferUnit(BigInt(value)), unit, value)
})

t.test('time - inferUnit bands start in 1973 and meet without a gap', async (t) => {
  // The smallest value of each band, read in that band's unit, is 10^8 s: 1973-03-03T09:46:40Z.
  const bandStartNs = 100_000_000n * 1_000_000_000n
  for (const [value, unit] of [
    [100_000_000_000n, 'ms'],
    [100_000_000_000_000n, 'us'],
    [100_000_000_000_000_000n, 'ns'],
  ] as const) {
    const time = parseDeviceTime(value, TaggedTime)
    t.equal(time?.unit, unit)
    t.equal(time?.ns, bandStartNs, `${unit} band starts in 1973`)
    t.equal(
      inferUnit(value - 1n),
      unit === 'ms' ? 's' : unit === 'us' ? 'ms' : 'us',
      'one less is the band below',
    )
  }
})

for (const c of fixture.parseDeviceTime) {
  t.test(`time - parseDeviceTime reads ${c.name}`, async (t) => {
    const time = parseDeviceTime(c.value, TaggedTime)
    if (c.ns === null) {
      t.equal(time, null, 'refused')
      return
    }
    t.not(time, null, 'accepted')
    t.equal(time?.ns, BigInt(c.ns), 'ns')
    t.equal(time?.unit, c.unit, 'unit')
  })
}

for (const c of fixture.parseRfc3339) {
  const label = c.note === undefined ? JSON.stringify(c.text) : `${JSON.stringify(c.text)} (${c.note})`
  t.test(`time - parseRfc3339 ${c.ns === null ? 'refuses' : 'reads'} ${label}`, async (t) => {
    t.equal(parseRfc3339(c.text), c.ns === null ? null : BigInt(c.ns), 'epoch ns')
  })
}

for (const c of fixture.formatRfc3339Ns) {
  t.test(`time - formatRfc3339Ns writes ${c.ns} as ${c.text}, and parseRfc3339 reads it back`, async (t) => {
    t.equal(formatRfc3339Ns(BigInt(c.ns)), c.text, 'formatted')
    t.equal(parseRfc3339(c.text), BigInt(c.ns), 'round trip')
  })
}

t.test('time - formatRfc3339Ns and parseRfc3339 round-trip across 1900 to 2100', async (t) => {
  // A fixed-seed LCG, so that a failure is reproducible.
  let state = 0x2545f491n
  const next = (): bigint => {
    state = (state * 6364136223846793005n + 1442695040888963407n) & (2n ** 64n - 1n)
    return state
  }
  const fromNs = -2_208_988_800_000_000_000n // 1900-01-01
  const span = 4_102_444_800_000_000_000n - fromNs // to 2100-01-01
  const failures: string[] = []
  for (let i = 0; i < 2000; i++) {
    const ns = fromNs + (next() % span)
    const text = formatRfc3339Ns(ns)
    const back = parseRfc3339(text)
    if (back !== ns || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/.test(text))
      failures.push(`${ns} -> ${text} -> ${back}`)
  }
  t.strictSame(failures, [])
})

t.test(
  'time - parseRfc3339 and formatRfc3339Ns agree on every second around the 2016 leap second',
  async (t) => {
    // 2016-12-31T23:59:00Z to 2017-01-01T00:01:00Z in 1 s steps, each with a fraction.
    const failures: string[] = []
    for (let s = 1_483_228_740n; s <= 1_483_228_860n; s++) {
      const ns = s * 1_000_000_000n + 987_654_321n
      const text = formatRfc3339Ns(ns)
      if (parseRfc3339(text) !== ns) failures.push(text)
    }
    t.strictSame(failures, [])
  },
)

t.test(
  'time - formatRfc3339Ns gives the same text whether the call before was in the same second or not',
  async (t) => {
    // It keeps the last second it formatted: runs within one second, steps to
    // the next and back, and either side of 1970, where the fraction borrows.
    const failures: string[] = []
    for (const base of [-86_400n, -1n, 0n, 1_483_228_799n, 1_764_000_000n]) {
      for (const step of [0n, 1n, 0n, -1n, 1n, 1n, 0n]) {
        for (const fraction of [0n, 1n, 999_999_999n, 500_000_000n, -1n]) {
          const ns = (base + step) * 1_000_000_000n + fraction
          const text = formatRfc3339Ns(ns)
          if (parseRfc3339(text) !== ns) failures.push(`${ns} -> ${text}`)
        }
      }
    }
    t.strictSame(failures, [])
  },
)
