/**
 * The broker's limits against a real Aedes on an ephemeral port, with raw
 * sockets for what well-behaved clients never send, and mqtt.js to prove the
 * broker keeps serving everyone else.
 */

import mqtt from 'mqtt'
import { pino } from 'pino'
import t from 'tap'
import { TelemetryBroker } from '../../broker/index.js'
import { startTestApp } from '../helpers/app.js'
import { connectPacket, openSocket, publishPacket, reading, untilClosed } from '../helpers/mqtt.js'

const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00])

async function connected(port: number, clientId: string) {
  const socket = await openSocket(port)
  socket.write(connectPacket(clientId))
  await new Promise<void>((resolve) => socket.once('data', () => resolve()))
  return socket
}

async function stillServes(t: { pass(message: string): void }, port: number): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    clientId: `ok-${Math.random()}`,
  })
  await client.publishAsync('devices/healthy/telemetry', reading(1, { temp: 21.5 }), { qos: 1 })
  await client.endAsync()
  t.pass('another client still publishes with QoS 1')
}

t.test('broker - limits', async (t) => {
  const app = await startTestApp(t, { maxPacketBytes: 4096 })
  const port = app.mqttPort

  t.test('closes a connection announcing 256 MB before the body arrives', async (t) => {
    const socket = await connected(port, 'big')
    // Remaining Length 268435455 (0xff 0xff 0xff 0x7f), then a trickle of bytes.
    socket.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01]))
    const result = await untilClosed(socket, 5000)
    t.ok(result.closed, 'connection closed on the header alone')
    await stillServes(t, port)
  })

  t.test('closes a connection whose packet slightly exceeds the maximum', async (t) => {
    const socket = await connected(port, 'big2')
    socket.write(publishPacket('devices/big2/telemetry', Buffer.alloc(5000), 0))
    t.ok((await untilClosed(socket, 5000)).closed)
  })

  t.test('closes a connection on a topic holding U+0000 [MQTT-1.5.3-2]', async (t) => {
    const socket = await connected(port, 'nul')
    socket.write(publishPacket(Buffer.from('devices/a\u0000b/telemetry'), reading(1, { x: 1.5 }), 0))
    t.ok((await untilClosed(socket, 5000)).closed)
  })

  t.test('closes a connection on a topic that is not UTF-8 [MQTT-1.5.3-1]', async (t) => {
    const socket = await connected(port, 'utf8')
    socket.write(publishPacket(Buffer.from([0x64, 0xc3, 0x28]), reading(1, { x: 1.5 }), 0))
    t.ok((await untilClosed(socket, 5000)).closed)
  })

  t.test('closes a connection on QoS 1 with packet identifier 0 [MQTT-2.3.1-1]', async (t) => {
    const socket = await connected(port, 'pid0')
    socket.write(publishPacket('devices/pid0/telemetry', reading(1, { x: 1.5 }), 1, 0))
    const result = await untilClosed(socket, 5000)
    t.ok(result.closed)
    t.equal(result.received.length, 0, 'no PUBACK')
  })

  for (const topic of ['$SYS/broker/x', 'devices/+/telemetry', 'devices/#']) {
    t.test(`closes a connection publishing to ${topic}`, async (t) => {
      const socket = await connected(port, `bad-${topic.length}`)
      socket.write(publishPacket(topic, reading(1, { x: 1.5 }), 1, 7))
      const result = await untilClosed(socket, 5000)
      t.ok(result.closed)
      t.equal(result.received.length, 0, 'no PUBACK')
    })
  }

  t.test('answers CONNACK 0x02 to an empty client id with clean session 0 [MQTT-3.1.3-8]', async (t) => {
    const socket = await openSocket(port)
    socket.write(connectPacket('', false))
    const result = await untilClosed(socket, 5000)
    t.same([...result.received.subarray(0, 4)], [0x20, 0x02, 0x00, 0x02])
    t.ok(result.closed)
  })

  t.test('accepts an empty client id with clean session 1', async (t) => {
    const socket = await openSocket(port)
    socket.write(connectPacket('', true))
    const data = await new Promise<Buffer>((resolve) => socket.once('data', resolve))
    t.same([...data.subarray(0, 4)], [...CONNACK_OK])
    socket.destroy()
  })

  t.test('routes other topics as any broker would, and the bridge ignores them', async (t) => {
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 })
    await sub.subscribeAsync('plant/+/status', { qos: 1 })
    const got = new Promise<string>((resolve) =>
      sub.on('message', (_topic, payload) => resolve(payload.toString())),
    )
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 })
    await pub.publishAsync('plant/7/status', 'running', { qos: 1 })
    t.equal(await got, 'running')
    const res = await fetch(`http://127.0.0.1:${app.httpPort}/v1/dead-letters`)
    t.same(
      ((await res.json()) as { deadLetters: unknown[] }).deadLetters,
      [],
      'no dead letter for ordinary traffic',
    )
    await Promise.all([sub.endAsync(), pub.endAsync()])
  })
})

t.test('broker - closes a connection that sends no CONNECT in time', async (t) => {
  const broker = await TelemetryBroker.start({
    host: '127.0.0.1',
    port: 0,
    maxPacketBytes: 4096,
    connectTimeoutMs: 300,
    onPublish: async () => undefined,
    log: pino({ level: 'silent' }),
  })
  t.teardown(() => broker.close())
  const socket = await openSocket(broker.port)
  t.ok((await untilClosed(socket, 5000)).closed, 'closed without CONNECT')
})
