/**
 * Issue #21, item 6: the connection caps, the budget of bytes held for
 * incomplete packets, and the idle limit of keep-alive-0 clients, against a
 * real broker on an ephemeral port with raw sockets; mqtt.js shows that the
 * broker keeps serving everyone else.
 */

import { connect, type Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import mqtt from 'mqtt'
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { connectPacket, publishPacket, untilClosed } from '../helpers/mqtt.js'

const PINGREQ = Buffer.from([0xc0, 0x00])

// A full collection before each reading of the heap's buffers, without a flag on the command line.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** A TCP connection from one loopback address (Linux routes all of 127/8 to lo). */
function openFrom(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Sends CONNECT; resolves true on CONNACK, false when the server closes the connection first. */
function mqttConnect(socket: Socket, clientId: string, keepaliveS = 0): Promise<boolean> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined)
    socket.once('data', () => resolve(true))
    socket.once('close', () => resolve(false))
    socket.write(connectPacket(clientId, true, keepaliveS))
  })
}

/** CONNECT from a loopback address: true on CONNACK; each socket kept (in `sockets`) until the test ends, or closed at once. */
function connector(t: { teardown(fn: () => unknown): void }, port: number, closeAfter: boolean) {
  const sockets: Socket[] = []
  t.teardown(() => {
    for (const s of sockets) s.destroy()
  })
  const attempt = async (from: string, id: string): Promise<boolean> => {
    const socket = await openFrom(port, from)
    sockets.push(socket)
    const ok = await mqttConnect(socket, id)
    if (closeAfter) socket.destroy()
    return ok
  }
  return { attempt, sockets }
}

async function until(condition: () => boolean, boundMs = 5000): Promise<boolean> {
  const end = Date.now() + boundMs
  while (!condition()) {
    if (Date.now() > end) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}

/** An mqtt.js client from one loopback address publishes with QoS 1; retried while the broker frees a place. */
async function publishesFrom(port: number, localAddress: string): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const client = new mqtt.MqttClient(() => connect({ port, host: '127.0.0.1', localAddress }), {
      reconnectPeriod: 0,
      clientId: `ok-${localAddress}-${attempt}`,
    })
    client.on('error', () => undefined)
    const connected = await new Promise<boolean>((resolve) => {
      client.once('connect', () => resolve(true))
      client.once('close', () => resolve(false))
    })
    if (connected) {
      await client.publishAsync('plant/7/status', 'running', { qos: 1 })
      await client.endAsync()
      return true
    }
    client.end(true)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

t.test('broker - refuses connections past the per-address and total caps, and serves the rest', async (t) => {
  const { broker, reasons } = await startBroker(t, { maxConnections: 12, maxConnectionsPerAddress: 5 })
  const { attempt, sockets } = connector(t, broker.port, false)

  const fromA: boolean[] = []
  for (let i = 0; i < 8; i++) fromA.push(await attempt('127.0.0.2', `a-${i}`))
  t.same(fromA, [true, true, true, true, true, false, false, false], 'five from one address, then refused')
  t.same(reasons, Array(3).fill('address_connection_limit'), 'each refusal counted')

  const fromB: boolean[] = []
  for (let i = 0; i < 5; i++) fromB.push(await attempt('127.0.0.3', `b-${i}`))
  t.same(fromB, [true, true, true, true, true], 'another address is served')

  // 10 open: two more fit under the total of 12, from any address.
  const fromC: boolean[] = []
  for (let i = 0; i < 4; i++) fromC.push(await attempt('127.0.0.4', `c-${i}`))
  t.same(fromC, [true, true, false, false], 'past the total cap, refused')
  t.ok(await until(() => reasons.filter((r) => r === 'connection_limit').length === 2), 'counted')

  // The connections already open are served all along.
  const open = sockets.filter((s) => !s.destroyed)
  t.equal(open.length, 12)
  const pingresps = open.map((s) => new Promise<Buffer>((resolve) => s.once('data', resolve)))
  for (const s of open) s.write(PINGREQ)
  t.same(
    (await Promise.all(pingresps)).map((b) => [...b]),
    Array(12).fill([0xd0, 0x00]),
    'every accepted connection still answered',
  )

  // One leaves: its place is free again, for a well-behaved client.
  open[0]!.destroy()
  t.ok(await publishesFrom(broker.port, '127.0.0.5'), 'a new client publishes with QoS 1 once one has left')
})

t.test('broker - the incomplete-packet budget closes the oldest offenders first', async (t) => {
  const CONNECTIONS = 40
  const HELD = 4
  const PACKET = publishPacket('devices/slow/telemetry', Buffer.alloc(60 * 1024, 1), 1, 9)
  const PARTIAL = PACKET.subarray(0, PACKET.length - 100)
  const BUDGET = HELD * PARTIAL.length + 1000
  const { broker, reasons } = await startBroker(t, { maxIncompletePacketBytes: BUDGET })
  const sockets: Socket[] = []
  const closed: number[] = []
  t.teardown(() => {
    for (const s of sockets) s.destroy()
  })
  gc()
  const buffersBefore = process.memoryUsage().arrayBuffers
  let peak = 0
  let allRead = true
  for (let i = 0; i < CONNECTIONS; i++) {
    const socket = await openFrom(broker.port, '127.0.0.1')
    sockets.push(socket)
    if (!(await mqttConnect(socket, `partial-${i}`))) t.fail(`connection ${i} refused`)
    socket.once('close', () => closed.push(i))
    socket.write(PARTIAL)
    // Each connection's bytes are either held or were closed for the budget.
    allRead &&= await until(() => {
      peak = Math.max(peak, broker.incompletePacketBytes)
      return broker.incompletePacketBytes + reasons.length * PARTIAL.length >= (i + 1) * PARTIAL.length
    })
  }
  t.ok(allRead, 'the broker read every partial packet')
  const expected = Array.from({ length: CONNECTIONS - HELD }, (_, i) => i)
  t.ok(await until(() => closed.length === expected.length), `${expected.length} connections closed`)
  t.same(closed, expected, 'the oldest offenders, oldest first')
  t.same(reasons, Array(expected.length).fill('incomplete_packet_budget'), 'each counted')
  t.equal(broker.incompletePacketBytes, HELD * PARTIAL.length, `the ${HELD} newest are held`)
  t.ok(peak <= BUDGET, `bytes held never exceeded the budget (peak ${peak})`)
  // Closed sockets give their buffers back asynchronously: on a loaded machine a few GCs later.
  let grownBytes = Number.POSITIVE_INFINITY
  await until(() => {
    gc()
    grownBytes = process.memoryUsage().arrayBuffers - buffersBefore
    return grownBytes < 2 * BUDGET
  })
  t.ok(
    grownBytes < 2 * BUDGET,
    `buffers grew ${grownBytes} bytes for ${CONNECTIONS} x ${PARTIAL.length} sent, under twice the budget`,
  )

  // A held packet completes: its bytes leave the budget and its PUBACK comes back.
  const newest = sockets.at(-1)!
  const puback = new Promise<Buffer>((resolve) => newest.once('data', resolve))
  newest.write(PACKET.subarray(PARTIAL.length))
  t.same([...(await puback)], [0x40, 0x02, 0x00, 0x09], 'PUBACK for the completed packet')
  t.equal(broker.incompletePacketBytes, (HELD - 1) * PARTIAL.length, 'no longer counted')
  t.ok(await publishesFrom(broker.port, '127.0.0.2'), 'others are still served')
})

t.test('broker - a keep-alive-0 client that goes quiet is closed after the idle limit', async (t) => {
  const { broker, reasons } = await startBroker(t, { keepaliveZeroIdleMs: 300 })

  const quiet = await openFrom(broker.port, '127.0.0.1')
  t.ok(await mqttConnect(quiet, 'quiet'))
  const quietClosed = untilClosed(quiet, 5000)

  // Half a packet is not a packet: a trickle does not keep it open.
  const trickler = await openFrom(broker.port, '127.0.0.1')
  t.ok(await mqttConnect(trickler, 'trickler'))
  const tricklerClosed = untilClosed(trickler, 5000)
  const partial = publishPacket('devices/t/telemetry', Buffer.alloc(2000, 1), 0)
  let at = 0
  const trickle = setInterval(() => {
    if (at < partial.length - 1 && !trickler.destroyed) trickler.write(partial.subarray(at, ++at))
  }, 50)
  t.teardown(() => clearInterval(trickle))

  // Whole packets, as often as a device would send them, keep it open.
  const pinger = await openFrom(broker.port, '127.0.0.1')
  t.ok(await mqttConnect(pinger, 'pinger'))
  const pings = setInterval(() => pinger.write(PINGREQ), 100)
  t.teardown(() => clearInterval(pings))
  const pingerClosed = untilClosed(pinger, 1500)

  // A client with keep alive is left to its keep alive [MQTT-3.1.2-24].
  const keeper = await openFrom(broker.port, '127.0.0.1')
  t.ok(await mqttConnect(keeper, 'keeper', 60))
  const keeperClosed = untilClosed(keeper, 1500)

  t.ok((await quietClosed).closed, 'the quiet client is closed')
  t.ok((await tricklerClosed).closed, 'the trickling client is closed')
  t.notOk((await pingerClosed).closed, 'the pinging client stays')
  t.notOk((await keeperClosed).closed, 'the keep-alive-60 client stays')
  t.same(reasons, ['idle_timeout', 'idle_timeout'], 'both counted')
  for (const s of [pinger, keeper]) s.destroy()
})

t.test(
  'broker - a connect flood from one address is refused at its rate while other addresses connect',
  async (t) => {
    // 5 a second, a burst of 50: the flood's first 50 get through, then about 5 a second.
    const { broker, reasons } = await startBroker(t, { maxConnectsPerSecondPerAddress: 5 })
    const { attempt } = connector(t, broker.port, true)
    const started = Date.now()
    const flood = await Promise.all(Array.from({ length: 80 }, (_, i) => attempt('127.0.0.2', `flood-${i}`)))
    const seconds = (Date.now() - started) / 1000
    const admitted = flood.filter(Boolean).length
    t.ok(
      admitted >= 50 && admitted <= 50 + Math.ceil(seconds * 5) + 1,
      `${admitted} of 80 admitted in ${seconds} s`,
    )
    t.equal(
      reasons.filter((r) => r === 'connect_rate').length,
      80 - admitted,
      'each refusal counted as connect_rate',
    )
    t.notOk(await attempt('127.0.0.2', 'flood-more'), 'the flooding address is still held to its rate')
    t.ok(await attempt('127.0.0.3', 'other-address'), 'another address still connects')
    t.ok(await publishesFrom(broker.port, '127.0.0.4'), 'and publishes')
    await new Promise((resolve) => setTimeout(resolve, 400))
    t.ok(await attempt('127.0.0.2', 'flood-later'), 'and connects again once its bucket refills')
  },
)
