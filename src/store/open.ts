/**
 * Opening the database file: DuckDB's settings, its tables made when
 * missing, its fields read back, and a file of an older layout brought up
 * to this one (migrate-wide.ts).
 */

import { mkdirSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import type { Catalog } from './catalog.js'
import { loadCatalog } from './catalog-sql.js'
import { fieldsOf, migrateWide, type WideMigration } from './migrate-wide.js'
import { DEFAULT_QUERY_LIMITS } from './query-gate.js'
import { type FieldRef, READINGS, readingsTableSql, STORE_TABLES_SQL, sqlString } from './schema.js'
import type { StoreMemory, StoreOptions } from './store.js'

/** What a store resumes from. */
export interface Opened {
  /** The fields, in id order. */
  readonly fields: FieldRef[]
  readonly nextDeadLetterId: bigint
  /** The stored_ts of the last reading committed. */
  readonly lastStoredTs: bigint
  /** What exists, up to date (catalog.ts). */
  readonly catalog: Catalog
}

/**
 * How often DuckDB moves its WAL into the database file, and in what units.
 * That checkpoint runs inside the commit that crosses the threshold, and no
 * other commit proceeds until it ends; it rewrites the table's last,
 * partly filled row group whole. With DuckDB's defaults (16 MB of WAL,
 * row groups of 122,880 rows) every ~14 s at 10,000 readings/s a commit
 * waited 60-200 ms, and every device's PUBACK and live event behind it.
 * Row groups of 16,384 rows and a 2 MB threshold keep each checkpoint's
 * work small: measured alone at that rate, the longest commit went from
 * 95 ms to 17 ms (docs/configuration.md).
 */
const CHECKPOINT_THRESHOLD = '2MB'
const ROW_GROUP_ROWS = 16_384

export interface Database {
  readonly instance: DuckDBInstance
  /** Writes go through this one, one at a time. */
  readonly write: DuckDBConnection
  /** Reads: they see committed data only. */
  readonly read: DuckDBConnection
  /** Parquet files being written or served; emptied at open. */
  readonly exportsDir: string
  readonly opened: Opened
  /** A new connection: each history query runs on its own (query-gate.ts). */
  connect(): Promise<DuckDBConnection>
}

/**
 * DuckDB's threads: each running history query computes on its own calling
 * thread, and `threads - 1` more are shared by all of them. With DuckDB's
 * default (one per core), `--max-queries` queries kept more threads busy
 * than there are cores while ingest and health checks waited (issue #21,
 * item 4); with this, queries keep at most `cores - 1` busy, leaving a core
 * to the event loop and the commits, or `--max-queries` of them when that
 * is more.
 */
export function queryThreads(maxRunning: number, cores = availableParallelism()): number {
  return Math.max(1, cores - maxRunning)
}

export async function openDatabase(dataDir: string, options: StoreOptions): Promise<Database> {
  mkdirSync(dataDir, { recursive: true })
  const exportsDir = join(dataDir, 'exports')
  rmSync(exportsDir, { recursive: true, force: true })
  mkdirSync(exportsDir)
  // A deliberate bound instead of DuckDB's default (80 % of the machine): a
  // history query larger than this spills to the data directory, it does
  // not grow the process.
  // The row group size is an option of ATTACH only, hence an in-memory
  // instance that attaches the file and makes it every connection's default.
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: `${options.memoryMb}MB`,
    temp_directory: join(dataDir, 'spill'),
    checkpoint_threshold: CHECKPOINT_THRESHOLD,
    threads: String(queryThreads(options.queries?.maxRunning ?? DEFAULT_QUERY_LIMITS.maxRunning)),
  })
  const connect = async (): Promise<DuckDBConnection> => {
    const connection = await instance.connect()
    await connection.run('USE telemetry')
    return connection
  }
  const setup = await instance.connect()
  await setup.run(
    `ATTACH ${sqlString(join(dataDir, 'telemetry.duckdb'))} AS telemetry (ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`,
  )
  setup.closeSync()
  const write = await connect()
  const read = await connect()
  return { instance, write, read, exportsDir, opened: await migrate(write), connect }
}

/**
 * Makes the tables a file lacks, brings one of an older layout to this one
 * (migrate-wide.ts), builds or updates its catalog (catalog-sql.ts), and
 * reads what a store resumes from.
 */
export async function migrate(w: DuckDBConnection, wide: WideMigration = {}): Promise<Opened> {
  const exists = await w.runAndReadAll(
    `SELECT count(*) FROM information_schema.tables WHERE table_name IN ('${READINGS}', 'readings_wide')`,
  )
  if ((exists.getRowsJS()[0]?.[0] as bigint) === 0n) await w.run(readingsTableSql(READINGS))
  await migrateWide(w, wide)
  for (const sql of STORE_TABLES_SQL) await w.run(sql)
  const maxId = await w.runAndReadAll('SELECT coalesce(max(id), 0) FROM dead_letters')
  const maxStored = await w.runAndReadAll(`SELECT coalesce(max(stored_ts), 0) FROM ${READINGS}`)
  const lastStoredTs = maxStored.getRowsJS()[0]?.[0] as bigint
  return {
    fields: await fieldsOf(w),
    nextDeadLetterId: (maxId.getRowsJS()[0]?.[0] as bigint) + 1n,
    lastStoredTs,
    catalog: await loadCatalog(w, lastStoredTs),
  }
}

/** What the database holds in memory now, and its limit. */
export async function storeMemory(read: DuckDBConnection): Promise<StoreMemory> {
  const reader = await read.runAndReadAll(
    "SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT, current_setting('memory_limit') FROM duckdb_memory()",
  )
  const [used, limit] = reader.getRows()[0] as [bigint, string]
  return { usedBytes: Number(used), limitBytes: parseDuckDBSize(limit) }
}

const SIZE_UNITS: Record<string, number> = {
  bytes: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
}

/** A size as DuckDB prints a setting, such as "953.6 MiB", in bytes (to its 0.1 of a unit). */
function parseDuckDBSize(text: string): number {
  const match = /^([\d.]+) ?(bytes|KiB|MiB|GiB|TiB)$/.exec(text)
  if (match === null) throw new Error(`not a DuckDB size: ${JSON.stringify(text)}`)
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2]!]!)
}
