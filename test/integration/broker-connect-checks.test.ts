/**
 * The MQTT 3.1.1 checks of CONNECT, SUBSCRIBE, UNSUBSCRIBE and the
 * acknowledgements (broker/auth-packet-check.ts) against the real broker,
 * with raw sockets: every case of test/fixtures/packet-check.json is sent
 * on its own connection. A refused packet closes the connection without an
 * answer to it (an unsupported protocol level gets CONNACK 0x01 first);
 * the others are served and the connection stays.
 */

import { once } from 'node:events'
import t from 'tap'
import type { DisconnectReason } from '../../broker/index.js'
import { startBroker } from '../helpers/broker.js'
import { until } from '../helpers/broker-auth.js'
import { hex, loadFixture } from '../helpers/fixtures.js'
import { connectPacket, openSocket, untilClosed } from '../helpers/mqtt.js'

interface CheckCase {
  name: string
  refusal: DisconnectReason | null
  packets: Array<{ note: string; hex: string }>
}

const { cases } = loadFixture<{ cases: CheckCase[] }>('packet-check.json')
const CONNACK_OK = '20020000'

t.test('broker - packet checks on the wire', async (t) => {
  const { broker, reasons } = await startBroker(t, {})

  for (const c of cases) {
    t.test(c.name, async (t) => {
      const socket = await openSocket(broker.port)
      const before = reasons.length
      const seen: Buffer[] = []
      socket.on('data', (chunk: Buffer) => seen.push(chunk))
      // The first bytes back, or false after 5 s (or on close) without any.
      const firstAnswer = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5000)
        socket.once('data', () => resolve(true))
        socket.once('close', () => resolve(false))
        socket.once('data', () => clearTimeout(timer))
      })
      // Listening for the close from the start: a refusal may come at once.
      const refused = c.refusal === null ? null : untilClosed(socket, 5000)
      const [connect, ...rest] = c.packets
      socket.write(hex(connect!.hex))
      // The rest once CONNECT is answered: a refused chunk goes unread, CONNECT with it.
      if (rest.length > 0) await firstAnswer
      for (const p of rest) socket.write(hex(p.hex))
      if (refused === null) {
        t.ok(await firstAnswer, 'answered')
        t.notOk((await untilClosed(socket, 500)).closed, 'the connection stays')
        t.ok(Buffer.concat(seen).toString('hex').startsWith(CONNACK_OK), 'CONNACK 0x00')
        socket.destroy()
        return
      }
      const { closed, received } = await refused
      t.ok(closed, 'the connection is closed')
      const expected =
        c.refusal === 'unsupported_protocol' ? '20020001' : c.packets.length > 1 ? CONNACK_OK : ''
      t.equal(received.toString('hex'), expected, 'nothing answers the refused packet')
      t.same(reasons.slice(before), [c.refusal], 'counted by its reason')
    })
  }
})

t.test(
  'broker - unsolicited acknowledgements are answered as MQTT 3.1.1 says, the connection stays',
  async (t) => {
    const { broker } = await startBroker(t, {})
    const socket = await openSocket(broker.port)
    socket.write(connectPacket('acks'))
    const seen: Buffer[] = []
    socket.on('data', (chunk: Buffer) => seen.push(chunk))
    await once(socket, 'data')
    // PUBREC for no message in flight: PUBREL [MQTT-4.3.3]; PUBREL: PUBCOMP
    // [MQTT-4.3.3-2]; PUBCOMP and PUBACK: nothing to do. Mosquitto does the same.
    socket.write(Buffer.from([0x50, 2, 0, 9, 0x62, 2, 0, 10, 0x70, 2, 0, 11, 0x40, 2, 0, 12]))
    const expected = `${CONNACK_OK}620200097002000a`
    await until(() => Buffer.concat(seen).length >= expected.length / 2)
    t.notOk((await untilClosed(socket, 500)).closed)
    t.equal(Buffer.concat(seen).toString('hex'), expected)
    socket.destroy()
  },
)
