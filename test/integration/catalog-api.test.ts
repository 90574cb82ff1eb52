/**
 * Discovery (issue 23): GET /v1/devices and /v1/fields say what exists, from
 * readings published by mqtt.js to the whole app, and /v1/windows finds its
 * range from the data when `from` is left out, or answers a range too large
 * with the part of it one request may ask for.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { encodeMessage, type FieldValue, float } from '../../simulators/encode.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { getJson } from '../helpers/http.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

interface ApiDevice {
  device: string
  first_ts: string
  last_ts: string
  last_recv_ts: string
  readings: number
  fields: Record<string, string>
  connected: boolean
}

const FEATURES = {
  features: [
    { name: 'temp_10s', field: 'temp', window: { size: '10s' }, aggregations: ['count'], grace: '1m' },
  ],
}

async function app(t: Teardown, dataDir?: string) {
  const featuresPath = join(tempDir(t), 'features.json')
  writeFileSync(featuresPath, JSON.stringify(FEATURES))
  return startTestApp(t, { featuresPath, ...(dataDir === undefined ? {} : { dataDir }) })
}

async function client(t: Teardown, port: number, clientId = `c-${Math.random()}`): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  return c
}

/** One reading at device time tsMs, QoS 1: stored once the promise resolves. */
function publish(
  c: MqttClient,
  device: string,
  seq: number,
  tsMs: number,
  fields: Record<string, FieldValue>,
) {
  return c.publishAsync(`devices/${device}/telemetry`, encodeMessage({ seq, boot: 1, ts: tsMs, fields }), {
    qos: 1,
  })
}

/** An RFC 3339 time as the API writes it: nine fraction digits. */
const apiTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z')

async function devices(port: number, query = ''): Promise<{ devices: ApiDevice[]; next: string | null }> {
  const res = await getJson<{ devices: ApiDevice[]; next: string | null }>(port, `/v1/devices${query}`)
  if (res.status !== 200) throw new Error(`/v1/devices${query}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Polls `check` every 50 ms for at most 10 s. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
    if (await check()) return true
  return false
}

t.test(
  'devices - spans, counts, fields and presence after publishing; duplicates not counted; kept across a restart',
  async (t) => {
    const a = await app(t)
    t.same(await devices(a.httpPort), { devices: [], next: null }, 'nothing yet')
    const c = await client(t, a.mqttPort)
    const t0 = Date.now() - 3_600_000
    const sentFrom = Date.now()
    // Out of order: the first event time comes second.
    await publish(c, 'meter-1', 1, t0 + 5_000, { temp: float(20.5), n: 3 })
    await publish(c, 'meter-1', 2, t0, { temp: float(21.5) })
    await publish(c, 'meter-1', 3, t0 + 9_000, { temp: float(22.5), door: true })
    await publish(c, 'meter-2', 1, t0 + 1_000, { temp: float(19.5) })
    // Redeliveries of stored readings: acknowledged, not stored again.
    await publish(c, 'meter-1', 2, t0, { temp: float(21.5) })
    await publish(c, 'meter-2', 1, t0 + 1_000, { temp: float(19.5) })
    const sentTo = Date.now()

    const listed = await devices(a.httpPort)
    t.equal(listed.next, null)
    t.same(
      listed.devices.map((d) => ({ ...d, last_recv_ts: undefined })),
      [
        {
          device: 'meter-1',
          first_ts: apiTime(t0),
          last_ts: apiTime(t0 + 9_000),
          readings: 3,
          fields: { temp: 'float', n: 'int', door: 'bool' },
          connected: true,
        },
        {
          device: 'meter-2',
          first_ts: apiTime(t0 + 1_000),
          last_ts: apiTime(t0 + 1_000),
          readings: 1,
          fields: { temp: 'float' },
          connected: true,
        },
      ].map((d) => ({ ...d, last_recv_ts: undefined })),
    )
    for (const d of listed.devices) {
      const seen = Date.parse(d.last_recv_ts)
      t.ok(
        seen >= sentFrom - 1 && seen <= sentTo + 1,
        `${d.device} last seen as it published (${d.last_recv_ts})`,
      )
    }
    const ndjson = await (
      await fetch(`http://127.0.0.1:${a.httpPort}/v1/devices?device=meter-2&format=ndjson`)
    ).text()
    t.same(
      ndjson
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      [listed.devices[1], { next: null }],
      'NDJSON: a device a line, then next',
    )

    const fields = await getJson<{ fields: Array<Record<string, unknown>> }>(a.httpPort, '/v1/fields')
    t.same(
      fields.body.fields.map((f) => [f.name, f.kind, f.devices]),
      [
        ['temp', 'float', 2],
        ['n', 'int', 1],
        ['door', 'bool', 1],
      ],
    )
    for (const f of fields.body.fields) {
      const added = Date.parse(String(f.first_seen))
      t.ok(added >= sentFrom - 1 && added <= sentTo + 1, `${f.name} first seen when first stored`)
    }

    await c.endAsync()
    t.ok(
      await eventually(async () => (await devices(a.httpPort)).devices.every((d) => !d.connected)),
      'not connected once its client is gone',
    )
    await a.close()
    const again = await app(t, a.dataDir)
    t.same(
      (await devices(again.httpPort)).devices,
      listed.devices.map((d) => ({ ...d, connected: false })),
      'the same after a restart',
    )
    t.same((await getJson(again.httpPort, '/v1/fields')).body, fields.body)
  },
)

t.test(
  'devices - paging returns each device once, in id order; a filter lists those that exist',
  async (t) => {
    const a = await app(t)
    const c = await client(t, a.mqttPort)
    const ids = ['d-07', 'd-03', 'd-11', 'd-01', 'd-05', 'd-09', 'd-02']
    for (const id of ids) await publish(c, id, 1, Date.now() - 1000, { temp: float(1.5) })
    const seen: string[] = []
    let [next, pages] = [null as string | null, 0]
    do {
      const page = await devices(a.httpPort, `?limit=3${next === null ? '' : `&after=${next}`}`)
      t.ok(page.devices.length <= 3)
      seen.push(...page.devices.map((d) => d.device))
      next = page.next
      pages++
    } while (next !== null && pages < 10)
    t.same(seen, [...ids].sort(), 'each once, in order')
    t.equal(pages, 3)
    const some = await devices(a.httpPort, '?device=d-09,nope,d-01&limit=1')
    t.same([some.devices.map((d) => d.device), some.next], [['d-01'], 'd-01'])
    const rest = await devices(a.httpPort, '?device=d-09,nope,d-01&limit=1&after=d-01')
    t.same([rest.devices.map((d) => d.device), rest.next], [['d-09'], null])
    const bad = await getJson(a.httpPort, '/v1/devices?after=no%20such')
    t.same([bad.status, bad.body.parameter], [400, 'after'])
  },
)

t.test('devices - connected is whether a client that published for it is connected now', async (t) => {
  const a = await app(t)
  const one = await client(t, a.mqttPort, 'gateway-1')
  const two = await client(t, a.mqttPort, 'gateway-2')
  // Two gateways publish for the same device: connected while either is.
  await publish(one, 'shared', 1, Date.now() - 1000, { temp: float(1.5) })
  await publish(two, 'shared', 2, Date.now() - 1000, { temp: float(1.5) })
  await publish(two, 'only-two', 1, Date.now() - 1000, { temp: float(1.5) })
  const connected = async () =>
    Object.fromEntries((await devices(a.httpPort)).devices.map((d) => [d.device, d.connected]))
  t.same(await connected(), { 'only-two': true, shared: true })
  await two.endAsync()
  t.ok(
    await eventually(async () => (await connected())['only-two'] === false),
    'only-two: its one client left',
  )
  t.same(await connected(), { 'only-two': false, shared: true }, 'shared: gateway-1 is still connected')
  // The same client id back: connected again without publishing.
  const twoAgain = await client(t, a.mqttPort, 'gateway-2')
  t.same(await connected(), { 'only-two': true, shared: true })
  // gateway-1 taken over by a new connection of its id [MQTT-3.1.4-2]: the old one is closed, the id stays connected.
  const closed = new Promise<void>((resolve) => one.once('close', () => resolve()))
  await client(t, a.mqttPort, 'gateway-1')
  await closed
  await twoAgain.endAsync()
  t.ok(await eventually(async () => (await connected())['only-two'] === false), 'gateway-2 gone again')
  t.same(await connected(), { 'only-two': false, shared: true }, 'shared: the new gateway-1 is connected')
})

t.test('windows - without from, the range starts at the devices first reading', async (t) => {
  const a = await app(t)
  const c = await client(t, a.mqttPort)
  // Three days ago: before the range of old (the day before `to`).
  const w = Math.floor((Date.now() - 3 * 86_400_000) / 10_000) * 10_000
  await publish(c, 'old', 1, w + 1_000, { temp: float(1.5) })
  await publish(c, 'old', 2, w + 2_000, { temp: float(2.5) })
  await publish(c, 'new', 1, Date.now() - 60_000, { temp: float(9.5) })
  const res = await getJson<{ windows: Array<Record<string, unknown>> }>(a.httpPort, '/v1/windows?device=old')
  t.equal(res.status, 200)
  t.same(res.body.windows, [{ device: 'old', window_end: apiTime(w + 10_000), temp_count_10s: 2 }])
  const all = await getJson<{ windows: Array<Record<string, unknown>> }>(a.httpPort, '/v1/windows?device=*')
  t.same(
    all.body.windows.map((r) => r.device),
    ['new', 'old'],
    'device=*: from the first reading of any device',
  )
})

t.test(
  'windows - a range too large answers with the range that fits, and that range is answered',
  async (t) => {
    const a = await app(t)
    const c = await client(t, a.mqttPort)
    // 2020-01-01: over six years before now, more than 10,000,000 windows of 10 s.
    const first = Date.UTC(2020, 0, 1)
    await publish(c, 'meter', 1, first + 1_000, { temp: float(1.5) })
    await publish(c, 'meter', 2, Date.now() - 60_000, { temp: float(2.5) })
    for (const query of ['device=meter', `device=meter&from=${first + 1_000}&to=now`]) {
      const res = await getJson(a.httpPort, `/v1/windows?${query}`)
      t.same(
        [res.status, res.body.code, res.body.parameter, res.body.from, res.body.to],
        [
          400,
          'TLM_ERR_INVALID_PARAMETER',
          'to',
          apiTime(first + 1_000),
          apiTime(first + 1_000 + 100_000_000_000),
        ],
        `${query}: from the range's start, 10,000,000 windows of 10 s`,
      )
      const retry = await getJson<{ windows: unknown[] }>(
        a.httpPort,
        `/v1/windows?device=meter&from=${res.body.from}&to=${res.body.to}`,
      )
      t.same(
        [retry.status, retry.body.windows],
        [200, [{ device: 'meter', window_end: apiTime(first + 10_000), temp_count_10s: 1 }]],
        'asked again with that range: answered',
      )
    }
  },
)
