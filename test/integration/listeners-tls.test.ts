/**
 * MQTT over TLS (--mqtts-port) and client certificates (--tls-ca, --tls-crl,
 * --require-client-cert), with mqtt.js and certificates made by openssl here
 * (test/helpers/certs.ts). Issue #22, items 2 and 4.
 */

import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { promisify } from 'node:util'
import { Aedes, type Client } from 'aedes'
import mqtt from 'mqtt'
import { pino } from 'pino'
import t from 'tap'
import { ConnectionLimits } from '../../broker/connection-limits.js'
import { certificateIdentity } from '../../broker/index.js'
import { Listeners } from '../../broker/listeners.js'
import { startApp } from '../../src/app.js'
import { DEFAULT_CONFIG } from '../../src/config.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { passwordFileText } from '../helpers/broker-auth.js'
import { makePki, type Pem, type Pki } from '../helpers/certs.js'
import { haveProgram } from '../helpers/external.js'
import { metricIn } from '../helpers/http.js'
import { connectPacket, reading } from '../helpers/mqtt.js'
import { connectMqtts, httpsGet, mqttOverTls } from '../helpers/tls.js'

/** One PKI for the whole file, removed at its end. */
let pki: Promise<Pki> | null = null
async function certificates(sub: Parameters<typeof haveProgram>[0]): Promise<Pki | null> {
  if (!haveProgram(sub, 'openssl', 'openssl')) return null
  pki ??= makePki(tempDir(t, 'tlm-pki-'))
  return pki
}

t.test('listeners - mqtt.js over mqtts with a CA-signed server certificate: QoS 1 stored', async (t) => {
  const p = await certificates(t)
  if (p === null) return
  const app = await startTestApp(t, { tlsCert: p.server.cert, tlsKey: p.server.key })
  t.type(app.mqttsPort, 'number')
  const c = await connectMqtts(app.mqttsPort!, p.ca)
  t.teardown(() => c.endAsync(true))
  await c.publishAsync('devices/tls-1/telemetry', reading(1, { temp: 21.5 }), { qos: 1 })
  const res = await httpsGet(app.httpPort, '/v1/telemetry?device=tls-1&from=0&to=4102444800000', p.ca)
  t.equal(res.status, 200)
  const stored = (JSON.parse(res.body) as { readings: { seq: number; fields: { temp: number } }[] }).readings
  t.same(
    stored.map((r) => [r.seq, r.fields.temp]),
    [[1, 21.5]],
    'the acknowledged reading is stored',
  )
})

t.test('listeners - mutual TLS: a verified device certificate connects as its CN', async (t) => {
  const p = await certificates(t)
  if (p === null) return
  const aedes = await Aedes.createBroker()
  t.teardown(() => new Promise<void>((resolve) => aedes.close(() => resolve())))
  const closed: string[] = []
  const limits = new ConnectionLimits(
    {
      maxConnectionsPerAddress: 0,
      maxConnectsPerSecondPerAddress: 0,
      maxIncompletePacketBytes: 1 << 20,
      keepaliveZeroIdleMs: 0,
    },
    (r) => closed.push(r),
  )
  const listeners = new Listeners(
    aedes,
    {
      host: '127.0.0.1',
      port: 0,
      mqtts: {
        port: 0,
        secureContext: {
          cert: readFileSync(p.server.cert),
          key: readFileSync(p.server.key),
          ca: readFileSync(p.ca),
        },
        requireClientCert: false,
      },
      maxPacketBytes: 65536,
      maxConnections: 0,
      connectTimeoutMs: 5000,
      log: pino({ level: 'silent' }),
    },
    limits,
    (r) => closed.push(r),
  )
  await listeners.listen()
  t.teardown(() => {
    listeners.stopAccepting()
    listeners.destroyAll()
  })
  const identities: (string | null)[] = []
  aedes.on('client', (client: Client) => identities.push(certificateIdentity(client)))

  const cases: [string, Pem | undefined, string | null][] = [
    ['a device certificate the CA signed', p.device, 'device-7'],
    ['no certificate (not required here)', undefined, null],
    ['a certificate of an unknown CA (not required here)', p.stranger, null],
  ]
  for (const [name, cert, expected] of cases) {
    identities.length = 0
    const c = await connectMqtts(listeners.mqttsPort!, p.ca, cert)
    t.same(identities, [expected], name)
    await c.endAsync()
  }
  // The TCP listener never has a certificate.
  identities.length = 0
  const plain = await mqtt.connectAsync(`mqtt://127.0.0.1:${listeners.port}`, { reconnectPeriod: 0 })
  t.same(identities, [null], 'TCP: no identity')
  await plain.endAsync()
  t.same(closed, [], 'no connection closed by a limit')
})

t.test(
  'listeners - --require-client-cert refuses an unknown CA, an expired and a revoked certificate',
  async (t) => {
    const p = await certificates(t)
    if (p === null) return
    const lines: { msg?: string; reason?: string }[] = []
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
    const app = await startApp(
      {
        ...DEFAULT_CONFIG,
        mqttPort: 0,
        mqttsPort: 0,
        httpPort: 0,
        dataDir: tempDir(t),
        tlsCert: p.server.cert,
        tlsKey: p.server.key,
        tlsCa: p.ca,
        tlsCrl: p.crl,
        requireClientCert: true,
      },
      log,
    )
    t.teardown(() => app.close())
    const port = app.mqttsPort!
    const good = await connectMqtts(port, p.ca, p.device)
    t.ok(good.connected, 'a valid device certificate connects')
    await good.publishAsync('devices/device-7/telemetry', reading(1, { temp: 1 }), { qos: 1 })
    await good.endAsync()

    const refused: [string, Pem | undefined, string][] = [
      ['no certificate', undefined, 'UNABLE_TO_GET_ISSUER_CERT'],
      ['an unknown CA', p.stranger, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
      ['an expired certificate', p.expired, 'CERT_HAS_EXPIRED'],
      ['a revoked certificate', p.revoked, 'CERT_REVOKED'],
    ]
    for (const [name, cert, reason] of refused) {
      lines.length = 0
      // mqtt.js: the connection closes without a CONNACK.
      await t.rejects(connectMqtts(port, p.ca, cert, false), `mqtt.js refused: ${name}`)
      t.not(
        await mqttOverTls(port, p.ca, cert),
        'CONNACK',
        `a bare TLS client gets no CONNACK either: ${name}`,
      )
      t.same(
        lines.filter((l) => l.msg === 'client certificate refused').map((l) => l.reason),
        [reason, reason],
        `logged with why: ${name}`,
      )
    }
    const metrics = await httpsGet(app.httpPort, '/metrics', p.ca)
    t.match(
      metrics.body,
      /mqtt_protocol_disconnects_total\{reason="client_certificate_refused"\} 8\n/,
      'each refusal counted',
    )
    t.equal(
      await mqttOverTls(port, p.ca, p.device),
      'CONNACK',
      'the same bare client with a valid certificate',
    )
  },
)

t.test('listeners - the packet guard closes a bad stream on the TLS listener', async (t) => {
  const p = await certificates(t)
  if (p === null) return
  const app = await startTestApp(t, { tlsCert: p.server.cert, tlsKey: p.server.key, maxPacketBytes: 1024 })
  const socket = tlsConnect({
    host: '127.0.0.1',
    servername: 'localhost',
    port: app.mqttsPort!,
    ca: readFileSync(p.ca),
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve)
    socket.once('error', reject)
  })
  socket.on('error', () => undefined)
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  // CONNECT, then a PUBLISH header whose Remaining Length (2 MiB) is over --max-packet-bytes.
  socket.write(Buffer.concat([connectPacket('tls-guard'), Buffer.from([0x30, 0x80, 0x80, 0x80, 0x01])]))
  t.equal(await closed, true, 'closed on the fixed header')
  const res = await httpsGet(app.httpPort, '/metrics', p.ca)
  t.match(
    res.body,
    /mqtt_protocol_disconnects_total\{reason="packet_too_large"\} 1/,
    'counted as packet_too_large',
  )
})

t.test('listeners - mosquitto_pub with a device certificate, as a Mosquitto site runs it', async (t) => {
  const p = await certificates(t)
  if (p === null || !haveProgram(t, 'mosquitto_pub', 'mosquitto-clients')) return
  const app = await startTestApp(t, {
    tlsCert: p.server.cert,
    tlsKey: p.server.key,
    tlsCa: p.ca,
    tlsCrl: p.crl,
    requireClientCert: true,
  })
  // Asynchronously: the broker runs in this process and must keep serving.
  const pub = (client: Pem, seq: number) =>
    promisify(execFile)(
      'mosquitto_pub',
      [
        '-h',
        'localhost',
        '-p',
        String(app.mqttsPort),
        '--cafile',
        p.ca,
        '--cert',
        client.cert,
        '--key',
        client.key,
      ].concat([
        '-q',
        '1',
        '-t',
        'devices/device-7/telemetry',
        '-m',
        JSON.stringify({ v: 1, seq, m: { temp: seq } }),
      ]),
      { timeout: 10_000 },
    )
  const ok = await pub(p.device, 1)
  t.equal(ok.stderr, '', 'mosquitto_pub reports no error')
  await t.rejects(pub(p.revoked, 2), 'a revoked certificate: mosquitto_pub fails')
  const res = await httpsGet(app.httpPort, '/v1/telemetry?device=device-7&from=0&to=4102444800000', p.ca)
  const stored = (JSON.parse(res.body) as { readings: { seq: number }[] }).readings
  t.same(
    stored.map((r) => r.seq),
    [1],
    'only the reading of the valid certificate is stored',
  )
})

t.test(
  'listeners - a verified client certificate is the device under a password file, its CN the user',
  async (t) => {
    const p = await certificates(t)
    if (p === null) return
    const dir = tempDir(t, 'tlm-mtls-auth-')
    const passwordFile = join(dir, 'passwd')
    // Another user only: the certificate's CN (device-7) needs no password entry, as with use_identity_as_username.
    writeFileSync(passwordFile, await passwordFileText({ 'meter-1': 'secret-1' }))
    const app = await startTestApp(t, {
      tlsCert: p.server.cert,
      tlsKey: p.server.key,
      tlsCa: p.ca,
      requireClientCert: true,
      passwordFile,
    })
    const c = await connectMqtts(app.mqttsPort!, p.ca, p.device)
    t.teardown(() => c.endAsync(true))
    await c.publishAsync('devices/device-7/telemetry', reading(1, { temp: 7 }), { qos: 1 })
    const res = await httpsGet(app.httpPort, '/v1/telemetry?device=device-7&from=0&to=4102444800000', p.ca)
    t.same(
      (JSON.parse(res.body) as { readings: { seq: number }[] }).readings.map((r) => r.seq),
      [1],
      'stored as device-7',
    )
    // The default policy binds the CN to its own topic: another device's is refused, the client cut.
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
    c.publish('devices/meter-1/telemetry', reading(1, { temp: 1 }), { qos: 1 })
    await closed
    const other = await httpsGet(app.httpPort, '/v1/telemetry?device=meter-1&from=0&to=4102444800000', p.ca)
    t.same((JSON.parse(other.body) as { readings: unknown[] }).readings, [], 'nothing stored as meter-1')
    const metrics = await httpsGet(app.httpPort, '/metrics', p.ca)
    t.equal(metricIn(metrics.body, 'mqtt_auth_denied_total'), 1, 'the denial counted')
  },
)
