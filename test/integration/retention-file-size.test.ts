/**
 * What DuckDB does with the file under steady load plus retention (issue 24):
 * a store is filled day by day with readings of past event times, the
 * retention job runs after each simulated day with its clock at that day's
 * end, and the file's size is recorded. DuckDB reuses blocks freed by
 * deletes after a checkpoint, and cuts the file only where free blocks are
 * at its end; the figures say whether it stops growing. Larger runs: RETENTION_DAYS, RETENTION_DAY_ROWS;
 * readings out of event-time order: RETENTION_LATE_PERCENT (docs/operations.md).
 */

import { statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Reading } from '../../src/core/telemetry.js'
import { retentionJob } from '../../src/jobs/index.js'
import { DuckDBStore } from '../../src/store/index.js'
import { tempDir } from '../helpers/app.js'

const DAY_NS = 86_400_000_000_000n
const START_NS = 1_700_000_000_000_000_000n
const DAYS = Number(process.env.RETENTION_DAYS ?? 8)
const DAY_ROWS = Number(process.env.RETENTION_DAY_ROWS ?? 40_000)
const RETAIN_DAYS = 2
const DEVICES = 50
const BATCH = 5_000
/** Of every 100 readings after the first day, how many arrive a day late (event time in the day before). */
const LATE_PERCENT = Number(process.env.RETENTION_LATE_PERCENT ?? 0)

function reading(seq: number, dayStartNs: bigint): Reading {
  const late = dayStartNs > START_NS && seq % 100 < LATE_PERCENT
  const tsNs = dayStartNs - (late ? DAY_NS : 0n) + (BigInt(seq % DAY_ROWS) * DAY_NS) / BigInt(DAY_ROWS)
  return {
    device: `dev-${seq % DEVICES}`,
    boot: 0,
    seq,
    idx: 0,
    tsNs,
    newestTsNs: tsNs,
    deviceTsNs: tsNs,
    recvTsNs: tsNs,
    offsetNs: 0n,
    crc: seq,
    tags: null,
    fields: [
      { name: 'temp', kind: 'float', value: 20 + Math.sin(seq) },
      { name: 'hum', kind: 'float', value: 50 + Math.cos(seq) },
      { name: 'count', kind: 'int', value: BigInt(seq) },
      { name: 'on', kind: 'bool', value: seq % 2 === 0 },
    ],
  }
}

const sizeMb = (path: string): number => {
  try {
    return statSync(path).size / 1e6
  } catch {
    return 0
  }
}

t.test('retention - the file stops growing once retention deletes as much a day as comes in', async (t) => {
  const dir = tempDir(t)
  const store = await DuckDBStore.open(dir, { memoryMb: 256 })
  t.teardown(() => store.close())
  const file = join(dir, 'telemetry.duckdb')
  const start = START_NS
  let simulatedNow = start
  // Each slice timed: how long it holds the store's writer, and so ingest's commits.
  const sliceMs: number[] = []
  const timed = {
    async deleteOlderThan(...args: Parameters<DuckDBStore['deleteOlderThan']>) {
      const started = performance.now()
      try {
        return await store.deleteOlderThan(...args)
      } finally {
        sliceMs.push(performance.now() - started)
      }
    },
  }
  const job = retentionJob(timed, {
    schedule: 'off',
    retainRawNs: BigInt(RETAIN_DAYS) * DAY_NS,
    retainDeadLettersNs: BigInt(RETAIN_DAYS) * DAY_NS,
    nowNs: () => simulatedNow,
  })
  const sizes: string[] = []
  /** The file once the first day has been deleted: in event-time order, it grows no more. */
  let firstDeleteMb = 0
  let seq = 0
  let deleted = 0
  let fields = true
  for (let day = 0; day < DAYS; day++) {
    const dayStart = start + BigInt(day) * DAY_NS
    for (let n = 0; n < DAY_ROWS; n += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, DAY_ROWS - n) }, () => reading(seq++, dayStart))
      const newFields = fields ? batch[0]!.fields.map((f) => ({ name: f.name, kind: f.kind })) : []
      fields = false
      await store.commit(batch, [], newFields)
    }
    simulatedNow = dayStart + DAY_NS
    sliceMs.length = 0
    const started = performance.now()
    const { rows } = await job.run(new AbortController().signal)
    const ms = performance.now() - started
    const wal = sizeMb(`${file}.wal`)
    await store.checkpointWal()
    const kept = await store.backlog(0n)
    // Days (day - RETAIN_DAYS, day] are kept whole: exactly what is older goes.
    deleted += rows
    if (LATE_PERCENT === 0) {
      t.equal(kept, Math.min(day + 1, RETAIN_DAYS) * DAY_ROWS, `day ${day}: rows kept`)
      t.equal(rows, day >= RETAIN_DAYS ? DAY_ROWS : 0, `day ${day}: rows deleted`)
    } else t.equal(kept + deleted, (day + 1) * DAY_ROWS, `day ${day}: every row kept or deleted`)
    const fileMb = sizeMb(file)
    if (day === RETAIN_DAYS) firstDeleteMb = fileMb
    if (LATE_PERCENT === 0 && day > RETAIN_DAYS)
      t.ok(
        fileMb <= firstDeleteMb,
        `day ${day}: the file (${fileMb} MB) is no larger than after the first delete`,
      )
    sizes.push(
      `day ${day}: kept ${kept} rows, deleted ${rows} in ${ms.toFixed(0)} ms (${sliceMs.length} slices, longest ${Math.max(...sliceMs).toFixed(0)} ms); WAL before checkpoint ${wal.toFixed(1)} MB; file after checkpoint ${fileMb.toFixed(1)} MB`,
    )
  }
  t.comment(
    `${DAY_ROWS} readings a day (4 fields, ${DEVICES} devices, ${LATE_PERCENT}% a day late), ${RETAIN_DAYS} days retained:\n${sizes.join('\n')}`,
  )
})
