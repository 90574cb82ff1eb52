/**
 * A batch of readings as columns of typed arrays: the form in which a group
 * commit crosses to the store's worker thread. Typed arrays move by transfer,
 * not by copy, so the event loop pays a few writes per reading instead of a
 * structured clone of every reading object; the store builds DuckDB's data
 * chunks from the columns on its own thread.
 */

import type { FieldKind, Reading } from '../core/telemetry.js'

/**
 * The batch's field values, sparse: reading i has entries start[i] to
 * start[i + 1], each a name (an index into `names`) and a value. Dense
 * columns, one per name with a slot per reading, cost names x readings: a
 * batch of 1,000 devices with 10 names each made 10,000 columns of 1,000
 * slots for 10,000 values.
 */
export interface FieldEntries {
  /** Distinct names of the batch, and each one's kind. */
  readonly names: string[]
  readonly kinds: FieldKind[]
  /** length + 1 offsets into the entries. */
  readonly start: Uint32Array
  readonly name: Uint32Array
  /** The value of an int entry. */
  readonly int: BigInt64Array
  /** The value of a float entry, or of a bool one as 0 or 1. */
  readonly number: Float64Array
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
  readonly fields: FieldEntries
}

export const NO_TAGS = 0xffffffff

export function packReadings(readings: readonly Reading[]): ReadingColumns {
  const n = readings.length
  let entries = 0
  for (const r of readings) entries += r.fields.length
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
    fields: {
      names: [],
      kinds: [],
      start: new Uint32Array(n + 1),
      name: new Uint32Array(entries),
      int: new BigInt64Array(entries),
      number: new Float64Array(entries),
    },
  }
  const f = cols.fields
  const nameIndex = new Map<string, number>()
  /** Per name: the reading that last had it, and that entry, so a name twice in a reading is one entry (a map's keys are unique). */
  const lastReading: number[] = []
  const lastEntry: number[] = []
  const deviceIndex = new Map<string, number>()
  const tagIndex = new Map<string, number>()
  let e = 0
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
      let k = nameIndex.get(field.name)
      if (k === undefined) {
        k = f.names.push(field.name) - 1
        f.kinds.push(field.kind)
        nameIndex.set(field.name, k)
      }
      // The later value of a name a reading repeats wins, as it did when each name was a column.
      const at = lastReading[k] === i ? lastEntry[k]! : e++
      lastReading[k] = i
      lastEntry[k] = at
      f.name[at] = k
      const kind = f.kinds[k]!
      if (kind === 'int') f.int[at] = BigInt(field.value)
      else f.number[at] = kind === 'float' ? Number(field.value) : field.value ? 1 : 0
    }
    f.start[i + 1] = e
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
  const f = cols.fields
  arrays.push(f.start, f.name, f.int, f.number)
  return arrays.map((a) => a.buffer as ArrayBuffer)
}
