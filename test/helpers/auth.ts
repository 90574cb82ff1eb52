/** Tokens and requests for the HTTP security tests: tokens made by the project's command, requests over HTTP/1.1. */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { type App, startApp } from '../../src/app.js'
import { type Config, DEFAULT_CONFIG } from '../../src/config.js'
import { runTokenCommand } from '../../src/token.js'
import { tempDir } from './app.js'
import { reading } from './mqtt.js'

/** A new token in `file`, as `npm run token -- create` makes it; returns the token (its last line). */
export function makeToken(file: string, scope: string, ...extra: string[]): string {
  const token = runTokenCommand(['create', '--tokens-file', file, '--scope', scope, ...extra], {}).at(-1)
  if (token === undefined) throw new Error('npm run token printed nothing')
  return token
}

export const idOf = (token: string): string => token.slice(4, 16)

export interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** One request; `token` is sent as `Authorization: Bearer`. The body read as JSON (an empty one as {}). */
export async function call(
  port: number,
  path: string,
  options: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: options.method ?? 'GET',
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text === '' ? {} : JSON.parse(text) }
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The app with a tokens file, its log lines kept for the test to read. */
export async function startSecured(
  t: Teardown,
  overrides: Partial<Config> = {},
): Promise<{ app: App; file: string; lines: string[] }> {
  const dir = tempDir(t)
  const file = join(dir, 'tokens')
  writeFileSync(file, '')
  const lines: string[] = []
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) })
  const config: Config = {
    ...DEFAULT_CONFIG,
    mqttPort: 0,
    httpPort: 0,
    dataDir: join(dir, 'data'),
    tokensFile: file,
    retentionSchedule: 'off',
    ...overrides,
  }
  const app = await startApp(config, log)
  t.teardown(() => app.close())
  return { app, file, lines }
}

/** A counter's value in the app's registry, summed over the labels given. */
export async function counted(app: App, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0)
}

/** History of a device that has a reading, so that a request let through is a 200. */
export const HISTORY = '/v1/telemetry?device=d-1&from=0&to=4102444800000'

export async function publishOne(app: App): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
  await c.publishAsync('devices/d-1/telemetry', reading(1, { temp: 20.5 }), { qos: 1 })
  await c.endAsync()
}

export async function until(what: string, check: () => Promise<boolean>, boundMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + boundMs; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
