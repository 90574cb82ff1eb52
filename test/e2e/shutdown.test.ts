/**
 * SIGTERM: stop accepting, finish the commits in flight, close the store,
 * exit 0; a second start on the same data dir continues.
 */

import { connect } from 'node:http2'
import mqtt from 'mqtt'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { readings } from '../helpers/http.js'
import { reading } from '../helpers/mqtt.js'
import { startServer } from '../helpers/process.js'

t.test(
  'shutdown - SIGTERM mid-stream exits 0 with every acknowledged reading stored; a restart continues',
  async (t) => {
    const dataDir = tempDir(t)
    const first = await startServer(dataDir)
    // An open SSE stream never ends by itself: it must not hold the shutdown up.
    const session = connect(`http://127.0.0.1:${first.httpPort}`)
    session.on('error', () => undefined)
    const sse = session.request({ ':path': '/v1/stream/telemetry?device=*' })
    sse.on('error', () => undefined)
    sse.resume()
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, {
      clientId: 'term',
      reconnectPeriod: 0,
    })
    client.on('error', () => undefined)
    const acked = new Set<number>()
    let next = 1
    let terminated = false
    // Keep 64 in flight until the connection closes; SIGTERM once 500 are acknowledged.
    const pump = (): void => {
      while (!client.disconnected && next - acked.size <= 64 && next <= 100_000) {
        const seq = next++
        client.publish('devices/term/telemetry', reading(seq, { temp: seq + 0.5 }), { qos: 1 }, (err) => {
          if (err) return
          acked.add(seq)
          if (acked.size >= 500 && !terminated) {
            terminated = true
            first.child.kill('SIGTERM')
          }
          pump()
        })
      }
    }
    pump()
    t.equal(await first.exited, 0, 'exit status 0, with an SSE stream open')
    session.destroy()
    client.end(true)
    t.ok(acked.size >= 500, `${acked.size} acknowledged before the shutdown`)

    const second = await startServer(dataDir)
    t.teardown(() => {
      second.child.kill('SIGKILL')
    })
    const stored = new Set((await readings(second.httpPort, 'term', '&limit=100000')).map((r) => r.seq))
    t.same(
      [...acked].filter((s) => !stored.has(s)),
      [],
      'every acknowledged reading stored',
    )
    const c2 = await mqtt.connectAsync(`mqtt://127.0.0.1:${second.mqttPort}`, {
      clientId: 'term',
      reconnectPeriod: 0,
    })
    await c2.publishAsync('devices/term/telemetry', reading(5000, { temp: 1.5 }), { qos: 1 })
    await c2.endAsync()
    const after = (await readings(second.httpPort, 'term', '&limit=100000')).map((r) => r.seq)
    t.ok(after.includes(5000), 'the second start stores new readings')
    t.equal(new Set(after).size, after.length, 'no seq twice')
    second.child.kill('SIGTERM')
    t.equal(await second.exited, 0)
  },
)
