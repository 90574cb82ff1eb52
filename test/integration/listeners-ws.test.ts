/**
 * MQTT over WebSocket at /mqtt on the HTTP port: `ws` in cleartext, `wss`
 * with a certificate, with mqtt.js and with a bare `ws` client for what
 * mqtt.js would not send. Issue #22, item 4.
 */

import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import WebSocket from 'ws'
import { startTestApp, tempDir } from '../helpers/app.js'
import { makePki, type Pki } from '../helpers/certs.js'
import { haveProgram } from '../helpers/external.js'
import { readings } from '../helpers/http.js'
import { connectPacket, reading } from '../helpers/mqtt.js'

let pki: Promise<Pki> | null = null
async function certificates(sub: Parameters<typeof haveProgram>[0]): Promise<Pki | null> {
  if (!haveProgram(sub, 'openssl', 'openssl')) return null
  pki ??= makePki(tempDir(t, 'tlm-pki-'))
  return pki
}

interface Check {
  teardown(fn: () => unknown): void
  same(found: unknown, wanted: unknown, message: string): unknown
}

async function connect(t: Check, url: string, ca?: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, {
    ...(ca === undefined ? {} : { ca: readFileSync(ca) }),
    clientId: `ws-${Math.random()}`,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  })
  t.teardown(() => c.endAsync(true))
  return c
}

/** A subscriber and a publisher over WebSocket: the publisher's QoS 1 reading is delivered. */
async function publishAndSubscribe(t: Check, url: string, device: string, ca?: string): Promise<void> {
  const subscriber = await connect(t, url, ca)
  await subscriber.subscribeAsync(`devices/${device}/telemetry`, { qos: 1 })
  const delivered: number[] = []
  const got = new Promise<void>((resolve) =>
    subscriber.on('message', (_topic, payload) => {
      delivered.push(payload.length)
      resolve()
    }),
  )
  const publisher = await connect(t, url, ca)
  const payload = reading(1, { temp: 20.5 })
  await publisher.publishAsync(`devices/${device}/telemetry`, payload, { qos: 1 })
  await got
  t.same(delivered, [payload.length], 'the subscriber over WebSocket received it')
}

/** Prometheus text of the app's counter for one reason of mqtt_protocol_disconnects_total. */
async function disconnects(port: number, reason: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`mqtt_protocol_disconnects_total{reason="${reason}"}`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

/** A bare WebSocket to /mqtt: resolves when it opens, or with the HTTP status it was refused with. */
function openWs(url: string, protocols: string[]): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols)
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
    })
    ws.once('error', reject)
  })
}

/** Whether the server closes the WebSocket within the bound. */
function closedWithin(ws: WebSocket, boundMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(true)
    const timer = setTimeout(() => resolve(false), boundMs)
    ws.on('error', () => undefined)
    ws.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

t.test('listeners - mqtt.js over ws: publishes QoS 1, subscribes, and the reading is stored', async (t) => {
  const app = await startTestApp(t)
  await publishAndSubscribe(t, `ws://127.0.0.1:${app.httpPort}/mqtt`, 'ws-1')
  const stored = await readings(app.httpPort, 'ws-1')
  t.same(
    stored.map((r) => [r.seq, r.fields.temp]),
    [[1, 20.5]],
    'stored',
  )
})

t.test('listeners - mqtt.js over wss on the HTTPS port: publishes and subscribes', async (t) => {
  const p = await certificates(t)
  if (p === null) return
  const app = await startTestApp(t, { tlsCert: p.server.cert, tlsKey: p.server.key })
  await publishAndSubscribe(t, `wss://localhost:${app.httpPort}/mqtt`, 'wss-1', p.ca)
})

t.test('listeners - the packet guard closes a bad stream over WebSocket', async (t) => {
  const app = await startTestApp(t, { maxPacketBytes: 1024 })
  const url = `ws://127.0.0.1:${app.httpPort}/mqtt`

  // A PUBLISH header whose Remaining Length (2 MiB) is over --max-packet-bytes, in a small message.
  const a = await openWs(url, ['mqtt'])
  if (typeof a === 'number') throw new Error(`refused: ${a}`)
  a.send(connectPacket('ws-guard'))
  a.send(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x01]))
  t.equal(await closedWithin(a, 10_000), true, 'closed on the fixed header')
  t.equal(await disconnects(app.httpPort, 'packet_too_large'), 1, 'counted as packet_too_large')

  // A single WebSocket message larger than any packet allowed: closed by ws before it is held.
  const b = await openWs(url, ['mqtt'])
  if (typeof b === 'number') throw new Error(`refused: ${b}`)
  b.send(connectPacket('ws-guard-2'))
  b.send(Buffer.alloc(4096))
  t.equal(await closedWithin(b, 10_000), true, 'closed on an oversized message')
  t.equal(await disconnects(app.httpPort, 'packet_too_large'), 2, 'counted as packet_too_large too')
})

t.test('listeners - the per-address cap counts WebSocket connections by their real address', async (t) => {
  const app = await startTestApp(t, { maxConnectionsPerAddress: 1 })
  const tcp = await connect(t, `mqtt://127.0.0.1:${app.mqttPort}`)
  t.ok(tcp.connected, 'one connection from 127.0.0.1 over TCP')
  const ws = await openWs(`ws://127.0.0.1:${app.httpPort}/mqtt`, ['mqtt'])
  if (typeof ws === 'number') throw new Error(`refused: ${ws}`)
  const received: Buffer[] = []
  ws.on('message', (data: Buffer) => received.push(data))
  ws.send(connectPacket('ws-second'))
  t.equal(await closedWithin(ws, 10_000), true, 'a second from the same address, over WebSocket, is closed')
  t.same(received, [], 'without a CONNACK')
  t.equal(await disconnects(app.httpPort, 'address_connection_limit'), 1, 'counted')
  await tcp.endAsync()
})

t.test('listeners - a WebSocket without the mqtt subprotocol is refused with a 400', async (t) => {
  const app = await startTestApp(t)
  t.equal(await openWs(`ws://127.0.0.1:${app.httpPort}/mqtt`, ['chat']), 400, 'another subprotocol')
  t.equal(await openWs(`ws://127.0.0.1:${app.httpPort}/mqtt`, []), 400, 'none')
  const old = await openWs(`ws://127.0.0.1:${app.httpPort}/mqtt`, ['mqttv3.1'])
  t.not(typeof old, 'number', 'mqttv3.1, as MQTT 3.1 clients offer it, is accepted')
  if (typeof old !== 'number') {
    t.equal(old.protocol, 'mqttv3.1')
    old.close()
  }
})

t.test(
  'listeners - an Upgrade that is not a WebSocket to /mqtt is served as an ordinary request',
  async (t) => {
    const app = await startTestApp(t)
    // curl --http2 on a cleartext URL asks so; and a WebSocket to a path with no socket.
    const cases: [string, Record<string, string>, number][] = [
      [
        '/healthz',
        {
          connection: 'Upgrade, HTTP2-Settings',
          upgrade: 'h2c',
          'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA',
        },
        200,
      ],
      [
        '/v1/nothing',
        {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
        404,
      ],
    ]
    for (const [path, headers, status] of cases) {
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: app.httpPort, path, headers }, (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => {
            body += d
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        })
        req.on('upgrade', () => reject(new Error('upgraded')))
        req.on('error', reject)
        req.end()
      })
      t.equal(res.status, status, `${path} with Upgrade: ${headers.upgrade}`)
      t.doesNotThrow(() => JSON.parse(res.body), 'a JSON body')
    }
  },
)

t.test('listeners - WebSocket frames not yet whole count in the incomplete-packet budget', async (t) => {
  // ws holds a frame until its last byte, before the guard sees any of it:
  // 40 connections 100 bytes short of a 60 KiB message held 2.4 MB outside
  // a budget of four of them.
  const [CONNECTIONS, HELD] = [40, 4]
  const PAYLOAD = 60 * 1024
  // A client frame: FIN + binary, masked (with a key of zeros), 16-bit length.
  const header = Buffer.from([0x82, 0x80 | 126, PAYLOAD >> 8, PAYLOAD & 0xff, 0, 0, 0, 0])
  const partial = Buffer.concat([header, Buffer.alloc(PAYLOAD - 100, 1)])
  const app = await startTestApp(t, { maxIncompletePacketBytes: HELD * partial.length + 1000 })
  const url = `ws://127.0.0.1:${app.httpPort}/mqtt`
  const open: WebSocket[] = []
  t.teardown(() => {
    for (const ws of open) ws.terminate()
  })
  const closed: number[] = []
  for (let i = 0; i < CONNECTIONS; i++) {
    const ws = await openWs(url, ['mqtt'])
    if (typeof ws === 'number') throw new Error(`refused: ${ws}`)
    open.push(ws)
    ws.on('error', () => undefined)
    ws.once('close', () => closed.push(i))
    const connack = new Promise((resolve) => ws.once('message', resolve))
    ws.send(connectPacket(`ws-partial-${i}`, true, 0))
    await connack
    ;(ws as unknown as { _socket: import('node:net').Socket })._socket.write(partial)
  }
  const expected = Array.from({ length: CONNECTIONS - HELD }, (_, i) => i)
  const end = Date.now() + 10_000
  while (closed.length < expected.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  t.same(closed, expected, `the ${expected.length} oldest were closed, oldest first`)
  t.equal(
    await disconnects(app.httpPort, 'incomplete_packet_budget'),
    expected.length,
    'each counted as incomplete_packet_budget',
  )
  await publishAndSubscribe(t, url, 'ws-after-budget')
})
