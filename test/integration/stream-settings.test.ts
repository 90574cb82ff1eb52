/** SSE settings end to end: heartbeat comments on idle streams, and cutting slow clients by setting. */

import { connect } from 'node:http2'
import t from 'tap'
import { startTestApp } from '../helpers/app.js'

t.test('streams - an idle stream receives heartbeat comments at --sse-heartbeat-ms', async (t) => {
  const app = await startTestApp(t, { sseHeartbeatMs: 200 })
  const session = connect(`http://127.0.0.1:${app.httpPort}`)
  t.teardown(() => session.close())
  const stream = session.request({ ':path': '/v1/stream/telemetry?device=*' })
  let text = ''
  const pinged = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000)
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes(': ping\n\n')) {
        clearTimeout(timer)
        resolve(true)
      }
    })
  })
  t.ok(await pinged, `a ": ping" comment arrived: ${JSON.stringify(text.slice(0, 80))}`)
  stream.close()
})

t.test('config - --sse-slow-client and --sse-heartbeat-ms are checked', async (t) => {
  const { loadConfig } = await import('../../src/config.js')
  t.equal(loadConfig(['--sse-slow-client', 'disconnect'], {}).sseSlowClient, 'disconnect')
  t.throws(() => loadConfig(['--sse-slow-client', 'drop'], {}), /--sse-slow-client/)
  t.throws(() => loadConfig([], { SSE_HEARTBEAT_MS: '5' }), /SSE_HEARTBEAT_MS/)
})
