/**
 * The servers a benchmark runs against, each a child process started here
 * and always stopped here: our app as `npm start` runs it, Mosquitto with a
 * config written to a temp dir, and mosquitto_sub as Mosquitto's consumer.
 * Every child is killed when this process exits, however it exits.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { SERVER_NODE_FLAGS } from '../src/node-flags.js'
import { freePort } from './influxd.js'
import { codeVersion as codeVersionAt } from './results-doc.js'

export const REPO_ROOT = join(import.meta.dirname, '..', '..')
const MAIN_JS = join(REPO_ROOT, 'dist', 'src', 'main.js')
const HOST = '127.0.0.1'

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping child processes\n`)
    process.exit(130)
  })
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

export interface Server {
  readonly name: string
  readonly pid: number
  readonly mqttUrl: string
  /** Stops the process (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>
}

export interface AppServer extends Server {
  readonly httpUrl: string
}

export interface StartAppOptions {
  readonly nodeArgs?: readonly string[]
  /** An existing data dir, left in place on stop. Default: a fresh temp dir, removed on stop. */
  readonly dataDir?: string
  /** The feature definitions file (`--features`). Default: the app's own default. */
  readonly featuresPath?: string
  /** How long the app may take to open its store and listen, ms. Default 30 s. */
  readonly listenTimeoutMs?: number
  /** More command-line arguments for the app, after the ones above (e.g. `--influx-url`). */
  readonly args?: readonly string[]
}

/**
 * Our app in a child process on ephemeral ports, by default with a fresh
 * data dir; the ports come from its 'telemetry bridge listening' log line.
 */
export async function startApp(options: StartAppOptions = {}): Promise<AppServer> {
  const ownDataDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? tempDir('bench-app-')
  const listenTimeoutMs = options.listenTimeoutMs ?? 30_000
  const child = track(
    spawn(
      process.execPath,
      [
        ...SERVER_NODE_FLAGS,
        ...(options.nodeArgs ?? []),
        MAIN_JS,
        '--mqtt-port',
        '0',
        '--http-port',
        '0',
        '--data-dir',
        dataDir,
        ...(options.featuresPath === undefined ? [] : ['--features', options.featuresPath]),
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  )
  const stderr = tail(child)
  const ports = await new Promise<{ mqtt: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`app did not listen within ${listenTimeoutMs / 1000} s: ${stderr()}`)),
      listenTimeoutMs,
    )
    child.once('exit', (code, signal) =>
      reject(new Error(`app exited (${code ?? signal}) before listening: ${stderr()}`)),
    )
    // Keep reading stdout for the whole run: a full pipe would stall the app's logger.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('telemetry bridge listening')) return
      try {
        const entry = JSON.parse(line) as { msg?: unknown; mqtt?: unknown; http?: unknown }
        if (
          entry.msg === 'telemetry bridge listening' &&
          typeof entry.mqtt === 'string' &&
          typeof entry.http === 'string'
        ) {
          clearTimeout(timer)
          resolve({ mqtt: entry.mqtt, http: entry.http })
        }
      } catch {
        // not a JSON log line
      }
    })
  })
  return {
    name: 'app',
    pid: child.pid!,
    mqttUrl: ports.mqtt,
    httpUrl: ports.http,
    async stop() {
      await stopChild(child, 30_000)
      if (ownDataDir) removeTempDir(dataDir)
    },
  }
}

/** Mosquitto on a free loopback port, storing nothing (persistence false). */
export async function startMosquitto(): Promise<Server> {
  const dir = tempDir('bench-mosquitto-')
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const config = join(dir, 'mosquitto.conf')
    writeFileSync(
      config,
      [
        `listener ${port} ${HOST}`,
        'allow_anonymous true',
        'persistence false',
        // Without this Mosquitto drops QoS 0 messages to a subscriber with more
        // than 1000 outgoing packets queued, and the delivery count means nothing.
        'max_queued_messages 0',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    )
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
      name: 'mosquitto',
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
  readonly pid: number
  /** Messages received on devices/+/telemetry so far. */
  readonly received: () => number
  /** Starts counting deliveries afresh, for `since()`. */
  readonly mark: () => void
  /** Deliveries since `mark()`: how many, and their rate from the first to the last. */
  readonly since: () => Delivery
  stop(): Promise<void>
}

export interface Delivery {
  readonly count: number
  /** From the first message to the last, ms (performance.now() as each line is read). */
  readonly spanMs: number
  /** count ÷ span; NaN with fewer than two messages. */
  readonly perSecond: number
}

export interface SubscriberOptions {
  /** The subscription's QoS: the most a message is delivered with. Default 1. */
  readonly qos?: 0 | 1
}

/**
 * mosquitto_sub on `devices/+/telemetry`, printing only each message's topic.
 * It is ready once a probe on `bench/ready` comes back, so no reading is
 * published before the subscription exists. At QoS 1 (the default) the
 * broker delivers QoS 1 publishes as QoS 1, each one acknowledged by the
 * subscriber: the delivery the saturation target compares with.
 */
export async function startSubscriber(mqttUrl: string, options: SubscriberOptions = {}): Promise<Subscriber> {
  const port = new URL(mqttUrl).port
  const qos = String(options.qos ?? 1)
  const child = track(
    spawn(
      'mosquitto_sub',
      ['-h', HOST, '-p', port, '-q', qos, '-t', 'devices/+/telemetry', '-t', 'bench/ready', '-F', '%t'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  )
  const stderr = tail(child)
  let received = 0
  let ready = false
  let sinceMark = 0
  let firstAt = Number.NaN
  let lastAt = Number.NaN
  createInterface({ input: child.stdout! }).on('line', (topic) => {
    if (topic === 'bench/ready') {
      ready = true
      return
    }
    received++
    sinceMark++
    lastAt = performance.now()
    if (Number.isNaN(firstAt)) firstAt = lastAt
  })
  const deadline = Date.now() + 10_000
  while (!ready) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`mosquitto_sub did not subscribe within 10 s: ${stderr()}`)
    execFileSync('mosquitto_pub', ['-h', HOST, '-p', port, '-t', 'bench/ready', '-m', 'x'])
    await sleep(100)
  }
  return {
    pid: child.pid!,
    received: () => received,
    mark() {
      sinceMark = 0
      firstAt = Number.NaN
      lastAt = Number.NaN
    },
    since() {
      const spanMs = lastAt - firstAt
      return {
        count: sinceMark,
        spanMs: Number.isNaN(spanMs) ? 0 : spanMs,
        perSecond: sinceMark >= 2 && spanMs > 0 ? (sinceMark * 1000) / spanMs : Number.NaN,
      }
    },
    stop: () => stopChild(child, 5000),
  }
}

/** User plus system CPU time of a process, all threads, in seconds (proc(5)). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which may itself hold spaces and parentheses.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) / clockTicks()
}

/** CPU time the whole machine spent busy (not idle, not waiting for I/O), in seconds. */
export function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu
  return (user + nice + system + irq + softirq + steal) / clockTicks()
}

/** Resident set size now (VmRSS), its peak over the process's life (VmHWM) and its pages of mapped files (RssFile), MB (proc(5)). */
export function memoryMb(pid: number): { rssMb: number; hwmMb: number; fileMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, fileMb: kb('RssFile') / 1024 }
}

let ticks: number | null = null
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  return ticks
}

export function mosquittoVersion(): string {
  try {
    const out = execFileSync('mosquitto', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? 'unknown'
  } catch (err) {
    // `mosquitto -h` exits with status 3 after printing its usage.
    const out = String((err as { stdout?: unknown }).stdout ?? '')
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? 'unknown'
  }
}

/** The commit measured (see results-doc.ts). */
export function codeVersion(): string {
  return codeVersionAt(REPO_ROOT)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  // A missing binary is reported by the caller's start-up wait, not as an unhandled event.
  child.on('error', () => undefined)
  return child
}

/** The last few KB of a child's stderr, for error messages. */
function tail(child: ChildProcess): () => string {
  let text = ''
  child.stderr?.on('data', (d: Buffer) => {
    text = (text + d.toString()).slice(-4096)
  })
  return () => text.trim()
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
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
