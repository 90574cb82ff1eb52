/**
 * Two copies of one message in flight at once (a device's duplicate, an MQTT
 * redelivery) are stored once: the second finds the first pending and waits
 * for it. Regression: an await between the dedupe check and the claim let
 * both copies through, and the simulator's verify found 20 readings stored
 * twice.
 */

import { encode } from 'cbor-x'
import t from 'tap'
import { Bridge, DEFAULT_BRIDGE_OPTIONS } from '../../bridge/index.js'
import { createMetrics } from '../../src/metrics.js'
import { DuckDBStore } from '../../src/store/index.js'
import { tempDir } from '../helpers/app.js'

t.test('dedupe - copies of one message ingested at once are stored once', async (t) => {
  const store = await DuckDBStore.open(tempDir(t))
  t.teardown(() => store.close())
  const bridge = await Bridge.open(store, DEFAULT_BRIDGE_OPTIONS, createMetrics())
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, i) => {
      const seq = Math.floor(i / 4) // five seqs, four copies of each, all at once
      return bridge.ingest('devices/twin/telemetry', Buffer.from(encode({ v: 1, seq, m: { temp: seq } })))
    }),
  )
  const kinds = outcomes.map((o) => o.kind)
  t.equal(kinds.filter((k) => k === 'accepted').length, 5, 'one copy of each seq accepted')
  t.equal(kinds.filter((k) => k === 'duplicate').length, 15, 'the others are duplicates')
  let rows = 0
  for await (const chunk of store.readings({
    devices: ['twin'],
    fromNs: 0n,
    toNs: 2n ** 62n,
    fields: null,
    limit: 100,
  }))
    rows += chunk.length
  t.equal(rows, 5, 'five rows stored')
})
