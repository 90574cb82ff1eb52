/**
 * --publishes-per-second-per-client (issue #22, item 6): a device publishing
 * far over its rate is slowed to it, not cut, and every reading it got a
 * PUBACK for is stored; another device beside it is not slowed.
 */

import mqtt from 'mqtt'
import t from 'tap'
import { startTestApp } from '../helpers/app.js'
import { metric, readings } from '../helpers/http.js'
import { reading } from '../helpers/mqtt.js'

t.test(
  'publish rate - 3x the allowance at once: slowed to the rate, nothing lost, others unhurt',
  async (t) => {
    // 50 a second with a burst of 50: 150 at once take about 2 s.
    const app = await startTestApp(t, { publishesPerSecondPerClient: 50 })
    const connect = (id: string) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { clientId: id, reconnectPeriod: 0 })
    const [fast, calm] = [await connect('fast-1'), await connect('calm-1')]
    t.teardown(() => Promise.all([fast.endAsync(true), calm.endAsync(true)]))
    let closed = false
    fast.on('close', () => (closed = true))
    const started = Date.now()
    const flood = Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        fast.publishAsync('devices/fast-1/telemetry', reading(i + 1, { temp: i }), { qos: 1 }),
      ),
    )
    // Meanwhile another client's readings are acknowledged at once.
    const calmStarted = Date.now()
    for (let seq = 1; seq <= 5; seq++)
      await calm.publishAsync('devices/calm-1/telemetry', reading(seq, { temp: seq }), { qos: 1 })
    const calmMs = Date.now() - calmStarted
    await flood
    const seconds = (Date.now() - started) / 1000
    t.ok(seconds >= 1.8, `150 publishes took ${seconds} s: held to the rate`)
    t.ok(calmMs < 1500, `the other client's 5 took ${calmMs} ms`)
    t.notOk(closed, 'slowed, not cut')
    t.equal((await readings(app.httpPort, 'fast-1')).length, 150, 'every acknowledged reading stored')
    t.ok((await metric(app.httpPort, 'mqtt_publishes_delayed_total')) >= 90, 'the delays counted')
    t.equal(await metric(app.httpPort, 'mqtt_protocol_disconnects_total'), 0, 'no one disconnected')
  },
)
