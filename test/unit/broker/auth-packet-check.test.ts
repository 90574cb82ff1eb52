/**
 * PacketCheck, table-driven from test/fixtures/packet-check.json. As for
 * PacketGuard, TCP may cut the stream anywhere: every case is fed whole,
 * one byte at a time, and split at every boundary, and the verdict must
 * not depend on the cuts.
 */

import t from 'tap'
import { isValidString, PacketCheck, type PacketRefusal } from '../../../broker/auth-packet-check.js'
import { hex, loadFixture } from '../../helpers/fixtures.js'

interface CheckCase {
  name: string
  refusal: PacketRefusal | null
  packets: Array<{ note: string; hex: string }>
}

const { cases } = loadFixture<{ cases: CheckCase[] }>('packet-check.json')

function feed(chunks: Uint8Array[]): PacketRefusal | null {
  const check = new PacketCheck()
  for (const chunk of chunks) {
    const refusal = check.check(chunk)
    if (refusal !== null) return refusal
  }
  return null
}

for (const c of cases) {
  t.test(`packet check - ${c.name}`, async (t) => {
    const stream = Buffer.concat(c.packets.map((p) => hex(p.hex)))
    t.equal(feed([stream]), c.refusal, 'whole')
    t.equal(feed([...stream].map((b) => Uint8Array.of(b))), c.refusal, 'byte by byte')
    for (let cut = 1; cut < stream.length; cut++) {
      const verdict = feed([stream.subarray(0, cut), stream.subarray(cut)])
      if (verdict !== c.refusal) t.fail(`split at ${cut}: ${verdict}`)
    }
  })
}

t.test('packet check - strings are checked as Mosquitto checks them', async (t) => {
  const valid = (...bytes: number[]) => isValidString(Uint8Array.from(bytes))
  t.equal(valid(), true, 'empty')
  t.equal(valid(0x20, 0x7e), true, 'printable ASCII')
  t.equal(valid(0xf4, 0x8f, 0xbf, 0xbd), true, 'U+10FFFD')
  t.equal(valid(0xf4, 0x90, 0x80, 0x80), false, 'past U+10FFFF')
  t.equal(valid(0xef, 0xb7, 0x90), false, 'U+FDD0, a non-character')
  t.equal(valid(0xf0, 0x9f, 0xbf, 0xbe), false, 'U+1FFFE, a non-character')
  t.equal(valid(0xe0, 0x80, 0xaf), false, 'overlong')
  t.equal(valid(0xc3), false, 'cut short')
  t.equal(valid(0x09), false, 'TAB, a control character')
})
