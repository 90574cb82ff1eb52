/**
 * The data bench:windows and bench:influx run on: a store whose schema the
 * store itself made, filled by one INSERT … SELECT in DuckDB, and DuckDB
 * opened on it for the bench's own queries.
 */

import { statSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import type { FieldKind } from '../src/core/telemetry.js'
import { DuckDBStore } from '../src/store/index.js'
import { fieldsMapSql, fieldValueSql } from '../src/store/schema.js'

/** DuckDB opened on a file (or `:memory:`) for `fn`, closed after. */
export async function withDuckDB<T>(path: string, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(path)
  const c = await instance.connect()
  try {
    return await fn(c)
  } finally {
    c.closeSync()
    instance.closeSync()
  }
}

/**
 * A store in `dataDir` with fields (`name` → [SQL type, field kind], ids 1…n
 * in that order) and the rows of `select` (the store's fixed columns, then
 * one value per field, NULL where a reading lacks it), made into the store's
 * `fields` map by the store's own SQL (src/store/schema.ts). Returns the
 * seconds it took, the database file's size, and each field's value as SQL.
 */
export async function seedStore(
  dataDir: string,
  fields: Readonly<Record<string, readonly [string, FieldKind]>>,
  select: string,
): Promise<{ seconds: number; storeMB: number; value: (name: string) => string }> {
  const t0 = performance.now()
  await (await DuckDBStore.open(dataDir)).close()
  const path = join(dataDir, 'telemetry.duckdb')
  const refs = Object.entries(fields).map(([name, [, kind]], i) => ({ id: i + 1, name, kind }))
  await withDuckDB(path, async (c) => {
    for (const f of refs) await c.run(`INSERT INTO fields VALUES (${f.id}, '${f.name}', '${f.kind}', 0)`)
    const fixed = 'device, boot, seq, idx, ts, device_ts, recv_ts, offset_ns, crc, tags, stored_ts, newest_ts'
    const values = refs.map((field, i) => ({ field, sql: `v${i}` }))
    const aliases = [fixed, ...values.map((v) => v.sql)].join(', ')
    await c.run(
      `INSERT INTO readings (${fixed}, fields) SELECT ${fixed}, ${fieldsMapSql(values)} FROM (${select}) s(${aliases})`,
    )
  })
  const byName = new Map(refs.map((f) => [f.name, f]))
  const value = (name: string): string => fieldValueSql(byName.get(name)!)
  return { seconds: (performance.now() - t0) / 1000, storeMB: statSync(path).size / 1e6, value }
}
