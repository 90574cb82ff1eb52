/**
 * Checks the MQTT framing of a connection's raw bytes before Aedes sees them.
 *
 * Aedes (through mqtt-packet) buffers a packet until all the bytes its fixed
 * header announces have arrived, whatever that number is: a client that
 * announces 256 MB and trickles bytes holds that memory. This guard reads
 * only the fixed header of each packet [MQTT-2.2] and the topic of each
 * PUBLISH [MQTT-3.3.2.1], and refuses:
 *
 * - a Remaining Length above the broker's maximum packet size, at once;
 * - a Remaining Length encoded in more than four bytes [MQTT-2.2.3];
 * - a topic that is not well-formed UTF-8 [MQTT-1.5.3-1] or holds U+0000
 *   [MQTT-1.5.3-2]. mqtt-packet would turn bad bytes into U+FFFD silently.
 *
 *   chunk ─▶ [ type byte ] ─▶ [ length 1-4 bytes ] ─▶ [ body: skip, or topic for PUBLISH ] ─┐
 *               ▲                                                                        │
 *               └────────────────────────────────────────────────────────────────────────┘
 *
 * It also counts, for the broker's connection limits, the packets it has
 * seen whole and the bytes of the one begun and not yet complete: what the
 * parser behind it holds until the rest arrives.
 */

export type GuardViolation = 'packet_too_large' | 'malformed_length' | 'topic_not_utf8' | 'topic_contains_nul'

const HEADER = 0
const LENGTH = 1
const BODY = 2
const PUBLISH = 3

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export class PacketGuard {
  readonly #maxPacketBytes: number
  #state = HEADER
  #type = 0
  #length = 0
  #lengthBytes = 0
  #remaining = 0
  /** For a PUBLISH: the topic length prefix and topic bytes read so far. */
  #topic: number[] | null = null
  /** Bytes of the current packet read so far, fixed header included. */
  #packetBytes = 0
  #packets = 0

  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes
  }

  /**
   * How many leading bytes of `chunk`, the stream's next bytes, hold whole
   * packets and no more than `max` bytes in all: 0 when the guard is inside a
   * packet, or the first packet alone is longer than `max` (or incomplete).
   * Reads nothing into the guard.
   */
  wholePacketsWithin(chunk: Uint8Array, max: number): number {
    if (this.#state !== HEADER) return 0
    let whole = 0
    let pos = 0
    while (pos < chunk.length) {
      let length = 0
      let k = 0
      let byte = 0x80
      while (byte & 0x80) {
        if (k === 4 || pos + 1 + k >= chunk.length) return whole
        byte = chunk[pos + 1 + k]!
        length += (byte & 0x7f) * 128 ** k
        k++
      }
      const end = pos + 1 + k + length
      if (end > max || end > chunk.length) return whole
      whole = end
      pos = end
    }
    return whole
  }

  /** Packets read whole so far. */
  get packets(): number {
    return this.#packets
  }

  /** Bytes of a packet begun and not yet complete: 0 between packets. */
  get heldBytes(): number {
    return this.#state === HEADER ? 0 : this.#packetBytes
  }

  /** Feeds the next bytes of the stream; returns the first violation, or null. */
  check(chunk: Uint8Array): GuardViolation | null {
    let i = 0
    while (i < chunk.length) {
      if (this.#state === HEADER) {
        this.#type = chunk[i++]! >> 4
        this.#packetBytes = 1
        this.#state = LENGTH
        this.#length = 0
        this.#lengthBytes = 0
      } else if (this.#state === LENGTH) {
        const byte = chunk[i++]!
        this.#packetBytes++
        this.#length += (byte & 0x7f) * 128 ** this.#lengthBytes
        this.#lengthBytes++
        if (byte & 0x80) {
          if (this.#lengthBytes === 4) return 'malformed_length'
          continue
        }
        if (this.#length > this.#maxPacketBytes) return 'packet_too_large'
        this.#remaining = this.#length
        this.#topic = this.#type === PUBLISH ? [] : null
        if (this.#remaining === 0) this.#completed()
        else this.#state = BODY
      } else {
        const take = Math.min(this.#remaining, chunk.length - i)
        if (this.#topic !== null) {
          const violation = this.#readTopic(chunk, i, take)
          if (violation !== null) return violation
        }
        i += take
        this.#packetBytes += take
        this.#remaining -= take
        if (this.#remaining === 0) this.#completed()
      }
    }
    return null
  }

  #completed(): void {
    this.#state = HEADER
    this.#packets++
  }

  #readTopic(chunk: Uint8Array, start: number, available: number): GuardViolation | null {
    const topic = this.#topic!
    // The usual case: the whole topic within this chunk, checked where it lies.
    if (topic.length === 0 && available >= 2) {
      const end = start + 2 + chunk[start]! * 256 + chunk[start + 1]!
      if (end <= start + available) {
        this.#topic = null
        return topicProblem(chunk, start + 2, end)
      }
    }
    for (let k = 0; k < available; k++) {
      topic.push(chunk[start + k]!)
      if (topic.length < 2) continue
      const topicLength = topic[0]! * 256 + topic[1]!
      if (topic.length < 2 + topicLength) continue
      this.#topic = null
      return topicProblem(Uint8Array.from(topic), 2, topic.length)
    }
    return null
  }
}

/** Whether bytes[from, to) hold U+0000 or are not well-formed UTF-8; ASCII needs no decoding. */
function topicProblem(bytes: Uint8Array, from: number, to: number): GuardViolation | null {
  let ascii = true
  for (let k = from; k < to; k++) {
    const b = bytes[k]!
    if (b === 0) return 'topic_contains_nul'
    if (b >= 0x80) ascii = false
  }
  if (ascii) return null
  try {
    strictUtf8.decode(bytes.subarray(from, to))
  } catch {
    return 'topic_not_utf8'
  }
  return null
}
