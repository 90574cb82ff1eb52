/**
 * The broker alone with a password file and an optional ACL file in a temp
 * folder, for tests of device identity and ACLs (issue #22): what reached
 * the bridge, what was refused, and the log lines, are all kept.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import mqtt, { type MqttClient } from 'mqtt'
import { pino } from 'pino'
import {
  type DeniedAction,
  DeviceSecurity,
  type DisconnectReason,
  TelemetryBroker,
} from '../../broker/index.js'
import { tempDir } from './app.js'
import { passwordFileText } from './device-users.js'

export { passwordFileText }

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface AuthSetup {
  /** username → password; written with npm run passwd's hashing. */
  readonly users: Record<string, string>
  /** Lines of an ACL file; absent: the default policy. */
  readonly acl?: readonly string[]
  readonly allowAnonymous?: boolean
}

export async function startAuthBroker(t: Teardown, setup: AuthSetup) {
  const dir = tempDir(t, 'tlm-auth-')
  const passwordFile = join(dir, 'passwd')
  const aclFile = join(dir, 'acl')
  writeFileSync(passwordFile, await passwordFileText(setup.users))
  if (setup.acl !== undefined) writeFileSync(aclFile, setup.acl.join('\n'))
  const logLines: Array<Record<string, unknown>> = []
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') logLines.push(JSON.parse(line))
        done()
      },
    }),
  )
  const security = DeviceSecurity.load(
    {
      passwordFile,
      aclFile: setup.acl === undefined ? null : aclFile,
      allowAnonymous: setup.allowAnonymous ?? null,
    },
    log,
  )!
  const published: string[] = []
  const denied: DeniedAction[] = []
  const reasons: DisconnectReason[] = []
  const broker = await TelemetryBroker.start({
    host: '127.0.0.1',
    port: 0,
    maxPacketBytes: 64 * 1024,
    connectTimeoutMs: 5000,
    security,
    onPublish: async (topic) => void published.push(topic),
    onAuthDenied: (action) => denied.push(action),
    onDisconnectForViolation: (reason) => reasons.push(reason),
    log,
  })
  t.teardown(async () => {
    security.close()
    await broker.close()
  })
  return { broker, security, dir, passwordFile, aclFile, published, denied, reasons, logLines }
}

/** A connected mqtt.js client, or the CONNACK return code that refused it. */
export function connectAs(
  port: number,
  options: { username?: string; password?: string; clientId?: string; will?: mqtt.IClientOptions['will'] },
): Promise<MqttClient | number> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    })
    client.once('connect', () => resolve(client))
    client.once('error', (err: Error & { code?: unknown }) => {
      client.end(true)
      resolve(typeof err.code === 'number' ? err.code : -1)
    })
  })
}

/** CONNECT [MQTT-3.1] with a username and password, for raw-socket tests. */
export function connectWithPassword(clientId: string, username: string, password: string): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8')
    return [b.length >> 8, b.length & 0xff, ...b]
  }
  const body = [...str('MQTT'), 4, 0xc2, 0, 60, ...str(clientId), ...str(username), ...str(password)]
  if (body.length > 127) throw new Error('connectWithPassword: keep the names short (one length byte)')
  return Buffer.from([0x10, body.length, ...body])
}

/** Polls `done` every 20 ms; true once it holds, false after `ms`. */
export async function until(done: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; !done(); ) {
    if (Date.now() > end) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}
