/**
 * PacketGuard on random and generated input (fast-check): whatever the
 * bytes, no exception escapes and the verdict is one of the guard's; the
 * verdict and packet count do not depend on where TCP cuts the stream; and
 * well-formed packets (made by mqtt-packet, the parser behind Aedes) within
 * the size limit are never refused. A failure prints its seed and the
 * smallest input found: rerun with that seed to reproduce.
 */

import fc from 'fast-check'
import { generate, type Packet } from 'mqtt-packet'
import t from 'tap'
import { type GuardViolation, PacketGuard } from '../../../broker/packet-guard.js'

const VIOLATIONS: ReadonlySet<GuardViolation> = new Set([
  'packet_too_large',
  'malformed_length',
  'topic_not_utf8',
  'topic_contains_nul',
])
const RUNS = 1000

/** The stream fed in pieces cut at `cuts` (offsets, any order): the first violation, whole packets, bytes held. */
function feed(max: number, bytes: Uint8Array, cuts: readonly number[]) {
  const guard = new PacketGuard(max)
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  let from = 0
  for (const to of [...at, bytes.length]) {
    const violation = guard.check(bytes.subarray(from, to))
    if (violation !== null) return { violation, packets: guard.packets, at: to }
    from = to
  }
  return { violation: null, packets: guard.packets, held: guard.heldBytes }
}

const topicChar = fc.constantFrom(...'abcxyz019/-_é€😀'.split(''), 'devices', 'telemetry')
const topic = fc.array(topicChar, { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''))
const packet: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({
    cmd: fc.constant('publish' as const),
    topic,
    payload: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
    qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
    retain: fc.boolean(),
    dup: fc.boolean(),
    messageId: fc.integer({ min: 1, max: 65535 }),
  }),
  fc.record({
    cmd: fc.constant('subscribe' as const),
    messageId: fc.integer({ min: 1, max: 65535 }),
    subscriptions: fc.array(fc.record({ topic, qos: fc.constantFrom(0 as const, 1 as const, 2 as const) }), {
      minLength: 1,
      maxLength: 4,
    }),
  }),
  fc.record({ cmd: fc.constant('puback' as const), messageId: fc.integer({ min: 1, max: 65535 }) }),
  fc.constant({ cmd: 'pingreq' as const }),
)

t.test('guard - random bytes in random pieces: no exception, a known verdict or none', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2048 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.integer({ min: 2, max: 4096 }),
      (bytes, cuts, max) => {
        const r = feed(max, bytes, cuts)
        return r.violation === null || VIOLATIONS.has(r.violation)
      },
    ),
    { numRuns: RUNS },
  )
  t.pass(`${RUNS} random streams`)
})

t.test('guard - the verdict and the packets counted do not depend on where the stream is cut', async (t) => {
  fc.assert(
    fc.property(
      fc.array(packet, { maxLength: 6 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (packets, junk, cuts) => {
        // Whole packets, then perhaps junk: the tail is where verdicts differ.
        const bytes = Buffer.concat([...packets.map((p) => generate(p)), Buffer.from(junk)])
        const whole = feed(1024, bytes, [])
        const cut = feed(1024, bytes, cuts)
        return cut.violation === whole.violation && cut.packets === whole.packets
      },
    ),
    { numRuns: RUNS },
  )
  t.pass(`${RUNS} streams, each cut at random`)
})

t.test('guard - well-formed packets within the limit are never refused, each counted once', async (t) => {
  fc.assert(
    fc.property(
      fc.array(packet, { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (packets, cuts) => {
        const frames = packets.map((p) => generate(p))
        const max = Math.max(...frames.map((f) => f.length))
        const r = feed(max, Buffer.concat(frames), cuts)
        return r.violation === null && r.packets === packets.length && r.held === 0
      },
    ),
    { numRuns: RUNS },
  )
  t.pass(`${RUNS} sequences of generated packets`)
})

t.test('guard - a Remaining Length one over the limit is packet_too_large, however it is cut', async (t) => {
  /** The Remaining Length of a frame: up to four 7-bit groups after the type byte [MQTT-2.2.3]. */
  const remainingLength = (frame: Buffer): number => {
    let [length, i] = [0, 1]
    do length += (frame[i]! & 0x7f) * 128 ** (i - 1)
    while (frame[i++]! & 0x80)
    return length
  }
  fc.assert(
    fc.property(packet, fc.array(fc.nat(), { maxLength: 6 }), (p, cuts) => {
      const frame = generate(p)
      const length = remainingLength(frame)
      fc.pre(length > 0)
      return (
        feed(length - 1, frame, cuts).violation === 'packet_too_large' &&
        feed(length, frame, cuts).violation === null
      )
    }),
    { numRuns: RUNS },
  )
  t.pass(`${RUNS} packets at and one over the limit`)
})
