/**
 * The programs tests and benches run as child processes, each started here
 * and stopped here: the app as `npm start` runs it (crash, shutdown and
 * every bench), Mosquitto with a config of its own, and mosquitto_sub as
 * Mosquitto's consumer. Every child is killed, and every temp dir made here
 * removed, when this process exits, however it exits.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { SERVER_NODE_FLAGS } from '../../src/node-flags.js'

/** The checkout: run from source (tap) or compiled into dist/ (the benches), the folder with package.json. */
export const REPO_ROOT = ((): string => {
  let dir = import.meta.dirname
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
})()
/** The app's build; TLM_APP_MAIN points a bench at another checkout's dist/src/main.js for an A/B. */
const OWN_MAIN_JS = join(REPO_ROOT, 'dist', 'src', 'main.js')
export const MAIN_JS = process.env.TLM_APP_MAIN ?? OWN_MAIN_JS
const HOST = '127.0.0.1'

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface Running {
  readonly child: ChildProcess
  readonly pid: number
  readonly mqttPort: number
  readonly httpPort: number
  readonly mqttUrl: string
  readonly httpUrl: string
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | string>
  /** SIGTERM, SIGKILL after 30 s; removes the data dir if it was made here. */
  stop(): Promise<void>
}

export interface AppOptions {
  /** An existing data dir, left in place. Default: a fresh temp dir, removed on stop. */
  readonly dataDir?: string
  /** More arguments for the app, after the ports and data dir (e.g. `--influx-url`). */
  readonly args?: readonly string[]
  /** Node flags besides the server's own (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[]
  /** How long the app may take to open its store and listen, ms. Default 30 s. */
  readonly listenTimeoutMs?: number
  /** The script to run instead of dist/src/main.js (bench/no-commit.ts's, say). */
  readonly main?: string
}

/** The app on ephemeral ports; the ports come from its 'telemetry bridge listening' log line. */
export async function spawnApp(o: AppOptions = {}): Promise<Running> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} missing: run npm run build (npm test does)`)
  const dataDir = o.dataDir ?? tempDir('tlm-app-')
  const timeoutMs = o.listenTimeoutMs ?? 30_000
  const child = track(
    spawn(
      process.execPath,
      [...SERVER_NODE_FLAGS, ...(o.nodeArgs ?? []), o.main ?? MAIN_JS].concat([
        '--mqtt-port',
        '0',
        '--http-port',
        '0',
        '--data-dir',
        dataDir,
        // Retention off unless asked for: an hourly run would delete the past timestamps tests and benches store.
        // An older build an A/B points at (TLM_APP_MAIN) has no such flag, and no retention.
        ...(o.args?.includes('--retention-schedule') || o.main !== undefined || MAIN_JS !== OWN_MAIN_JS
          ? []
          : ['--retention-schedule', 'off']),
        ...(o.args ?? []),
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  )
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  )
  const stderr = tail(child)
  const ports = await new Promise<{ mqtt: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`app did not listen in ${timeoutMs} ms: ${stderr()}`)),
      timeoutMs,
    )
    void exited.then((code) => reject(new Error(`app exited with ${code} before listening: ${stderr()}`)))
    // Read stdout for the whole run: a full pipe would stall the app's logger.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: unknown; mqtt?: unknown; http?: unknown }
        if (entry.msg !== 'telemetry bridge listening') return
        clearTimeout(timer)
        resolve({ mqtt: String(entry.mqtt), http: String(entry.http) })
      } catch {
        // not a log line
      }
    })
  })
  const port = (url: string): number => Number(new URL(url).port)
  return {
    child,
    pid: child.pid!,
    mqttUrl: ports.mqtt,
    httpUrl: ports.http,
    mqttPort: port(ports.mqtt),
    httpPort: port(ports.http),
    exited,
    async stop() {
      await stopChild(child, 30_000)
      if (o.dataDir === undefined) removeTempDir(dataDir)
    },
  }
}

/** The app on a data dir of the caller's, for crash and shutdown tests. */
export function startServer(dataDir: string, extraArgs: string[] = []): Promise<Running> {
  return spawnApp({ dataDir, args: extraArgs })
}

export interface Broker {
  readonly pid: number
  readonly mqttUrl: string
  stop(): Promise<void>
}

/** Mosquitto on a free loopback port, storing nothing (persistence false). */
export async function startMosquitto(): Promise<Broker> {
  const dir = tempDir('tlm-mosquitto-')
  const config = join(dir, 'mosquitto.conf')
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    // Without max_queued_messages 0 Mosquitto drops QoS 0 messages to a subscriber with
    // more than 1000 outgoing packets queued, and a delivery count means nothing.
    const lines = [`listener ${port} ${HOST}`, 'allow_anonymous true', 'persistence false']
    lines.push('max_queued_messages 0', 'log_dest stderr', 'log_type error', 'log_type warning', '')
    writeFileSync(config, lines.join('\n'))
    const child = track(spawn('mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] }))
    const stderr = tail(child)
    try {
      await waitForPort(port, child, 10_000)
    } catch (err) {
      await stopChild(child, 2000)
      // Another process may have taken the port between the probe and the bind.
      if (attempt < 3) continue
      throw new Error(`mosquitto did not start: ${(err as Error).message} ${stderr()}`)
    }
    return {
      pid: child.pid!,
      mqttUrl: `mqtt://${HOST}:${port}`,
      async stop() {
        await stopChild(child, 10_000)
        removeTempDir(dir)
      },
    }
  }
}

export interface Subscriber {
  /** Deliveries since the last `mark()`: how many, and their rate from the first to the last (NaN under two). */
  since(): { readonly count: number; readonly perSecond: number }
  mark(): void
  /** Waits (bounded) until `count` messages came since the mark; returns how many came. */
  waitFor(count: number, timeoutMs?: number): Promise<number>
  stop(): Promise<void>
}

/**
 * mosquitto_sub on `devices/+/telemetry` at QoS 1, printing each message's
 * topic; ready once a probe on `bench/ready` comes back, so nothing is
 * published before the subscription exists. Each delivery is acknowledged.
 */
export async function startSubscriber(mqttUrl: string): Promise<Subscriber> {
  const port = new URL(mqttUrl).port
  const args = [
    '-h',
    HOST,
    '-p',
    port,
    '-q',
    '1',
    '-t',
    'devices/+/telemetry',
    '-t',
    'bench/ready',
    '-F',
    '%t',
  ]
  const child = track(spawn('mosquitto_sub', args, { stdio: ['ignore', 'pipe', 'pipe'] }))
  const stderr = tail(child)
  let ready = false
  let count = 0
  let firstAt = Number.NaN
  let lastAt = Number.NaN
  createInterface({ input: child.stdout! }).on('line', (topic) => {
    if (topic === 'bench/ready') ready = true
    else {
      count++
      lastAt = performance.now()
      if (Number.isNaN(firstAt)) firstAt = lastAt
    }
  })
  const deadline = Date.now() + 10_000
  while (!ready) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`mosquitto_sub did not subscribe within 10 s: ${stderr()}`)
    execFileSync('mosquitto_pub', ['-h', HOST, '-p', port, '-t', 'bench/ready', '-m', 'x'])
    await sleep(100)
  }
  return {
    since: () => ({ count, perSecond: count >= 2 ? (count * 1000) / (lastAt - firstAt) : Number.NaN }),
    mark() {
      count = 0
      firstAt = Number.NaN
      lastAt = Number.NaN
    },
    async waitFor(wanted, timeoutMs = 10_000) {
      for (const deadline = Date.now() + timeoutMs; count < wanted && Date.now() < deadline; ) await sleep(50)
      return count
    },
    stop: () => stopChild(child, 5000),
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/** A child of this process, killed when this process exits. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  // A missing binary is reported by the caller's start-up wait, not as an unhandled event.
  child.on('error', () => undefined)
  return child
}

/** The last few KB of a child's output, for error messages. */
export function tail(child: ChildProcess): () => string {
  let text = ''
  const keep = (d: Buffer): void => {
    text = (text + d.toString()).slice(-4096)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return () => text.trim()
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, HOST)
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`port ${port} not open after ${timeoutMs} ms`)
    await sleep(50)
  }
}
