/**
 * A real browser's EventSource (headless Chromium from Debian, driven by
 * playwright-core) reads the telemetry stream. Browsers speak HTTP/1.1 to a
 * cleartext port, so this is also the HTTP/1.1 side of the shared port.
 */

import mqtt from 'mqtt'
import { chromium } from 'playwright-core'
import t from 'tap'
import { startTestApp } from '../helpers/app.js'
import { CHROMIUM_ARGS, haveProgram } from '../helpers/external.js'
import { reading } from '../helpers/mqtt.js'

t.test(
  'e2e - EventSource in headless Chromium receives telemetry events, filtered on the server',
  async (t) => {
    if (!haveProgram(t, 'chromium', 'chromium')) return
    const app = await startTestApp(t)
    // The replay log fills while someone listens to the stream (src/api/sse.ts):
    // another client is connected before the first readings.
    const listening = new AbortController()
    t.teardown(() => listening.abort())
    const other = await fetch(`http://127.0.0.1:${app.httpPort}/v1/stream/telemetry?device=*`, {
      signal: listening.signal,
    })
    t.equal(other.status, 200, 'another client listens')
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    for (let seq = 1; seq <= 3; seq++) {
      await c.publishAsync('devices/browser-1/telemetry', reading(seq, { temp: seq + 0.5, hum: 40.5 }), {
        qos: 1,
      })
      await c.publishAsync('devices/browser-2/telemetry', reading(seq, { temp: seq + 0.25 }), { qos: 1 })
    }

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    // Same origin as the stream, so no CORS is involved.
    await page.goto(`http://127.0.0.1:${app.httpPort}/healthz`)
    const received = page.evaluate(
      (url) =>
        new Promise<Array<{ id: string; device: string; seq: number; fields: Record<string, number> }>>(
          (resolve, reject) => {
            const source = new EventSource(url)
            const got: Array<{ id: string; device: string; seq: number; fields: Record<string, number> }> = []
            source.addEventListener('telemetry', (event) => {
              const e = event as unknown as { lastEventId: string; data: string }
              got.push({ id: e.lastEventId, ...JSON.parse(e.data) })
              if (got.length === 5) {
                source.close()
                resolve(got)
              }
            })
            setTimeout(() => reject(new Error(`only ${got.length} events in 20 s`)), 20_000)
          },
        ),
      // lastEventId=0 replays what was published before the page connected.
      '/v1/stream/telemetry?device=browser-1&fields=temp&lastEventId=0',
    )
    // Two more while the browser is connected.
    await new Promise((r) => setTimeout(r, 200))
    for (let seq = 4; seq <= 5; seq++) {
      await c.publishAsync('devices/browser-1/telemetry', reading(seq, { temp: seq + 0.5, hum: 40.5 }), {
        qos: 1,
      })
    }
    const events = await received
    await c.endAsync()

    t.same(
      events.map((e) => [e.device, e.seq]),
      [1, 2, 3, 4, 5].map((seq) => ['browser-1', seq]),
      'only browser-1, replayed then live, in order',
    )
    t.same(events[0]?.fields, { temp: 1.5 }, 'fields filtered to temp')
    const ids = events.map((e) => Number(e.id))
    t.ok(
      ids.every((id, i) => i === 0 || id > ids[i - 1]!),
      `ids increase: ${ids}`,
    )
  },
)

t.test(
  'e2e - an EventSource opened before its device ever published gets its readings once it does',
  async (t) => {
    if (!haveProgram(t, 'chromium', 'chromium')) return
    const app = await startTestApp(t)
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    await page.goto(`http://127.0.0.1:${app.httpPort}/healthz`)
    type Seen = { opened: boolean; errors: number; events: Array<{ device: string; seq: number }> }
    // Opened and waited for before meter-8 exists: a 400 here would make the browser give up for good.
    const opened = await page.evaluate(
      (url) =>
        new Promise<Seen>((resolve) => {
          const seen: Seen = { opened: false, errors: 0, events: [] }
          Object.assign(globalThis, { seen })
          const source = new EventSource(url)
          source.onopen = () => {
            seen.opened = true
            resolve(seen)
          }
          source.onerror = () => {
            seen.errors++
            if (source.readyState === EventSource.CLOSED) resolve(seen)
          }
          source.addEventListener('telemetry', (e) => seen.events.push(JSON.parse((e as MessageEvent).data)))
        }),
      '/v1/stream/telemetry?device=meter-8',
    )
    t.same(opened, { opened: true, errors: 0, events: [] }, 'the stream opens with no device seen yet')

    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => c.endAsync())
    for (let seq = 1; seq <= 3; seq++)
      await c.publishAsync('devices/meter-8/telemetry', reading(seq, { temp: seq }), { qos: 1 })
    await page.waitForFunction(
      () => (globalThis as unknown as { seen: Seen }).seen.events.length >= 3,
      null,
      {
        timeout: 20_000,
      },
    )
    const seen = await page.evaluate(() => (globalThis as unknown as { seen: Seen }).seen)
    t.same(
      seen.events.map((e) => [e.device, e.seq]),
      [1, 2, 3].map((seq) => ['meter-8', seq]),
      'the first readings of the new device, in order',
    )
    t.equal(seen.errors, 0, 'no error, no reconnect')
  },
)
