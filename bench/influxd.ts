/**
 * A real InfluxDB 1.x (Debian's `influxd`) for the InfluxDB bench and tests:
 * a config in a directory of the caller's, free loopback ports, started,
 * stopped and started again on the same data, and never outliving this
 * process.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

const HOST = '127.0.0.1'
const START_LIMIT_MS = 30_000

export interface InfluxdProcess {
  readonly url: string
  readonly port: number
  readonly pid: number
  /** X-Influxdb-Version of /ping. */
  readonly version: string
  /** SIGTERM, SIGKILL after 10 s; resolves once it has exited. */
  stop(): Promise<void>
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

/**
 * influxd with its data in `dir`. The first start writes `dir/influxd.conf`
 * on two free ports; a later start in the same dir reuses it, so the server
 * comes back on the same URL with the same data.
 */
export async function startInfluxd(dir: string): Promise<InfluxdProcess> {
  const config = join(dir, 'influxd.conf')
  if (!existsSync(config)) {
    const [httpPort, rpcPort] = [await freePort(), await freePort()]
    writeFileSync(
      config,
      `reporting-disabled = true
bind-address = "${HOST}:${rpcPort}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "${HOST}:${httpPort}"
  log-enabled = false
[logging]
  level = "warn"
`,
    )
  }
  const port = /\[http\]\s+bind-address = "[^:]+:(\d+)"/.exec(readFileSync(config, 'utf8'))?.[1]
  const url = `http://${HOST}:${port}`
  const child = spawn('influxd', ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  let output = ''
  const keep = (d: Buffer | string) => {
    output = (output + d.toString()).slice(-4000)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  child.on('error', (err) => keep(String(err)))
  const deadline = Date.now() + START_LIMIT_MS
  let version = 'unknown'
  for (;;) {
    if (child.exitCode !== null) throw new Error(`influxd exited with ${child.exitCode}: ${output}`)
    try {
      const res = await fetch(`${url}/ping`)
      if (res.status === 204) {
        version = res.headers.get('x-influxdb-version') ?? version
        break
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      kill()
      throw new Error(`influxd did not answer /ping in ${START_LIMIT_MS / 1000} s: ${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    url,
    port: Number(port),
    pid: child.pid!,
    version,
    async stop() {
      process.removeListener('exit', kill)
      await stopChild(child)
    },
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}
