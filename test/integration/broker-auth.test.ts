/**
 * Device identity and ACLs (issue #22) against the real broker, with
 * mqtt.js and raw sockets: every refusal is a test, and each checks what
 * the client saw, that nothing reached the bridge, the count and the audit line.
 */

import { once } from 'node:events'
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { connectAs, connectWithPassword, startAuthBroker, until } from '../helpers/broker-auth.js'
import { openSocket, publishPacket, reading, untilClosed } from '../helpers/mqtt.js'

const USERS = { 'meter-7': 'seven', 'meter-8': 'eight' }
const audit = (lines: Array<Record<string, unknown>>, event: string) => lines.filter((l) => l.event === event)

t.test('auth - CONNECT refusals: CONNACK 0x05, counted and audited', async (t) => {
  const { broker, denied, logLines } = await startAuthBroker(t, { users: USERS })
  t.equal(await connectAs(broker.port, {}), 5, 'anonymous')
  t.equal(await connectAs(broker.port, { username: 'meter-7', password: 'eight' }), 5, 'wrong password')
  t.equal(await connectAs(broker.port, { username: 'nobody', password: 'seven' }), 5, 'unknown user')
  t.equal(await connectAs(broker.port, { username: 'meter-7' }), 5, 'no password')
  t.same(denied, ['connect', 'connect', 'connect', 'connect'])
  const lines = audit(logLines, 'mqtt_connect_refused')
  t.same(
    lines.map((l) => [l.user, l.reason, l.remote]),
    [
      [null, 'anonymous', '127.0.0.1'],
      ['meter-7', 'bad_password', '127.0.0.1'],
      ['nobody', 'unknown_user', '127.0.0.1'],
      ['meter-7', 'no_password', '127.0.0.1'],
    ],
  )
  t.notOk(JSON.stringify(logLines).includes('eight'), 'no password in any log line')
  const ok = await connectAs(broker.port, { username: 'meter-7', password: 'seven' })
  t.type(ok, 'object', 'the right password connects')
  await (ok as MqttClient).endAsync()
})

t.test('auth - --allow-anonymous: an anonymous client connects, and may do nothing by default', async (t) => {
  const { broker, published } = await startAuthBroker(t, { users: USERS, allowAnonymous: true })
  const socket = await openSocket(broker.port)
  socket.write(Buffer.from('101000044d5154540402003c0004616e6f6e', 'hex'))
  await once(socket, 'data')
  const answer = untilClosed(socket, 5000)
  socket.write(publishPacket('devices/anon/telemetry', reading(1, { x: 1 }), 1))
  t.ok((await answer).closed, 'its publish closes it')
  t.same(published, [])
})

t.test('auth - publishing to another device: not stored, not acknowledged, disconnected', async (t) => {
  const { broker, published, denied, logLines } = await startAuthBroker(t, { users: USERS })
  const socket = await openSocket(broker.port)
  socket.write(connectWithPassword('m7', 'meter-7', 'seven'))
  await once(socket, 'data')
  const answer = untilClosed(socket, 5000)
  socket.write(publishPacket('devices/meter-7/telemetry', reading(1, { x: 1 }), 1, 1))
  socket.write(publishPacket('devices/meter-8/telemetry', reading(2, { x: 2 }), 1, 2))
  const { closed, received } = await answer
  t.ok(closed, 'disconnected')
  t.equal(received.toString('hex'), '40020001', 'PUBACK for its own topic only')
  t.same(published, ['devices/meter-7/telemetry'], 'only its own reading reached the bridge')
  t.same(denied, ['publish'])
  const [line] = audit(logLines, 'mqtt_publish_denied')
  t.match(line, { clientId: 'm7', user: 'meter-7', topic: 'devices/meter-8/telemetry', remote: '127.0.0.1' })
})

t.test('auth - publishing to $SYS: disconnected, not stored', async (t) => {
  const { broker, published, reasons } = await startAuthBroker(t, { users: USERS })
  const socket = await openSocket(broker.port)
  socket.write(connectWithPassword('m7', 'meter-7', 'seven'))
  await once(socket, 'data')
  const answer = untilClosed(socket, 5000)
  socket.write(publishPacket('$SYS/broker/uptime', Buffer.from('0'), 1))
  const { closed, received } = await answer
  t.ok(closed)
  t.equal(received.length, 0, 'no PUBACK')
  t.same(published, [])
  t.same(reasons, ['reserved_topic'])
})

t.test('auth - subscribing to # gets SUBACK 0x80 and the connection stays', async (t) => {
  const { broker, denied, logLines } = await startAuthBroker(t, { users: USERS })
  const socket = await openSocket(broker.port)
  socket.write(connectWithPassword('m7', 'meter-7', 'seven'))
  await once(socket, 'data')
  const suback = once(socket, 'data')
  // SUBSCRIBE id 7: '#' QoS 0, 'devices/meter-7/#' QoS 1.
  socket.write(
    Buffer.from(`821a0007000123000011${Buffer.from('devices/meter-7/#').toString('hex')}01`, 'hex'),
  )
  const [received] = (await suback) as [Buffer]
  t.equal(received.toString('hex'), '900400078001', 'SUBACK: 0x80 for #, QoS 1 for its own')
  t.notOk((await untilClosed(socket, 500)).closed, 'the connection stays')
  t.same(denied, ['subscribe'])
  t.match(audit(logLines, 'mqtt_subscribe_denied'), [{ user: 'meter-7', topic: '#' }])
  socket.destroy()
})

t.test('auth - a client id in use by another user is refused; the same user takes over', async (t) => {
  const { broker } = await startAuthBroker(t, { users: USERS })
  const first = (await connectAs(broker.port, {
    username: 'meter-7',
    password: 'seven',
    clientId: 'shared',
  })) as MqttClient
  t.equal(await connectAs(broker.port, { username: 'meter-8', password: 'eight', clientId: 'shared' }), 5)
  t.ok(first.connected, 'the first connection is untouched')
  await first.publishAsync('devices/meter-7/telemetry', reading(1, { x: 1 }), { qos: 1 })
  const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))
  const again = await connectAs(broker.port, { username: 'meter-7', password: 'seven', clientId: 'shared' })
  t.type(again, 'object', "the device's own reconnect is served")
  await closed
  t.pass('and takes the old connection over [MQTT-3.1.4-2]')
  first.end(true)
  await (again as MqttClient).endAsync()
})

t.test('auth - a will on a topic the client may not publish to is refused at CONNECT', async (t) => {
  const { broker } = await startAuthBroker(t, { users: USERS })
  const will = {
    topic: 'devices/meter-8/telemetry',
    payload: Buffer.from('x'),
    qos: 0 as const,
    retain: false,
  }
  t.equal(await connectAs(broker.port, { username: 'meter-7', password: 'seven', will }), 5)
  const own = { ...will, topic: 'devices/meter-7/telemetry' }
  const ok = await connectAs(broker.port, { username: 'meter-7', password: 'seven', will: own })
  t.type(ok, 'object')
  await (ok as MqttClient).endAsync()
})

t.test('auth - deliveries follow the receiver read rules; $SYS only where the ACL allows', async (t) => {
  const acl = [
    'user reader',
    'topic read devices/#',
    'topic deny devices/secret/#',
    'user writer',
    'topic write devices/#',
    'user ops',
    'topic read $SYS/#',
  ]
  const users = { reader: 'r', writer: 'w', ops: 'o' }
  const { broker } = await startAuthBroker(t, { users, acl })
  const reader = (await connectAs(broker.port, { username: 'reader', password: 'r' })) as MqttClient
  const ops = (await connectAs(broker.port, { username: 'ops', password: 'o' })) as MqttClient
  const got: string[] = []
  const sys: string[] = []
  reader.on('message', (topic) => got.push(topic))
  ops.on('message', (topic) => sys.push(topic))
  const [granted] = await reader.subscribeAsync('devices/#')
  t.equal(granted?.qos, 0, 'devices/# granted: a read rule covers it')
  const [sysGranted] = await ops.subscribeAsync('$SYS/#')
  t.equal(sysGranted?.qos, 0, '$SYS/# granted to ops')
  // mqtt.js turns SUBACK 0x80 into an error.
  await t.rejects(
    reader.subscribeAsync('$SYS/#'),
    { name: 'ErrorWithSubackPacket' },
    '$SYS/# refused to reader',
  )
  const writer = (await connectAs(broker.port, { username: 'writer', password: 'w' })) as MqttClient
  await writer.publishAsync('devices/secret/telemetry', 'a', { qos: 1 })
  await writer.publishAsync('devices/open/telemetry', 'b', { qos: 1 })
  // Delivered in order: once the second is in, the first would have been.
  await until(() => got.length > 0)
  t.same(got, ['devices/open/telemetry'], 'the denied topic is not delivered')
  t.ok(
    await until(() => sys.some((topic) => topic.endsWith('/new/clients'))),
    "ops sees the broker's $SYS messages",
  )
  await Promise.all([ops.endAsync(), writer.endAsync()])
  reader.end(true)
})
