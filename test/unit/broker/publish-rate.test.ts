/** PublishRate: the token bucket that delays publishes over a client's rate, on a clock the test moves. */

import t from 'tap'
import { PublishRate } from '../../../broker/publish-rate.js'

function clock() {
  let ms = 0
  return { now: () => ms, advance: (by: number) => (ms += by) }
}

t.test('publish rate - a burst passes at once, then each message waits its turn', async (t) => {
  const c = clock()
  const rate = new PublishRate(10, 5, 2000, c.now)
  t.same(
    Array.from({ length: 5 }, () => rate.take('a')),
    [0, 0, 0, 0, 0],
    'the burst of 5',
  )
  // Taken at the same moment, the next ones queue behind each other: 100, 200, 300 ms.
  const waits = Array.from({ length: 3 }, () => rate.take('a'))
  t.same(
    waits.map((w) => Math.round(w ?? -1)),
    [100, 200, 300],
  )
  t.equal(rate.take('b'), 0, 'another client has its own bucket')
  c.advance(400)
  t.equal(rate.take('a'), 0, 'the debt of 3 paid over 400 ms, one token left')
  t.equal(Math.round(rate.take('a') ?? -1), 100, 'then waits again')
})

t.test('publish rate - ten times the rate is slowed to the rate; far above, the client is cut', async (t) => {
  const c = clock()
  const rate = new PublishRate(10, 10, 2000, c.now)
  // Ten seconds of a device that would send 100/s, each message waiting its turn before the next is read.
  let sent = 0
  while (c.now() < 10_000) {
    const wait = rate.take('fast')
    if (wait === null) throw new Error('cut at 10x')
    c.advance(wait + 10)
    sent++
  }
  t.ok(sent >= 100 && sent <= 115, `${sent} messages in 10 s at 10/s with a burst of 10`)
  // One read holding 40 tiny messages at once: the (10 + k)th waits k × 100 ms; past 2 s the client is cut.
  const fresh = new PublishRate(10, 10, 2000, c.now)
  const waits = Array.from({ length: 40 }, () => fresh.take('flood'))
  t.equal(waits[29], 2000, 'the 30th waits 2 s')
  t.equal(waits.indexOf(null), 30, 'the 31st would wait 2.1 s: null, disconnect')
})

t.test('publish rate - 0 is no limit; forget starts a client afresh', async (t) => {
  const c = clock()
  t.same(
    Array.from({ length: 1000 }, () => new PublishRate(0, 0, 0, c.now).take('x')).every((w) => w === 0),
    true,
  )
  const rate = new PublishRate(1, 1, 1000, c.now)
  t.equal(rate.take('a'), 0)
  t.equal(rate.take('a'), 1000)
  rate.forget('a')
  t.equal(rate.take('a'), 0, 'a new connection begins with its burst')
})
