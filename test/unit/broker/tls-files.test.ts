/**
 * The TLS files reloaded without a restart (broker/tls-files.ts): a good
 * change is taken, a broken one is logged and the files in use are kept.
 */

import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { TlsFiles } from '../../../broker/index.js'
import { tempDir } from '../../helpers/app.js'
import { makePki } from '../../helpers/certs.js'
import { haveProgram } from '../../helpers/external.js'

t.test('tls files - a change on disk is taken; a broken file is logged and the old ones kept', async (t) => {
  if (!haveProgram(t, 'openssl', 'openssl')) return
  const pki = await makePki(tempDir(t, 'tlm-pki-'))
  const dir = tempDir(t, 'tlm-tls-files-')
  const paths = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem'), crl: null }
  copyFileSync(pki.server.cert, paths.cert)
  copyFileSync(pki.server.key, paths.key)
  copyFileSync(pki.ca, paths.ca)
  const lines: { level: number; msg: string }[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  const files = new TlsFiles(paths, log, 50)
  t.teardown(() => files.close())
  const changes: Buffer[] = []
  files.onChange((options) => changes.push(options.cert as Buffer))
  const first = files.options.cert as Buffer

  const until = async (what: () => boolean, name: string): Promise<void> => {
    const deadline = Date.now() + 10_000
    while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    t.ok(what(), name)
  }

  // A key that is not the certificate's: refused, the pair in use kept.
  copyFileSync(pki.device.key, paths.key)
  await until(() => lines.some((l) => l.level === 50), 'a key not matching the certificate: an error logged')
  t.same(changes, [], 'no change handed on')
  t.equal(files.options.cert, first, 'the certificate in use is kept')
  t.equal(files.reload(), false, 'reload() says so too')

  // The key put right: taken.
  copyFileSync(pki.server.key, paths.key)
  await until(() => changes.length === 1, 'the good pair is handed on')
  t.same(changes[0], readFileSync(paths.cert))

  // A CA file cut short holds no certificate: Node would verify nobody with it, so it is refused.
  lines.length = 0
  writeFileSync(paths.ca, '-----BEGIN CERTIFICATE-----\nMIIB\n')
  t.equal(files.reload(), false, 'a truncated CA bundle is refused')
  t.ok(
    lines.some((l) => l.level === 50 && /not reloaded/.test(l.msg)),
    'and logged',
  )
  t.equal(files.options.ca?.toString().includes('MIIB\n'), false, 'the CA in use is kept')

  // Files put right and reloaded by hand (SIGHUP): taken.
  copyFileSync(pki.ca, paths.ca)
  t.equal(files.reload(), true, 'reload() takes good files')
})
