/**
 * PacketGuard, table-driven from test/fixtures/packet-guard.json. TCP may cut
 * the stream anywhere, so every case is fed whole, one byte at a time, split
 * at every boundary, and split at every pair of boundaries: the verdict, and
 * the chunk that carries it, must not depend on where the cuts fall.
 */

import t from 'tap'
import { type GuardViolation, PacketGuard } from '../../../broker/packet-guard.js'
import { hex, loadFixture } from '../../helpers/fixtures.js'

interface GuardCase {
  name: string
  maxPacketBytes: number
  packets: Array<{ note: string; hex: string }>
  violation: GuardViolation | null
  atByte?: number
}

const { cases } = loadFixture<{ cases: GuardCase[] }>('packet-guard.json')

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Feeds the chunks in order; returns the first violation and the index of the chunk that returned it. */
function feed(
  maxPacketBytes: number,
  chunks: Uint8Array[],
): { violation: GuardViolation | null; chunk: number } {
  const guard = new PacketGuard(maxPacketBytes)
  for (let i = 0; i < chunks.length; i++) {
    const violation = guard.check(chunks[i]!)
    if (violation !== null) return { violation, chunk: i }
  }
  return { violation: null, chunk: -1 }
}

/** What feed() must return for chunks cut at `cuts` (ascending offsets strictly inside the stream). */
function expected(c: GuardCase, cuts: number[]): { violation: GuardViolation | null; chunk: number } {
  if (c.violation === null) return { violation: null, chunk: -1 }
  const at = c.atByte!
  return { violation: c.violation, chunk: cuts.filter((cut) => cut <= at).length }
}

function cutAt(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const bounds = [0, ...cuts, stream.length]
  return bounds.slice(1).map((end, i) => stream.subarray(bounds[i]!, end))
}

for (const c of cases) {
  const stream = concat(c.packets.map((p) => hex(p.hex)))
  t.test(`packet-guard - ${c.name}`, async (t) => {
    if (c.violation !== null && c.atByte === undefined) throw new Error('fixture: a violation needs atByte')

    t.strictSame(feed(c.maxPacketBytes, [stream]), expected(c, []), 'the whole stream in one chunk')

    const bytes = Array.from(stream, (_, i) => stream.subarray(i, i + 1))
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1)
    t.strictSame(feed(c.maxPacketBytes, bytes), expected(c, cuts), 'one byte at a time')

    const wrong: string[] = []
    for (let k = 1; k < stream.length; k++) {
      const got = feed(c.maxPacketBytes, cutAt(stream, [k]))
      const want = expected(c, [k])
      if (got.violation !== want.violation || got.chunk !== want.chunk)
        wrong.push(`cut at ${k}: ${JSON.stringify(got)}`)
    }
    t.strictSame(wrong, [], 'split in two at every boundary')

    for (let i = 1; i < stream.length && wrong.length < 10; i++) {
      for (let j = i + 1; j < stream.length; j++) {
        const got = feed(c.maxPacketBytes, cutAt(stream, [i, j]))
        const want = expected(c, [i, j])
        if (got.violation !== want.violation || got.chunk !== want.chunk)
          wrong.push(`cuts at ${i}, ${j}: ${JSON.stringify(got)}`)
      }
    }
    t.strictSame(wrong, [], 'split in three at every pair of boundaries')
  })
}

t.test('packet-guard - keeps no state between connections', async (t) => {
  // One guard per connection: a violation on one says nothing about a fresh one.
  const bad = new PacketGuard(1024)
  t.equal(bad.check(hex('30 81 08')), 'packet_too_large')
  const fresh = new PacketGuard(1024)
  t.equal(fresh.check(hex('30 06 00 02 61 62 68 69')), null)
})

t.test('packet-guard - applies its own maximum', async (t) => {
  const header = hex('30 e4 00') // Remaining Length 100, in a non-minimal two-byte encoding
  t.equal(new PacketGuard(99).check(header), 'packet_too_large')
  t.equal(new PacketGuard(100).check(header), null)
})

t.test('packet guard - whole packets within a bound, from a packet start only', async (t) => {
  // PUBLISH QoS 0 to "a/b" with a 4-byte payload: 1 + 1 + (2 + 3 + 4) = 11 bytes.
  const publish = Buffer.from([0x30, 9, 0, 3, 0x61, 0x2f, 0x62, 1, 2, 3, 4])
  const three = Buffer.concat([publish, publish, publish])
  const guard = new PacketGuard(1024)
  t.equal(guard.wholePacketsWithin(three, 100), 33, 'all three fit')
  t.equal(guard.wholePacketsWithin(three, 25), 22, 'two fit the bound')
  t.equal(guard.wholePacketsWithin(three, 10), 0, 'not even the first: nothing to cut at')
  t.equal(guard.wholePacketsWithin(three.subarray(0, 30), 100), 22, 'an incomplete third is left out')
  t.equal(guard.wholePacketsWithin(Buffer.from([0x30]), 100), 0, 'a lone type byte')
  // A 200-byte body: Remaining Length in two bytes (0xc8 0x01).
  const long = Buffer.concat([Buffer.from([0x30, 0xc8, 0x01]), Buffer.alloc(200)])
  t.equal(guard.wholePacketsWithin(Buffer.concat([long, publish]), 300), 214)
  t.equal(guard.wholePacketsWithin(long.subarray(0, 2), 300), 0, 'a length cut in the middle')
  // Once the guard is inside a packet, a cut would not fall on a boundary.
  t.equal(guard.check(three.subarray(0, 5)), null)
  t.equal(guard.wholePacketsWithin(three.subarray(5), 100), 0)
})

t.test(
  'packet-guard - counts whole packets and the bytes of the one begun, wherever the cuts fall',
  async (t) => {
    // PINGREQ (2 bytes, empty body), a PUBLISH with a two-byte Remaining Length (203 bytes), PINGREQ.
    const publish = Buffer.concat([
      Buffer.from([0x30, 0xc8, 0x01, 0, 3, 0x61, 0x2f, 0x62]),
      Buffer.alloc(195),
    ])
    const stream = Buffer.concat([Buffer.from([0xc0, 0]), publish, Buffer.from([0xc0, 0])])
    const ends = [2, 2 + publish.length, stream.length]
    /** What the guard must say after the first `n` bytes. */
    const want = (n: number) => {
      const done = ends.filter((end) => end <= n)
      return { packets: done.length, heldBytes: n - (done.at(-1) ?? 0) }
    }
    const wrong: string[] = []
    for (let k = 1; k < stream.length; k++) {
      const guard = new PacketGuard(1024)
      for (const [from, to] of [
        [0, k],
        [k, stream.length],
      ] as const) {
        guard.check(stream.subarray(from, to))
        const got = { packets: guard.packets, heldBytes: guard.heldBytes }
        if (JSON.stringify(got) !== JSON.stringify(want(to)))
          wrong.push(`cut at ${k}, after ${to}: ${JSON.stringify(got)}`)
      }
    }
    t.strictSame(wrong, [], 'split in two at every boundary')
    wrong.length = 0
    const guard = new PacketGuard(1024)
    for (let n = 1; n <= stream.length; n++) {
      guard.check(stream.subarray(n - 1, n))
      if (JSON.stringify({ packets: guard.packets, heldBytes: guard.heldBytes }) !== JSON.stringify(want(n)))
        wrong.push(`byte ${n}`)
    }
    t.strictSame(wrong, [], 'one byte at a time')
  },
)
