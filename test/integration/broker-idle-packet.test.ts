/**
 * The broker installs broker/idle-packet.ts on every connection: after a
 * device's PUBLISH is acknowledged, the parser of its connection holds the
 * shared idle packet, not a fresh packet that would age into V8's old
 * generation while the device is quiet.
 */

import { createRequire } from 'node:module'
import mqtt from 'mqtt'
import { pino } from 'pino'
import t from 'tap'
import { IDLE_PACKET } from '../../broker/idle-packet.js'
import { TelemetryBroker } from '../../broker/index.js'

interface Parser {
  packet: object
  parse(chunk: Uint8Array): number
}
const { Parser } = (() => {
  const mqttPacket = createRequire(import.meta.resolve('aedes'))('mqtt-packet') as {
    parser(): Parser
  }
  return { Parser: Object.getPrototypeOf(mqttPacket.parser()) as Parser }
})()

t.test('broker - a connection waiting for its next packet holds the idle packet', async (t) => {
  // Observe the parsers Aedes makes: every one passes through the prototype's
  // parse, and Aedes sets its client on it (mqtt.js's own parsers, in this
  // process too, have none).
  const parsers = new Set<Parser>()
  const parse = Parser.parse
  Parser.parse = function (this: Parser, chunk: Uint8Array) {
    if ('client' in this) parsers.add(this)
    return parse.call(this, chunk)
  }
  t.teardown(() => {
    Parser.parse = parse
  })
  const broker = await TelemetryBroker.start({
    host: '127.0.0.1',
    port: 0,
    maxPacketBytes: 4096,
    connectTimeoutMs: 5000,
    onPublish: async () => undefined,
    log: pino({ level: 'silent' }),
  })
  t.teardown(() => broker.close())
  const devices = await Promise.all(
    ['d-1', 'd-2'].map((clientId) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId, reconnectPeriod: 0 }),
    ),
  )
  for (const device of devices) await device.publishAsync(`s/${device.options.clientId}/m`, 'x', { qos: 1 })
  t.equal(parsers.size, 2, 'one parser per connection')
  t.same(
    [...parsers].map((p) => p.packet === IDLE_PACKET),
    [true, true],
    'each holds the idle packet once its PUBLISH is acknowledged',
  )
  await Promise.all(devices.map((d) => d.endAsync()))
})
