/**
 * Stops the MQTT parser under Aedes from holding a fresh packet object while
 * a connection is idle.
 *
 * mqtt-packet (9.x) makes the object for a connection's next packet the moment
 * it has emitted the last one, and keeps it until that next packet arrives:
 *
 *   PUBLISH n parsed ─▶ emit ─▶ new Packet() ··· (idle: 1 s for a device at 1 Hz) ··· PUBLISH n+1 fills it
 *
 * At 10,000 devices a second outlives two young-generation collections, so V8
 * moves every such object to the old generation. The next PUBLISH then hangs
 * its topic, its payload, and the socket chunk the payload is a view of on an
 * old object, so they are moved there as well, dead or not, until the next
 * full collection.
 *
 * Measured with 10,000 devices at 1 reading/s for 50 s (`simulate` against
 * the server, alternating builds): the objects allocated in 30 s of steady
 * load that survived young-generation collections, sampled by V8's heap
 * profiler, went from 216 MB to 55 MB; the server's peak RSS from 609-614 MB
 * (4 runs) to 480-526 MB (6 runs), and its scavenges' mean pause from
 * 8.7-9.7 ms to 5.7-7.2 ms.
 *
 * Here the parser holds one shared, frozen idle packet between packets, and
 * the real one is made when the next packet's first byte is parsed. The
 * workaround reaches into mqtt-packet's parser (`packet`, `_newPacket`,
 * `_parseHeader`); a parser of another shape is left alone and reported.
 */

/** The parser's state between two packets: nothing parsed yet, `length` -1 as mqtt-packet's own fresh Packet. */
export const IDLE_PACKET: Readonly<{ length: -1 }> = Object.freeze({ length: -1 })

interface MqttPacketParser {
  packet: object
  _newPacket(): boolean
  _parseHeader(): boolean
}

/** mqtt-packet's parser: its states on its prototype, and a fresh packet. */
function isMqttPacketParser(parser: unknown): parser is MqttPacketParser {
  if (typeof parser !== 'object' || parser === null) return false
  const proto = Object.getPrototypeOf(parser) as Record<string, unknown> | null
  const packet = (parser as { packet?: { length?: unknown } | null }).packet
  return (
    typeof proto?._newPacket === 'function' &&
    typeof proto._parseHeader === 'function' &&
    typeof packet === 'object' &&
    packet !== null &&
    packet.length === -1
  )
}

interface Wrappers {
  _newPacket(this: MqttPacketParser): boolean
  _parseHeader(this: MqttPacketParser): boolean
}

/** By parser prototype: every connection shares the same two functions. */
const wrappers = new WeakMap<object, Wrappers>()

function wrappersFor(parser: MqttPacketParser): Wrappers {
  const proto = Object.getPrototypeOf(parser) as MqttPacketParser
  let w = wrappers.get(proto)
  if (w === undefined) {
    // mqtt-packet's Packet class, taken from the packet the parser started with.
    const Packet = parser.packet.constructor as new () => object
    const newPacket = proto._newPacket
    const parseHeader = proto._parseHeader
    w = {
      _newPacket() {
        const done = newPacket.call(this)
        // The Packet _newPacket just made is dropped while still young.
        this.packet = IDLE_PACKET
        return done
      },
      _parseHeader() {
        if (this.packet === IDLE_PACKET) this.packet = new Packet()
        return parseHeader.call(this)
      },
    }
    wrappers.set(proto, w)
  }
  return w
}

/**
 * Installs the workaround on one connection's parser (Aedes's `client._parser`),
 * before it has parsed anything. Returns false, changing nothing, when the
 * parser is not of the shape it was written for.
 */
export function releasePacketWhileIdle(parser: unknown): boolean {
  if (!isMqttPacketParser(parser)) return false
  const w = wrappersFor(parser)
  // The parser calls its states as this[name](), so own properties take precedence.
  parser._newPacket = w._newPacket
  parser._parseHeader = w._parseHeader
  return true
}
