/**
 * The SSE byte budget (src/api/sse-budget.ts) through the hub, against fake
 * responses (sse-fake.ts): what slow clients may hold each and together,
 * and who pays when the total is reached (issue 21, reproduction 4).
 */

import t from 'tap'
import { SseHub } from '../../../src/api/sse.js'
import { SseBudget } from '../../../src/api/sse-budget.js'
import { attach, budget, Counters, event, frameBytes, hub, QUIET } from './sse-fake.js'

const FRAME = frameBytes('a')

t.test(
  "sse budget - past the total, the longest-waiting slow client's queue becomes a gap, and a client that keeps up loses nothing",
  async (t) => {
    // Ten frames per client, twelve in all.
    const b = budget(10, 12)
    const { hub: h, counters } = hub(t, { budget: b })
    const first = attach(h)
    const second = attach(h)
    const fast = attach(h)
    first.full = true
    h.publish(event('a')) // 1: first holds it, unsent
    second.full = true
    for (let i = 2; i <= 6; i++) h.publish(event('a'))
    // first: 1 unsent + 2..6 queued; second: 2 unsent + 3..6 queued.
    t.equal(b.held, 11 * FRAME, 'eleven frames held')
    t.equal(counters.dropped, 0)

    h.publish(event('a')) // 7: first takes the twelfth frame; second has no room left
    t.equal(counters.dropped, 6, "first's six queued events dropped to make room")
    t.equal(b.held, 7 * FRAME, 'first holds only its unsent event; second six frames')
    t.same(fast.ids(), [1, 2, 3, 4, 5, 6, 7], 'the client that keeps up gets everything')

    h.publish(event('a')) // 8: first adds it to its gap
    first.drain()
    second.drain()
    h.publish(event('a')) // 9: both live again
    t.same(
      first.events.map((e) => (e.event === 'gap' ? `gap ${JSON.parse(e.data).lost}` : e.id)),
      ['1', 'gap 7', '9'],
      'first: what was unsent, then a gap where 2 to 8 are missing, then live',
    )
    t.same(second.ids(), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'second: nothing lost')
    t.equal(counters.dropped, 7)
    t.equal(b.held, 0, 'once sent, nothing held')
    t.equal(counters.cut, 0, 'nobody cut')
  },
)

t.test(
  'sse budget - when dropping queues is not enough, the longest-waiting slow client is cut, in gap mode too',
  async (t) => {
    const b = budget(2, 2)
    const { hub: h, counters } = hub(t, { budget: b, slowClient: 'gap' })
    const first = attach(h)
    const second = attach(h)
    first.full = true
    second.full = true
    h.publish(event('a')) // 1: each holds it, unsent: the total is reached
    t.equal(b.held, 2 * FRAME)
    h.publish(event('a')) // 2: nothing queued to drop; what first's socket holds goes with it
    t.ok(first.destroyed, 'first cut: its stream closed at once')
    t.equal(counters.cut, 1, 'counted as cut')
    t.equal(counters.connected, 1)
    t.notOk(second.destroyed, 'second stays')
    t.equal(b.held, 2 * FRAME, "second's unsent event and its queued one")
    second.drain()
    t.same(second.ids(), [1, 2])
    t.equal(b.held, 0)
  },
)

t.test(
  'sse budget - in disconnect mode, past the total, the longest-waiting slow client is cut',
  async (t) => {
    const b = budget(3, 4)
    const { hub: h, counters } = hub(t, { budget: b, slowClient: 'disconnect' })
    const first = attach(h)
    const second = attach(h)
    first.full = true
    second.full = true
    for (let i = 1; i <= 2; i++) h.publish(event('a')) // each: 1 unsent, 2 queued: the total is reached
    t.notOk(first.ended)
    h.publish(event('a')) // 3: no room for it: first, waiting longest, goes
    t.ok(first.destroyed, 'first cut')
    t.same([counters.cut, counters.dropped, counters.connected], [1, 0, 1])
    t.notOk(second.ended, 'second stays, within its own budget')
    second.drain()
    t.same(second.ids(), [1, 2, 3])
    t.equal(b.held, 0)
  },
)

t.test(
  'sse budget - one budget for the hubs of a process: a slow client of one makes room for another',
  async (t) => {
    const b = budget(4, 4)
    const counters = new Counters()
    const telemetry = new SseHub({ ...QUIET, budget: b }, counters)
    const features = new SseHub({ ...QUIET, budget: b }, new Counters())
    t.teardown(() => {
      telemetry.close()
      features.close()
    })
    const slow = attach(telemetry)
    slow.full = true
    for (let i = 1; i <= 4; i++) telemetry.publish(event('a'))
    t.equal(b.held, 4 * FRAME, 'the telemetry client holds the whole total')
    const model = attach(features)
    // Its events are written at once, but count while they are: the telemetry client's queue goes.
    features.publish(event('a'))
    t.same(model.ids(), [1])
    t.equal(counters.dropped, 3, 'three queued telemetry events dropped')
    t.equal(b.held, FRAME, 'the slow client holds only what it had written')
  },
)

t.test('sse budget - limits are checked once, at construction', async (t) => {
  t.throws(() => new SseBudget({ clientBytes: 0, totalBytes: 10 }), RangeError)
  t.throws(() => new SseBudget({ clientBytes: 20, totalBytes: 10 }), RangeError)
  t.doesNotThrow(() => new SseBudget())
})
