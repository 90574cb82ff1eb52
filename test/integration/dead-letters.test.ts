/**
 * GET /v1/dead-letters within a memory budget (issue 21, item 3): payloads
 * only on request, and a page of them cut at a byte budget. Eight listings of
 * 2,000 letters of 200 KB each, payloads in base64, once exhausted the heap.
 */

import mqtt from 'mqtt'
import t from 'tap'
import { MAX_PAGE_PAYLOAD_BYTES } from '../../src/api/dead-letters.js'
import { startTestApp } from '../helpers/app.js'
import { getJson, postJson } from '../helpers/http.js'

interface Page {
  deadLetters: Array<{ id: number; payload_bytes: number; payload?: string }>
  next: number | null
}

t.test('dead letters - payloads only with include=payload, pages cut at the byte budget', async (t) => {
  // 12 MB of letters at once: over the byte rate of all devices, which dead-letter-caps.test.ts tests.
  const app = await startTestApp(t, { deadLetterMaxBytesPerSecond: 0 })
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  // 0xff is a stray CBOR break: each message is a payload_malformed dead letter of 240,000 bytes.
  const size = 240_000
  const count = Math.ceil((MAX_PAGE_PAYLOAD_BYTES * 1.5) / size)
  for (let i = 0; i < count; i++)
    await c.publishAsync('devices/junk/telemetry', Buffer.alloc(size, 0xff - (i % 2)), { qos: 1 })

  const plain = await getJson<Page>(app.httpPort, '/v1/dead-letters?device=junk&limit=10000')
  t.equal(plain.body.deadLetters.length, count, 'every letter listed')
  t.ok(
    plain.body.deadLetters.every((l) => l.payload === undefined && l.payload_bytes === size),
    'sizes, no payloads',
  )
  t.equal(plain.body.next, null)

  const seen: number[] = []
  let after = 0
  let pages = 0
  for (;;) {
    const { status, body } = await getJson<Page>(
      app.httpPort,
      `/v1/dead-letters?device=junk&limit=10000&include=payload&after=${after}`,
    )
    t.equal(status, 200)
    pages++
    const bytes = body.deadLetters.reduce((sum, l) => sum + Buffer.from(l.payload!, 'base64').length, 0)
    t.ok(bytes <= MAX_PAGE_PAYLOAD_BYTES, `page ${pages}: ${bytes} payload bytes, within the budget`)
    seen.push(...body.deadLetters.map((l) => l.id))
    if (body.next === null) break
    after = body.next
  }
  t.equal(pages, 2, 'two pages')
  t.same(
    seen,
    plain.body.deadLetters.map((l) => l.id),
    'every letter once, in order',
  )

  const bad = await getJson<{ code: string; parameter: string }>(app.httpPort, '/v1/dead-letters?include=all')
  t.same([bad.status, bad.body.parameter], [400, 'include'])
})

t.test('dead letters - a replay whose selection matches nothing replays nothing, not a 500', async (t) => {
  // The store cannot look up an empty list of ids: this was a 500 TLM_ERR_INTERNAL.
  const app = await startTestApp(t)
  for (const body of [{ reason: 'checksum_mismatch' }, { device: 'nobody', limit: 5 }]) {
    const res = await postJson(app.httpPort, '/v1/dead-letters/replay', body)
    t.same(res, { status: 200, body: { replayed: [] } }, JSON.stringify(body))
  }
})

t.test(
  'dead letters - a replay sent as a form (curl -d), as text or untyped is told how to send JSON',
  async (t) => {
    const app = await startTestApp(t)
    const url = `http://127.0.0.1:${app.httpPort}/v1/dead-letters/replay`
    const types = [
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'text/plain' },
      {},
    ]
    for (const headers of types) {
      // Bytes, not a string: fetch would give a string body a text/plain type of its own.
      const res = await fetch(url, { method: 'POST', headers, body: new TextEncoder().encode('{"ids":[1]}') })
      const body = (await res.json()) as { code: string; message: string }
      const sent = JSON.stringify(headers)
      t.equal(res.status, 415, `415 for ${sent}`)
      t.equal(body.code, 'TLM_ERR_BAD_REQUEST', 'with a stable code')
      t.match(body.message, "-H 'content-type: application/json'", 'and an example to copy')
    }
  },
)
