/**
 * decodePayload and crc32c, table-driven from test/fixtures/decode.json.
 *
 * Envelopes are built here so that the fixture stays readable, with the CRC
 * taken by a bitwise reference CRC-32C written from the definition (reflected
 * polynomial 0x82F63B78), not by the library decode.ts uses.
 */

import t from 'tap'
import { type DecodeOptions, decodePayload, TaggedTime } from '../../../bridge/decode.js'
import { crc32c } from '../../../src/core/crc32c.js'
import { hex, loadFixture } from '../../helpers/fixtures.js'

type Bytes = { hex: string } | { json: string }
type PSpec = Bytes | { item: string }
type CSpec = 'crc' | 'crc^1' | 'crc-uint64' | { crcOf: string } | { item: string }

interface DecodeCase {
  name: string
  payload: Bytes | { envelope: { p: PSpec; c?: CSpec; selfDescribed?: boolean } }
  acceptUnwrapped?: boolean
  expect:
    | { reason: string }
    | {
        format: 'cbor' | 'json'
        wrapped: boolean
        body: unknown
        floatPaths: string[]
        crcOf: 'payload' | 'p'
      }
}

const fixture = loadFixture<{
  checkValues: Array<{ name: string; ascii?: string; hex?: string; crc: string }>
  cases: DecodeCase[]
}>('decode.json')

function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

/** A CBOR item head with the shortest argument [RFC 8949 §3], or a forced width. */
function head(major: number, value: number, width?: 8): number[] {
  const m = major << 5
  if (width === 8) {
    const out = [m | 27]
    for (let i = 7; i >= 0; i--) out.push(Math.floor(value / 256 ** i) % 256)
    return out
  }
  if (value < 24) return [m | value]
  if (value < 0x100) return [m | 24, value]
  if (value < 0x10000) return [m | 25, value >> 8, value & 0xff]
  return [m | 26, (value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]
}

function bytesOf(spec: Bytes): Uint8Array {
  return 'hex' in spec ? hex(spec.hex) : new TextEncoder().encode(spec.json)
}

interface Built {
  payload: Uint8Array
  /** The bytes of the envelope's p, when it is a byte string. */
  p: Uint8Array | null
}

function build(spec: DecodeCase['payload']): Built {
  if (!('envelope' in spec)) return { payload: bytesOf(spec), p: null }
  const { p: pSpec, c: cSpec, selfDescribed } = spec.envelope
  const out: number[] = selfDescribed === true ? [0xd9, 0xd9, 0xf7] : []
  out.push(...head(5, cSpec === undefined ? 1 : 2), 0x61, 0x70)
  let p: Uint8Array | null = null
  if ('item' in pSpec) out.push(...hex(pSpec.item))
  else {
    p = bytesOf(pSpec)
    out.push(...head(2, p.length), ...p)
  }
  if (cSpec !== undefined) {
    out.push(0x61, 0x63)
    const crc = p === null ? 0 : referenceCrc32c(p)
    if (cSpec === 'crc') out.push(...head(0, crc))
    else if (cSpec === 'crc^1') out.push(...head(0, (crc ^ 1) >>> 0))
    else if (cSpec === 'crc-uint64') out.push(...head(0, crc, 8))
    else if ('crcOf' in cSpec) out.push(...head(0, referenceCrc32c(hex(cSpec.crcOf))))
    else out.push(...hex(cSpec.item))
  }
  return { payload: Uint8Array.from(out), p }
}

t.test('decode - the reference CRC-32C used to build envelopes gives the check value', async (t) => {
  // Guards the fixtures: a wrong reference would make every envelope case meaningless.
  t.equal(referenceCrc32c(new TextEncoder().encode('123456789')), 0xe3069283)
})

for (const v of fixture.checkValues) {
  t.test(`decode - crc32c of ${v.name} is 0x${v.crc}`, async (t) => {
    const bytes = v.ascii !== undefined ? new TextEncoder().encode(v.ascii) : hex(v.hex ?? '')
    t.equal(crc32c(bytes), Number.parseInt(v.crc, 16))
  })
}

t.test('decode - crc32c agrees with the reference and stays unsigned', async (t) => {
  // Many inputs have a CRC with the top bit set: it must not come back negative.
  const wrong: string[] = []
  for (let n = 0; n < 64; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff)
    const crc = crc32c(bytes)
    if (crc !== referenceCrc32c(bytes)) wrong.push(`${n} bytes: ${crc}, reference ${referenceCrc32c(bytes)}`)
  }
  t.strictSame(wrong, [])
})

for (const c of fixture.cases) {
  t.test(`decode - ${c.name}`, async (t) => {
    const options: DecodeOptions = { acceptUnwrapped: c.acceptUnwrapped ?? true }
    const { payload, p } = build(c.payload)
    const result = decodePayload(payload, options)
    if ('reason' in c.expect) {
      t.equal(result.ok, false, 'refused')
      if (!result.ok) t.equal(result.reason, c.expect.reason, 'reason')
      return
    }
    t.equal(result.ok, true, result.ok ? 'accepted' : `refused: ${result.reason} ${result.detail}`)
    if (!result.ok) return
    t.equal(result.format, c.expect.format, 'format')
    t.equal(result.wrapped, c.expect.wrapped, 'wrapped')
    t.strictSame(result.body, c.expect.body, 'body')
    t.strictSame([...result.floatPaths].sort(), [...c.expect.floatPaths].sort(), 'float paths')
    const crcBytes = c.expect.crcOf === 'p' ? p : payload
    if (crcBytes === null) throw new Error('fixture: crcOf p needs an envelope with a byte-string p')
    t.equal(result.crc, referenceCrc32c(crcBytes), `CRC-32C of the ${c.expect.crcOf}`)
    if (c.expect.crcOf === 'p')
      t.not(result.crc, referenceCrc32c(payload), 'not the CRC of the whole envelope')
  })
}

t.test('decode - keeps tag 1 and tag 0 times raw as TaggedTime', async (t) => {
  // {a: 1(1764115200), b: 1(1764115200.25), c: 0("2025-11-26T00:00:00.123456789Z")}
  const rfc3339 = '2025-11-26T00:00:00.123456789Z'
  const text = [...new TextEncoder().encode(rfc3339)]
  const payload = Uint8Array.from([
    ...hex('a3 61 61 c1 1a 69 26 43 00 61 62 c1 fb 41 da 49 90 c0 10 00 00 61 63 c0'),
    ...head(3, text.length),
    ...text,
  ])
  const result = decodePayload(payload, { acceptUnwrapped: true })
  t.equal(result.ok, true, result.ok ? 'accepted' : `refused: ${result.reason} ${result.detail}`)
  if (!result.ok) return
  const body = result.body as Record<string, unknown>
  for (const [key, tag, value] of [
    ['a', 1, 1764115200],
    ['b', 1, 1764115200.25],
    ['c', 0, rfc3339],
  ] as const) {
    const item = body[key]
    t.ok(item instanceof TaggedTime, `${key} is a TaggedTime, not a Date`)
    if (item instanceof TaggedTime) {
      t.equal(item.tag, tag, `${key} tag`)
      t.equal(item.value, value, `${key} value kept exact`)
    }
  }
  t.strictSame([...result.floatPaths], [], 'a float that is not whole needs no record')
})

t.test('decode - returns 64-bit integers as BigInt', async (t) => {
  // {seq: 2^53 + 1, n: -(2^53 + 2)}
  const result = decodePayload(
    hex('a2 63 73 65 71 1b 00 20 00 00 00 00 00 01 61 6e 3b 00 20 00 00 00 00 00 01'),
    {
      acceptUnwrapped: true,
    },
  )
  t.equal(result.ok, true)
  if (!result.ok) return
  const body = result.body as Record<string, unknown>
  t.equal(body.seq, 2n ** 53n + 1n)
  t.equal(body.n, -(2n ** 53n) - 2n)
})
