/**
 * The `after` cursor of GET /v1/telemetry: where the previous page ended, as
 * the key of its last reading (src/store/reading-key.ts), written as
 * base64url of a JSON array so that it passes in a URL untouched. Clients
 * treat it as opaque; its first item is a version, so the form can change
 * without a new parameter. A cursor this API did not make is a 400 naming
 * `after`, never a query.
 */

import { Type } from 'typebox'
import { InvalidParameterError } from '../core/errors.js'
import { DEVICE_ID_PATTERN } from '../core/telemetry.js'
import type { ReadingKey } from '../store/index.js'

const VERSION = 1
const INT64 = /^-?\d{1,19}$/
const UINT64 = /^\d{1,20}$/
const [INT64_MIN, INT64_MAX, UINT64_MAX] = [-(2n ** 63n), 2n ** 63n - 1n, 2n ** 64n - 1n]

export const cursorParam = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,400}$',
  description: "the previous page's next",
})

export function encodeCursor(key: ReadingKey): string {
  const items = [
    VERSION,
    String(key.ts),
    key.device,
    String(key.boot),
    String(key.seq),
    key.idx,
    String(key.storedTs),
  ]
  return Buffer.from(JSON.stringify(items)).toString('base64url')
}

export function decodeCursor(cursor: string): ReadingKey {
  const bad = () =>
    new InvalidParameterError('after', "is not a cursor of this API: pass the previous page's next")
  let items: unknown
  try {
    items = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw bad()
  }
  if (!Array.isArray(items) || items.length !== 7 || items[0] !== VERSION) throw bad()
  const [, ts, device, boot, seq, idx, storedTs] = items as unknown[]
  const int = (v: unknown, pattern: RegExp, min: bigint, max: bigint): bigint => {
    if (typeof v !== 'string' || !pattern.test(v)) throw bad()
    const n = BigInt(v)
    if (n < min || n > max) throw bad()
    return n
  }
  if (typeof device !== 'string' || !DEVICE_ID_PATTERN.test(device)) throw bad()
  if (!Number.isInteger(idx) || (idx as number) < 0 || (idx as number) > 65_535) throw bad()
  return {
    ts: int(ts, INT64, INT64_MIN, INT64_MAX),
    device,
    boot: int(boot, UINT64, 0n, UINT64_MAX),
    seq: int(seq, UINT64, 0n, UINT64_MAX),
    idx: idx as number,
    storedTs: int(storedTs, INT64, INT64_MIN, INT64_MAX),
  }
}
