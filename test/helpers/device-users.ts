/**
 * A fleet's credentials as a site would keep them (issue #22): a password
 * file with every device its own user, `$7$` entries hashed by the
 * project's own code as `npm run passwd` and `mosquitto_passwd` write them
 * (101 PBKDF2 iterations, 16,000 users in about 1.5 s on 2 cores), and an
 * ACL file in Mosquitto's grammar that lets each device publish only to its
 * own telemetry topic. The benches' "auth + ACL" variants and tests use it.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hashPassword } from '../../broker/index.js'

/** Each user publishes only to its own topic and reads only under it: the default policy, written out. */
export const DEVICE_ACL = Object.freeze(['pattern write devices/%u/telemetry', 'pattern read devices/%u/#'])

export interface DeviceUsers {
  readonly passwordFile: string
  readonly aclFile: string
  /** The app's flags for these files. */
  readonly args: readonly string[]
  /** What the simulator connects with: each device as the user named by its id. */
  readonly login: { readonly username: string; readonly password: string }
}

/** A password file's text for these users (username → password), each entry its own salt. */
export async function passwordFileText(users: Readonly<Record<string, string>>): Promise<string> {
  const lines = await Promise.all(
    Object.entries(users).map(async ([u, p]) => `${u}:${await hashPassword(p)}\n`),
  )
  return lines.join('')
}

/** Writes `passwd` (every id a user, all with `password`) and `acl` (DEVICE_ACL) into `dir`. */
export async function writeDeviceUsers(
  dir: string,
  ids: Iterable<string>,
  password: string,
): Promise<DeviceUsers> {
  const [passwordFile, aclFile] = [join(dir, 'passwd'), join(dir, 'acl')]
  const users = Object.fromEntries([...new Set(ids)].map((id) => [id, password]))
  writeFileSync(passwordFile, await passwordFileText(users), { mode: 0o600 })
  writeFileSync(aclFile, `${DEVICE_ACL.join('\n')}\n`)
  const args = ['--password-file', passwordFile, '--acl-file', aclFile]
  return { passwordFile, aclFile, args, login: { username: '{device}', password } }
}

/** `prefix0` … `prefix{count-1}`: the simulator's device ids. */
export function deviceIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`)
}
