/**
 * `npm run passwd -- [-c] [-I iterations] <password file> <username>`
 * `npm run passwd -- [-c] [-I iterations] -b <password file> <username> <password>`
 * `npm run passwd -- -D <password file> <username>`
 *
 * Adds a user to an MQTT password file, gives a user a new password (the
 * same command again: that rotates it, and the broker closes the user's
 * connections made with the old one), or deletes a user; the options are
 * those of Mosquitto's `mosquitto_passwd`, and the entries it writes are
 * `$7$` PBKDF2-HMAC-SHA512 entries in the format Mosquitto reads, so one
 * file serves both brokers (docs/security.md). Without `-b` the password is
 * asked twice: on a terminal without echo, otherwise as two lines of stdin.
 *
 * The file is replaced by a rename, so a broker watching it never reads it
 * half written; a new file is made readable by its owner only. Exit status
 * 0 on success, 1 on failure.
 */

import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { DEFAULT_PBKDF2_ITERATIONS, hashPassword } from '../broker/index.js'

const USAGE = `usage: npm run passwd -- [-c] [-I iterations] FILE USERNAME
       npm run passwd -- [-c] [-I iterations] -b FILE USERNAME PASSWORD
       npm run passwd -- -D FILE USERNAME

  -b   batch mode: the password is the last argument
  -c   create FILE (replacing it if it exists)
  -D   delete USERNAME
  -I   PBKDF2 iterations (default ${DEFAULT_PBKDF2_ITERATIONS}, as mosquitto_passwd)`

class UsageError extends Error {}

interface Command {
  readonly file: string
  readonly user: string
  readonly password: string | null
  readonly create: boolean
  readonly remove: boolean
  readonly batch: boolean
  readonly iterations: number
}

function parse(argv: readonly string[]): Command {
  let create = false
  let remove = false
  let batch = false
  let iterations = DEFAULT_PBKDF2_ITERATIONS
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '-c') create = true
    else if (arg === '-D') remove = true
    else if (arg === '-b') batch = true
    else if (arg === '-I') {
      iterations = Number(argv[++i])
      if (!Number.isInteger(iterations) || iterations < 1) throw new UsageError('-I needs a positive integer')
    } else break
  }
  const rest = argv.slice(i)
  if (create && remove) throw new UsageError('-c and -D cannot be used together')
  if (remove && batch) throw new UsageError('-b and -D cannot be used together')
  if (rest.length !== (batch ? 3 : 2)) throw new UsageError(USAGE)
  const [file, user, password] = rest as [string, string, string | undefined]
  // What Mosquitto's password file cannot hold (mosquitto_passwd `is_username_valid`).
  if (user === '' || user.length > 65535) throw new UsageError('the username must be 1 to 65535 characters')
  if (user.includes(':')) throw new UsageError('the username must not contain ":"')
  if (/\p{Cc}/u.test(user)) throw new UsageError('the username must not contain control characters')
  return { file, user, password: password ?? null, create, remove, batch, iterations }
}

/** The password typed twice; without echo on a terminal. */
async function askPassword(): Promise<string> {
  const lines: string[] = []
  if (process.stdin.isTTY) {
    for (const prompt of ['Password: ', 'Reenter password: ']) lines.push(await readHidden(prompt))
  } else {
    const reader = createInterface({ input: process.stdin })
    for await (const line of reader) if (lines.push(line) === 2) break
    reader.close()
  }
  if (lines.length < 2) throw new UsageError('no password given')
  if (lines[0] !== lines[1]) throw new UsageError('passwords do not match')
  return lines[0]!
}

function readHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin
    // Echo off before the prompt: an answer typed (or pasted) as soon as the prompt shows is never echoed.
    stdin.setRawMode(true)
    process.stdout.write(prompt)
    stdin.resume()
    let typed = ''
    const onData = (data: Buffer): void => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          done()
          resolve(typed)
          return
        }
        if (char === '\u0003') {
          done()
          reject(new UsageError('interrupted'))
          return
        }
        typed = char === '\u007f' || char === '\b' ? typed.slice(0, -1) : typed + char
      }
    }
    const done = (): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stdout.write('\n')
    }
    stdin.on('data', onData)
  })
}

/** The file's lines with the user's entry replaced, added or removed. */
export function withEntry(
  text: string,
  user: string,
  entry: string | null,
): { text: string; found: boolean } {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n')
  const userOf = (line: string): string | null =>
    line.startsWith('#') || !line.includes(':') ? null : line.slice(0, line.indexOf(':')).trim()
  const at = lines.findIndex((line) => userOf(line) === user)
  if (entry === null) {
    if (at >= 0) lines.splice(at, 1)
  } else if (at >= 0) lines[at] = `${user}:${entry}`
  else lines.push(`${user}:${entry}`)
  return { text: lines.map((line) => `${line}\n`).join(''), found: at >= 0 }
}

export async function main(argv: readonly string[]): Promise<number> {
  let command: Command
  try {
    command = parse(argv)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
  try {
    const { file, user } = command
    if (!command.create && !existsSync(file)) throw new UsageError(`${file} does not exist: -c creates it`)
    const text = command.create ? '' : readFileSync(file, 'utf8')
    let entry: string | null = null
    if (!command.remove) {
      const password = command.password ?? (await askPassword())
      if (password === '') throw new UsageError('empty password')
      entry = await hashPassword(password, command.iterations)
    }
    const next = withEntry(text, user, entry)
    if (command.remove && !next.found) throw new UsageError(`user ${user} is not in ${file}`)
    const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o600
    const temporary = `${file}.${process.pid}.tmp`
    writeFileSync(temporary, next.text, { mode })
    renameSync(temporary, file)
    return 0
  } catch (err) {
    process.stderr.write(`${err instanceof UsageError ? '' : 'error: '}${(err as Error).message}\n`)
    return 1
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  process.exitCode = await main(process.argv.slice(2))
