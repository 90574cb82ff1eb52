/**
 * A small PKI made by openssl in a temp dir, for the TLS listener tests: a
 * CA (`openssl ca`, so that it can revoke and issue a CRL), a server
 * certificate for localhost and 127.0.0.1, and client certificates: valid,
 * expired, revoked, and one from a CA the server does not know.
 */

import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const openssl = (args: string[]) => run('openssl', args, { timeout: 60_000 })

/** A key pair's files. */
export interface Pem {
  readonly cert: string
  readonly key: string
}

export interface Pki {
  readonly dir: string
  /** The CA certificate (the `--tls-ca` bundle). */
  readonly ca: string
  /** Its CRL, listing `revoked`. */
  readonly crl: string
  /** CN=localhost, SAN localhost and 127.0.0.1. */
  readonly server: Pem
  /** Client certificates: valid (CN=device-7), expired (CN=device-old), revoked (CN=device-lost). */
  readonly device: Pem
  readonly expired: Pem
  readonly revoked: Pem
  /** CN=device-7, signed by a CA the server does not trust. */
  readonly stranger: Pem
  /** Another certificate for localhost from the same CA, to replace `server` on disk. */
  issueServer(name: string): Promise<Pem>
}

const CA_CONFIG = `[ca]
default_ca = test
[test]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_days = 1
default_crl_days = 1
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
`

async function keyAndRequest(dir: string, name: string, cn: string): Promise<{ key: string; csr: string }> {
  const key = join(dir, `${name}.key`)
  const csr = join(dir, `${name}.csr`)
  const ext = cn === 'localhost' ? ['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'] : []
  await openssl(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat(
      ['-subj', `/CN=${cn}`, '-keyout', key, '-out', csr],
      ext,
    ),
  )
  return { key, csr }
}

/** Makes the PKI in `dir` (which must exist and be empty). */
export async function makePki(dir: string): Promise<Pki> {
  const caDir = join(dir, 'ca')
  mkdirSync(join(caDir, 'issued'), { recursive: true })
  writeFileSync(join(caDir, 'index.txt'), '')
  writeFileSync(join(caDir, 'serial'), '1000\n')
  writeFileSync(join(caDir, 'crlnumber'), '1000\n')
  const config = join(caDir, 'ca.cnf')
  writeFileSync(config, CA_CONFIG)
  const ca = join(dir, 'ca.pem')
  const caKey = join(caDir, 'ca.key')
  const selfSigned = (cn: string, key: string, cert: string) =>
    openssl(
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
        '-subj',
        `/CN=${cn}`,
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
      ]),
    )
  await selfSigned('test-ca', caKey, ca)
  // openssl ca resolves `dir = .` from where it runs.
  const sign = async (name: string, cn: string, dates: string[] = []): Promise<Pem> => {
    const { key, csr } = await keyAndRequest(dir, name, cn)
    const cert = join(dir, `${name}.pem`)
    await run(
      'openssl',
      ['ca', '-batch', '-config', config, '-cert', ca, '-keyfile', caKey, '-notext'].concat(dates, [
        '-in',
        csr,
        '-out',
        cert,
      ]),
      { cwd: caDir, timeout: 60_000 },
    )
    return { cert, key }
  }
  const server = await sign('server', 'localhost')
  const device = await sign('device', 'device-7')
  const expired = await sign('expired', 'device-old', [
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  ])
  const revoked = await sign('revoked', 'device-lost')
  const caCmd = (args: string[]) =>
    run('openssl', ['ca', '-config', config, '-cert', ca, '-keyfile', caKey].concat(args), {
      cwd: caDir,
      timeout: 60_000,
    })
  await caCmd(['-revoke', revoked.cert])
  const crl = join(dir, 'crl.pem')
  await caCmd(['-gencrl', '-out', crl])

  const strangerCa = join(dir, 'stranger-ca.pem')
  const strangerCaKey = join(dir, 'stranger-ca.key')
  await selfSigned('stranger-ca', strangerCaKey, strangerCa)
  const s = await keyAndRequest(dir, 'stranger', 'device-7')
  const stranger = { cert: join(dir, 'stranger.pem'), key: s.key }
  await openssl(
    ['x509', '-req', '-in', s.csr, '-CA', strangerCa, '-CAkey', strangerCaKey, '-CAcreateserial'].concat([
      '-days',
      '1',
      '-out',
      stranger.cert,
    ]),
  )
  return {
    dir,
    ca,
    crl,
    server,
    device,
    expired,
    revoked,
    stranger,
    issueServer: (name) => sign(name, 'localhost'),
  }
}
