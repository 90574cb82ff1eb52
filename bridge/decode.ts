/**
 * Payload bytes to an untrusted body: CBOR (RFC 8949) or JSON (`{` first,
 * after an optional UTF-8 byte order mark and whitespace),
 * unwrapping the CRC-32C envelope `{ p: <bytes>, c: <uint> }` of wire format v1
 * (docs/wire-format.md). Nothing here trusts the shape of the body: that is
 * validate.ts's job.
 */

import { addExtension, Decoder } from 'cbor-x'
import { crc32c } from '../src/core/crc32c.js'
import { type Rejection, reject } from '../src/core/errors.js'
import { scanCbor } from './cbor-scan.js'

/** A CBOR tag 0 (RFC 3339 string) or tag 1 (epoch seconds) time, kept exact. */
export class TaggedTime {
  constructor(
    readonly tag: 0 | 1,
    readonly value: unknown,
  ) {}
}

// cbor-x turns tags 0 and 1 into a Date, which drops everything below the
// millisecond and accepts any string Date.parse likes. Keep the raw value and
// let normalize-time.ts parse it strictly.
addExtension({ tag: 0, decode: (value: unknown) => new TaggedTime(0, value) } as never)
addExtension({ tag: 1, decode: (value: unknown) => new TaggedTime(1, value) } as never)

// `useRecords: false`: cbor-x's records extension is not CBOR any other
// encoder speaks. 64-bit integers come back as BigInt; validation narrows them.
const cbor = new Decoder({ useRecords: false, mapsAsObjects: true })

/** Tags a device may use: 0 and 1 for time, 55799 the self-described CBOR prefix. */
const ALLOWED_TAGS = new Set([0, 1, 55799])
const SCAN_LIMITS = { maxDepth: 8, allowedTags: ALLOWED_TAGS }

export interface DecodedPayload {
  readonly ok: true
  readonly format: 'cbor' | 'json'
  readonly body: unknown
  /** Map-key paths (`m/temp`, `s/0/m/temp`) of values encoded as CBOR floats. */
  readonly floatPaths: ReadonlySet<string>
  /** CRC-32C of the reading's bytes (inside the envelope when wrapped). */
  readonly crc: number
  readonly wrapped: boolean
}

export interface DecodeOptions {
  /** Accept payloads without the CRC-32C envelope. Default true. */
  readonly acceptUnwrapped: boolean
}

const NO_FLOATS: ReadonlySet<string> = new Set()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export function decodePayload(payload: Uint8Array, options: DecodeOptions): DecodedPayload | Rejection {
  if (payload.length === 0) return reject('payload_truncated', 'empty payload')
  if (isJson(payload)) {
    // The envelope is CBOR only, so a JSON payload is unwrapped by definition.
    if (!options.acceptUnwrapped)
      return reject('envelope_required', 'payload is not wrapped in the CRC-32C envelope')
    return decodeJson(payload)
  }

  const fast = splitEnvelope(payload)
  if (fast !== null) return unwrap(fast.p, fast.c)

  const outer = decodeCbor(payload)
  if (!outer.ok) return outer
  if (!isEnvelope(outer.body)) {
    if (!options.acceptUnwrapped)
      return reject('envelope_required', 'payload is not wrapped in the CRC-32C envelope')
    return {
      ok: true,
      format: 'cbor',
      body: outer.body,
      floatPaths: outer.floatPaths,
      crc: crc32c(payload),
      wrapped: false,
    }
  }

  return unwrap(outer.body.p, outer.body.c)
}

/** Checks the envelope's CRC-32C, then decodes the reading inside. */
function unwrap(p: unknown, c: unknown): DecodedPayload | Rejection {
  if (!(p instanceof Uint8Array)) return reject('invalid_envelope', 'envelope p must be a byte string')
  // Any unsigned integer encoding is valid CBOR; cbor-x gives a BigInt for eight bytes.
  const expected = typeof c === 'bigint' && c <= 0xffffffffn ? Number(c) : c
  if (typeof expected !== 'number' || !Number.isInteger(expected) || expected < 0 || expected > 0xffffffff) {
    return reject('invalid_envelope', 'envelope c must be an unsigned 32-bit integer')
  }
  const actual = crc32c(p)
  if (actual !== expected) {
    return reject(
      'checksum_mismatch',
      `CRC-32C of p is 0x${hex32(actual)}, envelope says 0x${hex32(expected)}`,
    )
  }
  const inner = isJson(p) ? decodeJson(p) : decodeCbor(p)
  if (!inner.ok) return inner
  return {
    ok: true,
    format: inner.format,
    body: inner.body,
    floatPaths: inner.floatPaths,
    crc: actual,
    wrapped: true,
  }
}

/**
 * Whether bytes are JSON text: `{` after an optional UTF-8 byte order mark
 * and JSON's whitespace, as `mosquitto_pub -f` sends a file an editor saved.
 * No CBOR reading starts so: whitespace bytes are small integers and 0xEF
 * an unassigned simple value, each a whole item with the rest trailing.
 */
function isJson(bytes: Uint8Array): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  while (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09) i++
  return bytes[i] === 0x7b
}

function decodeCbor(bytes: Uint8Array): DecodedPayload | Rejection {
  const scan = scanCbor(bytes, SCAN_LIMITS)
  if (!scan.ok) return scan
  let body: unknown
  try {
    body = cbor.decode(bytes)
  } catch (err) {
    // The scan accepted it, so this is something cbor-x itself refuses
    // (a string that is not UTF-8, say): still the device's fault.
    return reject('payload_malformed', `CBOR: ${(err as Error).message}`)
  }
  return { ok: true, format: 'cbor', body, floatPaths: scan.floatPaths, crc: 0, wrapped: false }
}

function decodeJson(bytes: Uint8Array): DecodedPayload | Rejection {
  let text: string
  let body: unknown
  try {
    text = strictUtf8.decode(bytes)
  } catch (err) {
    return reject('json_malformed', (err as Error).message)
  }
  // The CBOR scan caps nesting before decoding; JSON gets the same cap (issue 21).
  if (jsonNestingExceeds(text, SCAN_LIMITS.maxDepth))
    return reject('payload_too_deep', `nesting exceeds ${SCAN_LIMITS.maxDepth} levels`)
  try {
    body = JSON.parse(text)
  } catch (err) {
    return reject('json_malformed', (err as Error).message)
  }
  return { ok: true, format: 'json', body, floatPaths: NO_FLOATS, crc: crc32c(bytes), wrapped: false }
}

/** Whether arrays and objects in JSON text nest deeper than `max`; strings are skipped, escapes and all. */
function jsonNestingExceeds(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

/**
 * The envelope as devices write it, `a2 61 70 <bstr> 61 63 <uint>` (keys in
 * either order, shortest or not), read without a decoder: every message pays
 * for it. Anything else returns null and takes the general path.
 */
export function splitEnvelope(bytes: Uint8Array): { p: Uint8Array; c: number } | null {
  if (bytes[0] !== 0xa2) return null
  let pos = 1
  let p: Uint8Array | null = null
  let c = -1
  for (let pair = 0; pair < 2; pair++) {
    if (bytes[pos] !== 0x61) return null
    const key = bytes[pos + 1]
    pos += 2
    const head = readHead(bytes, pos)
    if (head === null) return null
    pos = head.next
    if (key === 0x70 && head.major === 2 && p === null) {
      if (head.value > bytes.length - pos) return null
      p = bytes.subarray(pos, pos + head.value)
      pos += head.value
    } else if (key === 0x63 && head.major === 0 && c < 0) {
      c = head.value
    } else return null
  }
  return pos === bytes.length && p !== null && c >= 0 && c <= 0xffffffff ? { p, c } : null
}

/** A CBOR head of major type 0 or 2 with a definite argument, or null. */
function readHead(bytes: Uint8Array, pos: number): { major: number; value: number; next: number } | null {
  const initial = bytes[pos]
  if (initial === undefined) return null
  const major = initial >> 5
  const info = initial & 0x1f
  if (major !== 0 && major !== 2) return null
  if (info < 24) return { major, value: info, next: pos + 1 }
  if (info > 27) return null
  const width = 1 << (info - 24)
  if (pos + 1 + width > bytes.length) return null
  let value = 0
  for (let i = 1; i <= width; i++) value = value * 256 + bytes[pos + i]!
  return { major, value, next: pos + 1 + width }
}

function isEnvelope(body: unknown): body is { p: unknown; c: unknown } {
  return typeof body === 'object' && body !== null && 'p' in body && !('v' in body)
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0')
}
