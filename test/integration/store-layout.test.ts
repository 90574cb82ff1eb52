/**
 * Issue #21, item 1: the store's cost does not grow with the number of
 * distinct field names. With one column per name, 10,000 names stored 600
 * of 200,000 readings, and one device declaring 1,034 names invalidated the
 * database (docs/design/storage-layout.md); with the `fields` map a name is
 * a row. Each load stops at a deadline, so a store that cannot keep up
 * fails here instead of running on.
 */

import t from 'tap'
import type { Reading } from '../../src/core/telemetry.js'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import type { StoredField } from '../../src/store/store.js'
import { tempDir } from '../helpers/app.js'

const DEVICES = 1000
const READINGS = 100_000
const BATCH = 500
/** Devices come online one every RAMP readings, so a commit brings ~100 new names, not 10,000 at once. */
const RAMP = 50
const FIELDS_PER_READING = 10
const DEADLINE_MS = 50_000
const T0 = 1_764_115_200_000_000_000n

/** Reading `seq` of `device`, 1 ms apart, with a float field of each name. */
function reading(device: string, seq: number, names: readonly string[]): Reading {
  const tsNs = T0 + BigInt(seq) * 1_000_000n
  return {
    device,
    boot: 0,
    seq,
    idx: 0,
    tsNs,
    newestTsNs: tsNs,
    deviceTsNs: null,
    recvTsNs: tsNs,
    offsetNs: 0n,
    crc: seq,
    tags: null,
    fields: names.map((name, k) => ({ name, kind: 'float' as const, value: seq + k / 10 })),
  }
}

interface Load {
  readonly stored: number
  /** The most DuckDB held after a commit (duckdb_memory()). */
  readonly peakBytes: number
}

/**
 * Commits READINGS readings of up to DEVICES devices in batches, each
 * reading with the fields `names(device)`; new names go with the batch that
 * first has them.
 */
async function load(store: DuckDBStore, names: (device: number) => readonly string[]): Promise<Load> {
  const known = new Set<string>()
  const deadline = Date.now() + DEADLINE_MS
  let stored = 0
  let peakBytes = 0
  for (let start = 0; start < READINGS && Date.now() < deadline; start += BATCH) {
    const readings: Reading[] = []
    const newFields: StoredField[] = []
    for (let seq = start; seq < start + BATCH; seq++) {
      const device = seq % Math.min(DEVICES, 1 + Math.floor(seq / RAMP))
      const fields = names(device)
      for (const name of fields)
        if (!known.has(name)) {
          known.add(name)
          newFields.push({ name, kind: 'float' })
        }
      readings.push(reading(`dev-${device}`, seq, fields))
    }
    await store.commit(readings, [], newFields)
    stored += BATCH
    peakBytes = Math.max(peakBytes, (await store.memory()).usedBytes)
  }
  return { stored, peakBytes }
}

const shared = Array.from({ length: FIELDS_PER_READING }, (_, k) => `f${k}`)

t.test(
  'store layout - 10,000 field names across 1,000 devices cost less than twice the memory of 10',
  async (t) => {
    const few = await DuckDBStore.open(tempDir(t))
    t.teardown(() => few.close())
    const a = await load(few, () => shared)
    t.equal(a.stored, READINGS, `10 names: all ${READINGS} readings stored`)

    const many = await DuckDBStore.open(tempDir(t))
    t.teardown(() => many.close())
    const perDevice = Array.from({ length: DEVICES }, (_, d) => shared.map((name) => `d${d}_${name}`))
    const b = await load(many, (device) => perDevice[device]!)
    t.equal(b.stored, READINGS, `10,000 names: all ${READINGS} readings stored before the deadline`)
    t.equal(many.storedFields().length, DEVICES * FIELDS_PER_READING)
    t.ok(
      b.peakBytes < 2 * a.peakBytes,
      `DuckDB held at most ${(b.peakBytes / 1e6).toFixed(1)} MB with 10,000 names, ${(a.peakBytes / 1e6).toFixed(1)} MB with 10`,
    )
    await many.checkpointWal()
    t.equal(await many.backlog(0n), READINGS, 'and every reading is there after a checkpoint')
  },
)

t.test(
  'store layout - one device declaring 1,034 names in 4 readings leaves the store valid and ingesting',
  async (t) => {
    const store = await DuckDBStore.open(tempDir(t))
    t.teardown(() => store.close())
    const junk = Array.from({ length: 1034 }, (_, k) => `junk_${k}`)
    const messages = [0, 1, 2, 3].map((m) =>
      junk.slice(Math.ceil((m * 1034) / 4), Math.ceil(((m + 1) * 1034) / 4)),
    )
    for (const [m, names] of messages.entries()) {
      await store.commit(
        [reading('attacker', m, names)],
        [],
        names.map((name) => ({ name, kind: 'float' as const })),
      )
    }
    t.equal(store.storedFields().length, 1034)

    const first = 4
    const ordinary = await load(store, () => shared)
    t.equal(ordinary.stored, READINGS, `then all ${READINGS} ordinary readings stored before the deadline`)
    t.equal(store.storedFields().length, 1034 + shared.length)
    await store.checkpointWal()
    t.equal(await store.backlog(0n), first + READINGS, 'every reading is there after a checkpoint')
    const rows = []
    for await (const chunk of store.readings({
      devices: ['attacker'],
      fromNs: T0,
      toNs: T0 + 4_000_000n,
      fields: null,
      limit: 10,
    }))
      rows.push(...chunk)
    t.same(
      rows.map((r) => Object.keys(r.fields).length),
      messages.map((names) => names.length),
      "the attacker's readings come back with their names",
    )
  },
)
