/** The device simulator against the real app: what it reports acknowledged is what the store holds. */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { encodeReading, float, runSimulation, wrapEnvelope } from '../../simulators/index.js'
import { startTestApp, VECTORS_DIR } from '../helpers/app.js'
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
  const summary = await runSimulation({
    devices: 5,
    ratePerSecond: 20,
    durationMs: 1500,
    url: `mqtt://127.0.0.1:${app.mqttPort}`,
    idPrefix: 'simtest-',
    onAck: (device, seq) => acked.set(device, [...(acked.get(device) ?? []), seq]),
  })
  t.equal(summary.errors, 0)
  t.ok(summary.acknowledged > 0)
  t.equal(summary.acknowledged, summary.sent, 'all acknowledged')
  for (const [device, seqs] of acked) {
    const stored = (await readings(app.httpPort, `simtest-${device}`)).map((r) => r.seq)
    t.same(
      stored.sort((a, b) => a - b),
      seqs.sort((a, b) => a - b),
      `simtest-${device}`,
    )
  }
})
