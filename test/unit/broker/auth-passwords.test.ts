/**
 * Mosquitto's password file: entries written by Debian's mosquitto_passwd
 * (a real program, run here) and by an independent PBKDF2 and SHA-512
 * derivation are read and checked; entries that do not read fail the file
 * on the line named.
 */

import { execFileSync, spawn } from 'node:child_process'
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import {
  hashPassword,
  PasswordFileError,
  parseHash,
  parsePasswordFile,
  verifyPassword,
} from '../../../broker/auth-passwords.js'
import { tempDir } from '../../helpers/app.js'
import { haveProgram } from '../../helpers/external.js'

const pw = (s: string) => Buffer.from(s, 'utf8')

t.test('passwords - reads what mosquitto_passwd writes, $7$ and $6$', async (t) => {
  if (!haveProgram(t, 'mosquitto_passwd', 'mosquitto')) return
  const file = join(tempDir(t), 'passwd')
  execFileSync('mosquitto_passwd', ['-b', '-c', file, 'alice', 'wonder land'])
  execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'bob', 'hunter2'])
  const { users } = parsePasswordFile(readFileSync(file, 'utf8'))
  t.same([...users.keys()], ['alice', 'bob'])
  t.equal(users.get('alice')?.kind, 'pbkdf2-sha512')
  t.equal(users.get('alice')?.iterations, 101)
  t.equal(users.get('alice')?.salt.length, 12)
  t.equal(users.get('bob')?.kind, 'sha512')
  t.equal(await verifyPassword(users.get('alice')!, pw('wonder land')), true)
  t.equal(await verifyPassword(users.get('alice')!, pw('wonder lan')), false)
  t.equal(await verifyPassword(users.get('bob')!, pw('hunter2')), true)
  t.equal(await verifyPassword(users.get('bob')!, pw('hunter3')), false)
})

t.test('passwords - a 64-byte salt and other iteration counts read too', async (t) => {
  const salt = randomBytes(64)
  const hash = pbkdf2Sync('s3cret', salt, 1000, 64, 'sha512')
  const entry = parseHash(`$7$1000$${salt.toString('base64')}$${hash.toString('base64')}`)
  if (typeof entry === 'string') throw new Error(entry)
  t.equal(await verifyPassword(entry, pw('s3cret')), true)
  t.equal(await verifyPassword(entry, pw('s3creT')), false)
  const salt6 = randomBytes(12)
  const hash6 = createHash('sha512').update('pw').update(salt6).digest()
  const entry6 = parseHash(`$6$${salt6.toString('base64')}$${hash6.toString('base64')}`)
  if (typeof entry6 === 'string') throw new Error(entry6)
  t.equal(await verifyPassword(entry6, pw('pw')), true)
})

t.test('passwords - hashPassword writes what mosquitto_passwd writes, and it checks', async (t) => {
  const entry = await hashPassword('x y z')
  t.match(entry, /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/)
  const parsed = parseHash(entry)
  if (typeof parsed === 'string') throw new Error(parsed)
  t.equal(await verifyPassword(parsed, pw('x y z')), true)
  t.not(await hashPassword('x y z'), entry, 'a new salt each time')
})

t.test('passwords - comments and lines without a colon are skipped, as Mosquitto skips them', async (t) => {
  const entry = await hashPassword('p')
  const { users } = parsePasswordFile(`# users\n\nnot a user line\n  alice : ${entry}  \r\n`)
  t.same([...users.keys()], ['alice'])
})

t.test('passwords - a line that does not read fails the file, naming the line', async (t) => {
  const good = await hashPassword('p')
  const bad: Array<[string, string]> = [
    ['alice:plaintext', 'not a $6$ or $7$ hash'],
    ['alice:$5$abc$def', 'unknown hash type'],
    ['alice:', 'has no password hash'],
    [':$7$101$abc$def', 'empty user name'],
    ['alice:$7$0$AAAA$AAAA', 'iterations 0'],
    ['alice:$7$101$AAAA', 'wrong number'],
    ['alice:$7$101$!!$AAAA', 'not base64'],
    ['alice:$7$101$AAAAAAAAAAAAAAAA$AAAA', 'hash is 3 bytes'],
    [`alice:${good}\nalice:${good}`, 'is on line 2 already'],
  ]
  for (const [text, why] of bad) {
    const lines = text.split('\n').length
    t.throws(() => parsePasswordFile(`# first\n${text}\n`, 'pw'), PasswordFileError, text)
    t.throws(
      () => parsePasswordFile(`# first\n${text}\n`, 'pw'),
      { message: new RegExp(`^pw line ${lines + 1}: .*${why.replace(/[$]/g, '\\$')}`) },
      text,
    )
  }
})

t.test('passwords - npm run passwd writes a file mosquitto_passwd reads and edits', async (t) => {
  if (!haveProgram(t, 'mosquitto_passwd', 'mosquitto')) return
  const file = join(tempDir(t), 'passwd')
  const passwd = join(import.meta.dirname, '..', '..', '..', 'dist', 'src', 'passwd.js')
  execFileSync(process.execPath, [passwd, '-c', '-b', file, 'alice', 'one'])
  execFileSync(process.execPath, [passwd, '-b', file, 'bob', 'two'], { stdio: 'ignore' })
  // mosquitto_passwd parses the file to update it: it must read ours.
  execFileSync('mosquitto_passwd', ['-b', file, 'carol', 'three'])
  execFileSync(process.execPath, [passwd, '-D', file, 'bob'])
  const { users } = parsePasswordFile(readFileSync(file, 'utf8'))
  t.same([...users.keys()], ['alice', 'carol'])
  t.equal(await verifyPassword(users.get('alice')!, pw('one')), true)
  t.equal(await verifyPassword(users.get('carol')!, pw('three')), true)
  // Rotation: the same command again.
  execFileSync(process.execPath, [passwd, '-b', file, 'alice', 'uno'])
  const rotated = parsePasswordFile(readFileSync(file, 'utf8')).users.get('alice')!
  t.equal(await verifyPassword(rotated, pw('one')), false)
  t.equal(await verifyPassword(rotated, pw('uno')), true)
  // Two lines on stdin, as mosquitto_passwd reads them without a terminal.
  execFileSync(process.execPath, [passwd, file, 'dave'], { input: 'four\nfour\n' })
  const dave = parsePasswordFile(readFileSync(file, 'utf8')).users.get('dave')!
  t.equal(await verifyPassword(dave, pw('four')), true)
  const refused = (args: string[], input = '') => {
    try {
      execFileSync(process.execPath, [passwd, ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] })
      return null
    } catch (err) {
      return String((err as { stderr: Buffer }).stderr)
    }
  }
  t.match(refused([file, 'erin'], 'a\nb\n'), /passwords do not match/)
  t.match(refused(['-D', file, 'nobody']), /not in/)
  t.match(refused(['-b', file, 'a:b', 'x']), /must not contain ":"/)
  t.match(refused(['-b', join(tempDir(t), 'missing'), 'a', 'x']), /does not exist/)
})

t.test('passwords - npm run passwd asks on a terminal without echoing the password', async (t) => {
  // script(1) (util-linux) runs the command on a pseudo-terminal.
  if (!haveProgram(t, 'script', 'bsdutils')) return
  const file = join(tempDir(t), 'passwd')
  const passwd = join(import.meta.dirname, '..', '..', '..', 'dist', 'src', 'passwd.js')
  const child = spawn('script', ['-qec', `${process.execPath} ${passwd} -c ${file} meter-1`, '/dev/null'])
  let shown = ''
  child.stdout.on('data', (chunk: Buffer) => {
    shown += chunk
    // Each answer only once its prompt is out: typed earlier, the terminal would still echo it.
    if (shown.endsWith('Password: ')) child.stdin.write('pw one\r')
    if (shown.endsWith('Reenter password: ')) child.stdin.write('pw one\r')
  })
  const [code] = (await once(child, 'exit')) as [number]
  t.equal(code, 0)
  t.notMatch(shown, /pw one/, 'not echoed')
  const entry = parsePasswordFile(readFileSync(file, 'utf8')).users.get('meter-1')!
  t.equal(await verifyPassword(entry, pw('pw one')), true)
})
