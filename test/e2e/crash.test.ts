/**
 * The at-least-once promise under SIGKILL: publish QoS 1 as fast as
 * acknowledgements allow, kill the server mid-stream, restart it on the same
 * data dir, and check that every acknowledged seq is stored exactly once;
 * then let the devices resend what was never acknowledged, as real devices
 * do, and check again. CRASH_RUNS=20 repeats the whole scenario.
 */

import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { reading } from '../helpers/mqtt.js'
import { startServer } from '../helpers/process.js'

const DEVICES = 4
const WINDOW = 64
const RUNS = Number(process.env.CRASH_RUNS ?? 1)
/** Bound on the publishing phase: the kill comes well before. */
const MAX_SEQ = 200_000

interface Device {
  readonly id: string
  readonly acked: Set<number>
  /** Every payload sent, by seq: a device resends the same bytes. */
  readonly sent: Map<number, Buffer>
}

/** Publishes seq 1, 2, ... keeping WINDOW in flight, until the connection dies or MAX_SEQ. */
function publishFlatOut(client: MqttClient, device: Device): Promise<void> {
  return new Promise((resolve) => {
    let next = 1
    let inFlight = 0
    let stopped = false
    const stop = () => {
      stopped = true
      resolve()
    }
    client.once('close', stop)
    client.on('error', () => undefined)
    const pump = () => {
      while (!stopped && inFlight < WINDOW && next <= MAX_SEQ) {
        const seq = next++
        inFlight++
        const payload = reading(seq, { temp: seq + 0.5 }, { ts: Date.now() })
        device.sent.set(seq, payload)
        client.publish(`devices/${device.id}/telemetry`, payload, { qos: 1 }, (err) => {
          inFlight--
          if (!err) device.acked.add(seq)
          pump()
        })
      }
      if (next > MAX_SEQ && inFlight === 0) stop()
    }
    pump()
  })
}

async function storedSeqs(httpPort: number, device: string): Promise<number[]> {
  const res = await fetch(
    `http://127.0.0.1:${httpPort}/v1/telemetry?device=${device}&from=0&format=ndjson&limit=1000000`,
  )
  const text = await res.text()
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { seq: number }).seq)
}

function exactlyOnce(stored: number[], expected: Set<number>): { missing: number[]; doubled: number[] } {
  const counts = new Map<number, number>()
  for (const s of stored) counts.set(s, (counts.get(s) ?? 0) + 1)
  return {
    missing: [...expected].filter((s) => !counts.has(s)).slice(0, 10),
    doubled: [...counts]
      .filter(([, n]) => n > 1)
      .map(([s]) => s)
      .slice(0, 10),
  }
}

for (let run = 1; run <= RUNS; run++) {
  t.test(
    `crash - SIGKILL mid-stream loses and doubles no acknowledged reading (run ${run}/${RUNS})`,
    async (t) => {
      const dataDir = tempDir(t)
      const first = await startServer(dataDir)
      const devices: Device[] = Array.from({ length: DEVICES }, (_, i) => ({
        id: `crash-${i}`,
        acked: new Set(),
        sent: new Map(),
      }))
      const clients = await Promise.all(
        devices.map((d) =>
          mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, { clientId: d.id, reconnectPeriod: 0 }),
        ),
      )
      const publishing = devices.map((d, i) => publishFlatOut(clients[i]!, d))
      // Kill once enough is acknowledged for the test to mean something, mid-stream.
      const killAt = 500 + Math.floor(Math.random() * 1500)
      const deadline = Date.now() + 20_000
      while (devices.reduce((n, d) => n + d.acked.size, 0) < killAt && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5))
      }
      first.child.kill('SIGKILL')
      t.equal(await first.exited, 'SIGKILL', 'the server was killed')
      await Promise.all(publishing)
      for (const c of clients) c.end(true)

      const totalAcked = devices.reduce((n, d) => n + d.acked.size, 0)
      t.ok(totalAcked >= killAt, `${totalAcked} readings acknowledged before the kill`)

      const second = await startServer(dataDir)
      t.teardown(() => {
        second.child.kill('SIGKILL')
      })
      for (const d of devices) {
        const { missing, doubled } = exactlyOnce(await storedSeqs(second.httpPort, d.id), d.acked)
        t.same(missing, [], `${d.id}: every acknowledged seq stored`)
        t.same(doubled, [], `${d.id}: no seq stored twice`)
      }

      // The devices come back and resend everything they sent but saw no PUBACK for.
      for (const d of devices) {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${second.mqttPort}`, {
          clientId: d.id,
          reconnectPeriod: 0,
        })
        for (const [seq, payload] of d.sent) {
          if (!d.acked.has(seq)) await c.publishAsync(`devices/${d.id}/telemetry`, payload, { qos: 1 })
        }
        await c.endAsync()
        const { missing, doubled } = exactlyOnce(
          await storedSeqs(second.httpPort, d.id),
          new Set(d.sent.keys()),
        )
        t.same(missing, [], `${d.id}: after resending, every sent seq stored`)
        t.same(doubled, [], `${d.id}: after resending, still no seq twice`)
        const dead = (await (
          await fetch(`http://127.0.0.1:${second.httpPort}/v1/dead-letters?device=${d.id}`)
        ).json()) as { deadLetters: unknown[] }
        t.same(dead.deadLetters, [], `${d.id}: a resend of the same bytes is never a conflict`)
      }
    },
  )
}
