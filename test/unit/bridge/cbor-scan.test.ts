/**
 * scanCbor: well-formedness, limits and float paths, table-driven from
 * test/fixtures/cbor-scan.json.
 */

import t from 'tap'
import { type ScanLimits, scanCbor } from '../../../bridge/cbor-scan.js'
import { hex, loadFixture } from '../../helpers/fixtures.js'

interface ScanCase {
  name: string
  hex: string
  maxDepth?: number
  reason?: string
  floatPaths?: string[]
}

const fixture = loadFixture<{
  limits: { maxDepth: number; allowedTags: number[] }
  cases: ScanCase[]
}>('cbor-scan.json')

const LIMITS: ScanLimits = {
  maxDepth: fixture.limits.maxDepth,
  allowedTags: new Set(fixture.limits.allowedTags),
}

for (const c of fixture.cases) {
  t.test(`cbor-scan - ${c.name}`, async (t) => {
    const limits = c.maxDepth === undefined ? LIMITS : { ...LIMITS, maxDepth: c.maxDepth }
    const result = scanCbor(hex(c.hex), limits)
    if (c.reason !== undefined) {
      t.equal(result.ok, false, 'refused')
      if (!result.ok) {
        t.equal(result.reason, c.reason, 'reason')
        t.type(result.detail, 'string')
        t.not(result.detail, '', 'says why')
      }
    } else {
      t.equal(result.ok, true, result.ok ? 'accepted' : `refused: ${result.reason} ${result.detail}`)
      if (result.ok)
        t.strictSame([...result.floatPaths].sort(), [...(c.floatPaths ?? [])].sort(), 'float paths')
    }
  })
}

t.test('cbor-scan - refuses 10,000 nested arrays as too deep', async (t) => {
  const bytes = new Uint8Array(10_001).fill(0x81)
  bytes[10_000] = 0x00
  const result = scanCbor(bytes, LIMITS)
  t.equal(result.ok, false)
  if (!result.ok) t.equal(result.reason, 'payload_too_deep')
})

t.test('cbor-scan - refuses 10,000 nested tags as too deep', async (t) => {
  const bytes = new Uint8Array(10_001).fill(0xc1)
  bytes[10_000] = 0x00
  const result = scanCbor(bytes, LIMITS)
  t.equal(result.ok, false)
  if (!result.ok) t.equal(result.reason, 'payload_too_deep')
})

t.test('cbor-scan - refuses a tag the limits do not allow, and accepts it once allowed', async (t) => {
  const bytes = hex('c2 41 01')
  const refused = scanCbor(bytes, LIMITS)
  t.equal(refused.ok, false)
  if (!refused.ok) t.equal(refused.reason, 'payload_malformed')
  t.equal(scanCbor(bytes, { ...LIMITS, allowedTags: new Set([2]) }).ok, true)
})

t.test('cbor-scan - records one path per sample across a 100-sample batch', async (t) => {
  // {s: [{m: {temp: 1.0}}, ...]} with a whole float in every odd sample.
  const parts: number[] = [0xa1, 0x61, 0x73, 0x98, 100]
  const expected: string[] = []
  for (let i = 0; i < 100; i++) {
    parts.push(0xa1, 0x61, 0x6d, 0xa1, 0x64, 0x74, 0x65, 0x6d, 0x70)
    if (i % 2 === 1) {
      parts.push(0xf9, 0x3c, 0x00)
      expected.push(`s/${i}/m/temp`)
    } else parts.push(0x01)
  }
  const result = scanCbor(Uint8Array.from(parts), LIMITS)
  t.equal(result.ok, true)
  if (result.ok) t.strictSame([...result.floatPaths].sort(), expected.sort())
})

t.test('cbor-scan - does not read past the end of a subarray', async (t) => {
  // The scan must honour the view's length, not its underlying buffer's.
  const buffer = hex('a1 61 61 01 00 00')
  const result = scanCbor(buffer.subarray(0, 4), LIMITS)
  t.equal(result.ok, true)
  const truncated = scanCbor(buffer.subarray(0, 3), LIMITS)
  t.equal(truncated.ok, false)
  if (!truncated.ok) t.equal(truncated.reason, 'payload_truncated')
})
