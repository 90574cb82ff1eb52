/**
 * Retention through the running app: asked for over HTTP with an admin
 * token, it deletes exactly the readings and dead letters past their
 * horizons, and devices' QoS 1 publishes keep being acknowledged while it
 * deletes a large backlog. The store is filled before the app opens it.
 */

import { join } from 'node:path'
import mqtt from 'mqtt'
import t from 'tap'
import type { DeadLetter, Reading } from '../../src/core/telemetry.js'
import { runJobCommand } from '../../src/job.js'
import { DuckDBStore } from '../../src/store/index.js'
import { tempDir } from '../helpers/app.js'
import { call, makeToken, startSecured } from '../helpers/auth.js'
import { reading } from '../helpers/mqtt.js'

const HOUR_NS = 3_600_000_000_000n
const NOW_NS = BigInt(Date.now()) * 1_000_000n

function old(seq: number, tsNs: bigint): Reading {
  return {
    device: `old-${seq % 10}`,
    boot: 0,
    seq,
    idx: 0,
    tsNs,
    newestTsNs: tsNs,
    deviceTsNs: tsNs,
    recvTsNs: NOW_NS,
    offsetNs: 0n,
    crc: seq,
    tags: null,
    fields: [{ name: 'temp', kind: 'float', value: seq / 10 }],
  }
}

const letter = (recvTsNs: bigint): DeadLetter => ({
  recvTsNs,
  device: 'bad-1',
  topic: 'devices/bad-1/telemetry',
  reason: 'json_malformed',
  detail: 'test',
  payload: new Uint8Array([123]),
})

/** `stale` readings 25 h old and `fresh` ones 23 h old (retained 24 h); dead letters likewise. */
async function fill(dataDir: string, stale: number, fresh: number): Promise<void> {
  const store = await DuckDBStore.open(dataDir, { memoryMb: 256 })
  try {
    let first = true
    for (let seq = 0; seq < stale + fresh; seq += 50_000) {
      const n = Math.min(50_000, stale + fresh - seq)
      const batch = Array.from({ length: n }, (_, k) =>
        old(seq + k, NOW_NS - (seq + k < stale ? 25n : 23n) * HOUR_NS),
      )
      await store.commit(batch, [], first ? [{ name: 'temp', kind: 'float' }] : [])
      first = false
    }
    await store.commit(
      [],
      [letter(NOW_NS - 25n * HOUR_NS), letter(NOW_NS - 25n * HOUR_NS), letter(NOW_NS - HOUR_NS)],
      [],
    )
  } finally {
    await store.close()
  }
}

async function countStored(dataDir: string): Promise<{ readings: number; letters: number }> {
  const store = await DuckDBStore.open(dataDir, { memoryMb: 256 })
  try {
    const letters = await store.deadLetters({
      device: null,
      reason: null,
      ids: null,
      includeReplayed: true,
      limit: 100,
      afterId: 0n,
      payloadBytes: 0,
    })
    return { readings: await store.backlog(0n), letters: letters.length }
  } finally {
    await store.close()
  }
}

t.test(
  'retention - run over HTTP by an admin deletes exactly the rows past the horizons; a read token gets 403',
  async (t) => {
    const dataDir = join(tempDir(t), 'data')
    await fill(dataDir, 1234, 567)
    const { app, file } = await startSecured(t, {
      dataDir,
      retentionSchedule: 'off',
      retainRaw: '24h',
      retainDeadLetters: '1d',
    })
    const admin = makeToken(file, 'admin')
    const reader = makeToken(file, 'read')
    await app.reloadTokens()

    const refused = await call(app.httpPort, '/v1/admin/jobs/retention/run', {
      method: 'POST',
      token: reader,
    })
    t.equal(refused.status, 403)
    t.equal(refused.body.code, 'TLM_ERR_FORBIDDEN')
    t.equal((await call(app.httpPort, '/v1/admin/jobs', { token: reader })).status, 403)

    const run = await call(app.httpPort, '/v1/admin/jobs/retention/run', { method: 'POST', token: admin })
    t.equal(run.status, 200)
    t.match(run.body, {
      job: 'retention',
      trigger: 'asked',
      result: 'success',
      rows: 1236,
      detail: { readings: 1234, deadLetters: 2 },
    })

    const list = await call(app.httpPort, '/v1/admin/jobs', { token: admin })
    t.equal(list.status, 200)
    t.match(list.body, {
      jobs: [
        { name: 'retention', schedule: 'off', nextRunAt: null, running: false, lastRun: { rows: 1236 } },
      ],
    })
    t.equal(
      (await call(app.httpPort, '/v1/admin/jobs/compact/run', { method: 'POST', token: admin })).body.code,
      'TLM_ERR_NOT_FOUND',
    )

    // The command, as an operator runs it.
    const out: string[] = []
    const err: string[] = []
    const url = `http://127.0.0.1:${app.httpPort}`
    t.equal(
      await runJobCommand(
        ['run', 'retention', '--url', url],
        { TELEMETRY_TOKEN: admin },
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      0,
    )
    t.match(
      JSON.parse(out.join('\n')),
      { job: 'retention', result: 'success', rows: 0 },
      'nothing more to delete',
    )
    t.equal(
      await runJobCommand(
        ['run', 'retention', '--url', url, '--token', reader],
        {},
        () => {},
        (l) => err.push(l),
      ),
      1,
    )
    t.match(err.at(-1), /403 TLM_ERR_FORBIDDEN/)

    const text = await app.metrics.registry.metrics()
    t.match(text, /job_runs_total\{job="retention",result="success"\} 2/)
    t.match(text, /job_runs_total\{job="retention",result="skipped"\} 0/)
    t.match(text, /job_rows_total\{job="retention"\} 1236/)
    t.match(text, /job_duration_seconds_count\{job="retention"\} 2/)
    t.match(text, /job_last_success_timestamp_seconds\{job="retention"\} \d/)

    await app.close()
    t.same(await countStored(dataDir), { readings: 567, letters: 1 }, 'the fresh rows are all kept')
  },
)

t.test(
  'retention - devices are acknowledged while a large delete runs, and a second run is refused with 409',
  async (t) => {
    const dataDir = join(tempDir(t), 'data')
    // 40 slices (RETENTION_SLICE_ROWS).
    const stale = 800_000
    await fill(dataDir, stale, 0)
    const { app, file } = await startSecured(t, { dataDir, retentionSchedule: 'off', retainRaw: '1d' })
    const admin = makeToken(file, 'admin')
    await app.reloadTokens()
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { clientId: 'live-1' })
    t.teardown(() => client.endAsync())

    let finished = false
    const running = call(app.httpPort, '/v1/admin/jobs/retention/run', {
      method: 'POST',
      token: admin,
    }).finally(() => {
      finished = true
    })
    const end = Date.now() + 60_000
    while (!(await call(app.httpPort, '/v1/admin/jobs', { token: admin })).body.jobs)
      if (Date.now() > end) break
    let acked = 0
    let second: number | null = null
    for (let seq = 1; !finished && Date.now() < end; seq++) {
      await client.publishAsync('devices/live-1/telemetry', reading(seq, { temp: 1 }), { qos: 1 })
      if (!finished) acked++
      if (second === null && !finished)
        second = (await call(app.httpPort, '/v1/admin/jobs/retention/run', { method: 'POST', token: admin }))
          .status
    }
    const run = await running
    t.match(run.body, { result: 'success', detail: { readings: stale } })
    t.equal(second, 409, 'asked again while it ran')
    t.comment(
      `${acked} publishes acknowledged during a ${run.body.durationS} s retention run of ${stale} readings`,
    )
    t.ok(acked >= 5, `acknowledged while the run deleted (${acked})`)
  },
)

t.test(
  'retention - shutdown interrupts a run between slices: what it deleted is gone, the rest intact',
  async (t) => {
    const dataDir = join(tempDir(t), 'data')
    const stale = 800_000
    await fill(dataDir, stale, 100)
    const { app, file } = await startSecured(t, { dataDir, retentionSchedule: 'off', retainRaw: '1d' })
    const admin = makeToken(file, 'admin')
    await app.reloadTokens()
    const running = call(app.httpPort, '/v1/admin/jobs/retention/run', { method: 'POST', token: admin })
    const end = Date.now() + 30_000
    const list = async () =>
      (await call(app.httpPort, '/v1/admin/jobs', { token: admin })).body.jobs as Array<{ running: boolean }>
    while (!(await list())[0]!.running && Date.now() < end);
    await app.close()
    const run = (await running).body as { result: string; detail: { readings: number } }
    t.equal(run.result, 'interrupted', 'answered before the server closed')
    t.ok(run.detail.readings < stale, `stopped partway (${run.detail.readings} of ${stale})`)
    t.equal(run.detail.readings % 20_000, 0, 'whole slices')
    t.same(await countStored(dataDir), { readings: stale + 100 - run.detail.readings, letters: 3 })
  },
)
