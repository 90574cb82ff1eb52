/**
 * Cancelled history queries stop (issue 21, reproduction 3): 300 HTTP/2
 * streams of /v1/windows opened and cancelled kept both cores busy; /readyz
 * and /metrics timed out for over two minutes, and SIGTERM did not stop
 * the process within 30 s. Now each cancelled request interrupts its
 * query, at most --max-queries run, the rest wait or are refused (503
 * Retry-After), health answers throughout, and SIGTERM ends the process.
 */

import { writeFileSync } from 'node:fs'
import { connect, constants } from 'node:http2'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import type { Reading } from '../../src/core/telemetry.js'
import { DuckDBStore } from '../../src/store/index.js'
import { tempDir } from '../helpers/app.js'
import { startServer } from '../helpers/process.js'
import { storeReading } from '../helpers/store.js'

const STREAMS = 300
/** Five minutes of readings, 1 ms apart from 2023-11-14T22:13:20Z. */
const FROM = '2023-11-14T22:00:00Z'
const TO = '2023-11-15T00:00:00Z'

/**
 * Eight features of 64 overlapping windows each (the most a reading may be
 * in): every reading becomes 512 rows to aggregate, far more work than the
 * test waits for.
 */
const HEAVY_FEATURES = {
  features: Array.from({ length: 8 }, (_, i) => ({
    name: `heavy_${i}`,
    field: 'temp',
    window: { size: `${64 - i}s`, hop: '1s' },
    aggregations: ['mean', 'std', 'first', 'last'],
  })),
}

async function timed(url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now()
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  await res.arrayBuffer()
  return { status: res.status, ms: performance.now() - started }
}

t.test(
  'queries - 300 cancelled /v1/windows streams: health answers, queries stop, SIGTERM ends it',
  async (t) => {
    const dataDir = tempDir(t)
    const store = await DuckDBStore.open(dataDir)
    for (let b = 0; b < 30; b++) {
      const batch: Reading[] = Array.from({ length: 10_000 }, (_, k) => storeReading(b * 10_000 + k, 4))
      await store.commit(
        batch,
        [],
        b === 0
          ? [
              { name: 'temp', kind: 'float' },
              { name: 'count', kind: 'int' },
            ]
          : [],
      )
    }
    await store.close()
    const features = join(dataDir, 'heavy.json')
    writeFileSync(features, JSON.stringify(HEAVY_FEATURES))
    const server = await startServer(dataDir, ['--features', features])
    t.teardown(() => server.child.kill('SIGKILL'))
    // Error lines of the app's log: a cancelled request is the client's doing, not a failure to log as one.
    const errors: string[] = []
    createInterface({ input: server.child.stdout! }).on('line', (line) => {
      if (line.includes('"level":50')) errors.push(line)
    })
    const base = `http://127.0.0.1:${server.httpPort}`

    const session = connect(base)
    session.on('error', () => undefined)
    const windows = () =>
      session.request({ ':path': `/v1/windows?device=*&from=${FROM}&to=${TO}&format=ndjson` })

    // 40 at once: 2 run, 32 wait, the rest are refused at once and told when to retry.
    const held = Array.from({ length: 40 }, windows)
    const refused = await new Promise<number>((resolve) => {
      let count = 0
      const timer = setTimeout(() => resolve(count), 10_000)
      for (const stream of held) {
        stream.on('error', () => undefined)
        stream.on('response', (headers) => {
          if (headers[':status'] !== 503) return
          t.equal(headers['retry-after'], '5', 'a refusal says when to retry')
          if (++count === 6) {
            clearTimeout(timer)
            resolve(count)
          }
        })
      }
    })
    t.equal(refused, 6, 'past 2 running and 32 waiting, 6 refused with 503')
    for (const stream of held) stream.close(constants.NGHTTP2_CANCEL)

    // Then 300 opened and cancelled soon after, as notebooks interrupted by their users.
    await Promise.all(
      Array.from(
        { length: STREAMS },
        (_, i) =>
          new Promise<void>((resolve) => {
            const stream = windows()
            stream.on('error', () => undefined)
            stream.on('close', resolve)
            stream.resume()
            setTimeout(() => stream.close(constants.NGHTTP2_CANCEL), 50 + (i % 10) * 20)
          }),
      ),
    )
    session.close()

    // Health and metrics answer at once, and keep answering.
    for (let i = 0; i < 5; i++) {
      const ready = await timed(`${base}/readyz`)
      const metrics = await timed(`${base}/metrics`)
      t.equal(ready.status, 200, `/readyz ready (${Math.round(ready.ms)} ms)`)
      t.ok(
        ready.ms < 2000 && metrics.ms < 2000,
        `/readyz ${Math.round(ready.ms)} ms, /metrics ${Math.round(metrics.ms)} ms`,
      )
      await new Promise((r) => setTimeout(r, 500))
    }
    // The cancelled queries gave back their places: a small query is admitted and answered.
    const small = await timed(`${base}/v1/telemetry?device=dev-0&from=${FROM}&to=${TO}&limit=10`)
    t.equal(small.status, 200, `a new query is answered (${Math.round(small.ms)} ms)`)
    t.ok(small.ms < 5000, 'without waiting behind the cancelled ones')
    t.same(errors.slice(0, 3), [], 'no cancelled query was logged as an error')
    const metricsText = await (await fetch(`${base}/metrics`)).text()
    t.match(metricsText, /telemetry_queries_refused_total\{cause="busy"\} [1-9]/, 'refusals are counted')

    const stopped = performance.now()
    server.child.kill('SIGTERM')
    const code = await server.exited
    const stopMs = performance.now() - stopped
    t.ok(stopMs < 10_000, `SIGTERM ended the process in ${Math.round(stopMs)} ms (code ${code})`)
  },
)
