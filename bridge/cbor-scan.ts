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
 * stay a float. The scan records the map-key path of every float it meets
 * (e.g. `m/temp`, `s/1/m/temp`) so validation can type fields by their
 * encoding rather than their value.
 */

import { type Rejection, type RejectReason, reject } from '../src/errors.js'

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
  readonly isMap: boolean
  /** Items read so far in this container (a map counts keys and values). */
  count: number
  /** Path segment of the value being read: the last key, or the array index. */
  key: string | null
}

const EMPTY: ReadonlySet<string> = new Set()
const PATH_KEY_MAX_BYTES = 64

function fail(reason: RejectReason, detail: string): Rejection {
  return reject(reason, detail)
}

export function scanCbor(bytes: Uint8Array, limits: ScanLimits): ScanResult {
  const end = bytes.length
  const stack: Frame[] = []
  let floatPaths: Set<string> | null = null
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

    const top = stack[stack.length - 1]
    const isKey = top?.isMap === true && top.count % 2 === 0

    // A break closes an indefinite container [RFC 8949 §3.2.1].
    if (initial === 0xff) {
      if (tagRun > 0 || top === undefined || top.remaining !== -1 || (top.isMap && top.count % 2 === 1)) {
        return fail('payload_malformed', `unexpected break at byte ${pos - 1}`)
      }
      stack.pop()
      done = completeItem(stack)
      continue
    }

    // Read the argument [RFC 8949 §3]: 28..30 are reserved, 31 is indefinite.
    let arg = info
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
    if (isKey && major !== 6) top.key = null

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
        if (isKey) top.key = major === 3 && arg <= PATH_KEY_MAX_BYTES ? utf8(bytes, pos, pos + arg) : null
        pos += arg
        break
      }
      case 4:
      case 5: {
        if (stack.length >= limits.maxDepth) {
          return fail('payload_too_deep', `nesting exceeds ${limits.maxDepth} levels`)
        }
        const items = indefinite ? -1 : major === 5 ? arg * 2 : arg
        // Each item takes at least one byte, so a count beyond the rest is a lie.
        if (items > end - pos)
          return fail('payload_truncated', `container declares ${arg} items, ${end - pos} bytes remain`)
        if (items === 0) break
        stack.push({ remaining: items, isMap: major === 5, count: 0, key: null })
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
        if (info >= 25 && info <= 27 && !isKey) {
          floatPaths ??= new Set()
          floatPaths.add(pathOf(stack))
        }
    }
    done = completeItem(stack)
  }

  if (pos !== end) return fail('payload_trailing_bytes', `${end - pos} bytes after the CBOR item`)
  return { ok: true, floatPaths: floatPaths ?? EMPTY }
}

/** Counts one finished item in its container, closing containers that are full. */
function completeItem(stack: Frame[]): boolean {
  for (;;) {
    const top = stack[stack.length - 1]
    if (top === undefined) return true
    top.count++
    if (top.remaining === -1 || --top.remaining > 0) return false
    stack.pop()
  }
}

function pathOf(stack: readonly Frame[]): string {
  let path = ''
  for (let i = 0; i < stack.length; i++) {
    const frame = stack[i]!
    const segment = frame.isMap ? frame.key : String(frame.count)
    path += i === 0 ? `${segment}` : `/${segment}`
  }
  return path
}

const decoder = new TextDecoder('utf-8', { fatal: false })
function utf8(bytes: Uint8Array, start: number, stop: number): string {
  return decoder.decode(bytes.subarray(start, stop))
}
