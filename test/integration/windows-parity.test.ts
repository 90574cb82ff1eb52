/**
 * Training/serving parity (issue 4): a recorded stream, with out-of-order,
 * late, tied and batched readings and a backlog flushed after an outage, goes through the live path (MQTT → bridge
 * → feature engine → SSE over h2c); every window the live stream closed is
 * then asked of GET /v1/windows, which computes it in DuckDB. Every value
 * must be equal to the last bit.
 */

import { writeFileSync } from 'node:fs'
import { connect as http2Connect } from 'node:http2'
import { join } from 'node:path'
import { encode } from 'cbor-x'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { getJson } from '../helpers/http.js'
import { dataOf, h2Get, SseReader } from '../helpers/sse.js'

const FEATURES = {
  features: [
    {
      name: 't_tumble',
      field: 'temp',
      window: { size: '2s' },
      aggregations: ['count', 'mean', 'min', 'max', 'sum', 'std', 'first', 'last', 'rate'],
      grace: '500ms',
    },
    {
      name: 't_slide',
      field: 'temp',
      window: { size: '4s', hop: '1s' },
      aggregations: ['count', 'mean', 'std', 'first', 'last', 'rate'],
      grace: '1s',
    },
    { name: 'door', field: 'door', window: { size: '1s' }, aggregations: ['mean', 'count'] },
    {
      name: 'n',
      field: 'n',
      window: { size: '2s' },
      aggregations: ['sum', 'min', 'max', 'rate'],
      grace: '200ms',
    },
  ],
}
const COLUMNS: Record<string, string[]> = {
  t_tumble: FEATURES.features[0]!.aggregations.map((a) => `temp_${a}_2s`),
  t_slide: FEATURES.features[1]!.aggregations.map((a) => `temp_${a}_4s`),
  door: ['door_mean_1s', 'door_count_1s'],
  n: ['n_sum_2s', 'n_min_2s', 'n_max_2s', 'n_rate_2s'],
}

interface FeatureData {
  device: string
  feature: string
  window_end: string
  values: Record<string, number | null>
  closed_by: string
}

/** A seeded generator (mulberry32): the same stream on every run. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test(
  'windows - every window the live stream closed is what /v1/windows computes, to the last bit',
  async (t) => {
    const dir = tempDir(t)
    const featuresPath = join(dir, 'features.json')
    writeFileSync(featuresPath, JSON.stringify(FEATURES))
    const app = await startTestApp(t, { featuresPath })

    const session = http2Connect(`http://127.0.0.1:${app.httpPort}`)
    session.on('error', () => undefined)
    t.teardown(() => session.destroy())
    const devices = ['p0', 'p1', 'p2', 'p3', 'p4']
    const clients: MqttClient[] = []
    for (const d of devices) {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, {
        clientId: d,
        reconnectPeriod: 0,
      })
      t.teardown(() => c.endAsync(true))
      clients.push(c)
    }
    const { stream } = await h2Get(session, '/v1/stream/features?device=*')
    t.teardown(() => stream.destroy())
    const live = new SseReader(stream)

    // The recording: 4 devices, 20 messages/s each for 10 s. Most carry the
    // send time; some are out of order within grace, some late past it, some
    // repeat the previous time, some carry a batch of three samples.
    const next = random(20261126)
    const seqs = devices.map(() => 0)
    const lastTs = devices.map(() => 0)
    const temps = devices.map((_, i) => 20 + i)
    const faults = { outOfOrder: 0, late: 0, tie: 0, batch: 0 }
    const started = Date.now()
    const pending: Promise<unknown>[] = []
    // p4 is back from an outage (issue 19): it flushes the 10 s it buffered,
    // oldest first, as fast as the link takes them, then goes on live.
    const p4 = devices.indexOf('p4')
    for (let k = 0; k < 100; k++) {
      const ts = started - 10_000 + k * 100
      const payload = encodeMessage({
        seq: ++seqs[p4]!,
        boot: 1,
        ts,
        fields: { temp: float(30 + k / 10), n: k },
      })
      pending.push(clients[p4]!.publishAsync('devices/p4/telemetry', payload, { qos: 1 }))
      lastTs[p4] = ts
    }
    for (let tick = 0; tick < 200; tick++) {
      await sleep(Math.max(0, started + tick * 50 - Date.now()))
      devices.forEach((device, i) => {
        const now = Date.now()
        const roll = next()
        let ts = now
        if (roll < 0.08) {
          ts = now - 100 - Math.floor(next() * 300)
          faults.outOfOrder++
        } else if (roll < 0.13) {
          ts = now - 2500 - Math.floor(next() * 1500)
          faults.late++
        } else if (roll < 0.18 && lastTs[i]! > 0) {
          ts = lastTs[i]!
          faults.tie++
        }
        lastTs[i] = ts
        temps[i] = temps[i]! + (next() - 0.5) * 0.8
        const sample = () => ({
          temp: temps[i]! + next() * 0.01,
          door: next() < 0.3,
          n: Math.floor(next() * 1000),
        })
        let payload: Buffer
        if (roll > 0.95) {
          faults.batch++
          const s = [0, 1, 2].map((k) => ({ ts: ts - 20 + k * 10, m: sample() }))
          payload = Buffer.from(encode({ v: 1, seq: ++seqs[i]!, boot: 1, s }))
        } else {
          const m = sample()
          payload = encodeMessage({ seq: ++seqs[i]!, boot: 1, ts, fields: { ...m, temp: float(m.temp) } })
        }
        pending.push(clients[i]!.publishAsync(`devices/${device}/telemetry`, payload, { qos: 1 }))
      })
    }
    await Promise.all(pending)
    // One reading per device well after the rest closes every window that holds any of them.
    await sleep(5_500)
    await Promise.all(
      devices.map((device, i) =>
        clients[i]!.publishAsync(
          `devices/${device}/telemetry`,
          encodeMessage({ seq: ++seqs[i]!, boot: 1, ts: Date.now(), fields: { temp: float(0.5) } }),
          { qos: 1 },
        ),
      ),
    )
    // Events leave on the tick after the commit; wait until the stream has been quiet a while.
    let seen = -1
    for (let k = 0; k < 50 && seen !== live.events.length; k++) {
      seen = live.events.length
      await sleep(300)
    }

    const windows = dataOf<FeatureData>(live.events, 'feature')
    const late = dataOf(live.events, 'late')
    const backlogWindows = windows.filter(
      (w) =>
        w.device === 'p4' &&
        w.feature === 't_tumble' &&
        Date.parse(w.window_end) - 2_000 >= started - 10_000 &&
        Date.parse(w.window_end) <= started,
    )
    t.ok(backlogWindows.length >= 4, `${backlogWindows.length} windows of p4's backlog closed live`)
    t.same(
      backlogWindows.map((w) => w.values.count),
      backlogWindows.map(() => 20),
      "each holds the backlog's 20 readings: none moved, none late",
    )
    t.ok(
      faults.outOfOrder > 20 && faults.late > 10 && faults.tie > 10 && faults.batch > 10,
      JSON.stringify(faults),
    )
    t.ok(late.length > 10, `the live engine reported ${late.length} late readings`)
    t.ok(windows.length > 100, `${windows.length} windows closed live`)
    t.ok(
      windows.every((w) => w.closed_by === 'watermark'),
      'every window closed by the watermark',
    )

    const from = new Date(started - 10_000).toISOString()
    const to = new Date(Date.now() + 10_000).toISOString()
    const { status, body } = await getJson<{ windows: Array<Record<string, number | string | null>> }>(
      app.httpPort,
      `/v1/windows?device=*&from=${from}&to=${to}`,
    )
    t.equal(status, 200)
    const rows = new Map(body.windows.map((r) => [`${r.device} ${r.window_end}`, r]))

    // Live → history: each closed window's values, bit for bit (=== on the parsed doubles).
    const mismatches: string[] = []
    let compared = 0
    for (const w of windows) {
      const row = rows.get(`${w.device} ${w.window_end}`)
      for (const [aggregation, value] of Object.entries(w.values)) {
        const column = COLUMNS[w.feature]!.find((c) => c.split('_')[1] === aggregation)!
        compared++
        if (row === undefined || row[column] !== value)
          mismatches.push(`${w.device} ${w.window_end} ${column}: live ${value}, history ${row?.[column]}`)
      }
    }
    t.same(mismatches.slice(0, 20), [], `${compared} values compared, ${mismatches.length} differ`)

    // History → live: history has no window the live stream did not close
    // (up to the newest each device's feature closed live).
    const liveKeys = new Set(windows.map((w) => `${w.device} ${w.feature} ${w.window_end}`))
    const newestLive = new Map<string, string>()
    for (const w of windows) {
      const k = `${w.device} ${w.feature}`
      if ((newestLive.get(k) ?? '') < w.window_end) newestLive.set(k, w.window_end)
    }
    const extra: string[] = []
    for (const row of body.windows)
      for (const [feature, columns] of Object.entries(COLUMNS)) {
        if (row[columns[0]!] === null) continue
        const end = row.window_end as string
        if (end > (newestLive.get(`${row.device} ${feature}`) ?? '')) continue
        if (!liveKeys.has(`${row.device} ${feature} ${end}`)) extra.push(`${row.device} ${feature} ${end}`)
      }
    t.same(extra, [], 'every history window up to the newest closed live was emitted live')
  },
)
