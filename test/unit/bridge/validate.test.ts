/**
 * validateMessage, table-driven from test/fixtures/validate.json, plus a few
 * readings that go through the real decoder so that float typing is checked
 * from actual CBOR encodings.
 */

import t from 'tap'
import { decodePayload, TaggedTime } from '../../../bridge/decode.js'
import { DEFAULT_VALIDATE_LIMITS, type Message, validateMessage } from '../../../bridge/validate.js'
import { Rejection } from '../../../src/core/errors.js'
import { hex, loadFixture } from '../../helpers/fixtures.js'

interface ExpectedMessage {
  seq: number
  boot: number
  tags: Array<[string, string]> | null
  samples: Array<{
    time: { ns: bigint; unit: string | null } | null
    fields: Array<[string, string, unknown]>
  }>
}

interface ValidateCase {
  name: string
  body: unknown
  floatPaths?: string[]
  limits?: Partial<typeof DEFAULT_VALIDATE_LIMITS>
  expect: { reason: string } | ExpectedMessage
}

/** Turns the fixture's markers into the values cbor-x hands to validation. */
function revive(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const v = value as Record<string, unknown>
  if (typeof v.$bigint === 'string') return BigInt(v.$bigint)
  if (typeof v.$number === 'string') return Number(v.$number)
  if (typeof v.$bytes === 'string') return hex(v.$bytes)
  if (v.$tag === 0 || v.$tag === 1) return new TaggedTime(v.$tag, v.value)
  return value
}

const cases = loadFixture<{ cases: ValidateCase[] }>('validate.json', revive).cases

/** The Message in the fixture's shape: tags as ordered pairs, fields as tuples. */
function comparable(message: Message): ExpectedMessage {
  return {
    seq: message.seq,
    boot: message.boot,
    tags: message.tags === null ? null : Object.entries(message.tags),
    samples: message.samples.map((s) => ({
      time: s.time === null ? null : { ns: s.time.ns, unit: s.time.unit },
      fields: s.fields.map((f): [string, string, unknown] => [f.name, f.kind, f.value]),
    })),
  }
}

for (const c of cases) {
  t.test(`validate - ${c.name}`, async (t) => {
    const limits = { ...DEFAULT_VALIDATE_LIMITS, ...c.limits }
    const result = validateMessage(c.body, new Set(c.floatPaths ?? []), limits)
    if ('reason' in c.expect) {
      t.ok(result instanceof Rejection, 'refused')
      if (result instanceof Rejection) {
        t.equal(result.reason, c.expect.reason, `reason (${result.detail})`)
        t.not(result.detail, '', 'says why')
      }
      return
    }
    t.notOk(
      result instanceof Rejection,
      result instanceof Rejection ? `refused: ${result.reason}` : 'accepted',
    )
    if (result instanceof Rejection) return
    t.type(result.seq, 'number', 'seq is a number, not a bigint')
    t.type(result.boot, 'number', 'boot is a number, not a bigint')
    t.strictSame(comparable(result), c.expect)
  })
}

t.test('validate - never throws on hostile shapes', async (t) => {
  const hostile: unknown[] = [
    undefined,
    Object.create(null),
    { v: 1, seq: 1, m: Object.create(null) },
    { v: 1, seq: 1, m: { a: Symbol('x') } },
    { v: 1, seq: 1, m: { a: () => 1 } },
    { v: 1, seq: 1, m: { a: 1 }, t: { a: Symbol('x') } },
    { v: 1, seq: 1, s: [null] },
    { v: 1, seq: { valueOf: () => 1 }, m: { a: 1 } },
    { v: 1, seq: 1, ts: Symbol('x'), m: { a: 1 } },
    { v: 1, seq: 1, ts: new TaggedTime(0, Symbol('x')), m: { a: 1 } },
    { v: Symbol('v') },
  ]
  for (const body of hostile) {
    let outcome: unknown
    t.doesNotThrow(() => {
      outcome = validateMessage(body, new Set())
    })
    t.ok(outcome instanceof Rejection, 'refused')
  }
})

t.test('validate - types fields by their CBOR encoding through the real decoder', async (t) => {
  // {v: 1, seq: 1, m: {f16: 20.0 (half), f64: 1.0e0 (float64), i: 20, b: true}}
  const payload = hex(
    'a3 61 76 01 63 73 65 71 01 61 6d a4 63 66 31 36 f9 4d 00 63 66 36 34 fb 3f f0 00 00 00 00 00 00 61 69 14 61 62 f5',
  )
  const decoded = decodePayload(payload, { acceptUnwrapped: true })
  t.equal(decoded.ok, true)
  if (!decoded.ok) return
  const message = validateMessage(decoded.body, decoded.floatPaths)
  t.notOk(message instanceof Rejection)
  if (message instanceof Rejection) return
  t.strictSame(
    message.samples[0]?.fields.map((f) => [f.name, f.kind, f.value]),
    [
      ['f16', 'float', 20],
      ['f64', 'float', 1],
      ['i', 'int', 20],
      ['b', 'bool', true],
    ],
  )
})

t.test('validate - reads a 64-bit seq and field from real CBOR', async (t) => {
  // {v: 1, seq: 1b 0000000000000005, m: {n: 1b 7fffffffffffffff}}
  const payload = hex(
    'a3 61 76 01 63 73 65 71 1b 00 00 00 00 00 00 00 05 61 6d a1 61 6e 1b 7f ff ff ff ff ff ff ff',
  )
  const decoded = decodePayload(payload, { acceptUnwrapped: true })
  t.equal(decoded.ok, true)
  if (!decoded.ok) return
  const message = validateMessage(decoded.body, decoded.floatPaths)
  t.notOk(message instanceof Rejection)
  if (message instanceof Rejection) return
  t.equal(message.seq, 5)
  t.strictSame(message.samples[0]?.fields, [{ name: 'n', kind: 'int', value: 2n ** 63n - 1n }])
})
