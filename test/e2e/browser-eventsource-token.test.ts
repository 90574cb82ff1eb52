/**
 * Headless Chromium's EventSource against the API with a tokens file
 * (issue 22): EventSource cannot send an Authorization header, so it gives
 * the token as `access_token` in the URL (RFC 6750 §2.3). From the API's own
 * origin, and from another (`localhost` against `127.0.0.1`, allowed by
 * --cors-origin) as a dashboard would.
 */

import mqtt from 'mqtt'
import { chromium, type Page } from 'playwright-core'
import t from 'tap'
import { makeToken, startSecured } from '../helpers/auth.js'
import { CHROMIUM_ARGS, haveProgram } from '../helpers/external.js'
import { reading } from '../helpers/mqtt.js'
import { freePort } from '../helpers/process.js'

/** Opens an EventSource in the page; resolves with the seqs of `count` telemetry events, or with how it failed. */
function listen(page: Page, url: string, count: number): Promise<{ seqs: number[]; error: string | null }> {
  return page.evaluate(
    ([url, count]) =>
      new Promise<{ seqs: number[]; error: string | null }>((resolve) => {
        const source = new EventSource(url)
        const seqs: number[] = []
        source.addEventListener('telemetry', (event) => {
          seqs.push(JSON.parse((event as MessageEvent).data).seq)
          if (seqs.length === count) {
            source.close()
            resolve({ seqs, error: null })
          }
        })
        // A 401 fails the connection: EventSource does not retry it (readyState CLOSED).
        source.onerror = () => {
          if (source.readyState === EventSource.CLOSED) resolve({ seqs, error: 'closed' })
        }
        setTimeout(() => {
          source.close()
          resolve({ seqs, error: `only ${seqs.length} events in 20 s` })
        }, 20_000)
      }),
    [url, count] as const,
  )
}

t.test(
  'e2e - Chromium EventSource with access_token, same origin and across origins; refused without',
  async (t) => {
    if (!haveProgram(t, 'chromium', 'chromium')) return
    const port = await freePort()
    const dashboard = `http://localhost:${port}`
    const { app, file } = await startSecured(t, { httpPort: port, corsOrigin: [dashboard] })
    const token = makeToken(file, 'read')
    await app.reloadTokens()

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
    t.teardown(() => browser.close())
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => device.endAsync(true))
    let seq = 0
    const publishWhile = async (done: Promise<unknown>) => {
      let over = false
      void done.finally(() => {
        over = true
      })
      // Until the page has its events (bounded by the page's own 20 s).
      for (let i = 0; i < 200 && !over; i++) {
        await device.publishAsync('devices/web-1/telemetry', reading(++seq, { temp: seq }), { qos: 1 })
        await new Promise((r) => setTimeout(r, 100))
      }
    }

    const same = await browser.newPage()
    await same.goto(`http://127.0.0.1:${port}/healthz`)
    const refused = await listen(same, '/v1/stream/telemetry?device=*', 1)
    t.same(refused, { seqs: [], error: 'closed' }, 'no token: the stream is refused and not retried')

    const stream = `/v1/stream/telemetry?device=web-1&access_token=${encodeURIComponent(token)}`
    const sameOrigin = listen(same, stream, 2)
    await publishWhile(sameOrigin)
    t.equal((await sameOrigin).seqs.length, 2, 'same origin: events with the token in the URL')

    const other = await browser.newPage()
    await other.goto(`${dashboard}/healthz`)
    const crossOrigin = listen(other, `http://127.0.0.1:${port}${stream}`, 2)
    await publishWhile(crossOrigin)
    const got = await crossOrigin
    t.equal(got.error, null, 'across origins: allowed by --cors-origin')
    t.equal(got.seqs.length, 2)
  },
)
