/**
 * What a dead-letter listing holds is a chunk, not a page (issue 21, item 3).
 * Eight listings of 8 MiB pages at once, each built whole on the main thread
 * with its payloads in base64, took the process down with a heap of 96 MB
 * (and, at 1,000 letters of 200 KB a page, with the default 2 GB); now each
 * streams in chunks of at most 1 MiB of payload, two at a time (the query
 * gate), and the process serves them, readings and /readyz with that heap.
 * Peak RSS is no measure of it: the server's flags let V8 leave garbage of
 * either version uncollected up to its initial old space (128 MB).
 */

import mqtt from 'mqtt'
import t from 'tap'
import { memoryMb } from '../helpers/probes.js'
import { spawnApp } from '../helpers/process.js'

const LETTERS = 40
const LETTER_BYTES = 240_000
const READERS = 8
const ROUNDS = 3
/** The server's V8 old space, MB: the old code died of it, with 8 listings or 4. */
const HEAP_MB = 96

t.test(
  'dead-letter memory - eight listings of large payloads at once are served with a heap of 96 MB, and so are readings and health',
  async (t) => {
    const app = await spawnApp({
      args: ['--dead-letter-max-bytes-per-second', '0'],
      nodeArgs: [`--max-old-space-size=${HEAP_MB}`],
    })
    t.teardown(() => app.stop())
    let exited: number | string | null = null
    void app.exited.then((code) => {
      exited = code
    })
    const c = await mqtt.connectAsync(app.mqttUrl, { reconnectPeriod: 0 })
    t.teardown(() => c.endAsync(true))
    // 9.6 MB of letters from as many devices: two pages with their payloads.
    for (let i = 0; i < LETTERS; i++)
      await c.publishAsync(`devices/junk-${i}/telemetry`, Buffer.alloc(LETTER_BYTES, 0xff), { qos: 1 })

    const before = memoryMb(app.pid).hwmMb
    let listing = true
    const reader = async (): Promise<number[]> => {
      const statuses: number[] = []
      for (let round = 0; round < ROUNDS; round++) {
        let [after, letters] = [0, 0]
        for (let page = 0; page < 10; page++) {
          const res = await fetch(
            `${app.httpUrl}/v1/dead-letters?limit=1000&include=payload&after=${after}`,
          ).catch(() => null)
          statuses.push(res?.status ?? 0)
          if (res === null || res.status !== 200) break
          // A body cut short (the process died) is null.
          const body = (await res.json().catch(() => null)) as {
            deadLetters: unknown[]
            next: number | null
          } | null
          if (body === null) {
            statuses.push(0)
            break
          }
          letters += body.deadLetters.length
          if (body.next === null) break
          after = body.next
        }
        statuses.push(letters)
      }
      return statuses
    }
    const health = (async () => {
      const statuses = new Set<number>()
      while (listing) {
        statuses.add((await fetch(`${app.httpUrl}/readyz`).catch(() => null))?.status ?? 0)
        await new Promise((r) => setTimeout(r, 100))
      }
      return [...statuses]
    })()
    const ingest = (async () => {
      let acked = 0
      for (let seq = 1; listing && seq <= 10_000; seq++) {
        await c.publishAsync('devices/legit/telemetry', JSON.stringify({ v: 1, seq, m: { temp: seq } }), {
          qos: 1,
        })
        acked++
      }
      return acked
    })().catch(() => -1)
    const readers = await Promise.all(Array.from({ length: READERS }, reader))
    listing = false
    t.equal(exited, null, 'the process is alive')
    if (exited !== null) return
    const grewMb = memoryMb(app.pid).hwmMb - before

    t.same(
      readers,
      Array.from({ length: READERS }, () => Array.from({ length: ROUNDS }, () => [200, 200, LETTERS]).flat()),
      'each listing read every letter, in two pages, each time',
    )
    t.same(await health, [200], '/readyz answered ready throughout')
    const acked = await ingest
    const res = await fetch(`${app.httpUrl}/v1/telemetry?device=legit&from=0&limit=100000&format=ndjson`)
    t.equal(
      (await res.text()).trimEnd().split('\n').length,
      acked,
      `the ${acked} readings acknowledged meanwhile are stored`,
    )
    t.ok(acked > 0)
    t.comment(`peak RSS grew by ${grewMb.toFixed(0)} MB`)
  },
)
