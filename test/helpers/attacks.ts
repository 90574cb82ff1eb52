/**
 * Issue 21's seven reproductions, all at once, for the soak (soak.ts): each
 * a loop bounded in count and in time, on loopback, counting what it did.
 * They run in a process of their own (`node dist/test/helpers/attacks.js
 * <plan>` prints the counts as one JSON line), so a PUBACK the fleet times
 * is the server's delay, not this event loop's.
 *
 *   1 fields    devices declaring 256 new field names in every message
 *   2 junk      refused payloads of 200 KB and 1 KB from many device ids, and
 *               readers listing the dead letters with their payloads
 *   3 windows   /v1/windows opened and cancelled in bursts (HTTP/2), and aborted (HTTP/1.1)
 *   4 sse       SSE clients on device=* that never read (HTTP/2 and HTTP/1.1)
 *   5 hash      an MQTT `#` subscriber that stops reading; another once it is cut
 *   6 halfOpen  keep-alive-0 connections each sending all but the last 100 bytes
 *               of a 256 KiB PUBLISH, from 127.0.0.2 on
 *   7 poison    tag-1 ts 1e300, JSON ts 1e20, 100,000-deep arrays, `__proto__` names
 */

import { type ClientHttp2Session, type ClientHttp2Stream, constants, connect as h2Connect } from 'node:http2'
import { connect, type Socket } from 'node:net'
import { encode, Tag } from 'cbor-x'
import mqtt, { type MqttClient } from 'mqtt'
import { connectPacket, publishPacket } from './mqtt.js'

export interface AttackSizes {
  /** Devices each declaring 256 new field names in each of 5 messages a second. */
  readonly fieldDevices: number
  /** Junk (not CBOR) messages a second: of 200 KB from `junkDevices` device ids in turn, of 1 KB from 10. */
  readonly junkBigPerS: number
  readonly junkSmallPerS: number
  readonly junkDevices: number
  /** Loops of GET /v1/dead-letters?limit=1000&include=payload, each reading its whole answer. */
  readonly deadLetterReaders: number
  /** /v1/windows HTTP/2 streams opened and cancelled per burst (30 HTTP/1.1 requests aborted too), a burst a second. */
  readonly windowsBurst: number
  /** SSE clients that never read; one in 20 over HTTP/1.1, the rest 50 HTTP/2 streams to a connection. */
  readonly sseClients: number
  /** Half-sent PUBLISH connections per round, a round every 10 s. */
  readonly halfOpen: number
  /** Poison messages a second, the kinds in turn. */
  readonly poisonPerS: number
}

/** What the attacks are pointed at, for how long; /v1/windows asks from `fromMs` (epoch ms) to now. */
export interface AttackPlan {
  readonly mqttPort: number
  readonly httpPort: number
  readonly durationMs: number
  readonly fromMs: number
  readonly sizes: AttackSizes
}

export type AttackCounts = Record<string, number>

const HOST = '127.0.0.1'
/** No loop runs more iterations than this, whatever the duration. */
const MAX_ROUNDS = 100_000
/** A publisher holds back (and counts it) past this many unacknowledged. */
const MAX_IN_FLIGHT = 200
const noop = (): void => undefined
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

class Attack {
  readonly counts: AttackCounts = {}
  readonly end: number
  readonly base: string
  constructor(readonly plan: AttackPlan) {
    ;[this.end, this.base] = [Date.now() + plan.durationMs, `http://${HOST}:${plan.httpPort}`]
  }
  add(name: string, by = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + by
  }
  live(): boolean {
    return Date.now() < this.end
  }

  /** `perS` calls of `body` a second, in ticks of 100 ms, until the end. */
  async paced(perS: number, body: (i: number) => void): Promise<void> {
    const t0 = Date.now()
    for (let i = 0; i < MAX_ROUNDS && perS > 0 && this.live(); await sleep(100)) {
      const due = Math.min(MAX_ROUNDS, Math.floor(((Date.now() - t0) / 1000) * perS) + 1)
      while (i < due) body(i++)
    }
  }

  /**
   * Runs `work` with an mqtt.js client's QoS 1 publish, counted as `<name>.sent`,
   * `.acked`, `.failed` (the connection lost), `.held` (not sent: too many
   * unacknowledged) and `.unacked` (still owed 10 s after the work).
   */
  async publishing(name: string, work: (send: (topic: string, payload: Buffer) => void) => Promise<void>) {
    const url = `mqtt://${HOST}:${this.plan.mqttPort}`
    const client: MqttClient = await mqtt.connectAsync(url, { clientId: `soak-${name}`, reconnectPeriod: 0 })
    client.on('error', noop)
    const pending = new Set<Promise<unknown>>()
    let closing = false
    await work((topic, payload) => {
      this.add(pending.size < MAX_IN_FLIGHT ? `${name}.sent` : `${name}.held`)
      if (pending.size >= MAX_IN_FLIGHT) return
      const p = client.publishAsync(topic, payload, { qos: 1 }).then(
        () => this.add(`${name}.acked`),
        () => closing || this.add(`${name}.failed`),
      )
      pending.add(p)
      void p.finally(() => pending.delete(p))
    })
    await Promise.race([Promise.all(pending), sleep(10_000)])
    this.add(`${name}.unacked`, pending.size)
    closing = true
    await client.endAsync(true)
  }
}

function fields(a: Attack): Promise<void> {
  const devices = a.plan.sizes.fieldDevices
  return a.publishing('fields', (send) =>
    a.paced(5 * devices, (i) => {
      const m = Object.fromEntries(Array.from({ length: 256 }, (_, j) => [`f${i % devices}_${i}_${j}`, j]))
      send(`devices/soak-fields-${i % devices}/telemetry`, encode({ v: 1, seq: i + 1, m }))
    }),
  )
}

async function junk(a: Attack): Promise<void> {
  const { junkBigPerS, junkSmallPerS, junkDevices, deadLetterReaders } = a.plan.sizes
  const [big, small] = [Buffer.alloc(200_000, 0xff), Buffer.alloc(1000, 0xff)]
  // The small ones from ten devices: over the rate cap at once.
  const topic = (i: number, ids: number): string => `devices/soak-junk-${i % ids}/telemetry`
  const reader = async (): Promise<void> => {
    for (let i = 0; i < MAX_ROUNDS && a.live(); i++) {
      const url = `${a.base}/v1/dead-letters?limit=1000&include=payload`
      const res = await fetch(url, { signal: AbortSignal.timeout(30_000) }).catch(() => null)
      a.add('deadLetters.bytes', (await res?.arrayBuffer().catch(() => null))?.byteLength ?? 0)
      a.add(`deadLetters.status${res?.status ?? 'Error'}`)
      if (res?.status !== 200) await sleep(100)
    }
  }
  const publish = a.publishing('junk', async (send) => {
    await Promise.all([
      a.paced(junkBigPerS, (i) => send(topic(i, junkDevices), big)),
      a.paced(junkSmallPerS, (i) => send(topic(i, 10), small)),
    ])
  })
  await Promise.all([publish, ...Array.from({ length: deadLetterReaders }, reader)])
}

async function windows(a: Attack): Promise<void> {
  for (let burst = 0; burst < MAX_ROUNDS && a.live(); burst++) {
    const path = `/v1/windows?device=*&from=${a.plan.fromMs}&to=${Date.now()}&format=ndjson`
    const session = h2Connect(a.base)
    session.on('error', noop)
    const cancelled = Array.from({ length: a.plan.sizes.windowsBurst }, (_, i) => {
      const done = new Promise<void>((resolve) => {
        const stream = session.request({ ':path': path })
        a.add('windows.opened')
        stream.on('error', noop).on('close', resolve).resume()
        stream.on('response', (h) => a.add(`windows.status${h[':status']}`))
        setTimeout(() => stream.close(constants.NGHTTP2_CANCEL), 50 + (i % 10) * 20)
      })
      return done.catch(() => a.add('windows.failed'))
    })
    const aborted = Array.from({ length: 30 }, async (_, i) => {
      const signal = AbortSignal.timeout(50 + i * 5)
      const body = await fetch(`${a.base}${path}`, { signal })
        .then((r) => r.text())
        .catch(noop)
      a.add(body === undefined ? 'windows.h1Aborted' : 'windows.h1Completed')
    })
    await Promise.race([Promise.all([...cancelled, ...aborted]), sleep(10_000)])
    session.destroy()
    await sleep(1000)
  }
}

async function sse(a: Attack): Promise<void> {
  const path = '/v1/stream/telemetry?device=*'
  const [sockets, sessions, streams] = [[] as Socket[], [] as ClientHttp2Session[], [] as ClientHttp2Stream[]]
  for (let i = 0; i < a.plan.sizes.sseClients && a.live(); i++) {
    a.add('sse.opened')
    if (i % 20 === 19) {
      // HTTP/1.1: the response's head is read, then nothing more.
      const socket = connect(a.plan.httpPort, HOST).on('error', noop)
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      socket.once('data', () => {
        socket.pause()
        a.add('sse.attached')
      })
      sockets.push(socket)
      continue
    }
    if (streams.length % 50 === 0) sessions.push(h2Connect(a.base).on('error', noop))
    const stream = sessions.at(-1)!.request({ ':path': path })
    stream.on('error', noop).on('response', () => a.add('sse.attached'))
    stream.pause()
    streams.push(stream)
    if (i % 100 === 99) await sleep(20)
  }
  await sleep(a.end - Date.now())
  for (const s of [...sockets, ...sessions]) s.destroy()
}

/** SUBSCRIBE [MQTT-3.8] to one filter, packet identifier 1. */
function subscribePacket(filter: string, qos: 0 | 1): Buffer {
  const topic = Buffer.from(filter)
  const body = [0, 1, topic.length >> 8, topic.length & 0xff, ...topic, qos]
  return Buffer.from([0x82, body.length, ...body])
}

/** Each round: subscribe to `#`, then read nothing for 10 s; then see whether it was cut. */
async function hash(a: Attack): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS && a.live(); round++) {
    const socket = connect(a.plan.mqttPort, HOST)
    socket.on('error', noop)
    const closed = new Promise<void>((resolve) => socket.once('close', resolve))
    socket.write(connectPacket(`soak-hash-${round}`, true, 0))
    socket.write(subscribePacket('#', round % 2 === 0 ? 0 : 1))
    // It reads its first bytes (CONNACK), then nothing more.
    const subscribed = new Promise<boolean>((resolve) => socket.once('data', () => resolve(true)))
    const ok = await Promise.race([subscribed, closed.then(() => false), sleep(5000).then(() => false)])
    socket.pause()
    a.add(ok ? 'hash.subscribed' : 'hash.notSubscribed')
    await sleep(Math.min(10_000, a.end - Date.now()))
    // A paused socket sees the server's FIN only once it has read what came before it.
    socket.resume()
    const cut = await Promise.race([closed.then(() => true), sleep(5000).then(() => false)])
    a.add(cut ? 'hash.cut' : 'hash.notCut')
    socket.destroy()
  }
}

async function halfOpen(a: Attack): Promise<void> {
  const topic = 'devices/soak-half/telemetry'
  // Remaining length 256 KiB: the most --max-packet-bytes allows by default.
  const packet = publishPacket(topic, Buffer.alloc(256 * 1024 - 4 - topic.length, 1), 1, 1)
  const partial = packet.subarray(0, packet.length - 100)
  for (let round = 0; round < MAX_ROUNDS && a.live(); round++) {
    const roundEnd = Math.min(a.end, Date.now() + 10_000)
    const sockets: Socket[] = []
    let ending = false
    for (let i = 0; i < a.plan.sizes.halfOpen && a.live(); i++) {
      // 100 a loopback address, from 127.0.0.2 on: the per-address cap is not what stops them.
      const socket = connect({ port: a.plan.mqttPort, host: HOST, localAddress: `127.0.0.${2 + (i % 20)}` })
      socket.on('error', noop).once('close', () => a.add(ending ? 'halfOpen.held' : 'halfOpen.cut'))
      socket.write(connectPacket(`soak-half-${round}-${i}`, true, 0))
      socket.write(partial)
      sockets.push(socket)
      a.add('halfOpen.opened')
      if (i % 100 === 99) await sleep(50)
    }
    await sleep(roundEnd - Date.now())
    ending = true
    for (const s of sockets) s.destroy()
  }
}

const DEEP = 100_000
/** 100,000 nested CBOR arrays (0x81: an array of one), the innermost holding 0. */
const NESTED = Buffer.concat([Buffer.alloc(DEEP, 0x81), Buffer.from([0])])
const POISON: readonly ((seq: number) => Buffer)[] = [
  (seq) => encode({ v: 1, seq, ts: new Tag(1e300, 1), m: { a: 1 } }),
  (seq) => Buffer.from(`{"v":1,"seq":${seq},"ts":1e20,"m":{"a":1}}`),
  // {v, seq, m, x: NESTED}: 0xa4 opens a map of four.
  (seq) =>
    Buffer.concat([
      Buffer.from([0xa4]),
      ...['v', 1, 'seq', seq, 'm', { a: 1 }, 'x'].map((x) => encode(x)),
      NESTED,
    ]),
  (seq) => Buffer.from(`{"v":1,"seq":${seq},"m":{"a":1},"x":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`),
  (seq) => encode({ v: 1, seq, m: JSON.parse('{"__proto__":1,"a":1}') }),
  (seq) => Buffer.from(`{"v":1,"seq":${seq},"m":{"__proto__":1,"a":1}}`),
]

function poison(a: Attack): Promise<void> {
  return a.publishing('poison', (send) =>
    a.paced(a.plan.sizes.poisonPerS, (i) => {
      const kind = i % POISON.length
      send(`devices/soak-poison-${kind}/telemetry`, POISON[kind]!(Math.floor(i / POISON.length) + 1))
    }),
  )
}

/** Runs every attack until the plan's end; an attack that throws is counted as `<name>.crashed`. */
export async function runAttacks(plan: AttackPlan): Promise<AttackCounts> {
  const a = new Attack(plan)
  const all = { fields, junk, windows, sse, hash, halfOpen, poison }
  await Promise.all(
    Object.entries(all).map(([name, attack]) =>
      attack(a).catch((err: unknown) => {
        a.add(`${name}.crashed`)
        process.stderr.write(`attack ${name}: ${(err as Error).stack ?? String(err)}\n`)
      }),
    ),
  )
  return a.counts
}

if (process.argv[1] === import.meta.filename)
  process.stdout.write(`${JSON.stringify(await runAttacks(JSON.parse(process.argv[2]!) as AttackPlan))}\n`)
