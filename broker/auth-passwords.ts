/**
 * Mosquitto's `password_file` format (issue #22, item 2), read and written
 * the way Mosquitto 2.0 does (src/security_default.c `pwfile__parse` and
 * `unpwd__decode_passwords`, apps/mosquitto_passwd/mosquitto_passwd.c):
 *
 *   username:$7$<iterations>$<base64 salt>$<base64 hash>   PBKDF2-HMAC-SHA512, 64-byte hash
 *   username:$6$<base64 salt>$<base64 hash>                 SHA-512 of password then salt (Mosquitto 1.6)
 *
 * `mosquitto_passwd` writes 101 iterations and a 12-byte salt; other salt
 * lengths (64 bytes, from other tools) are read too. A line without `:` or
 * beginning with `#` is skipped, as Mosquitto skips it; any other line that
 * does not read makes the whole file wrong (Mosquitto drops such an entry
 * and runs on: here the operator hears of it at start, and a reload keeps
 * the rules it had).
 *
 * Checking a password never runs on the event loop: PBKDF2 goes to libuv's
 * thread pool through `crypto.pbkdf2`, SHA-512 through WebCrypto.
 */

import { pbkdf2, randomBytes, timingSafeEqual, webcrypto } from 'node:crypto'
import { promisify } from 'node:util'

const pbkdf2Async = promisify(pbkdf2)

/** What `mosquitto_passwd` writes by default (src/password_mosq.h). */
export const DEFAULT_PBKDF2_ITERATIONS = 101
export const DEFAULT_SALT_BYTES = 12
const HASH_BYTES = 64

export interface PasswordHash {
  readonly kind: 'pbkdf2-sha512' | 'sha512'
  readonly iterations: number
  readonly salt: Buffer
  readonly hash: Buffer
  /** The entry as the file holds it: a reload that changes it ends the user's connections. */
  readonly text: string
}

export interface PasswordFile {
  readonly users: ReadonlyMap<string, PasswordHash>
}

/** A line of a password file that does not read, with its number. */
export class PasswordFileError extends Error {
  override name = 'PasswordFileError'
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** The entry after `user:`, or why it does not read. */
export function parseHash(text: string): PasswordHash | string {
  const parts = text.split('$')
  if (parts[0] !== '') return 'not a $6$ or $7$ hash (a plain-text password? hash it with npm run passwd)'
  const kind = parts[1] === '7' ? 'pbkdf2-sha512' : parts[1] === '6' ? 'sha512' : null
  if (kind === null) return `unknown hash type $${parts[1] ?? ''}$`
  const fields = kind === 'pbkdf2-sha512' ? parts.slice(2) : ['0', ...parts.slice(2)]
  if (fields.length !== 3) return 'wrong number of $-separated fields'
  const [iterationsText, saltText, hashText] = fields as [string, string, string]
  const iterations = Number(iterationsText)
  if (
    kind === 'pbkdf2-sha512' &&
    !(/^\d+$/.test(iterationsText) && iterations >= 1 && iterations <= 2 ** 31 - 1)
  )
    return `iterations ${iterationsText} is not a positive integer`
  if (!BASE64.test(saltText) || !BASE64.test(hashText)) return 'salt or hash is not base64'
  const salt = Buffer.from(saltText, 'base64')
  const hash = Buffer.from(hashText, 'base64')
  if (salt.length === 0) return 'empty salt'
  if (hash.length !== HASH_BYTES) return `hash is ${hash.length} bytes, not ${HASH_BYTES}`
  return { kind, iterations, salt, hash, text }
}

/** Mosquitto's `misc__trimblanks`: whitespace off both ends. */
const trim = (s: string): string => s.replace(/^\s+|\s+$/g, '')

export function parsePasswordFile(text: string, name = 'password file'): PasswordFile {
  const users = new Map<string, PasswordHash>()
  const lineOf = new Map<string, number>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith('#') || !line.includes(':')) continue
    const at = line.indexOf(':')
    const user = trim(line.slice(0, at))
    // strtok(":"): the entry ends at the next colon, if any.
    const entry = trim(line.slice(at + 1).split(':')[0] ?? '')
    const where = `${name} line ${i + 1}`
    if (user === '') throw new PasswordFileError(`${where}: empty user name`)
    if (entry === '')
      throw new PasswordFileError(`${where}: user ${JSON.stringify(user)} has no password hash`)
    const hash = parseHash(entry)
    if (typeof hash === 'string')
      throw new PasswordFileError(`${where}: user ${JSON.stringify(user)}: ${hash}`)
    const before = lineOf.get(user)
    if (before !== undefined)
      throw new PasswordFileError(`${where}: user ${JSON.stringify(user)} is on line ${before} already`)
    users.set(user, hash)
    lineOf.set(user, i + 1)
  }
  return { users }
}

/** Whether `password` is the one `entry` was made from; off the event loop. */
export async function verifyPassword(entry: PasswordHash, password: Uint8Array): Promise<boolean> {
  const computed =
    entry.kind === 'pbkdf2-sha512'
      ? await pbkdf2Async(password, entry.salt, entry.iterations, HASH_BYTES, 'sha512')
      : Buffer.from(await webcrypto.subtle.digest('SHA-512', Buffer.concat([password, entry.salt])))
  return timingSafeEqual(computed, entry.hash)
}

/**
 * An entry for an unknown user, checked anyway so that a refusal takes as
 * long for an unknown user as for a wrong password (no user enumeration by time).
 */
export const DECOY_HASH = parseHash(
  `$7$${DEFAULT_PBKDF2_ITERATIONS}$${randomBytes(DEFAULT_SALT_BYTES).toString('base64')}$${randomBytes(HASH_BYTES).toString('base64')}`,
) as PasswordHash

/** A `$7$` entry as `mosquitto_passwd` writes it (without the `user:`). */
export async function hashPassword(
  password: string,
  iterations = DEFAULT_PBKDF2_ITERATIONS,
  saltBytes = DEFAULT_SALT_BYTES,
): Promise<string> {
  const salt = randomBytes(saltBytes)
  const hash = await pbkdf2Async(password, salt, iterations, HASH_BYTES, 'sha512')
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`
}
