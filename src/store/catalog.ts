/**
 * The catalog: what exists, per device (its event-time span, last receive
 * time, readings stored, fields) and per field (when it was added, how many
 * devices send it), so that GET /v1/devices and /v1/fields answer in
 * microseconds whatever the number of readings: counting them per device
 * is a scan of the whole table.
 *
 *   commit ──▶ add(batch): in memory, once DuckDB has committed the batch
 *                 │ every SAVE_EVERY_READINGS readings, and at close
 *                 ▼
 *   `devices` rows of the devices changed + checkpoint `catalog` = the last
 *   stored_ts they include, in one transaction (catalog-sql.ts)
 *                 │ at open
 *                 ▼
 *   the rows, plus the readings stored after the checkpoint, added up
 *
 * So the catalog is exact after a crash and after a restart: the readings
 * the saved rows lack are exactly those after the checkpoint (stored_ts only
 * grows), and the table's zone maps let that query read only its last row
 * groups. A file of an older release has no checkpoint: its catalog is built
 * from all of its readings, once. Keeping the rows out of the commit itself
 * keeps the commit path free of SQL: its cost is this file's add(). In
 * memory (the store's worker thread), a device of 10 fields takes ~390
 * bytes: 39 MB for 100,000 devices.
 */

import type { ReadingColumns } from './reading-columns.js'
import type { FieldRef } from './schema.js'
import type { DevicePage, DeviceQuery, DeviceRow, EventSpan, FieldUse } from './store.js'

/**
 * Readings added between two saves: what an open after a crash reads again
 * at most (building a catalog from 20,000,000 readings took 1.1 s here).
 */
export const SAVE_EVERY_READINGS = 1_000_000

/** One device's entry: what a `devices` row holds. */
export interface DeviceEntry {
  firstTsNs: bigint
  lastTsNs: bigint
  lastRecvTsNs: bigint
  readings: number
  /** Field ids, ascending. */
  fields: number[]
}

const MAX_I64 = 0x7fff_ffff_ffff_ffffn
const MIN_I64 = -MAX_I64 - 1n

export class Catalog {
  readonly #devices = new Map<string, DeviceEntry>()
  /** The ids in order, for paging; null once a device is added, sorted again when next asked. */
  #sorted: string[] | null = null
  /** By field id: devices that send it, and when it was added. */
  readonly #fieldDevices: number[] = []
  readonly #fieldAdded: Array<bigint | null> = []
  /** Devices changed since the last save. */
  readonly #dirty = new Set<string>()
  /** Devices whose oldest readings were deleted: their first event time is stale until firstTs(). */
  readonly #trimmed = new Set<string>()
  /** Readings added since the last save. */
  #unsaved = 0
  /** Readings between two saves. */
  saveEvery = SAVE_EVERY_READINGS

  /** When each field was added (epoch ns, or null), by id. */
  fieldsAdded(added: ReadonlyArray<readonly [id: number, addedNs: bigint | null]>): void {
    for (const [id, ns] of added) this.#fieldAdded[id] = ns
  }

  /**
   * Adds a committed batch; `idOf` gives each of its field names (by index
   * in `cols.fields.names`) its id. Per-device totals first, in typed
   * arrays, then one merge per device of the batch. Measured: ~240 ns a
   * reading of 10 fields, 250 readings of 100 devices a batch (writing the
   * same readings' fields map takes ~3 µs, append.ts).
   */
  add(cols: ReadingColumns, idOf: readonly number[]): void {
    const n = cols.devices.length
    const first = new BigInt64Array(n).fill(MAX_I64)
    const last = new BigInt64Array(n).fill(MIN_I64)
    const recv = new BigInt64Array(n).fill(MIN_I64)
    const count = new Uint32Array(n)
    const names = cols.fields.names.length
    const pairs = new Set<number>()
    const { start, name } = cols.fields
    for (let i = 0; i < cols.length; i++) {
      const d = cols.device[i]!
      const ts = cols.ts[i]!
      if (ts < first[d]!) first[d] = ts
      if (ts > last[d]!) last[d] = ts
      if (cols.recvTs[i]! > recv[d]!) recv[d] = cols.recvTs[i]!
      count[d]!++
      for (let e = start[i]!; e < start[i + 1]!; e++) pairs.add(d * names + name[e]!)
    }
    const fields: number[][] = Array.from({ length: n }, () => [])
    for (const pair of pairs) fields[Math.floor(pair / names)]!.push(idOf[pair % names]!)
    for (let d = 0; d < n; d++) {
      if (count[d] === 0) continue
      this.merge(cols.devices[d]!, {
        firstTsNs: first[d]!,
        lastTsNs: last[d]!,
        lastRecvTsNs: recv[d]!,
        readings: count[d]!,
        fields: fields[d]!,
      })
    }
    this.#unsaved += cols.length
  }

  /** Whether enough readings came since the last save to save again; counted as saved from now. */
  due(): boolean {
    if (this.#unsaved < this.saveEvery) return false
    this.#unsaved = 0
    return true
  }

  /** Adds what `more` says of a device's readings to its entry. */
  merge(device: string, more: DeviceEntry): void {
    let entry = this.#devices.get(device)
    if (entry === undefined) {
      entry = {
        firstTsNs: more.firstTsNs,
        lastTsNs: more.lastTsNs,
        lastRecvTsNs: 0n,
        readings: 0,
        fields: [],
      }
      this.#devices.set(device, entry)
      this.#sorted = null
    }
    if (more.firstTsNs < entry.firstTsNs) entry.firstTsNs = more.firstTsNs
    if (more.lastTsNs > entry.lastTsNs) entry.lastTsNs = more.lastTsNs
    if (more.lastRecvTsNs > entry.lastRecvTsNs) entry.lastRecvTsNs = more.lastRecvTsNs
    entry.readings += more.readings
    let grew = false
    for (const id of more.fields) {
      if (entry.fields.includes(id)) continue
      entry.fields.push(id)
      this.#fieldDevices[id] = (this.#fieldDevices[id] ?? 0) + 1
      grew = true
    }
    if (grew) entry.fields.sort((a, b) => a - b)
    this.#dirty.add(device)
  }

  /** The devices changed since the last save, with their entries (none: removed); saved() marks them saved. */
  changed(): Array<[string, DeviceEntry | undefined]> {
    return [...this.#dirty].map((device) => [device, this.#devices.get(device)])
  }

  /**
   * Readings deleted (retention), one device id a reading: each device's
   * count goes down, and a device with none left is gone. Its first event
   * time is known again once the old readings are all gone: `trimmed()`
   * says whose to ask for (firstTs).
   */
  removed(devices: readonly string[]): void {
    const counts = new Map<string, number>()
    for (const d of devices) counts.set(d, (counts.get(d) ?? 0) + 1)
    for (const [device, n] of counts) {
      const entry = this.#devices.get(device)
      if (entry === undefined) continue
      entry.readings -= n
      this.#dirty.add(device)
      if (entry.readings > 0) {
        this.#trimmed.add(device)
        continue
      }
      this.#devices.delete(device)
      this.#trimmed.delete(device)
      this.#sorted = null
      for (const id of entry.fields) this.#fieldDevices[id] = (this.#fieldDevices[id] ?? 1) - 1
    }
  }

  /** Devices that lost their oldest readings and still have some: their first event time is to be asked again. */
  trimmed(): string[] {
    return [...this.#trimmed].filter((d) => this.#devices.has(d))
  }

  /** A trimmed device's first event time, read from its readings now. */
  firstTs(device: string, tsNs: bigint): void {
    const entry = this.#devices.get(device)
    this.#trimmed.delete(device)
    if (entry === undefined) return
    entry.firstTsNs = tsNs
    this.#dirty.add(device)
  }

  saved(): void {
    this.#dirty.clear()
  }

  /** A page of devices in id order; `fields` resolves field ids (1 to n, in order). */
  page(q: DeviceQuery, fields: readonly FieldRef[]): DevicePage {
    const ids =
      q.devices === null
        ? this.#sortedIds()
        : [...new Set(q.devices)].filter((d) => this.#devices.has(d)).sort()
    const from = q.after === null ? 0 : after(ids, q.after)
    const page = ids.slice(from, from + q.limit)
    const rows = page.map((device): DeviceRow => {
      const e = this.#devices.get(device)!
      return {
        device,
        firstTsNs: e.firstTsNs,
        lastTsNs: e.lastTsNs,
        lastRecvTsNs: e.lastRecvTsNs,
        readings: e.readings,
        fields: e.fields.map((id) => ({ name: fields[id - 1]!.name, kind: fields[id - 1]!.kind })),
      }
    })
    return { devices: rows, next: from + q.limit < ids.length ? page.at(-1)! : null }
  }

  fieldUse(fields: readonly FieldRef[]): FieldUse[] {
    return fields.map((f) => ({
      name: f.name,
      kind: f.kind,
      addedNs: this.#fieldAdded[f.id] ?? null,
      devices: this.#fieldDevices[f.id] ?? 0,
    }))
  }

  span(devices: readonly string[] | null): EventSpan | null {
    let span: { firstTsNs: bigint; lastTsNs: bigint } | null = null
    const entries = devices === null ? this.#devices.values() : devices.map((d) => this.#devices.get(d))
    for (const e of entries) {
      if (e === undefined) continue
      span ??= { firstTsNs: e.firstTsNs, lastTsNs: e.lastTsNs }
      if (e.firstTsNs < span.firstTsNs) span.firstTsNs = e.firstTsNs
      if (e.lastTsNs > span.lastTsNs) span.lastTsNs = e.lastTsNs
    }
    return span
  }

  #sortedIds(): string[] {
    // Device ids are ASCII ([A-Za-z0-9._-]): code-unit order is byte order.
    this.#sorted ??= [...this.#devices.keys()].sort()
    return this.#sorted
  }
}

/** The index of the first id greater than `id` in sorted `ids`. */
function after(ids: readonly string[], id: string): number {
  let [lo, hi] = [0, ids.length]
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ids[mid]! <= id) lo = mid + 1
    else hi = mid
  }
  return lo
}
