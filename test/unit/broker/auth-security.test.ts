/**
 * Who is served under each combination of --password-file, --acl-file and
 * --allow-anonymous (docs/security.md, "Identities"), Mosquitto's rules.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { DeviceSecurity, type SecurityFiles } from '../../../broker/auth-security.js'
import { ConfigError } from '../../../src/core/errors.js'
import { tempDir } from '../../helpers/app.js'
import { passwordFileText } from '../../helpers/broker-auth.js'

const log = pino({ level: 'silent' })
const anonymous = { kind: 'password', username: undefined, password: undefined } as const
const as = (username: string, password?: string) =>
  ({
    kind: 'password',
    username,
    password: password === undefined ? undefined : Buffer.from(password),
  }) as const

t.test('security - nothing configured: null, every client served as before', async (t) => {
  t.equal(DeviceSecurity.load({ passwordFile: null, aclFile: null, allowAnonymous: null }, log), null)
  t.equal(DeviceSecurity.load({ passwordFile: null, aclFile: null, allowAnonymous: true }, log), null)
})

t.test('security - each combination of files and --allow-anonymous', async (t) => {
  const dir = tempDir(t)
  const passwordFile = join(dir, 'passwd')
  const aclFile = join(dir, 'acl')
  writeFileSync(passwordFile, await passwordFileText({ 'meter-7': 'seven' }))
  writeFileSync(aclFile, 'topic read public/#\nuser meter-9\ntopic write x\n')
  const load = (files: SecurityFiles) => DeviceSecurity.load(files, log)!

  const passwords = load({ passwordFile, aclFile: null, allowAnonymous: null })
  t.equal(await passwords.authenticate(anonymous), 'anonymous')
  t.equal(await passwords.authenticate(as('meter-7', 'seven')).then((p) => typeof p), 'object')

  const withAnonymous = load({ passwordFile, aclFile: null, allowAnonymous: true })
  t.same(await withAnonymous.authenticate(anonymous), { user: null, proof: null })
  t.equal(await withAnonymous.authenticate(as('meter-8', 'x')), 'unknown_user', 'a username is still checked')

  const aclOnly = load({ passwordFile: null, aclFile, allowAnonymous: null })
  const claimed = await aclOnly.authenticate(as('meter-9'))
  t.same(claimed, { user: 'meter-9', proof: null }, 'without a password file, a username is taken as given')
  if (typeof claimed !== 'string') t.equal(aclOnly.accessFor(claimed, 'c').canPublish('x'), true)
  t.equal(aclOnly.accessFor({ user: null, proof: null }, 'c').canRead('public/a'), true, 'anonymous rules')

  const closed = load({ passwordFile: null, aclFile: null, allowAnonymous: false })
  t.equal(await closed.authenticate(anonymous), 'anonymous', 'no password file and no anonymous: nobody')
  t.equal(await closed.authenticate(as('meter-7', 'seven')), 'unknown_user', 'no list of users to be in')

  const certificate = await passwords.authenticate({ kind: 'certificate', commonName: 'meter-7' })
  t.same(certificate, { user: 'meter-7', proof: null }, "a verified certificate's CN is the principal")
  t.equal(passwords.stillValid({ user: 'meter-7', proof: null }), true)
})

t.test(
  'security - a file that cannot be read or parsed stops the start, naming the flag or line',
  async (t) => {
    const dir = tempDir(t)
    const missing = join(dir, 'missing')
    t.throws(() => DeviceSecurity.load({ passwordFile: missing, aclFile: null, allowAnonymous: null }, log), {
      constructor: ConfigError,
      message: /--password-file: cannot read .*missing: ENOENT/,
    })
    const acl = join(dir, 'acl')
    writeFileSync(acl, 'user a\ntopic read a/#/b\n')
    t.throws(() => DeviceSecurity.load({ passwordFile: null, aclFile: acl, allowAnonymous: null }, log), {
      constructor: ConfigError,
      message: /acl line 2: "a\/#\/b" is not a valid topic filter/,
    })
  },
)
