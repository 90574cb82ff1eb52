/**
 * The CBOR scan, decoder and validation on random and mutated input
 * (fast-check): whatever the bytes, no exception escapes, and every refusal
 * is a known reason with words; readings made by an independent encoder
 * (cbor-x's, and JSON.stringify) come back as they were sent; the CRC-32C
 * envelope catches any corrupted byte. A failure prints its seed and the
 * smallest input found: rerun with that seed to reproduce.
 */

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Encoder } from 'cbor-x'
import fc from 'fast-check'
import t from 'tap'
import { decodePayload } from '../../../bridge/decode.js'
import { validateMessage } from '../../../bridge/validate.js'
import { crc32c } from '../../../src/core/crc32c.js'
import { REJECT_REASONS, type Rejection } from '../../../src/core/errors.js'
import { VECTORS_DIR } from '../../helpers/app.js'

const RUNS = 1000
const REASONS: ReadonlySet<string> = new Set(REJECT_REASONS)
const cbor = new Encoder({ useRecords: false })
const VECTORS = readdirSync(VECTORS_DIR)
  .filter((f) => /\.(cbor|json)$/.test(f) && f !== 'cases.json')
  .map((f) => new Uint8Array(readFileSync(join(VECTORS_DIR, f))))

/** Decode then validate, as the bridge does: a message or a well-formed refusal; anything else throws. */
function ingest(bytes: Uint8Array, acceptUnwrapped = true) {
  const decoded = decodePayload(bytes, { acceptUnwrapped })
  const result = decoded.ok ? validateMessage(decoded.body, decoded.floatPaths) : decoded
  if ('reason' in result) {
    const r = result as Rejection
    if (!REASONS.has(r.reason) || r.detail === '') throw new Error(`bad refusal ${r.reason}: ${r.detail}`)
  }
  return result
}

/** A byte array with random bytes changed, cut, inserted or removed. */
const mutated = (bytes: Uint8Array) =>
  fc
    .array(
      fc.tuple(fc.constantFrom('set', 'cut', 'insert', 'remove'), fc.nat(), fc.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let b = [...bytes]
      for (const [kind, at, value] of edits) {
        const i = b.length === 0 ? 0 : at % b.length
        if (kind === 'set') b[i] = value
        else if (kind === 'cut') b = b.slice(0, i)
        else if (kind === 'insert') b.splice(i, 0, value)
        else b.splice(i, 1)
      }
      return new Uint8Array(b)
    })

t.test('decode - random bytes: no exception, every refusal a known reason with words', async (t) => {
  const start = fc.constantFrom(0x7b, 0xa1, 0xa3, 0xbf, 0xd9, 0xef, 0x20, 0x9f)
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 1024 }),
    // Plausible first bytes (JSON, maps, tags, a BOM, whitespace), random after.
    fc.tuple(start, fc.uint8Array({ maxLength: 512 })).map(([b, rest]) => new Uint8Array([b, ...rest])),
  )
  fc.assert(
    fc.property(payload, fc.boolean(), (bytes, unwrapped) => {
      ingest(bytes, unwrapped)
    }),
    { numRuns: RUNS * 3 },
  )
  t.pass(`${RUNS * 3} random payloads`)
})

t.test('decode - the wire-v1 vectors mutated: no exception, every refusal a known reason', async (t) => {
  t.ok(VECTORS.length >= 10, `${VECTORS.length} vectors`)
  fc.assert(
    fc.property(
      fc.constantFrom(...VECTORS).chain((v) => mutated(v)),
      (bytes) => {
        ingest(bytes)
      },
    ),
    { numRuns: RUNS * 3 },
  )
  t.pass(`${RUNS * 3} mutated vectors`)
})

const fieldName = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/)
const reading = fc.record({
  v: fc.constant(1),
  seq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  ts: fc.integer({ min: 1_000_000_000_000, max: 4_000_000_000_000 }),
  m: fc.dictionary(
    fieldName,
    fc.oneof(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      fc
        .double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 })
        .filter((x) => !Number.isInteger(x)),
      fc.boolean(),
    ),
    { minKeys: 1, maxKeys: 8 },
  ),
})

t.test(
  'decode - readings from other encoders come back as sent, in CBOR and JSON, wrapped or not',
  async (t) => {
    fc.assert(
      fc.property(reading, fc.constantFrom('cbor', 'json'), fc.boolean(), (r, format, wrap) => {
        const bytes =
          format === 'cbor' ? new Uint8Array(cbor.encode(r)) : new TextEncoder().encode(JSON.stringify(r))
        const payload = wrap
          ? new Uint8Array(cbor.encode({ p: Buffer.from(bytes), c: crc32c(bytes) }))
          : bytes
        const m = ingest(payload)
        if ('reason' in m) throw new Error(`refused ${(m as Rejection).reason}: ${(m as Rejection).detail}`)
        const [sample] = m.samples
        const sent = Object.entries(r.m).sort(([a], [b]) => a.localeCompare(b))
        const got = (sample?.fields ?? [])
          .map((f) => [f.name, typeof f.value === 'bigint' ? Number(f.value) : f.value] as const)
          .sort(([a], [b]) => a.localeCompare(b))
        return m.seq === r.seq && JSON.stringify(got) === JSON.stringify(sent)
      }),
      { numRuns: RUNS },
    )
    t.pass(`${RUNS} readings`)
  },
)

t.test('decode - any changed byte inside the envelope is a checksum_mismatch', async (t) => {
  fc.assert(
    fc.property(reading, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, at, flip) => {
      const p = new Uint8Array(cbor.encode(r))
      const c = crc32c(p)
      const bad = p.slice()
      bad[at % bad.length]! ^= flip
      const result = ingest(new Uint8Array(cbor.encode({ p: Buffer.from(bad), c })))
      if ('reason' in result && (result as Rejection).reason === 'checksum_mismatch') return true
      throw new Error(`${JSON.stringify(result)}`)
    }),
    { numRuns: RUNS },
  )
  t.pass(`${RUNS} corrupted envelopes`)
})
