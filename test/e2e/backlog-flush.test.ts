/**
 * Issue 19's reproduction, with an outside publisher: a device back from a
 * one-minute outage flushes what it buffered, oldest first, as
 * store-and-forward firmware does: 300 readings stamped 200 ms apart over the
 * last 60 s, one mosquitto_pub (QoS 1) each at about 40 messages/s. Every
 * reading must keep its device time, none may count as late, and the
 * temp_10s windows of /v1/windows and of the live stream must equal the
 * readings' own aggregates.
 */

import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect as http2Connect } from 'node:http2'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { encodeMessage, float } from '../../simulators/encode.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { getJson, metric, readings } from '../helpers/http.js'
import { dataOf, h2Get, SseReader } from '../helpers/sse.js'

const run = promisify(execFile)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** temp_10s of features.default.json: tumbling 10 s windows, grace 2 s. */
const WINDOW_MS = 10_000
const AGGREGATIONS = ['count', 'mean', 'min', 'max', 'std'] as const

type Aggregates = Record<(typeof AGGREGATIONS)[number], number | null>

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

/** temp_10s of readings, computed here from their device times, by window end. */
function expectedWindows(points: ReadonlyArray<{ ts: number; temp: number }>): Map<string, Aggregates> {
  const groups = new Map<number, number[]>()
  for (const p of points) {
    const end = Math.floor(p.ts / WINDOW_MS) * WINDOW_MS + WINDOW_MS
    groups.set(end, [...(groups.get(end) ?? []), p.temp])
  }
  const out = new Map<string, Aggregates>()
  for (const [end, xs] of groups) {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length
    const m2 = xs.reduce((a, x) => a + (x - mean) ** 2, 0)
    out.set(rfc3339(end), {
      count: xs.length,
      mean,
      min: Math.min(...xs),
      max: Math.max(...xs),
      std: xs.length < 2 ? null : Math.sqrt(m2 / (xs.length - 1)),
    })
  }
  return out
}

/** The differences between windows and the expected ones, within float summation error. */
function differences(got: Map<string, Record<string, unknown>>, want: Map<string, Aggregates>): string[] {
  const out: string[] = []
  for (const [end, w] of want) {
    const row = got.get(end)
    if (row === undefined) {
      out.push(`${end}: missing`)
      continue
    }
    for (const a of AGGREGATIONS) {
      const value = row[a] as number | null | undefined
      const expected = w[a]
      const same =
        value === null || value === undefined || expected === null
          ? value === expected
          : Math.abs(value - expected) <= 1e-9 * Math.max(1, Math.abs(expected))
      if (!same) out.push(`${end} ${a}: ${value}, expected ${expected}`)
    }
  }
  for (const end of got.keys()) if (!want.has(end)) out.push(`${end}: unexpected window`)
  return out
}

t.test('e2e - a backlog flushed after an outage keeps its device times and fills its windows', async (t) => {
  if (!haveProgram(t, 'mosquitto_pub', 'mosquitto-clients')) return
  const app = await startTestApp(t)
  const dir = tempDir(t)
  const session = http2Connect(`http://127.0.0.1:${app.httpPort}`)
  session.on('error', () => undefined)
  t.teardown(() => session.destroy())
  const { stream } = await h2Get(session, '/v1/stream/features?device=*&feature=temp_10s')
  t.teardown(() => stream.destroy())
  const live = new SseReader(stream)

  const publish = async (seq: number, ts: number, temp: number): Promise<string> => {
    const file = join(dir, `${seq}.cbor`)
    writeFileSync(file, encodeMessage({ seq, boot: 1, ts, fields: { temp: float(temp) } }))
    const port = String(app.mqttPort)
    const args = [
      '-h',
      '127.0.0.1',
      '-p',
      port,
      '-q',
      '1',
      '-i',
      'meter-9',
      '-t',
      'devices/meter-9/telemetry',
    ]
    return (await run('mosquitto_pub', [...args, '-f', file], { timeout: 10_000 })).stderr
  }

  const started = Date.now()
  const backlog = Array.from({ length: 300 }, (_, i) => ({
    ts: started - 60_000 + i * 200,
    temp: 20 + 5 * Math.sin(i / 17) + (i % 7) * 0.01,
  }))
  const errors: string[] = []
  for (const [i, p] of backlog.entries()) {
    await sleep(Math.max(0, started + i * 25 - Date.now()))
    errors.push(await publish(i + 1, p.ts, p.temp))
  }
  const flushMs = Date.now() - started
  t.same(
    errors.filter((e) => e !== ''),
    [],
    `mosquitto_pub reports no error (300 messages in ${flushMs} ms)`,
  )

  const rows = await readings(app.httpPort, 'meter-9')
  t.equal(rows.length, 300, 'every reading stored')
  const moved = rows.filter((r) => r.ts !== r.device_ts || r.offset_ns !== 0)
  t.same(
    moved.map((r) => `seq ${r.seq}: ts ${r.ts}, device_ts ${r.device_ts}, offset ${r.offset_ns}`),
    [],
    'every reading stored at its device time, offset 0',
  )
  t.same(
    rows.map((r) => r.ts),
    backlog.map((p) => rfc3339(p.ts)),
    'in the order and at the times sent',
  )

  // Live readings again, once the backlog's last window is past its grace:
  // their times run ahead of the receive clock's pace since the flush, so the
  // watermark takes them once three have reached it (bridge/watermark.ts).
  const lastTs = backlog.at(-1)!.ts
  const closeAt = Math.floor(lastTs / WINDOW_MS) * WINDOW_MS + WINDOW_MS + 2_000
  await sleep(Math.max(0, closeAt - Date.now() + 100))
  for (let k = 0; k < 3; k++) errors.push(await publish(301 + k, Date.now(), 30))
  t.same(
    errors.filter((e) => e !== ''),
    [],
    'live readings published',
  )

  t.equal(await metric(app.httpPort, 'telemetry_readings_late_total'), 0, 'no reading late')
  t.equal(await metric(app.httpPort, 'feature_late_readings_total'), 0, 'no reading late for a feature')
  t.equal(await metric(app.httpPort, 'telemetry_clock_corrections_total'), 0, 'no time corrected')

  const want = expectedWindows(backlog)
  const from = rfc3339(Math.floor(backlog[0]!.ts / WINDOW_MS) * WINDOW_MS)
  const to = rfc3339(Math.floor(lastTs / WINDOW_MS) * WINDOW_MS + WINDOW_MS)
  const { status, body } = await getJson<{ windows: Array<Record<string, unknown>> }>(
    app.httpPort,
    `/v1/windows?device=meter-9&feature=temp_10s&from=${from}&to=${to}`,
  )
  t.equal(status, 200)
  const history = new Map(
    body.windows.map((w) => [
      w.window_end as string,
      Object.fromEntries(AGGREGATIONS.map((a) => [a, w[`temp_${a}_10s`]])),
    ]),
  )
  // The first window starts before the backlog, and so holds only part of its 10 s.
  t.equal(want.size, history.size, `${want.size} windows`)
  t.same(differences(history, want), [], '/v1/windows equals the readings’ own aggregates')

  // The live stream closed the same windows, with the same values.
  for (let k = 0; k < 50 && dataOf(live.events, 'feature').length < want.size; k++) await sleep(100)
  const windows = dataOf<{ window_end: string; values: Record<string, number | null>; closed_by: string }>(
    live.events,
    'feature',
  ).filter((w) => want.has(w.window_end))
  t.ok(
    windows.every((w) => w.closed_by === 'watermark'),
    'closed by the watermark',
  )
  t.same(
    differences(new Map(windows.map((w) => [w.window_end, w.values])), want),
    [],
    'the live stream sent the readings’ own aggregates',
  )
})
