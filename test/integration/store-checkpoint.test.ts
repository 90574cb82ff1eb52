/**
 * The store keeps DuckDB's checkpoints small (src/store/duckdb-store.ts): its
 * write-ahead log is moved into the database file once it passes 2 MB, and
 * the table is written in row groups of 16,384 rows. With DuckDB's defaults
 * (16 MB, 122,880 rows) a checkpoint held every commit for 60-200 ms at
 * 10,000 readings/s.
 */

import { statSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import type { Reading } from '../../src/core/telemetry.js'
import { DuckDBStore } from '../../src/store/duckdb-store.js'
import { tempDir } from '../helpers/app.js'
import { storeReading } from '../helpers/store.js'

const BATCHES = 50
const BATCH = 1000

function batch(b: number): Reading[] {
  return Array.from({ length: BATCH }, (_, k) => storeReading(b * BATCH + k, 100))
}

t.test('store - the WAL is checkpointed at 2 MB, into row groups of 16,384 rows', async (t) => {
  const dir = tempDir(t)
  const wal = join(dir, 'telemetry.duckdb.wal')
  const walBytes = (): number => {
    try {
      return statSync(wal).size
    } catch {
      return 0 // none between a checkpoint and the next commit
    }
  }
  const store = await DuckDBStore.open(dir)
  let largestWal = 0
  let shrank = 0
  for (let b = 0; b < BATCHES; b++) {
    const before = walBytes()
    const fields =
      b === 0
        ? [
            { name: 'temp', kind: 'float' as const },
            { name: 'count', kind: 'int' as const },
          ]
        : []
    await store.commit(batch(b), [], fields)
    const after = walBytes()
    if (after < before) shrank++
    largestWal = Math.max(largestWal, after)
  }
  const written = BATCHES * BATCH
  t.ok(shrank >= 2, `the WAL was checkpointed during ingest (${shrank} times)`)
  // A checkpoint runs once a commit takes the WAL past 2 MB: one batch (~0.2 MB) over at most.
  t.ok(largestWal < 2.5 * 1024 * 1024, `the WAL stayed under 2.5 MB (largest ${largestWal} bytes)`)
  await store.close()

  const db = await DuckDBInstance.create(join(dir, 'telemetry.duckdb'))
  t.teardown(() => db.closeSync())
  const c = await db.connect()
  const groups = (
    await c.runAndReadAll(
      `SELECT row_group_id, sum(count) FROM pragma_storage_info('readings')
       WHERE column_name = 'seq' AND segment_type <> 'VALIDITY' GROUP BY ALL ORDER BY 1`,
    )
  ).getRowsJS() as [bigint, bigint][]
  t.equal(
    groups.reduce((n, [, rows]) => n + Number(rows), 0),
    written,
    'every reading is in the table',
  )
  t.ok(
    groups.every(([, rows]) => rows <= 16_384n),
    `no row group holds more than 16,384 rows (${groups.map(([, r]) => r).join(', ')})`,
  )
  t.ok(groups.length >= Math.ceil(written / 16_384), `${groups.length} row groups`)
  c.closeSync()
})
