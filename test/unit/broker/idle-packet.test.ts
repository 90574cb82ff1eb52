/**
 * releasePacketWhileIdle on the mqtt-packet parser Aedes itself loads: the
 * parser must emit the same packets as before, wherever TCP cuts the stream,
 * and hold no packet of its own between them.
 */

import type { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import t from 'tap'
import { IDLE_PACKET, releasePacketWhileIdle } from '../../../broker/idle-packet.js'

interface Parser extends EventEmitter {
  packet: object
  parse(chunk: Uint8Array): number
  _newPacket(): boolean
  _parseHeader(): boolean
}
interface MqttPacket {
  parser(): Parser
  generate(packet: object): Buffer
}

/** The mqtt-packet module Aedes imports: the one the broker's parsers come from. */
const mqttPacket = createRequire(import.meta.resolve('aedes'))('mqtt-packet') as MqttPacket

const STREAM: object[] = [
  { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'd-1', keepalive: 60 },
  {
    cmd: 'publish',
    topic: 's/d-1/m',
    payload: Buffer.from([1, 2, 3]),
    qos: 1,
    messageId: 7,
    retain: false,
    dup: false,
  },
  { cmd: 'pingreq' },
  { cmd: 'publish', topic: 's/d-1/m', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false },
  { cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'a/#', qos: 1 }] },
  { cmd: 'puback', messageId: 3 },
  {
    cmd: 'publish',
    topic: 'x',
    payload: Buffer.alloc(300, 9),
    qos: 2,
    messageId: 9,
    retain: true,
    dup: true,
  },
  { cmd: 'disconnect' },
]
const packetBytes = STREAM.map((p) => mqttPacket.generate(p))
const bytes = Buffer.concat(packetBytes)

/** Feeds the chunks; returns the packets emitted (as plain data) and what the parser held after each chunk. */
function parseAll(chunks: Uint8Array[], idle: boolean): { packets: unknown[]; held: object[] } {
  const parser = mqttPacket.parser()
  if (idle && !releasePacketWhileIdle(parser)) throw new Error('the workaround does not apply to this parser')
  const packets: unknown[] = []
  const held: object[] = []
  parser.on('packet', (packet: object) => packets.push(JSON.parse(JSON.stringify(packet))))
  for (const chunk of chunks) {
    parser.parse(chunk)
    held.push(parser.packet)
  }
  return { packets, held }
}

t.test(
  'broker - the parser emits the same packets with the idle packet, however the stream is cut',
  async (t) => {
    const expected = parseAll([bytes], false).packets
    t.equal(expected.length, STREAM.length, 'the plain parser reads every packet')
    t.same(parseAll([bytes], true).packets, expected, 'whole')
    t.same(
      parseAll(
        [...bytes].map((b) => Uint8Array.of(b)),
        true,
      ).packets,
      expected,
      'one byte at a time',
    )
    const wrong: number[] = []
    for (let cut = 1; cut < bytes.length; cut++) {
      const { packets } = parseAll([bytes.subarray(0, cut), bytes.subarray(cut)], true)
      if (JSON.stringify(packets) !== JSON.stringify(expected)) wrong.push(cut)
    }
    t.same(wrong, [], `cut in two at each of ${bytes.length - 1} places`)
  },
)

t.test('broker - between packets the parser holds the shared idle packet, not a fresh one', async (t) => {
  const { held } = parseAll(packetBytes, true)
  t.same(
    held.map((p) => p === IDLE_PACKET),
    packetBytes.map(() => true),
    'after each whole packet',
  )
  // Inside a packet it holds a real one, which it fills.
  const { held: midway } = parseAll([bytes.subarray(0, 5)], true)
  t.not(midway[0], IDLE_PACKET)
  t.equal((midway[0] as { cmd?: unknown }).cmd, 'connect')
})

t.test('broker - a malformed packet still fails the parser, which then reads on', async (t) => {
  // PUBREL must carry header flags 0010 [MQTT-3.6.1-1].
  const bad = Buffer.from([0x60, 0x02, 0x00, 0x01])
  const ping = mqttPacket.generate({ cmd: 'pingreq' })
  for (const idle of [false, true]) {
    const parser = mqttPacket.parser()
    if (idle) t.equal(releasePacketWhileIdle(parser), true)
    const errors: string[] = []
    const packets: string[] = []
    parser.on('error', (err: Error) => errors.push(err.message))
    parser.on('packet', (p: { cmd: string }) => packets.push(p.cmd))
    parser.parse(bad)
    parser.parse(ping)
    t.same(errors, ['Invalid header flag bits, must be 0x2 for pubrel packet'], `idle ${idle}: the error`)
    t.same(packets, ['pingreq'], `idle ${idle}: the next packet`)
  }
})

t.test('broker - a parser of another shape is left as it is', async (t) => {
  t.equal(releasePacketWhileIdle(null), false)
  t.equal(releasePacketWhileIdle({}), false)
  const parser = mqttPacket.parser()
  const other = { _newPacket: parser._newPacket, _parseHeader: parser._parseHeader, packet: { length: 4 } }
  t.equal(releasePacketWhileIdle(other), false, 'a packet already in progress')
  t.equal(other._newPacket, parser._newPacket, 'unchanged')
  t.equal(other._parseHeader, parser._parseHeader, 'unchanged')
  const ownOnly = { ...other, packet: { length: -1 } }
  t.equal(releasePacketWhileIdle(ownOnly), false, 'the states not on its prototype')
})

t.test(
  'broker - every parser shares the same two functions, and installing twice changes nothing',
  async (t) => {
    const a = mqttPacket.parser()
    const b = mqttPacket.parser()
    t.equal(releasePacketWhileIdle(a), true)
    t.equal(releasePacketWhileIdle(b), true)
    t.equal(a._newPacket, b._newPacket)
    t.equal(a._parseHeader, b._parseHeader)
    const installed = a._newPacket
    t.equal(releasePacketWhileIdle(a), true)
    t.equal(a._newPacket, installed, 'not wrapped twice')
    const packets: unknown[] = []
    a.on('packet', (p: object) => packets.push(JSON.parse(JSON.stringify(p))))
    a.parse(bytes)
    t.same(packets, parseAll([bytes], false).packets)
  },
)
