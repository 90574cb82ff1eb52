/**
 * A batch of readings as columns of typed arrays: the form in which a group
 * commit crosses to the store's worker thread. Typed arrays move by transfer,
 * not by copy, so the event loop pays a few writes per reading instead of a
 * structured clone of every reading object; the store builds DuckDB's data
 * chunks from the columns on its own thread.
 */

import type { FieldKind, Reading } from '../core/telemetry.js'

export interface FieldColumn {
  readonly name: string
  readonly kind: FieldKind
  /** int: BigInt64Array, float: Float64Array, bool: Uint8Array (0 or 1). */
  readonly values: BigInt64Array | Float64Array | Uint8Array
  /** 1 where the reading has the field. */
  readonly present: Uint8Array
}

export interface ReadingColumns {
  readonly length: number
  /** Distinct devices of the batch; `device[i]` indexes it. Few strings cross, not one per reading. */
  readonly devices: string[]
  readonly device: Uint32Array
  readonly boot: Float64Array
  readonly seq: Float64Array
  readonly idx: Uint16Array
  readonly ts: BigInt64Array
  readonly newestTs: BigInt64Array
  readonly deviceTs: BigInt64Array
  /** 1 where the reading has a device time. */
  readonly hasDeviceTs: Uint8Array
  readonly recvTs: BigInt64Array
  readonly offset: BigInt64Array
  readonly crc: Uint32Array
  /** Distinct tag sets (JSON) of the batch; `tags[i]` indexes it, NO_TAGS for none. */
  readonly tagSets: string[]
  readonly tags: Uint32Array
  readonly fields: FieldColumn[]
}

export const NO_TAGS = 0xffffffff

export function packReadings(readings: readonly Reading[]): ReadingColumns {
  const n = readings.length
  const cols: ReadingColumns = {
    length: n,
    devices: [],
    device: new Uint32Array(n),
    boot: new Float64Array(n),
    seq: new Float64Array(n),
    idx: new Uint16Array(n),
    ts: new BigInt64Array(n),
    newestTs: new BigInt64Array(n),
    deviceTs: new BigInt64Array(n),
    hasDeviceTs: new Uint8Array(n),
    recvTs: new BigInt64Array(n),
    offset: new BigInt64Array(n),
    crc: new Uint32Array(n),
    tagSets: [],
    tags: new Uint32Array(n),
    fields: [],
  }
  const byName = new Map<string, FieldColumn>()
  const deviceIndex = new Map<string, number>()
  const tagIndex = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const r = readings[i]!
    let d = deviceIndex.get(r.device)
    if (d === undefined) {
      d = cols.devices.push(r.device) - 1
      deviceIndex.set(r.device, d)
    }
    cols.device[i] = d
    cols.boot[i] = r.boot
    cols.seq[i] = r.seq
    cols.idx[i] = r.idx
    cols.ts[i] = r.tsNs
    cols.newestTs[i] = r.newestTsNs
    if (r.deviceTsNs !== null) {
      cols.deviceTs[i] = r.deviceTsNs
      cols.hasDeviceTs[i] = 1
    }
    cols.recvTs[i] = r.recvTsNs
    cols.offset[i] = r.offsetNs
    cols.crc[i] = r.crc
    if (r.tags === null) cols.tags[i] = NO_TAGS
    else {
      let t = tagIndex.get(r.tags)
      if (t === undefined) {
        t = cols.tagSets.push(r.tags) - 1
        tagIndex.set(r.tags, t)
      }
      cols.tags[i] = t
    }
    for (const field of r.fields) {
      let col = byName.get(field.name)
      if (col === undefined) {
        const values =
          field.kind === 'int'
            ? new BigInt64Array(n)
            : field.kind === 'float'
              ? new Float64Array(n)
              : new Uint8Array(n)
        col = { name: field.name, kind: field.kind, values, present: new Uint8Array(n) }
        byName.set(field.name, col)
        cols.fields.push(col)
      }
      col.present[i] = 1
      if (field.kind === 'int') (col.values as BigInt64Array)[i] = BigInt(field.value)
      else if (field.kind === 'float') (col.values as Float64Array)[i] = field.value as number
      else (col.values as Uint8Array)[i] = field.value ? 1 : 0
    }
  }
  return cols
}

/** The buffers to transfer with postMessage. */
export function transferables(cols: ReadingColumns): ArrayBuffer[] {
  const arrays = [
    cols.boot,
    cols.seq,
    cols.idx,
    cols.ts,
    cols.newestTs,
    cols.deviceTs,
    cols.hasDeviceTs,
    cols.recvTs,
    cols.offset,
    cols.crc,
  ]
  for (const f of cols.fields) arrays.push(f.values, f.present)
  return arrays.map((a) => a.buffer as ArrayBuffer)
}
