/**
 * The catalog's table (catalog.ts): read back at open, brought up to date
 * from the readings stored after its checkpoint, and saved.
 */

import { type DuckDBConnection, type DuckDBValue, listValue } from '@duckdb/node-api'
import { Catalog, type DeviceEntry } from './catalog.js'
import { CATALOG_CHECKPOINT, DEVICES, FIELDS, FIELDS_COLUMN, READINGS, sqlString } from './schema.js'

type Row = [string, bigint, bigint, bigint, bigint, number[]]

/**
 * The catalog of the file: its saved rows, plus the readings stored after
 * their checkpoint (all of them in a file of a release without a catalog),
 * saved at once when there were any, so that they are read only once.
 */
export async function loadCatalog(w: DuckDBConnection, lastStoredTs: bigint): Promise<Catalog> {
  const catalog = new Catalog()
  const added = await w.runAndReadAll(`SELECT id, added_ns FROM ${FIELDS}`)
  catalog.fieldsAdded(
    (added.getRowsJS() as Array<[number, bigint | null]>).map(([id, ns]) => [Number(id), ns]),
  )
  const saved = await w.runAndReadAll(
    `SELECT device, first_ts, last_ts, last_recv_ts, readings, fields FROM ${DEVICES}`,
  )
  for (const row of saved.getRowsJS() as Row[]) catalog.merge(row[0], entry(row))
  catalog.saved()
  const checkpoint = await w.runAndReadAll(
    `SELECT stored_ts FROM checkpoints WHERE name = ${sqlString(CATALOG_CHECKPOINT)}`,
  )
  const since = (checkpoint.getRowsJS()[0]?.[0] as bigint | undefined) ?? null
  // The zone maps of stored_ts skip every row group before the checkpoint.
  const tail = await w.runAndReadAll(
    `SELECT device, min(ts), max(ts), max(recv_ts), count(*),
       list_distinct(flatten(list(DISTINCT map_keys(${FIELDS_COLUMN}))))
     FROM ${READINGS} ${since === null ? '' : `WHERE stored_ts > ${since}`} GROUP BY device`,
  )
  const rows = tail.getRowsJS() as Row[]
  for (const row of rows) catalog.merge(row[0], entry(row))
  // Not saved (a full disk, say): the rows stay to be saved with the next save.
  if (rows.length > 0 || since === null) await saveCatalog(w, catalog, lastStoredTs).catch(() => undefined)
  return catalog
}

/**
 * The first event time of each device `catalog.trimmed()` names, from its
 * readings (retention deleted its oldest): the zone maps of ts let the
 * first query read only the day after the horizon; a device with no reading
 * in that day is looked for in all.
 */
export async function refreshFirstTs(
  w: DuckDBConnection,
  catalog: Catalog,
  horizonNs: bigint,
): Promise<void> {
  let devices = catalog.trimmed()
  for (const upTo of [horizonNs + DAY_NS, null]) {
    if (devices.length === 0) return
    const rows = await w.runAndReadAll(
      `SELECT device, min(ts) FROM ${READINGS}
       WHERE ts >= $1 ${upTo === null ? '' : `AND ts < ${upTo}`} AND list_contains($2::VARCHAR[], device)
       GROUP BY device`,
      [horizonNs, listValue(devices)],
    )
    for (const [device, ts] of rows.getRowsJS() as Array<[string, bigint]>) catalog.firstTs(device, ts)
    devices = catalog.trimmed()
  }
}

const DAY_NS = 86_400_000_000_000n

/**
 * Writes the devices changed since the last save, and the checkpoint they
 * are exact to (the last stored_ts committed), in one transaction. The
 * caller holds the write connection: no commit runs meanwhile.
 */
export async function saveCatalog(w: DuckDBConnection, catalog: Catalog, storedTs: bigint): Promise<void> {
  const listed = catalog.changed()
  // A device retention emptied has no entry: its row goes, no row comes back.
  const changed = listed.filter((c): c is [string, DeviceEntry] => c[1] !== undefined)
  const devices = listValue(changed.map(([device]) => device))
  const column = (get: (e: DeviceEntry) => DuckDBValue) => listValue(changed.map(([, e]) => get(e)))
  await w.run('BEGIN TRANSACTION')
  try {
    if (listed.length > 0)
      await w.run(`DELETE FROM ${DEVICES} WHERE list_contains($1::VARCHAR[], device)`, [
        listValue(listed.map(([device]) => device)),
      ])
    if (changed.length > 0) {
      await w.run(
        `INSERT INTO ${DEVICES} SELECT unnest($1::VARCHAR[]), unnest($2::BIGINT[]), unnest($3::BIGINT[]),
           unnest($4::BIGINT[]), unnest($5::UBIGINT[]), unnest($6::UINTEGER[][])`,
        [
          devices,
          column((e) => e.firstTsNs),
          column((e) => e.lastTsNs),
          column((e) => e.lastRecvTsNs),
          column((e) => BigInt(e.readings)),
          column((e) => listValue(e.fields)),
        ],
      )
    }
    await w.run(`INSERT OR REPLACE INTO checkpoints VALUES (${sqlString(CATALOG_CHECKPOINT)}, ${storedTs})`)
    await w.run('COMMIT')
  } catch (err) {
    await w.run('ROLLBACK').catch(() => undefined)
    throw err
  }
  catalog.saved()
}

function entry(row: Row) {
  return {
    firstTsNs: row[1],
    lastTsNs: row[2],
    lastRecvTsNs: row[3],
    readings: Number(row[4]),
    fields: row[5].map(Number),
  }
}
