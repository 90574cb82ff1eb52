/**
 * Ingest end to end through the real app: mqtt.js publishes, the reading is
 * read back over HTTP. Dedupe, type pinning, dead letters and replay.
 */

import { encode } from 'cbor-x'
import mqtt from 'mqtt'
import t from 'tap'
import { startTestApp, tempDir } from '../helpers/app.js'
import { getJson, metric, postJson, readings } from '../helpers/http.js'
import { reading } from '../helpers/mqtt.js'

async function client(port: number, clientId = `c-${Math.random()}`) {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId })
}

interface DeadLettersBody {
  deadLetters: Array<{
    id: number
    reason: string
    device: string | null
    payload: string
    replay_result: string | null
  }>
}

t.test('ingest - a QoS 1 reading is stored and read back as JSON, NDJSON and CSV', async (t) => {
  const app = await startTestApp(t)
  const c = await client(app.mqttPort)
  const ts = Date.now() - 1000
  await c.publishAsync(
    'devices/d1/telemetry',
    reading(1, { temp: 21.5, n: 3, on: true }, { ts, t: { site: 'a,b' } }),
    { qos: 1 },
  )
  await c.endAsync()

  const [r] = await readings(app.httpPort, 'd1')
  t.equal(r?.seq, 1)
  t.equal(r?.ts, new Date(ts).toISOString().replace('Z', '000000Z'))
  t.same(r?.fields, { temp: 21.5, n: 3, on: true })
  t.same(r?.tags, { site: 'a,b' })

  const nd = await (
    await fetch(`http://127.0.0.1:${app.httpPort}/v1/telemetry?device=d1&from=0&format=ndjson`)
  ).text()
  const lines = nd.trim().split('\n')
  t.equal(lines.length, 1)
  const line = JSON.parse(lines[0]!)
  for (const key of ['device', 'ts', 'seq', 'boot']) t.ok(key in line, `NDJSON line has ${key}`)

  const csv = await (
    await fetch(`http://127.0.0.1:${app.httpPort}/v1/telemetry?device=d1&from=0&format=csv&fields=temp`)
  ).text()
  const [header, row] = csv.trim().split('\n')
  t.equal(header, 'device,ts,boot,seq,idx,device_ts,recv_ts,offset_ns,temp,tags')
  t.match(row, /^d1,.*,0,1,0,.*,21\.5,"{""site"":""a,b""}"$/)
})

t.test('ingest - a QoS 2 reading is stored once', async (t) => {
  const app = await startTestApp(t)
  const c = await client(app.mqttPort)
  await c.publishAsync('devices/q2/telemetry', reading(1, { temp: 1.5 }), { qos: 2 })
  await c.endAsync()
  t.equal((await readings(app.httpPort, 'q2')).length, 1)
})

t.test(
  'ingest - a redelivered seq is acknowledged and stored once; a reused seq with other content is a dead letter',
  async (t) => {
    const app = await startTestApp(t)
    const c = await client(app.mqttPort)
    const first = reading(5, { temp: 20.5 })
    await c.publishAsync('devices/d2/telemetry', first, { qos: 1 })
    await c.publishAsync('devices/d2/telemetry', first, { qos: 1 })
    await c.publishAsync('devices/d2/telemetry', reading(5, { temp: 99.5 }), { qos: 1 })
    await c.endAsync()

    const rows = await readings(app.httpPort, 'd2')
    t.equal(rows.length, 1, 'stored once')
    t.equal(rows[0]?.fields.temp, 20.5, 'the first one is kept')
    t.equal(await metric(app.httpPort, 'telemetry_messages_duplicate_total'), 1)
    const dl = await getJson<DeadLettersBody>(app.httpPort, '/v1/dead-letters?device=d2')
    t.same(
      dl.body.deadLetters.map((d) => d.reason),
      ['duplicate_conflict'],
    )
  },
)

t.test('ingest - dedupe survives a restart on the same data dir', async (t) => {
  const dataDir = tempDir(t)
  const first = await startTestApp(t, { dataDir })
  let c = await client(first.mqttPort)
  for (let seq = 1; seq <= 3; seq++)
    await c.publishAsync('devices/r1/telemetry', reading(seq, { temp: seq + 0.5 }), { qos: 1 })
  await c.endAsync()
  await first.close()

  const second = await startTestApp(t, { dataDir })
  c = await client(second.mqttPort)
  // A device that restarts resends what it thinks was not acknowledged.
  for (let seq = 2; seq <= 5; seq++)
    await c.publishAsync('devices/r1/telemetry', reading(seq, { temp: seq + 0.5 }), { qos: 1 })
  await c.endAsync()
  t.same(
    (await readings(second.httpPort, 'r1')).map((r) => r.seq),
    [1, 2, 3, 4, 5],
  )
})

t.test(
  'ingest - a type conflict is a dead letter, replayable after the field type is configured',
  async (t) => {
    const dataDir = tempDir(t)
    const first = await startTestApp(t, { dataDir })
    const c = await client(first.mqttPort)
    await c.publishAsync('devices/tc/telemetry', reading(1, { level: 20 }), { qos: 1 })
    await c.publishAsync('devices/tc/telemetry', reading(2, { level: 20.5 }), { qos: 1 })
    await c.endAsync()
    const dl = await getJson<DeadLettersBody>(first.httpPort, '/v1/dead-letters?reason=field_type_conflict')
    t.equal(dl.body.deadLetters.length, 1)
    const id = dl.body.deadLetters[0]!.id
    // Replaying before the fix changes nothing and makes no new dead letter.
    const early = await postJson<{ replayed: Array<{ id: number; result: string }> }>(
      first.httpPort,
      '/v1/dead-letters/replay',
      { ids: [id] },
    )
    t.same(early.body.replayed, [{ id, result: 'rejected:field_type_conflict' }])
    await first.close()

    const second = await startTestApp(t, { dataDir, fieldTypes: { level: 'float' } })
    const replay = await postJson<{ replayed: Array<{ id: number; result: string }> }>(
      second.httpPort,
      '/v1/dead-letters/replay',
      {
        reason: 'field_type_conflict',
      },
    )
    t.same(replay.body.replayed, [{ id, result: 'accepted' }])
    const rows = await readings(second.httpPort, 'tc')
    t.same(
      rows.map((r) => r.fields.level),
      [20, 20.5],
    )
    const after = await getJson<DeadLettersBody>(second.httpPort, '/v1/dead-letters')
    t.same(after.body.deadLetters, [], 'a replayed dead letter is no longer listed')
  },
)

t.test('ingest - bad payloads become dead letters and the device keeps being served', async (t) => {
  const app = await startTestApp(t)
  const c = await client(app.mqttPort)
  const bad: Array<[string, Uint8Array, string]> = [
    ['devices/b1/telemetry', Buffer.from([0xa4, 0x61, 0x76]), 'payload_truncated'],
    ['devices/b1/telemetry', Buffer.from('{"v":1,"seq":'), 'json_malformed'],
    ['devices/b1/telemetry', reading(1, { temp: 'hot' }), 'invalid_fields'],
    ['devices/b1/telemetry', Buffer.from(encode({ v: 1, m: { temp: 1.5 } })), 'missing_seq'],
    ['devices/b1/telemetry', Buffer.from(encode({ v: 2, seq: 1, m: { temp: 1.5 } })), 'unsupported_version'],
    ['devices/b1/telemetry', Buffer.from(encode({ p: Buffer.from('x'), c: 1 })), 'checksum_mismatch'],
    [`devices/${'x'.repeat(65)}/telemetry`, reading(1, { temp: 1.5 }), 'invalid_device_id'],
    ['devices/bad$id/telemetry', reading(1, { temp: 1.5 }), 'invalid_device_id'],
  ]
  for (const [topic, payload] of bad) await c.publishAsync(topic, Buffer.from(payload), { qos: 1 })
  await c.publishAsync('devices/b1/telemetry', reading(1, { temp: 1.5 }), { qos: 1 })
  await c.endAsync()

  const dl = await getJson<DeadLettersBody>(app.httpPort, '/v1/dead-letters?limit=100&include=payload')
  t.same(
    dl.body.deadLetters.map((d) => d.reason),
    bad.map(([, , reason]) => reason),
  )
  t.same(
    Buffer.from(dl.body.deadLetters[0]!.payload, 'base64'),
    Buffer.from([0xa4, 0x61, 0x76]),
    'raw bytes as base64',
  )
  t.equal((await readings(app.httpPort, 'b1')).length, 1, 'the good reading after them is stored')
  t.equal(await metric(app.httpPort, 'telemetry_messages_rejected_total'), bad.length)
})

t.test('ingest - with --device-auth client-id a device may publish only on its own topic', async (t) => {
  for (const deviceAuth of ['client-id', 'none'] as const) {
    const app = await startTestApp(t, { deviceAuth })
    const own = await client(app.mqttPort, 'meter-1')
    await own.publishAsync('devices/meter-1/telemetry', reading(1, { temp: 1.5 }), { qos: 1 })
    // The intruder reuses the victim's seq with other content: without the check it is stored first.
    await own.publishAsync('devices/meter-2/telemetry', reading(1, { temp: 99.5 }), { qos: 1 })
    await own.endAsync()
    const victim = await client(app.mqttPort, 'meter-2')
    await victim.publishAsync('devices/meter-2/telemetry', reading(1, { temp: 2.5 }), { qos: 1 })
    await victim.endAsync()

    const dl = await getJson<DeadLettersBody>(app.httpPort, '/v1/dead-letters?limit=100')
    const stored = await readings(app.httpPort, 'meter-2')
    if (deviceAuth === 'client-id') {
      t.same(
        dl.body.deadLetters.map((d) => [d.reason, d.device]),
        [['device_not_authorized', 'meter-2']],
        'refused, kept under the topic it was sent to',
      )
      t.same(
        stored.map((r) => r.fields.temp),
        [2.5],
        "the victim's own reading is stored",
      )
    } else {
      t.same(
        dl.body.deadLetters.map((d) => d.reason),
        ['duplicate_conflict'],
        "without the check the intruder's reading wins and the victim's is refused",
      )
      t.same(
        stored.map((r) => r.fields.temp),
        [99.5],
      )
    }
    t.equal((await readings(app.httpPort, 'meter-1')).length, 1, 'its own topic still works')
  }
})

t.test('ingest - device times in other units, in the future and at epoch 0', async (t) => {
  const app = await startTestApp(t)
  const c = await client(app.mqttPort)
  const nowMs = Date.now()
  const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z')
  const cases: Array<[string, unknown, (recv: string) => string]> = [
    ['seconds', Math.floor(nowMs / 1000) - 60, () => iso((Math.floor(nowMs / 1000) - 60) * 1000)],
    [
      'nanoseconds',
      BigInt(nowMs - 60_000) * 1_000_000n + 123n,
      () => iso(nowMs - 60_000).replace(/000Z$/, '123Z'),
    ],
    ['one day ahead', nowMs + 86_400_000, (recv) => recv],
    ['epoch 0', 0, (recv) => recv],
  ]
  for (const [i, [name, ts]] of cases.entries()) {
    // One device per case: each clock stands alone.
    await c.publishAsync(`devices/time${i}/telemetry`, reading(1, { temp: 1.5 }, { ts }), { qos: 1 })
    const [r] = await readings(app.httpPort, `time${i}`)
    t.equal(r?.ts, cases[i]![2](r!.recv_ts), name)
  }
  await c.endAsync()
})

t.test('ingest - a device idle past --device-idle-ms is forgotten, and starts afresh', async (t) => {
  const app = await startTestApp(t)
  const c = await client(app.mqttPort)
  t.teardown(() => c.endAsync(true))
  const now = Date.now()
  const send = (device: string, seq: number, ts: number) =>
    c.publishAsync(`devices/${device}/telemetry`, reading(seq, { temp: 1.5 }, { ts }), { qos: 1 })
  await send('gone', 1, now - 10_000)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const between = BigInt(Date.now()) * 1_000_000n
  await new Promise((resolve) => setTimeout(resolve, 20))
  await send('kept', 1, now - 10_000)
  // As the app's timer would see it 10 minutes on: 'gone' silent since before `between`.
  const idleNs = 600_000_000_000n
  t.equal(app.bridge.forgetIdle(between + idleNs, idleNs), 1, 'one device idle for the whole time')
  // An older reading than each device's last: late for the one still known, not for the forgotten one.
  await send('gone', 2, now - 60_000)
  t.equal(
    await metric(app.httpPort, 'telemetry_readings_late_total'),
    0,
    'the forgotten device starts afresh',
  )
  await send('kept', 3, now - 60_000)
  t.equal(await metric(app.httpPort, 'telemetry_readings_late_total'), 1, 'the other still has its watermark')
  t.equal((await readings(app.httpPort, 'gone')).length, 2, 'and what it stored is kept')
})
