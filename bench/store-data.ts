/**
 * The data bench:windows and bench:influx run on: a store whose schema the
 * store itself made, filled by one INSERT … SELECT in DuckDB, and DuckDB
 * opened on it for the bench's own queries.
 */

import { statSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { DuckDBStore } from '../src/store/index.js'

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
 * A store in `dataDir` with field columns (`name` → [SQL type, field kind])
 * and the rows of `select` (the store's fixed columns, then the fields').
 * Returns the seconds it took and the database file's size.
 */
export async function seedStore(
  dataDir: string,
  fields: Readonly<Record<string, readonly [string, string]>>,
  select: string,
): Promise<{ seconds: number; storeMB: number }> {
  const t0 = performance.now()
  await (await DuckDBStore.open(dataDir)).close()
  const path = join(dataDir, 'telemetry.duckdb')
  await withDuckDB(path, async (c) => {
    for (const [name, [type, kind]] of Object.entries(fields)) {
      await c.run(`ALTER TABLE readings ADD COLUMN "f_${name}" ${type}`)
      await c.run(`INSERT INTO fields VALUES ('${name}', '${kind}', 0)`)
    }
    const columns = Object.keys(fields).map((name) => `f_${name}`)
    const fixed = 'device, boot, seq, idx, ts, device_ts, recv_ts, offset_ns, crc, tags, stored_ts, newest_ts'
    await c.run(`INSERT INTO readings (${fixed}, ${columns.join(', ')}) ${select}`)
  })
  return { seconds: (performance.now() - t0) / 1000, storeMB: statSync(path).size / 1e6 }
}
