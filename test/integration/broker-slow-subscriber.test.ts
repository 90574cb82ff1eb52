/**
 * Issue #21, item 5: a `#` subscriber that stops reading froze the PUBACKs of
 * a publisher for Aedes's 60 s drain timeout. Here a real broker on an
 * ephemeral port, a raw-socket subscriber that stops reading, and an mqtt.js
 * publisher with a window of QoS 1 messages in flight: every PUBACK comes
 * back promptly, and the subscriber is disconnected and counted.
 */

import mqtt from 'mqtt'
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { connectPacket, openSocket, untilClosed } from '../helpers/mqtt.js'

/** SUBSCRIBE [MQTT-3.8] to one filter at QoS 0, packet identifier 1. */
function subscribePacket(filter: string): Buffer {
  const topic = Buffer.from(filter)
  const body = [0, 1, topic.length >> 8, topic.length & 0xff, ...topic, 0]
  return Buffer.from([0x82, body.length, ...body])
}

const PAYLOAD = Buffer.alloc(8192, 7)
const WINDOW = 16
/** Messages published after the subscriber is counted: the publisher goes on. */
const AFTER = 500
const DEADLINE_MS = 15_000

/** Slow, by each of the two bounds alone. */
const CASES = [
  {
    name: 'its socket does not drain within slowClientTimeoutMs',
    // Longer than the PUBACK bound below: a publisher that waited for this
    // subscriber's drain would show it.
    limits: { slowClientTimeoutMs: 2000, maxQueuedBytesPerClient: 1024 * 1024 * 1024 },
    reason: 'slow_client',
  },
  {
    name: 'more than maxQueuedBytesPerClient waits in its socket',
    limits: { slowClientTimeoutMs: 60_000, maxQueuedBytesPerClient: 256 * 1024 },
    reason: 'client_queue_full',
  },
] as const

for (const { name, limits, reason } of CASES) {
  t.test(
    `broker - a subscriber that stops reading delays no PUBACK, and is disconnected when ${name}`,
    async (t) => {
      const { broker, reasons } = await startBroker(t, limits)

      const subscriber = await openSocket(broker.port)
      subscriber.write(connectPacket('slow-subscriber', true, 0))
      subscriber.write(subscribePacket('#'))
      // CONNACK (4 bytes) and SUBACK (5 bytes), then it never reads again.
      await new Promise<void>((resolve) => {
        let got = 0
        const onData = (chunk: Buffer): void => {
          got += chunk.length
          if (got < 9) return
          subscriber.off('data', onData)
          subscriber.pause()
          resolve()
        }
        subscriber.on('data', onData)
      })
      const subscriberClosed = untilClosed(subscriber, DEADLINE_MS)
      subscriber.pause()

      const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
        clientId: 'publisher',
        reconnectPeriod: 0,
      })
      t.teardown(() => publisher.end(true))
      // Latency of each QoS 1 PUBLISH, WINDOW in flight at a time, until AFTER
      // messages past the subscriber's disconnection (the kernel's socket
      // buffers take megabytes first); one still unacknowledged at the deadline
      // counts as the time it has waited.
      const latenciesMs: number[] = []
      const inFlight = new Set<number>()
      const started = performance.now()
      let sent = 0
      let stopAt = Number.POSITIVE_INFINITY
      const worker = async (): Promise<void> => {
        while (sent < stopAt && performance.now() - started < DEADLINE_MS) {
          sent++
          if (reasons.length > 0 && stopAt === Number.POSITIVE_INFINITY) stopAt = sent + AFTER
          const at = performance.now()
          inFlight.add(at)
          await publisher.publishAsync('plant/1/flood', PAYLOAD, { qos: 1 })
          inFlight.delete(at)
          latenciesMs.push(performance.now() - at)
        }
      }
      let timer: NodeJS.Timeout | undefined
      const finished = await Promise.race([
        Promise.all(Array.from({ length: WINDOW }, worker)).then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), DEADLINE_MS + 1000)
        }),
      ])
      clearTimeout(timer)
      const acknowledged = latenciesMs.length
      for (const at of inFlight) latenciesMs.push(performance.now() - at)

      t.ok(
        finished && stopAt < Number.POSITIVE_INFINITY,
        `the subscriber was counted within ${DEADLINE_MS} ms`,
      )
      t.equal(acknowledged, sent, `every message acknowledged (${sent})`)
      latenciesMs.sort((a, b) => a - b)
      const p99 = latenciesMs[Math.floor(latenciesMs.length * 0.99)] ?? Number.POSITIVE_INFINITY
      const max = latenciesMs.at(-1) ?? Number.POSITIVE_INFINITY
      t.ok(p99 < 1000, `PUBACK p99 ${p99.toFixed(1)} ms stays under 1 s`)
      t.ok(max < 1000, `PUBACK max ${max.toFixed(1)} ms stays under 1 s`)

      // A paused socket sees the server's FIN only once it has read what came before.
      subscriber.resume()
      t.ok((await subscriberClosed).closed, 'the subscriber that stopped reading is disconnected')
      t.same(reasons, [reason], `and counted once, as ${reason}`)
    },
  )
}
