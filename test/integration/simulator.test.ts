/**
 * The device simulator against the real app: what it reports acknowledged is
 * what the store holds; and a fleet with every fault on passes `verify`,
 * which then catches a reading deleted from the store.
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import {
  encodeReading,
  FAULTS,
  float,
  readTruth,
  runSimulation,
  wrapEnvelope,
  writeTruth,
} from '../../simulators/index.js'
import { verifyRun } from '../../simulators/verify.js'
import { startTestApp, tempDir, VECTORS_DIR } from '../helpers/app.js'
import { readings } from '../helpers/http.js'

t.test('simulator - its encoder writes the wire-format document examples byte for byte', async (t) => {
  const p = encodeReading({ seq: 1, ts: 1764115200000, fields: { temp: float(21.5) } })
  t.equal(
    p.toString('hex'),
    readFileSync(join(VECTORS_DIR, '01-minimal.cbor')).toString('hex'),
    'docs: a minimal reading',
  )
  t.equal(
    wrapEnvelope(p).toString('hex'),
    readFileSync(join(VECTORS_DIR, '02-wrapped.cbor')).toString('hex'),
    'docs: the envelope',
  )
  t.equal(
    encodeReading({ seq: 1, fields: { temp: float(20) } })
      .subarray(-9)
      .toString('hex'),
    'fb4034000000000000',
    '20.0 stays a float64',
  )
})

t.test('simulator - every reading it saw acknowledged is stored once', async (t) => {
  const app = await startTestApp(t)
  const acked = new Map<number, number[]>()
  const latencies: number[] = []
  const summary = await runSimulation({
    devices: 5,
    ratePerSecond: 20,
    durationMs: 1500,
    url: `mqtt://127.0.0.1:${app.mqttPort}`,
    idPrefix: 'simtest-',
    onAck: (device, seq, latencyMs) => {
      acked.set(device, [...(acked.get(device) ?? []), seq])
      latencies.push(latencyMs)
    },
  })
  t.equal(summary.errors, 0)
  t.ok(summary.acknowledged > 0)
  t.equal(summary.acknowledged, summary.sent, 'all acknowledged')
  t.equal(latencies.length, summary.acknowledged, 'onAck once per acknowledgement')
  t.ok(
    latencies.every((ms) => ms >= 0 && ms <= summary.latency.maxMs),
    'onAck gives each publish-to-PUBACK latency, within the summary’s',
  )
  for (const [device, seqs] of acked) {
    const stored = (await readings(app.httpPort, `simtest-${device}`)).map((r) => r.seq)
    t.same(
      stored.sort((a, b) => a - b),
      seqs.sort((a, b) => a - b),
      `simtest-${device}`,
    )
  }
})

t.test(
  'simulator - 100 devices with every fault for 20 s: verify passes, then catches a deleted reading',
  async (t) => {
    const dataDir = tempDir(t)
    let app = await startTestApp(t, { dataDir, deviceAuth: 'client-id' })
    const rates = Object.fromEntries(FAULTS.map((f) => [f, 0.01]))
    const summary = await runSimulation({
      devices: 100,
      ratePerSecond: 10,
      durationMs: 20_000,
      url: `mqtt://127.0.0.1:${app.mqttPort}`,
      idPrefix: 'fleet-',
      // Clock faults are per device and storms per second: rates that make them happen in 20 s.
      faults: { ...rates, skew: 0.1, drift: 0.1, reconnect_storm: 0.1, offline: 0.01 },
      keepTruth: true,
      drainTimeoutMs: 30_000,
    })
    t.equal(summary.errors, 0, `no errors: ${summary.errorSamples.join('; ')}`)
    t.equal(summary.unacknowledged, 0, 'every reading sent was acknowledged')
    t.equal(summary.heldBack, 0)
    for (const f of FAULTS) t.ok((summary.injected[f] ?? 0) > 0, `${f} was injected`)

    // Through the file, as the command line does.
    const path = join(tempDir(t), 'truth.ndjson')
    await writeTruth(path, summary.truth!.header, summary.truth!.entries)
    const truth = await readTruth(path)
    t.equal(truth.entries.length, 100 * 200, 'one entry per reading made')

    const httpUrl = (port: number) => `http://127.0.0.1:${port}`
    const clean = await verifyRun(httpUrl(app.httpPort), truth)
    t.same(clean.failures, [], 'no failure')
    t.ok(clean.ok, 'verify passes')
    t.same(clean.rows.map((r) => r.fault).sort(), ['none', ...FAULTS].sort(), 'every fault is in the table')
    t.ok(clean.times.checked > 1000, `event times checked against device times: ${clean.times.checked}`)
    t.ok(clean.deadLetters.expected > 100, 'refusals expected')

    // Delete one stored reading behind the app's back.
    const victim = truth.entries.find((e) => e.x === 'stored' && e.f.length === 0)!
    await app.close()
    const db = await DuckDBInstance.create(join(dataDir, 'telemetry.duckdb'))
    const c = await db.connect()
    const deleted = await c.run(`DELETE FROM readings WHERE device = '${victim.d}' AND seq = ${victim.s}`)
    t.equal(deleted.rowsChanged, 1, 'one row deleted')
    c.closeSync()
    db.closeSync()
    app = await startTestApp(t, { dataDir, deviceAuth: 'client-id' })

    const broken = await verifyRun(httpUrl(app.httpPort), truth)
    t.notOk(broken.ok, 'verify fails')
    t.same(broken.failures, [`${victim.d}/${victim.s} (no fault): acknowledged but not stored`])
    t.equal(broken.rows.find((r) => r.fault === 'none')?.failed, 1)
  },
)
