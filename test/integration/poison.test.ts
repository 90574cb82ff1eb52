/**
 * No poison message (issue 21, item 7): whatever a device sends is either
 * stored or kept as a dead letter, and acknowledged either way. A message
 * that made the pipeline throw used to go unacknowledged, so the device
 * resent it forever.
 */

import { encode, Tag } from 'cbor-x'
import mqtt from 'mqtt'
import type { Histogram } from 'prom-client'
import t from 'tap'
import { Bridge, DEFAULT_BRIDGE_OPTIONS } from '../../bridge/index.js'
import { createMetrics } from '../../src/metrics.js'
import { DuckDBStore } from '../../src/store/index.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { getJson, readings } from '../helpers/http.js'

t.test(
  'poison - a tag-1 ts of 1e300 is acknowledged and kept as ts_out_of_range; others are served',
  async (t) => {
    const app = await startTestApp(t)
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => c.endAsync(true))
    const poison = Buffer.from(encode({ v: 1, seq: 1, ts: new Tag(1e300, 1), m: { a: 1 } }))
    // Before the fix the PUBACK never came: publishAsync would wait past the test's timeout.
    await c.publishAsync('devices/poisoned/telemetry', poison, { qos: 1 })
    await c.publishAsync('devices/healthy/telemetry', Buffer.from(encode({ v: 1, seq: 1, m: { a: 2 } })), {
      qos: 1,
    })
    const { body } = await getJson<{ deadLetters: Array<{ device: string; reason: string }> }>(
      app.httpPort,
      '/v1/dead-letters?device=poisoned',
    )
    t.same(
      body.deadLetters.map((l) => l.reason),
      ['ts_out_of_range'],
      'a dead letter with its reason',
    )
    t.equal((await readings(app.httpPort, 'healthy')).length, 1, 'the next device is served')
  },
)

t.test(
  'poison - an exception inside the pipeline becomes an internal_error dead letter, acknowledged',
  async (t) => {
    const store = await DuckDBStore.open(tempDir(t))
    t.teardown(() => store.close())
    // prom-client throws on a value it cannot observe: the failure the 1e300 time used to cause.
    const throwing = {
      observe() {
        throw new Error('Value is not a valid number')
      },
    } as unknown as Histogram
    const bridge = await Bridge.open(store, DEFAULT_BRIDGE_OPTIONS, {
      ...createMetrics(),
      clockOffset: throwing,
    })
    const outcome = await bridge.ingest(
      'devices/d/telemetry',
      Buffer.from(encode({ v: 1, seq: 1, ts: Date.now(), m: { a: 1 } })),
    )
    t.match(outcome, { kind: 'rejected', reason: 'internal_error', detail: /Value is not a valid number/ })
    const letters = await store.deadLetters({
      device: 'd',
      reason: null,
      ids: null,
      includeReplayed: false,
      limit: 10,
      afterId: 0n,
      payloadBytes: 0,
    })
    t.same(
      letters.map((l) => l.reason),
      ['internal_error'],
      'kept, to be replayed once fixed',
    )
  },
)
