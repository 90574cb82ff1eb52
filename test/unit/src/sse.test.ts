/** SseHub against a fake response (sse-fake.ts): pure logic, so a fake is enough. */

import t from 'tap'
import { SseHub } from '../../../src/api/sse.js'
import { SseBudget } from '../../../src/api/sse-budget.js'
import { reviveTelemetry, telemetryEvent } from '../../../src/api/stream-events.js'
import type { Reading } from '../../../src/core/telemetry.js'
import { parseSse } from '../../helpers/sse.js'
import { attach, budget, Counters, EVERYTHING, event, FakeResponse, filter, hub, QUIET } from './sse-fake.js'

/** Waits, within a bound, until `done` holds: for the heartbeat timer. */
async function eventually(done: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const deadline = Date.now() + boundMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('sse - attach sends event-stream headers and a reconnect hint', async (t) => {
  const { hub: h, counters } = hub(t)
  const res = attach(h)
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^text\/event-stream\b/)
  t.match(res.headers['cache-control'], /no-cache/)
  t.equal(parseSse(res.text).retry, 2000, 'retry: hint for EventSource')
  t.same(res.events, [], 'no event before anything is published')
  t.equal(counters.connected, 1)
})

t.test('sse - event ids increase by one per event of the hub, whoever receives them', async (t) => {
  const { hub: h, counters } = hub(t)
  const all = attach(h)
  const onlyA = attach(h, filter(['a']))
  for (const d of ['a', 'b', 'a', 'c', 'a']) h.publish(event(d))
  t.same(all.ids(), [1, 2, 3, 4, 5])
  t.same(onlyA.ids(), [1, 3, 5], 'a filtered client sees the hub ids, with holes for what it did not ask for')
  t.equal(h.lastId, 5)
  t.equal(counters.sent, 8, 'each event written to each matching client counts once')
  const e = all.events[0]!
  t.equal(e.event, 'telemetry')
  t.same(JSON.parse(e.data), { device: 'a', names: ['temp'] })
})

t.test('sse - a client receives only the devices it asked for', async (t) => {
  const { hub: h } = hub(t)
  const ab = attach(h, filter(['a', 'b']))
  const c = attach(h, filter(['c']))
  for (const d of ['a', 'b', 'c', 'd', 'b']) h.publish(event(d))
  t.same(
    ab.events.map((e) => JSON.parse(e.data).device),
    ['a', 'b', 'b'],
  )
  t.same(
    c.events.map((e) => JSON.parse(e.data).device),
    ['c'],
  )
})

t.test(
  'sse - clients sharing a device: each gets it once, and one that leaves gets nothing more',
  async (t) => {
    const { hub: h, counters } = hub(t)
    const a1 = attach(h, filter(['a', 'b']))
    const a2 = attach(h, filter(['a']))
    const all = attach(h)
    h.publish(event('a'))
    t.same([a1.ids(), a2.ids(), all.ids()], [[1], [1], [1]])
    a1.emit('close')
    h.publish(event('a'))
    h.publish(event('b'))
    t.same([a1.ids(), a2.ids(), all.ids()], [[1], [1, 2], [1, 2, 3]], 'a1 left; a2 and * go on')
    t.equal(counters.connected, 2)
    a2.emit('close')
    h.publish(event('a'))
    t.same(all.ids(), [1, 2, 3, 4], 'a device with no client of its own left still reaches *')
    t.equal(counters.sent, 7)
  },
)

t.test('sse - a names filter skips events carrying none of the names', async (t) => {
  const { hub: h } = hub(t)
  const temp = attach(h, filter(null, ['temp']))
  const hum = attach(h, filter(null, ['hum', 'x']))
  h.publish(event('a', ['temp', 'hum']))
  h.publish(event('a', ['temp']))
  h.publish(event('a', ['hum']))
  h.publish(event('a', ['other']))
  t.same(temp.ids(), [1, 2])
  t.same(hum.ids(), [1, 3])
})

t.test('sse - the data function gets the client names; null skips the event for that client', async (t) => {
  const { hub: h, counters } = hub(t)
  const seen: Array<string[] | null> = []
  const data = (names: ReadonlySet<string> | null): string | null => {
    seen.push(names === null ? null : [...names].sort())
    return names?.has('skip') ? null : JSON.stringify({ for: names === null ? '*' : [...names].sort() })
  }
  const all = attach(h)
  const some = attach(h, filter(null, ['temp', 'hum']))
  const skipped = attach(h, filter(null, ['temp', 'skip']))
  h.publish(event('a', ['temp', 'hum', 'skip'], data))
  t.same(seen, [null, null, ['hum', 'temp'], ['skip', 'temp']], 'the replay log asks for every name first')
  t.same(JSON.parse(all.events[0]!.data), { for: '*' })
  t.same(JSON.parse(some.events[0]!.data), { for: ['hum', 'temp'] })
  t.same(skipped.events, [], 'null data: nothing written')
  t.equal(counters.sent, 2)
})

const READING: Reading = {
  device: 'd1',
  boot: 2,
  seq: 7,
  idx: 0,
  tsNs: 1_764_115_200_000_000_000n,
  newestTsNs: 1_764_115_200_000_000_000n,
  deviceTsNs: null,
  recvTsNs: 1_764_115_200_000_000_500n,
  offsetNs: 0n,
  crc: 0,
  tags: '{"site":"x"}',
  fields: [
    { name: 'temp', kind: 'float', value: 21.5 },
    { name: 'hum', kind: 'float', value: 40 },
    { name: 'big', kind: 'int', value: 2n ** 60n },
  ],
}

t.test('sse - a telemetry event keeps only the fields a client asked for', async (t) => {
  const { hub: h } = hub(t)
  const r = READING
  const all = attach(h)
  const tempOnly = attach(h, filter(['d1'], ['temp']))
  const bigAndHum = attach(h, filter(null, ['big', 'hum', 'absent']))
  const none = attach(h, filter(null, ['absent']))
  h.publish(telemetryEvent(r))

  const full = JSON.parse(all.events[0]!.data)
  t.same(
    full.fields,
    { temp: 21.5, hum: 40, big: (2n ** 60n).toString() },
    'an int past 2^53 goes as a string',
  )
  t.same(full.tags, { site: 'x' })
  t.equal(full.seq, 7)
  t.equal(full.device, 'd1')
  t.equal(full.ts, '2025-11-26T00:00:00.000000000Z')
  t.same(JSON.parse(tempOnly.events[0]!.data).fields, { temp: 21.5 })
  t.same(JSON.parse(bigAndHum.events[0]!.data).fields, { hum: 40, big: (2n ** 60n).toString() })
  const { fields: _f, ...rest } = JSON.parse(tempOnly.events[0]!.data)
  const { fields: _g, ...fullRest } = full
  t.same(rest, fullRest, 'trimming touches only the fields')
  t.same(none.events, [], 'a reading with none of the asked fields is not sent')
})

t.test('sse - a resumed telemetry stream gets from the replay log what live clients got', async (t) => {
  const h = new SseHub(QUIET, new Counters(), reviveTelemetry)
  t.teardown(() => h.close())
  const filters = [
    EVERYTHING,
    filter(['d1'], ['temp']),
    filter(null, ['big', 'hum', 'absent']),
    filter(null, ['absent']),
    filter(['d2']),
  ]
  const live = filters.map((f) => attach(h, f))
  h.publish(telemetryEvent(READING))
  h.publish(telemetryEvent({ ...READING, device: 'd2', seq: 8, tags: null, fields: [READING.fields[1]!] }))
  h.publish(telemetryEvent({ ...READING, seq: 9 }))
  const resumed = filters.map((f) => attach(h, f, 0))
  t.same(
    live.map((res) => res.events.length),
    [3, 2, 3, 0, 1],
    'each live client got its share',
  )
  t.same(
    resumed.map((res) => res.events),
    live.map((res) => res.events),
    'the same ids, types and data, byte for byte',
  )
})

t.test('sse - events the replay log no longer has room for are told as a reset', async (t) => {
  const { hub: h } = hub(t, { replayEvents: 100, replayBytes: 200 })
  attach(h)
  for (let i = 0; i < 6; i++) h.publish(event('a', ['temp'], JSON.stringify({ n: i, pad: 'x'.repeat(40) })))
  const res = attach(h, EVERYTHING, 0)
  const oldestId = JSON.parse(res.events[0]?.data ?? 'null').oldestId as number
  t.equal(res.events[0]?.event, 'reset')
  t.ok(oldestId > 2 && oldestId < 7, `the log holds the newest few only: from ${oldestId}`)
  t.same(
    res.ids(),
    Array.from({ length: 7 - oldestId }, (_, i) => oldestId + i),
    'then every event it holds',
  )
  t.same(
    res.events.slice(1).map((e) => JSON.parse(e.data).n),
    Array.from({ length: 7 - oldestId }, (_, i) => oldestId - 1 + i),
    'each with its own data',
  )
})

t.test(
  'sse - Last-Event-ID replays exactly the missed events that match, then follows live ones',
  async (t) => {
    const { hub: h } = hub(t, { replayEvents: 100 })
    attach(h) // someone listens: the log fills
    for (const d of ['a', 'b', 'a', 'a', 'b', 'a']) h.publish(event(d))
    const res = attach(h, filter(['a']), 3)
    t.same(res.ids(), [4, 6], 'after 3, only device a')
    t.same(
      res.events.filter((e) => e.event === 'reset'),
      [],
      'no reset: the log reaches back',
    )
    h.publish(event('a'))
    h.publish(event('b'))
    t.same(res.ids(), [4, 6, 7])

    const upToDate = attach(h, EVERYTHING, h.lastId)
    t.same(upToDate.events, [], 'nothing missed: nothing replayed')
    const fromStart = attach(h, EVERYTHING, 0)
    t.same(fromStart.ids(), [1, 2, 3, 4, 5, 6, 7, 8])
    const withoutId = attach(h)
    t.same(withoutId.events, [], 'no Last-Event-ID: live events only')
  },
)

t.test('sse - reset when the replay log no longer reaches back to Last-Event-ID', async (t) => {
  const { hub: h } = hub(t, { replayEvents: 5 })
  attach(h)
  for (let i = 0; i < 12; i++) h.publish(event('a'))
  // The log holds ids 8 to 12.
  const late = attach(h, EVERYTHING, 3)
  const [reset, ...rest] = late.events
  t.equal(reset?.event, 'reset', 'reset comes first')
  t.same(JSON.parse(reset?.data ?? 'null'), { oldestId: 8 })
  t.same(
    rest.map((e) => Number(e.id)),
    [8, 9, 10, 11, 12],
    'then everything the log still holds',
  )

  const justInTime = attach(h, EVERYTHING, 7)
  t.same(justInTime.events.map((e) => e.event).includes('reset'), false, 'id 7: nothing lost, no reset')
  t.same(justInTime.ids(), [8, 9, 10, 11, 12])

  const justTooLate = attach(h, EVERYTHING, 6)
  t.same(
    justTooLate.events.map((e) => e.event),
    ['reset', 'telemetry', 'telemetry', 'telemetry', 'telemetry', 'telemetry'],
    'id 6: event 7 is gone, so reset',
  )
})

t.test(
  'sse - a backpressured client queues up to its byte budget, drops the rest, then hears of the gap',
  async (t) => {
    // Room for four frames: the one its socket has not taken, and three queued.
    const { hub: h, counters } = hub(t, { budget: budget(4), slowClient: 'gap' })
    const slow = attach(h)
    const fast = attach(h)
    slow.full = true
    h.publish(event('a')) // 1: written, and the socket says it is full
    const written = slow.chunks.length
    for (let i = 2; i <= 7; i++) h.publish(event('a')) // 2..4 queued, 5..7 dropped
    t.equal(slow.chunks.length, written, 'nothing is written while the socket is full')
    t.same(slow.ids(), [1])
    t.equal(counters.dropped, 3, 'three events dropped for the slow client')
    t.same(fast.ids(), [1, 2, 3, 4, 5, 6, 7], 'the other client gets everything')

    slow.drain()
    h.publish(event('a')) // 8: live again
    const gaps = slow.events.filter((e) => e.event === 'gap')
    t.equal(gaps.length, 1, 'one gap event')
    t.same(JSON.parse(gaps[0]?.data ?? 'null'), { lost: 3 })
    t.same(slow.ids(), [1, 2, 3, 4, 8], 'queued events in order, then the newer ones')
    t.equal(slow.events.at(-1)?.id, '8', 'newer events follow the gap')
    t.equal(counters.dropped, 3)

    // Where the gap is announced: a client relies on its position to know
    // which events are missing (EventSource exposes no other way).
    t.same(
      slow.events.map((e) => (e.event === 'gap' ? 'gap' : e.id)),
      ['1', '2', '3', '4', 'gap', '8'],
      'the gap sits where events 5 to 7 are missing, after the queued ones',
    )

    slow.full = true
    h.publish(event('a')) // 9: full again
    h.publish(event('a')) // 10: queued
    slow.drain()
    t.same(
      slow.events.filter((e) => e.event === 'gap').length,
      1,
      'no gap event when nothing was lost in this round',
    )
    t.same(slow.ids(), [1, 2, 3, 4, 8, 9, 10])
  },
)

t.test('sse - a drain after which the socket fills again keeps the rest queued, in order', async (t) => {
  const { hub: h } = hub(t)
  const res = attach(h)
  res.full = true
  for (let i = 0; i < 5; i++) h.publish(event('a'))
  t.same(res.ids(), [1])
  res.drain(true) // writes 2, which fills the socket again
  t.same(res.ids(), [1, 2])
  h.publish(event('a'))
  t.same(res.ids(), [1, 2], 'a new event waits behind the queue')
  res.drain()
  t.same(res.ids(), [1, 2, 3, 4, 5, 6])
  t.same(
    res.events.filter((e) => e.event === 'gap'),
    [],
    'nothing lost, no gap',
  )
})

t.test('sse - slowClient disconnect ends the response of a client whose queue is full', async (t) => {
  const { hub: h, counters } = hub(t, { budget: budget(3), slowClient: 'disconnect' })
  const slow = attach(h)
  const fast = attach(h)
  slow.full = true
  h.publish(event('a')) // written, socket full
  h.publish(event('a')) // queued
  h.publish(event('a')) // queued
  t.notOk(slow.ended, 'still connected with a full queue')
  h.publish(event('a')) // no room: disconnect
  t.ok(slow.ended, 'response ended')
  t.equal(counters.connected, 1, 'removed from the clients')
  t.equal(counters.dropped, 1, 'the event it could not take counts as dropped')
  t.ok(slow.destroyed, 'its stream closed at once, not after its unread data')
  t.equal(counters.cut, 1, 'counted as cut')
  h.publish(event('a'))
  slow.drain()
  t.equal(slow.writesAfterEnd, 0, 'nothing written after the end')
  t.same(slow.ids(), [1])
  t.same(slow.events.filter((e) => e.event === 'gap').length, 0, 'disconnect mode sends no gap')
  t.same(fast.ids(), [1, 2, 3, 4, 5])
})

t.test('sse - a client that closes is removed and gets nothing more', async (t) => {
  const { hub: h, counters } = hub(t)
  const gone = attach(h)
  const stays = attach(h)
  h.publish(event('a'))
  t.equal(counters.connected, 2)
  gone.close()
  t.equal(counters.connected, 1)
  const before = gone.chunks.length
  h.publish(event('a'))
  t.equal(gone.chunks.length, before, 'nothing written to a closed client')
  t.same(stays.ids(), [1, 2])
  gone.close()
  t.equal(counters.connected, 1, 'a second close is not counted twice')
  h.close()
  t.notOk(gone.ended, 'close() does not touch a client already gone')
  t.ok(stays.ended)
  t.equal(counters.connected, 0)
})

t.test(
  'sse - a backpressured client that closes frees its queue and is never written to again',
  async (t) => {
    const b = new SseBudget()
    const { hub: h, counters } = hub(t, { budget: b })
    const gone = attach(h)
    gone.full = true
    for (let i = 0; i < 10; i++) h.publish(event('a'))
    gone.close()
    const before = gone.chunks.length
    for (let i = 0; i < 200; i++) h.publish(event('a'))
    t.equal(gone.chunks.length, before)
    t.equal(counters.connected, 0)
    t.equal(counters.dropped, 0, 'events for a client that is gone are not counted as dropped')
    t.equal(b.held, 0, 'what it held is released')
  },
)

t.test('sse - heartbeat comments reach idle clients, not those waiting for drain', async (t) => {
  const { hub: h } = hub(t, { heartbeatMs: 5 })
  const idle = attach(h)
  const waiting = attach(h)
  waiting.full = true
  h.publish(event('a'))
  const pings = (r: FakeResponse): number => parseSse(r.text).comments.filter((c) => c === 'ping').length
  await eventually(() => pings(idle) >= 3, 'three heartbeats')
  t.match(idle.text, /\n\n: ping\n\n/, 'a comment line of its own')
  t.same(idle.ids(), [1], 'heartbeats are not events')
  t.equal(pings(waiting), 0, 'a full socket gets no heartbeat on top')
})

t.test('sse - close() ends every stream, and nothing is written after', async (t) => {
  const { hub: h, counters } = hub(t)
  const a = attach(h)
  const b = attach(h, filter(['x']))
  h.close()
  t.ok(a.ended)
  t.ok(b.ended)
  t.equal(counters.connected, 0)
  h.publish(event('x'))
  t.equal(a.writesAfterEnd + b.writesAfterEnd, 0, 'no event after close')
})

t.test('sse - a resume reads the log at the pace its socket drains, so it loses nothing', async (t) => {
  // A real socket reports full after about 16 KiB, long before a
  // 10,000-event replay is written: the replay must not go through the queue.
  for (const slowClient of ['gap', 'disconnect'] as const) {
    const { hub: h, counters } = hub(t, { replayEvents: 100, budget: budget(4, 1_000, 2), slowClient })
    const earlier = attach(h) // a client that was here, so the log fills
    for (let i = 0; i < 10; i++) h.publish(event('a'))
    earlier.close()
    const sentBefore = counters.sent
    const res = new FakeResponse()
    res.full = true
    h.attach(res, EVERYTHING, 0)
    t.same(res.ids(), [], `${slowClient}: the socket is full from the start`)
    // The socket takes one event per drain; meanwhile 20 more are published.
    for (let i = 0; i < 20; i++) {
      h.publish(event('a'))
      res.drain(true)
    }
    t.ok(res.ids().length < 30, `${slowClient}: still catching up`)
    for (let i = 0; i < 50 && res.ids().length < 30; i++) res.drain(true)
    res.drain()
    h.publish(event('a'))
    t.same(
      res.ids(),
      Array.from({ length: 31 }, (_, i) => i + 1),
      `${slowClient}: the replay, what was published meanwhile, then live events`,
    )
    t.same(
      res.events.filter((e) => e.event !== 'telemetry'),
      [],
      `${slowClient}: no gap, no reset`,
    )
    t.notOk(res.ended, `${slowClient}: not disconnected`)
    t.equal(counters.dropped, 0, `${slowClient}: nothing dropped`)
    t.equal(
      counters.sent - sentBefore,
      31,
      `${slowClient}: replayed events count as sent (sse_events_sent_total)`,
    )
  }
})

t.test(
  'sse - a Last-Event-ID the hub never issued (from before a restart) is not silently accepted',
  async (t) => {
    // A restarted process starts a new hub at id 1; an EventSource that was
    // connected before resends the last id it saw, from the old numbering.
    const before = hub(t).hub
    for (let i = 0; i < 10; i++) before.publish(event('a'))
    const lastSeen = before.lastId
    const { hub: after } = hub(t)
    for (let i = 0; i < 3; i++) after.publish(event('a')) // ingested before the client is back
    const res = attach(after, EVERYTHING, lastSeen)
    after.publish(event('a'))
    const told = res.events[0]?.event === 'reset'
    const replayed = [1, 2, 3].every((id) => res.ids().includes(id))
    t.ok(told || replayed, 'the three events since the restart are replayed, or a reset says they are gone')
    t.ok(
      res.ids().every((id) => id > lastSeen) || told,
      'ids after a resume are above the Last-Event-ID, or a reset says the numbering changed',
    )
  },
)

t.test('sse - a hub nobody has listened to keeps no events: a resume is told reset', async (t) => {
  const { hub: h } = hub(t, { replayEvents: 100 })
  for (let i = 0; i < 5; i++) h.publish(event('a'))
  const res = attach(h, EVERYTHING, 2)
  t.same(
    res.events.map((e) => e.event),
    ['reset'],
    'events 3 to 5 were never kept, so they cannot be replayed',
  )
  t.same(JSON.parse(res.events[0]?.data ?? 'null'), { oldestId: 6 })
  h.publish(event('a'))
  t.same(res.ids(), [6], 'then live')
})

t.test('sse - the log fills until replayIdleMs after the last client left, then empties', async (t) => {
  const { hub: h } = hub(t, { replayEvents: 100, heartbeatMs: 10, replayIdleMs: 40 })
  const first = attach(h)
  for (let i = 0; i < 3; i++) h.publish(event('a'))
  first.close()
  h.publish(event('a')) // 4: nobody connected, still kept
  const back = attach(h, EVERYTHING, 1)
  t.same(back.ids(), [2, 3, 4], 'a client back within the idle time gets what it missed')
  back.close()
  await new Promise((resolve) => setTimeout(resolve, 200))
  h.publish(event('a')) // 5: not kept
  const tooLate = attach(h, EVERYTHING, 3)
  t.same(
    tooLate.events.map((e) => e.event),
    ['reset'],
    'after the idle time the log holds nothing: a resume is told reset',
  )
  t.same(JSON.parse(tooLate.events[0]?.data ?? 'null'), { oldestId: 6 })
})

t.test('sse - a client catching up more slowly than the log turns over gets a reset', async (t) => {
  const { hub: h } = hub(t, { replayEvents: 5 })
  attach(h)
  for (let i = 0; i < 3; i++) h.publish(event('a'))
  const res = new FakeResponse()
  res.full = true
  h.attach(res, EVERYTHING, 0)
  res.drain(true) // writes 1
  for (let i = 0; i < 10; i++) h.publish(event('a')) // the log now holds 9 to 13
  res.drain()
  const order = res.events.map((e) => (e.event === 'reset' ? 'reset' : Number(e.id)))
  t.same(order, [1, 'reset', 9, 10, 11, 12, 13])
  t.same(JSON.parse(res.events.find((e) => e.event === 'reset')?.data ?? 'null'), { oldestId: 9 })
  h.publish(event('a'))
  t.same(res.ids().at(-1), 14, 'then live')
})
