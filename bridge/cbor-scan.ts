/**
 * A bounded well-formedness check of one CBOR data item (RFC 8949 §3 and
 * Appendix C), run before cbor-x decodes anything.
 *
 * Why not leave it to cbor-x: cbor-x allocates for what a length *declares*
 * and recurses once per nesting level, so a 16-byte payload announcing 2^60
 * bytes or 10,000 nested arrays costs memory or stack before it fails. This
 * scan reads only item heads, never allocates per item, and stops at the
 * first problem with a stable reason.
 *
 * It also answers the one question a JavaScript decoder cannot: which numbers
 * were encoded as floats (major type 7). cbor-x returns the float64 20.0 as
 * the number 20, indistinguishable from the integer 20, yet a float field must
 * stay a float. The scan records the map-key path (e.g. `m/temp`,
 * `s/1/m/temp`) of every float whose value is whole, so validation can type
 * those by their encoding; a float like 21.5 needs no record.
 */

import { type Rejection, type RejectReason, reject } from '../src/core/errors.js'

export interface ScanLimits {
  /** Deepest container nesting accepted. A reading needs 4. */
  readonly maxDepth: number
  /** Tag numbers accepted; any other tag is refused as malformed. */
  readonly allowedTags: ReadonlySet<number>
}

export type ScanResult = { readonly ok: true; readonly floatPaths: ReadonlySet<string> } | Rejection

interface Frame {
  /** Items still expected; -1 for indefinite length (ends at a break). */
  remaining: number
  isMap: boolean
  /** Items read so far in this container (a map counts keys and values). */
  count: number
  /** Byte range of the last text key read in this map, or start -1. */
  keyStart: number
  keyEnd: number
}

const NO_FLOATS: ScanResult = Object.freeze({ ok: true, floatPaths: new Set<string>() })
const PATH_KEY_MAX_BYTES = 64

// The scan runs to completion synchronously, so one pool of frames serves every call.
const frames: Frame[] = []

function fail(reason: RejectReason, detail: string): Rejection {
  return reject(reason, detail)
}

export function scanCbor(bytes: Uint8Array, limits: ScanLimits): ScanResult {
  const end = bytes.length
  let depth = 0
  let floatPaths: Set<string> | null = null
  let view: DataView | null = null
  let pos = 0
  let done = false
  // Tags do not nest containers but cbor-x recurses through them all the same.
  let tagRun = 0

  while (!done) {
    if (pos >= end) return fail('payload_truncated', `CBOR ends at byte ${pos} inside an item`)
    const initial = bytes[pos]!
    const major = initial >> 5
    const info = initial & 0x1f
    pos++

    const top = depth > 0 ? frames[depth - 1]! : undefined
    const isKey = top?.isMap === true && top.count % 2 === 0

    // A break closes an indefinite container [RFC 8949 §3.2.1].
    if (initial === 0xff) {
      if (tagRun > 0 || top === undefined || top.remaining !== -1 || (top.isMap && top.count % 2 === 1)) {
        return fail('payload_malformed', `unexpected break at byte ${pos - 1}`)
      }
      depth--
      depth = completeItem(depth)
      done = depth < 0
      continue
    }

    // Read the argument [RFC 8949 §3]: 28..30 are reserved, 31 is indefinite.
    let arg = info
    const argStart = pos
    if (info === 24 || info === 25 || info === 26 || info === 27) {
      const width = 1 << (info - 24)
      if (pos + width > end) return fail('payload_truncated', `CBOR argument cut short at byte ${pos}`)
      arg = 0
      for (let i = 0; i < width; i++) arg = arg * 256 + bytes[pos + i]!
      pos += width
    } else if (info >= 28 && info <= 30) {
      return fail('payload_malformed', `reserved additional information ${info} at byte ${pos - 1}`)
    }
    const indefinite = info === 31
    if (major !== 6) tagRun = 0
    // Only a text key names a path segment; any other key clears the last one.
    if (isKey && major !== 6) top.keyStart = -1

    switch (major) {
      case 0:
      case 1:
        if (indefinite) return fail('payload_malformed', `indefinite integer at byte ${pos - 1}`)
        break
      case 2:
      case 3: {
        if (indefinite) return fail('payload_malformed', 'indefinite-length strings are not supported')
        // Every declared byte must be present: this refuses 2^60-byte claims.
        if (arg > end - pos)
          return fail('payload_truncated', `string declares ${arg} bytes, ${end - pos} remain`)
        if (isKey && major === 3 && arg <= PATH_KEY_MAX_BYTES) {
          top.keyStart = pos
          top.keyEnd = pos + arg
        }
        pos += arg
        break
      }
      case 4:
      case 5: {
        if (depth >= limits.maxDepth) {
          return fail('payload_too_deep', `nesting exceeds ${limits.maxDepth} levels`)
        }
        const items = indefinite ? -1 : major === 5 ? arg * 2 : arg
        // Each item takes at least one byte, so a count beyond the rest is a lie.
        if (items > end - pos)
          return fail('payload_truncated', `container declares ${arg} items, ${end - pos} bytes remain`)
        if (items === 0) break
        let frame = frames[depth]
        if (frame === undefined) {
          frame = { remaining: 0, isMap: false, count: 0, keyStart: -1, keyEnd: -1 }
          frames[depth] = frame
        }
        frame.remaining = items
        frame.isMap = major === 5
        frame.count = 0
        frame.keyStart = -1
        depth++
        continue
      }
      case 6:
        if (indefinite) return fail('payload_malformed', `indefinite tag at byte ${pos - 1}`)
        if (!limits.allowedTags.has(arg)) return fail('payload_malformed', `unsupported CBOR tag ${arg}`)
        if (++tagRun > limits.maxDepth)
          return fail('payload_too_deep', `more than ${limits.maxDepth} nested tags`)
        // A tag is followed by exactly one item, which completes it.
        continue
      default: // 7: simple values and floats
        if (indefinite) return fail('payload_malformed', `unexpected break at byte ${pos - 1}`)
        if (info === 24 && arg < 32) return fail('payload_malformed', `simple value ${arg} in two bytes`)
        // Only a whole-valued float is ambiguous once decoded (20.0 reads as 20):
        // record its path; 21.5 is a float to anyone.
        if (info >= 25 && info <= 27 && !isKey) {
          view ??= new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
          if (Number.isInteger(floatAt(view, argStart, info))) {
            floatPaths ??= new Set()
            floatPaths.add(pathOf(bytes, depth))
          }
        }
    }
    depth = completeItem(depth)
    done = depth < 0
  }

  if (pos !== end) return fail('payload_trailing_bytes', `${end - pos} bytes after the CBOR item`)
  return floatPaths === null ? NO_FLOATS : { ok: true, floatPaths }
}

/** Counts one finished item in its container, closing containers that are full. Returns the depth, -1 when the top item is done. */
function completeItem(depth: number): number {
  for (;;) {
    if (depth === 0) return -1
    const top = frames[depth - 1]!
    top.count++
    if (top.remaining === -1 || --top.remaining > 0) return depth
    depth--
  }
}

function floatAt(view: DataView, at: number, info: number): number {
  if (info === 27) return view.getFloat64(at)
  if (info === 26) return view.getFloat32(at)
  // Half precision [RFC 8949 Appendix D]: whole exactly when the exponent covers the fraction.
  const half = view.getUint16(at)
  const exponent = (half >> 10) & 0x1f
  const fraction = half & 0x3ff
  if (exponent === 0) return fraction === 0 ? 0 : 0.5
  if (exponent === 31) return Number.NaN
  return exponent >= 25 || (fraction & ((1 << (25 - exponent)) - 1)) === 0 ? 1 : 0.5
}

const decoder = new TextDecoder('utf-8', { fatal: false })

function pathOf(bytes: Uint8Array, depth: number): string {
  let path = ''
  for (let i = 0; i < depth; i++) {
    const frame = frames[i]!
    let segment: string
    if (!frame.isMap) segment = String(frame.count)
    else segment = frame.keyStart < 0 ? 'null' : decoder.decode(bytes.subarray(frame.keyStart, frame.keyEnd))
    path += i === 0 ? segment : `/${segment}`
  }
  return path
}
