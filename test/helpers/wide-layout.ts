/**
 * A store file of the wide layout (one column per field), made by the store
 * of that layout, and what that store answered over it: the upgrade test
 * (test/integration/store-upgrade.test.ts) checks that the store of the
 * `fields` map answers the same once it has migrated the file.
 *
 * test/fixtures/wide-layout/make.ts writes the fixture with the store of a
 * checkout of the wide layout; both sides compute their answers here.
 */

import { createHash } from 'node:crypto'
import type { Aggregation, WindowFeature } from '../../src/core/aggregations.js'
import type { Reading } from '../../src/core/telemetry.js'
import type { Store } from '../../src/store/store.js'

const S = 1_000_000_000n
export const T0 = 1_764_115_200_000_000_000n
export const DEVICES = 5
export const READINGS = 10_000
const BATCH = 1000

/** The part of a store the fixture is made and checked with. */
export type FixtureStore = Pick<
  Store,
  'commit' | 'widenField' | 'storedFields' | 'readings' | 'windows' | 'linesAfter'
>

/**
 * Reading i: five devices interleaved; temp (float) in every one, count
 * (int), on (bool) in every third, level (int, widened to float half-way),
 * rare in every 97th; none at all in every 500th; tags and device time in
 * some; every 7th arrives 1.5 s late; some messages of two samples.
 */
export function fixtureReading(i: number, levelKind: 'int' | 'float'): Reading {
  const device = `d${i % DEVICES}`
  const k = Math.floor(i / DEVICES)
  const tsNs = T0 + BigInt(k) * 100_000_000n - (i % 7 === 0 ? 1_500_000_000n : 0n)
  const fields: Reading['fields'][number][] = []
  if (i % 500 !== 0) {
    fields.push({ name: 'temp', kind: 'float', value: 20 + Math.sin(i) * 5 })
    fields.push({ name: 'count', kind: 'int', value: BigInt(i * 3) - 5000n })
    if (i % 3 === 0) fields.push({ name: 'on', kind: 'bool', value: i % 2 === 0 })
    fields.push(
      levelKind === 'int'
        ? { name: 'level', kind: 'int', value: BigInt(i % 40) }
        : { name: 'level', kind: 'float', value: (i % 40) + 0.25 },
    )
    if (i % 97 === 0) fields.push({ name: 'rare', kind: 'float', value: i / 7 })
  }
  return {
    device,
    boot: i % 11 === 0 ? 1 : 0,
    seq: k,
    idx: i % 13 === 0 ? 1 : 0,
    tsNs,
    newestTsNs: T0 + BigInt(k) * 100_000_000n,
    deviceTsNs: i % 4 === 0 ? null : tsNs - 1000n,
    recvTsNs: T0 + BigInt(k) * 100_000_000n + 5_000_000n,
    offsetNs: BigInt(i % 5) * 1000n,
    crc: i,
    tags: i % 2 === 0 ? '{"site":"north"}' : i % 3 === 0 ? '{"rack":"r 9","site":"south,east=1"}' : null,
    fields,
  }
}

/** Writes the fixture's readings: level is an int field for the first half, then widened to float. */
export async function fillFixture(store: FixtureStore): Promise<void> {
  const declared = new Set<string>()
  for (let start = 0; start < READINGS; start += BATCH) {
    if (start === READINGS / 2) await store.widenField('level')
    const readings = Array.from({ length: BATCH }, (_, k) =>
      fixtureReading(start + k, start < READINGS / 2 ? 'int' : 'float'),
    )
    const newFields = []
    for (const r of readings)
      for (const f of r.fields)
        if (!declared.has(f.name)) {
          declared.add(f.name)
          newFields.push({ name: f.name, kind: f.kind })
        }
    await store.commit(readings, [], newFields)
  }
}

function feature(field: string, size: bigint, hop: bigint, aggregations: Aggregation[]): WindowFeature {
  return { field, sizeNs: size, hopNs: hop, graceNs: S, sizeLabel: `${size / S}s`, aggregations }
}

const ALL: Aggregation[] = ['count', 'sum', 'mean', 'min', 'max', 'std', 'first', 'last', 'rate']
const FEATURES: WindowFeature[] = [
  feature('temp', 10n * S, 10n * S, ALL),
  feature('count', 10n * S, 5n * S, ALL),
  feature('on', 30n * S, 30n * S, ['count', 'mean']),
  feature('level', 20n * S, 20n * S, ['sum', 'last', 'rate']),
  feature('rare', 60n * S, 60n * S, ['count', 'max']),
  feature('never', 10n * S, 10n * S, ['count']),
]

/** JSON with bigints as `"123n"`, so that an int and a float of the same value differ. */
function text(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

/**
 * What the fixture's store answers, each answer as a digest of its text,
 * with its first rows in full. A stored_ts is given as its rank: its value
 * is the time of the commit, so the same commits made again give the same
 * answers.
 */
export interface Answers {
  readonly fields: unknown
  readonly answers: Record<string, { readonly rows: number; readonly sha256: string; readonly head: string }>
}

export async function answers(store: FixtureStore): Promise<Answers> {
  const devices = Array.from({ length: DEVICES }, (_, d) => `d${d}`)
  const out: Answers['answers'] = {}
  const record = (name: string, rows: unknown[]) => {
    out[name] = { rows: rows.length, sha256: digest(text(rows)), head: text(rows.slice(0, 20)) }
  }
  const range = { fromNs: T0 - 10n * S, toNs: T0 + 1000n * S }
  let rank = new Map<bigint, number>()
  for (const [name, fields] of [
    ['readings', null],
    ['readings of count, level, on', ['count', 'level', 'on']],
  ] as const) {
    const rows = []
    for await (const chunk of store.readings({ devices, ...range, fields, limit: 1_000_000 }))
      rows.push(...chunk)
    if (rank.size === 0)
      rank = new Map(
        rows
          .map((r) => r.stored_ts)
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          .map((ts, k) => [ts, k]),
      )
    record(
      name,
      rows.map((r) => ({ ...r, stored_ts: rank.get(r.stored_ts) })),
    )
  }
  for (const includeLate of [false, true]) {
    const rows = []
    for await (const chunk of store.windows({
      features: FEATURES,
      devices: null,
      ...range,
      asOfNs: null,
      includeLate,
    }))
      rows.push(...chunk)
    record(`windows${includeLate ? ', late included' : ''}`, rows)
  }
  const lines = await store.linesAfter(0n, 1_000_000, {
    measurement: 'telemetry',
    allowedTags: ['site', 'rack'],
  })
  const ranked = (line: string) =>
    line.replace(/@stored=(\d+)i/, (_, ts: string) => `@stored=#${rank.get(BigInt(ts))}`)
  record('lines', lines === null ? [] : lines.body.split('\n').map(ranked))
  return { fields: store.storedFields(), answers: out }
}
