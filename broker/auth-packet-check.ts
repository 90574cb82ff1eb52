/**
 * The checks of MQTT 3.1.1 that need a control packet's bytes (issue #22,
 * item 2), made before Aedes parses the packet. Probed with raw sockets
 * against Aedes 1.2 / mqtt-packet 9 (test/integration/broker-connect-checks.test.ts):
 * they accept a CONNECT with Will QoS 3, a password without a username,
 * bytes after the last field, a will topic with wildcards, and strings that
 * are not well-formed UTF-8 or hold U+0000 (mqtt-packet turns bad bytes into
 * U+FFFD); they close a CONNECT of an unknown protocol level without the
 * CONNACK 0x01 [MQTT-3.1.2-2] asks for; they accept UNSUBSCRIBE filters with
 * such strings, and packet identifier 0 in SUBSCRIBE, UNSUBSCRIBE and the
 * acknowledgements [MQTT-2.3.1-1]. Strings are checked as Mosquitto checks
 * them (lib/utf8_mosq.c): well-formed UTF-8 [MQTT-1.5.3-1], no U+0000
 * [MQTT-1.5.3-2], and, as Mosquitto refuses them, no control characters
 * (U+0001-U+001F, U+007F-U+009F) and no non-characters.
 *
 * Unsolicited PUBREC, PUBREL and PUBCOMP need nothing here: Aedes answers a
 * PUBREC with PUBREL and a PUBREL with PUBCOMP [MQTT-4.3.3] and ignores a
 * PUBCOMP, as Mosquitto does.
 *
 * PacketGuard has already checked the framing; this reads each packet's
 * fixed header, keeps the body of CONNECT, SUBSCRIBE, UNSUBSCRIBE and the
 * acknowledgements (rare and small), and skips the others' bodies.
 */

import { isValidFilter } from './auth-acl.js'

export type PacketRefusal =
  | 'unsupported_protocol'
  | 'connect_malformed'
  | 'string_invalid'
  | 'topic_invalid'
  | 'packet_id_zero'

const CONNECT = 1
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10
/** PUBACK, PUBREC, PUBREL, PUBCOMP: a packet identifier and nothing else. */
const isAck = (type: number): boolean => type >= 4 && type <= 7
const kept = (type: number): boolean =>
  type === CONNECT || type === SUBSCRIBE || type === UNSUBSCRIBE || isAck(type)

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** Whether bytes hold a string Mosquitto would accept (lib/utf8_mosq.c `mosquitto_validate_utf8`). */
export function isValidString(bytes: Uint8Array): boolean {
  let ascii = true
  for (const b of bytes) {
    if (b < 0x20 || b === 0x7f) return false
    if (b >= 0x80) ascii = false
  }
  if (ascii) return true
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return false // ill-formed, overlong, a surrogate, or past U+10FFFF
  }
  for (const char of text) {
    const c = char.codePointAt(0)!
    if ((c >= 0x80 && c <= 0x9f) || (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) === 0xfffe) return false
  }
  return true
}

class Reader {
  pos = 0
  constructor(readonly bytes: Uint8Array) {}
  byte(): number | null {
    return this.pos < this.bytes.length ? this.bytes[this.pos++]! : null
  }
  u16(): number | null {
    if (this.pos + 2 > this.bytes.length) return null
    const n = this.bytes[this.pos]! * 256 + this.bytes[this.pos + 1]!
    this.pos += 2
    return n
  }
  field(): Uint8Array | null {
    const n = this.u16()
    if (n === null || this.pos + n > this.bytes.length) return null
    this.pos += n
    return this.bytes.subarray(this.pos - n, this.pos)
  }
}

/** What is wrong with a CONNECT's variable header and payload, or null. */
export function connectProblem(body: Uint8Array): PacketRefusal | null {
  const r = new Reader(body)
  const name = r.field()
  const level = r.byte()
  if (name === null || level === null) return 'connect_malformed'
  const protocol = Buffer.from(name).toString('latin1')
  if (protocol !== 'MQTT' && protocol !== 'MQIsdp') return 'connect_malformed'
  // [MQTT-3.1.2-2]; the top bit is Mosquitto's bridge flag, which Aedes reads too.
  if ((level & 0x7f) !== (protocol === 'MQTT' ? 4 : 3)) return 'unsupported_protocol'
  const flags = r.byte()
  if (flags === null || r.u16() === null) return 'connect_malformed'
  const will = (flags & 0x04) !== 0
  const willQos = (flags >> 3) & 3
  const willRetain = (flags & 0x20) !== 0
  const password = (flags & 0x40) !== 0
  const username = (flags & 0x80) !== 0
  if ((flags & 1) !== 0) return 'connect_malformed' // [MQTT-3.1.2-3]
  if (willQos === 3) return 'connect_malformed' // [MQTT-3.1.2-14]
  if (!will && (willQos !== 0 || willRetain)) return 'connect_malformed' // [MQTT-3.1.2-13], [MQTT-3.1.2-15]
  if (password && !username) return 'connect_malformed' // [MQTT-3.1.2-22]
  const clientId = r.field()
  if (clientId === null) return 'connect_malformed'
  if (!isValidString(clientId)) return 'string_invalid'
  if (will) {
    const topic = r.field()
    if (topic === null || r.field() === null) return 'connect_malformed'
    if (!isValidString(topic)) return 'string_invalid'
    const text = Buffer.from(topic).toString('utf8')
    if (text === '' || text.includes('+') || text.includes('#')) return 'connect_malformed' // [MQTT-3.1.3-10], [MQTT-4.7.1-1]
  }
  if (username) {
    const user = r.field()
    if (user === null) return 'connect_malformed' // [MQTT-3.1.2-19]
    if (!isValidString(user)) return 'string_invalid'
  }
  if (password && r.field() === null) return 'connect_malformed' // [MQTT-3.1.2-21]
  return r.pos === body.length ? null : 'connect_malformed'
}

/** What is wrong with a SUBSCRIBE's or UNSUBSCRIBE's body, or null. */
export function filtersProblem(type: number, body: Uint8Array): PacketRefusal | null {
  const r = new Reader(body)
  const id = r.u16()
  if (id === null) return 'topic_invalid'
  if (id === 0) return 'packet_id_zero'
  while (r.pos < body.length) {
    const filter = r.field()
    if (filter === null || (type === SUBSCRIBE && r.byte() === null)) return 'topic_invalid'
    if (!isValidString(filter) || !isValidFilter(Buffer.from(filter).toString('utf8'))) return 'topic_invalid'
  }
  return null
}

/** The body of an acknowledgement: a packet identifier, which may not be 0 [MQTT-2.3.1-1]. */
const ackProblem = (body: Uint8Array): PacketRefusal | null =>
  body.length >= 2 && body[0] === 0 && body[1] === 0 ? 'packet_id_zero' : null

const HEADER = 0
const LENGTH = 1
const BODY = 2

/** Fed the bytes of one connection in order, after PacketGuard. */
export class PacketCheck {
  #state = HEADER
  #type = 0
  #length = 0
  #multiplier = 1
  #remaining = 0
  #body: Uint8Array[] | null = null

  check(chunk: Uint8Array): PacketRefusal | null {
    let i = 0
    while (i < chunk.length) {
      if (this.#state === HEADER) {
        this.#type = chunk[i++]! >> 4
        this.#length = 0
        this.#multiplier = 1
        this.#state = LENGTH
      } else if (this.#state === LENGTH) {
        const byte = chunk[i++]!
        this.#length += (byte & 0x7f) * this.#multiplier
        this.#multiplier *= 128
        if (byte & 0x80) continue
        this.#remaining = this.#length
        this.#body = kept(this.#type) ? [] : null
        this.#state = BODY
        if (this.#remaining === 0) {
          const problem = this.#complete()
          if (problem !== null) return problem
        }
      } else {
        const take = Math.min(this.#remaining, chunk.length - i)
        this.#body?.push(chunk.subarray(i, i + take))
        i += take
        this.#remaining -= take
        if (this.#remaining === 0) {
          const problem = this.#complete()
          if (problem !== null) return problem
        }
      }
    }
    return null
  }

  #complete(): PacketRefusal | null {
    this.#state = HEADER
    const parts = this.#body
    this.#body = null
    if (parts === null) return null
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
    if (this.#type === CONNECT) return connectProblem(body)
    if (isAck(this.#type)) return ackProblem(body)
    return filtersProblem(this.#type, body)
  }
}
