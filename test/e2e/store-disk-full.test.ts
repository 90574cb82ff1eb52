/**
 * The store is never left invalid, and /readyz tells the truth (issue 21,
 * reproduction 1): a full disk made DuckDB's checkpoint fail and invalidate
 * the database; from then on every commit failed while /readyz said ready,
 * and only a restart helped.
 *
 * The app runs as `npm start` does, but with its data directory on a small
 * tmpfs of its own (a user and mount namespace, so no privileges are needed)
 * that is almost full. A device publishes QoS 1 until the disk fills. Then:
 * /readyz is 503 naming the store, PUBACKs stop, and once space is freed
 * the store reopens by itself; every reading acknowledged before is stored
 * once, and every one resent after is stored once too.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { SERVER_NODE_FLAGS } from '../../src/node-flags.js'
import { tempDir } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { metric } from '../helpers/http.js'
import { reading } from '../helpers/mqtt.js'
import { MAIN_JS } from '../helpers/process.js'

const MOUNT_MB = 48
const FREE_MB = 10
const DEVICE = 'disk-1'
const WINDOW = 32
const MAX_SEQ = 300_000
const FILL_BOUND_MS = 120_000

interface Server {
  readonly child: ChildProcess
  readonly mqttPort: number
  readonly httpPort: number
  readonly log: string[]
}

/** The app with its data directory on a MOUNT_MB tmpfs of which FREE_MB are free. */
async function startOnSmallDisk(mount: string): Promise<Server> {
  const script = [
    'mount -t tmpfs -o size=$2m tmpfs "$1"',
    'mkdir "$1/data"',
    'head -c $3m /dev/zero > "$1/filler"',
    'shift 3',
    'exec "$@"',
  ].join(' && ')
  const child = spawn(
    'unshare',
    [
      '--user',
      '--map-root-user',
      '--mount',
      'sh',
      '-c',
      script,
      'sh',
      mount,
      String(MOUNT_MB),
      String(MOUNT_MB - FREE_MB),
      process.execPath,
      ...SERVER_NODE_FLAGS,
      MAIN_JS,
      '--mqtt-port',
      '0',
      '--http-port',
      '0',
      '--data-dir',
      `${mount}/data`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const log: string[] = []
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const ports = await new Promise<{ mqtt: number; http: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${stderr}`)), 30_000)
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening: ${stderr}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.push(line)
      const entry = JSON.parse(line) as { msg?: string; mqtt?: string; http?: string }
      if (entry.msg === 'telemetry bridge listening') {
        clearTimeout(timer)
        resolve({ mqtt: Number(entry.mqtt!.split(':').pop()), http: Number(entry.http!.split(':').pop()) })
      }
    })
  })
  return { child, mqttPort: ports.mqtt, httpPort: ports.http, log }
}

function payload(seq: number): Buffer {
  // Random doubles barely compress: the disk fills in seconds.
  const m: Record<string, number> = {}
  for (let i = 0; i < 16; i++) m[`v${i}`] = Math.random()
  return reading(seq, m, { ts: Date.now() })
}

async function readyz(httpPort: number): Promise<{ status: number; body: { message?: string } }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(5_000) })
  return { status: res.status, body: (await res.json()) as { message?: string } }
}

function connectClient(port: number, clientId: string): Promise<MqttClient> {
  const client = mqtt.connect({ port, host: '127.0.0.1', clientId, reconnectPeriod: 0 })
  client.on('error', () => undefined)
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', reject)
  })
}

/** Publishes 1, 2, ... with WINDOW in flight until stop() says so; returns the acknowledged seqs and the last seq sent. */
async function publishUntil(
  client: MqttClient,
  stop: () => boolean,
): Promise<{ acked: Set<number>; last: number }> {
  const acked = new Set<number>()
  let next = 1
  let inFlight = 0
  await new Promise<void>((resolve) => {
    const started = Date.now()
    let done = false
    const finish = () => {
      if (!done) resolve()
      done = true
    }
    client.once('close', finish)
    const pump = () => {
      while (
        !done &&
        inFlight < WINDOW &&
        next <= MAX_SEQ &&
        !stop() &&
        Date.now() - started < FILL_BOUND_MS
      ) {
        const seq = next++
        inFlight++
        client.publish(`devices/${DEVICE}/telemetry`, payload(seq), { qos: 1 }, (err) => {
          inFlight--
          if (!err) acked.add(seq)
          pump()
        })
      }
      if (inFlight === 0) finish()
    }
    pump()
  })
  return { acked, last: next - 1 }
}

async function waitFor(what: string, bound: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + bound
  while (!(await check().catch(() => false))) {
    if (Date.now() > until) throw new Error(`${what}: not within ${bound} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

t.test(
  'store - a full disk: /readyz says so, PUBACKs stop, the store reopens by itself, nothing lost or doubled',
  async (t) => {
    for (const program of ['unshare', 'nsenter']) if (!haveProgram(t, program, 'util-linux')) return
    const mount = tempDir(t)
    const server = await startOnSmallDisk(mount)
    t.teardown(() => {
      server.child.kill('SIGKILL')
    })

    // Fill the disk: publish until /readyz stops saying ready.
    let notReady = false
    const poll = setInterval(() => {
      readyz(server.httpPort).then(
        (r) => {
          notReady ||= r.status === 503
        },
        () => undefined,
      )
    }, 100)
    const publisher = await connectClient(server.mqttPort, DEVICE)
    const { acked, last } = await publishUntil(publisher, () => notReady)
    clearInterval(poll)
    publisher.end(true)
    t.ok(acked.size < last, `the disk filled: ${last - acked.size} of ${last} publishes went unacknowledged`)

    const down = await readyz(server.httpPort)
    t.equal(down.status, 503, '/readyz is not ready')
    t.match(down.body.message, /store/, `...and names the store: ${down.body.message}`)
    t.equal(await metric(server.httpPort, 'telemetry_store_up'), 0, 'telemetry_store_up 0')
    t.ok(
      server.log.some((l) => l.includes('store failed')),
      'the failure is logged',
    )

    // While the store is down a publish is not acknowledged.
    const probe = await connectClient(server.mqttPort, `${DEVICE}-probe`)
    const probeAck = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no PUBACK'), 3_000)
      probe.publish(`devices/${DEVICE}-probe/telemetry`, payload(1), { qos: 1 }, (err) => {
        clearTimeout(timer)
        resolve(err ? `refused: ${err.message}` : 'PUBACK')
      })
    })
    probe.end(true)
    t.not(probeAck, 'PUBACK', `a publish while the store is down is not acknowledged (${probeAck})`)

    // Space comes back: the store reopens by itself, no restart.
    execFileSync('nsenter', ['-t', String(server.child.pid), '--user', '--mount', 'rm', `${mount}/filler`])
    await waitFor('ready again', 60_000, async () => (await readyz(server.httpPort)).status === 200)
    t.pass('/readyz is ready again without a restart')
    t.equal(await metric(server.httpPort, 'telemetry_store_up'), 1, 'telemetry_store_up 1')
    t.ok((await metric(server.httpPort, 'telemetry_store_failures_total')) >= 1, 'the failure was counted')

    // The device resends what was never acknowledged, as devices do.
    const resender = await connectClient(server.mqttPort, DEVICE)
    const missing = Array.from({ length: last }, (_, i) => i + 1).filter((seq) => !acked.has(seq))
    await Promise.all(
      missing.map(
        (seq) =>
          new Promise<void>((resolve, reject) =>
            resender.publish(`devices/${DEVICE}/telemetry`, payload(seq), { qos: 1 }, (err) =>
              err ? reject(err) : resolve(),
            ),
          ),
      ),
    )
    resender.end(true)

    const res = await fetch(
      `http://127.0.0.1:${server.httpPort}/v1/telemetry?device=${DEVICE}&from=0&format=ndjson&limit=1000000`,
    )
    const seqs = (await res.text())
      .trim()
      .split('\n')
      .map((l) => Number((JSON.parse(l) as { seq: number }).seq))
    const counts = new Map<number, number>()
    for (const seq of seqs) counts.set(seq, (counts.get(seq) ?? 0) + 1)
    t.equal(
      [...acked].filter((seq) => counts.get(seq) !== 1).length,
      0,
      `all ${acked.size} acknowledged readings stored once`,
    )
    t.equal(seqs.length, last, `all ${last} readings stored once after the resend (${missing.length} resent)`)
    t.equal([...counts.values()].filter((n) => n > 1).length, 0, 'none doubled')
  },
)
