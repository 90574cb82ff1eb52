/**
 * The shared wire-format vectors, made by an encoder that is not ours, run
 * through the real bridge and store: every accepted one must be stored as
 * cases.json says, every rejected one must become a dead letter.
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Bridge, DEFAULT_BRIDGE_OPTIONS } from '../../../bridge/index.js'
import { formatRfc3339Ns } from '../../../src/core/time.js'
import { createMetrics } from '../../../src/metrics.js'
import { DuckDBStore, type ReadingRow } from '../../../src/store/index.js'
import { tempDir, VECTORS_DIR } from '../../helpers/app.js'

interface Case {
  file: string
  note: string
  expect: {
    accepted: number
    rejected?: string
    readings?: Array<{
      seq: number
      boot?: number
      ts?: string
      fields?: Record<string, number | boolean>
      tags?: Record<string, string>
    }>
  }
}

const cases = (JSON.parse(readFileSync(join(VECTORS_DIR, 'cases.json'), 'utf8')) as { cases: Case[] }).cases

t.test('bridge - wire-v1 vectors from an independent encoder', async (t) => {
  const store = await DuckDBStore.open(tempDir(t))
  t.teardown(() => store.close())
  const bridge = await Bridge.open(store, DEFAULT_BRIDGE_OPTIONS, createMetrics())

  for (const c of cases) {
    await t.test(c.file, async (t) => {
      // One device per vector: each is an independent device's first message.
      const device = `vec-${c.file.slice(0, 2)}`
      const recvNs = 1_800_000_000_000_000_000n
      const outcome = await bridge.ingest(
        `devices/${device}/telemetry`,
        readFileSync(join(VECTORS_DIR, c.file)),
        recvNs,
      )
      const rows: ReadingRow[] = []
      for await (const chunk of store.readings({
        devices: [device],
        fromNs: 0n,
        toNs: 2n ** 62n,
        fields: null,
        limit: 100,
      }))
        rows.push(...chunk)
      const letters = await store.deadLetters({
        device,
        reason: null,
        ids: null,
        includeReplayed: true,
        limit: 10,
        afterId: 0n,
        payloadBytes: 1024,
      })

      if (c.expect.accepted === 0) {
        t.equal(outcome.kind, 'rejected', c.note)
        t.equal(rows.length, 0, 'nothing stored')
        t.equal(letters.length, 1, 'one dead letter')
        if (c.expect.rejected === 'checksum_mismatch') t.equal(letters[0]?.reason, 'checksum_mismatch')
        t.same(Buffer.from(letters[0]!.payload!), readFileSync(join(VECTORS_DIR, c.file)), 'raw bytes kept')
        return
      }
      t.equal(outcome.kind, 'accepted', c.note)
      t.equal(rows.length, c.expect.accepted, 'readings stored')
      t.equal(letters.length, 0, 'no dead letter')
      c.expect.readings?.forEach((want, i) => {
        const row = rows[i]!
        t.equal(Number(row.seq), want.seq, 'seq')
        if (want.boot !== undefined) t.equal(Number(row.boot), want.boot, 'boot')
        if (want.ts === 'receive time') t.equal(row.ts, recvNs, 'no clock: receive time')
        else if (want.ts !== undefined) t.equal(formatRfc3339Ns(row.ts), want.ts, 'event time')
        for (const [name, value] of Object.entries(want.fields ?? {})) {
          t.equal(Number(row.fields[name]), Number(value), `${name} value`)
          const kind = store.storedFields().find((f) => f.name === name)?.kind
          const expected = typeof value === 'boolean' ? 'bool' : name === 'count' ? 'int' : 'float'
          t.equal(kind, expected, `${name} stored as ${expected}`)
        }
        if (want.tags !== undefined) t.same(JSON.parse(row.tags ?? '{}'), want.tags, 'tags')
      })
    })
  }
})
