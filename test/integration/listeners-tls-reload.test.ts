/**
 * Certificates replaced without a restart: on disk (watched) and on SIGHUP,
 * for MQTT over TLS and HTTPS alike; a broken file keeps the one in use.
 * Issue #22, item 4.
 */

import { copyFileSync, renameSync, writeFileSync } from 'node:fs'
import { pino } from 'pino'
import t from 'tap'
import { startApp } from '../../src/app.js'
import { DEFAULT_CONFIG } from '../../src/config.js'
import { startTestApp, tempDir } from '../helpers/app.js'
import { makePki, type Pki } from '../helpers/certs.js'
import { haveProgram } from '../helpers/external.js'
import { reading } from '../helpers/mqtt.js'
import { connectMqtts, httpsGet, serialOf, servedSerial } from '../helpers/tls.js'

/** One PKI for the whole file, removed at its end. */
let pki: Promise<Pki> | null = null
async function certificates(sub: Parameters<typeof haveProgram>[0]): Promise<Pki | null> {
  if (!haveProgram(sub, 'openssl', 'openssl')) return null
  pki ??= makePki(tempDir(t, 'tlm-pki-'))
  return pki
}

t.test(
  'listeners - a certificate replaced on disk is served to the next connection, no restart',
  async (t) => {
    const p = await certificates(t)
    if (p === null) return
    const dir = tempDir(t, 'tlm-live-cert-')
    const cert = `${dir}/cert.pem`
    const key = `${dir}/key.pem`
    copyFileSync(p.server.cert, cert)
    copyFileSync(p.server.key, key)
    const app = await startTestApp(t, { tlsCert: cert, tlsKey: key })
    const before = serialOf(p.server.cert)
    t.equal(await servedSerial(app.mqttsPort!, p.ca), before, 'MQTT over TLS serves the first certificate')
    t.equal((await httpsGet(app.httpPort, '/healthz', p.ca)).serial, before, 'HTTPS too')
    const open = await connectMqtts(app.mqttsPort!, p.ca)
    t.teardown(() => open.endAsync(true))

    // As certbot does: new files renamed over the old ones.
    const next = await p.issueServer(`server-${Date.now()}`)
    copyFileSync(next.key, `${key}.new`)
    copyFileSync(next.cert, `${cert}.new`)
    renameSync(`${key}.new`, key)
    renameSync(`${cert}.new`, cert)
    const after = serialOf(next.cert)
    t.not(after, before)
    const deadline = Date.now() + 20_000
    let served = before
    while (served !== after && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      served = await servedSerial(app.mqttsPort!, p.ca)
    }
    t.equal(served, after, 'MQTT over TLS serves the new certificate to a new connection')
    t.equal((await httpsGet(app.httpPort, '/healthz', p.ca)).serial, after, 'HTTPS too')
    t.ok(open.connected, 'the connection made before the change stays up')
    await open.publishAsync('devices/tls-2/telemetry', reading(1, { temp: 2 }), { qos: 1 })
  },
)

t.test('listeners - SIGHUP reloads the TLS files; a broken file keeps the certificate in use', async (t) => {
  const p = await certificates(t)
  if (p === null) return
  const dir = tempDir(t, 'tlm-hup-cert-')
  const cert = `${dir}/cert.pem`
  const key = `${dir}/key.pem`
  copyFileSync(p.server.cert, cert)
  copyFileSync(p.server.key, key)
  const lines: { level: number; msg?: string }[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  const config = { ...DEFAULT_CONFIG, mqttPort: 0, mqttsPort: 0, httpPort: 0, dataDir: tempDir(t) }
  const app = await startApp({ ...config, tlsCert: cert, tlsKey: key }, log)
  t.teardown(() => app.close())
  const until = async (what: () => boolean, name: string): Promise<void> => {
    const deadline = Date.now() + 20_000
    while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    t.ok(what(), name)
  }
  const said = (msg: string) => () => lines.some((l) => l.msg === msg)

  // The files have not changed, so only the signal can cause a reload.
  process.kill(process.pid, 'SIGHUP')
  await until(said('TLS files reloaded: new connections use them'), 'SIGHUP: the files are read again')

  const before = serialOf(p.server.cert)
  writeFileSync(cert, 'not a certificate\n')
  await until(
    said('TLS files not reloaded: the certificates in use are kept until the files are good again'),
    'a broken file on disk: an error logged',
  )
  t.equal(
    await servedSerial(app.mqttsPort!, p.ca),
    before,
    'MQTT over TLS still serves the certificate in use',
  )
  t.equal((await httpsGet(app.httpPort, '/healthz', p.ca)).serial, before, 'HTTPS too')
})

t.test('listeners - a key that is not the certificate’s is a configuration error at start', async (t) => {
  const p = await certificates(t)
  if (p === null) return
  await t.rejects(
    startTestApp(t, { tlsCert: p.server.cert, tlsKey: p.device.key }),
    { code: 'TLM_ERR_CONFIG', message: /--tls-key.*key values mismatch/s },
    'refused with the reason, before anything opens',
  )
})
