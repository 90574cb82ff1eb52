/**
 * Device identity and authorization for the broker (issue #22, items 2 and
 * 3): the password file and ACL file as they stand now, who a client is,
 * and what it may do. Reloaded on SIGHUP (through `reload()`) and when a
 * file changes; a file that does not read keeps the rules in force.
 *
 *   CONNECT ─▶ authenticate(credentials) ─▶ principal ─▶ accessFor(principal, client id) ─▶ TopicAccess
 *                 │ password: the password file (hash checked off the event loop)
 *                 └ certificate: the CN of a verified client certificate (TLS listeners)
 *
 * Following Mosquitto 2.0: with a password file, clients without a username
 * are refused unless `allowAnonymous`; a username not in the file, or a wrong
 * or missing password, is refused. With an ACL file and no password file,
 * usernames are taken as given (Mosquitto does the same; logged at start).
 */

import { type FSWatcher, readFileSync, watch } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { Logger } from 'pino'
import { ConfigError } from '../src/core/errors.js'
import { aclAccess, defaultAccess, type TopicAccess } from './auth-access.js'
import { type AclFile, parseAclFile } from './auth-acl.js'
import { DECOY_HASH, type PasswordFile, parsePasswordFile, verifyPassword } from './auth-passwords.js'

export interface SecurityFiles {
  /** Mosquitto `password_file`; null: usernames are not checked. */
  readonly passwordFile: string | null
  /** Mosquitto `acl_file`; null: with a password file, the default policy (auth-access.ts). */
  readonly aclFile: string | null
  /** Clients without a username are served; null: only when there is no password file. */
  readonly allowAnonymous: boolean | null
}

/** Where a client's identity comes from: its CONNECT, or a TLS listener's verified certificate. */
export type Credentials =
  | {
      readonly kind: 'password'
      readonly username: string | undefined
      readonly password: Buffer | undefined
    }
  | { readonly kind: 'certificate'; readonly commonName: string }

export type RefusalReason = 'anonymous' | 'unknown_user' | 'bad_password' | 'no_password'

export interface Principal {
  /** null: anonymous. */
  readonly user: string | null
  /** The password file's entry it proved, so a reload that changes the entry ends the connection. */
  readonly proof: string | null
}

/** Time after the last change event of a watched file before it is read again, ms. */
const WATCH_DEBOUNCE_MS = 200

export class DeviceSecurity {
  #passwords: PasswordFile | null
  #acl: AclFile | null
  readonly #listeners: Array<() => void> = []
  readonly #watchers: FSWatcher[] = []
  #timer: NodeJS.Timeout | undefined

  private constructor(
    readonly files: SecurityFiles,
    readonly log: Logger,
    loaded: { passwords: PasswordFile | null; acl: AclFile | null },
  ) {
    this.#passwords = loaded.passwords
    this.#acl = loaded.acl
  }

  /**
   * The files read and checked, or null when nothing is configured (every
   * client served, as before issue #22). Throws ConfigError when a file
   * cannot be read or does not parse, naming the line.
   */
  static load(files: SecurityFiles, log: Logger): DeviceSecurity | null {
    if (files.passwordFile === null && files.aclFile === null && files.allowAnonymous !== false) return null
    let loaded: ReturnType<typeof readFiles>
    try {
      loaded = readFiles(files)
    } catch (err) {
      throw new ConfigError([(err as Error).message], { cause: err })
    }
    const security = new DeviceSecurity(files, log, loaded)
    if (files.passwordFile === null && files.aclFile !== null)
      log.warn('--acl-file without --password-file: usernames are taken as the clients give them')
    if (!security.allowAnonymous && files.passwordFile === null)
      log.warn('--allow-anonymous false without --password-file: no client can connect')
    return security
  }

  get allowAnonymous(): boolean {
    return this.files.allowAnonymous ?? this.files.passwordFile === null
  }

  /** Who the client is, or why it is refused. Never rejects. */
  async authenticate(credentials: Credentials): Promise<Principal | RefusalReason> {
    if (credentials.kind === 'certificate') return { user: credentials.commonName, proof: null }
    const { username, password } = credentials
    if (username === undefined) return this.allowAnonymous ? { user: null, proof: null } : 'anonymous'
    const passwords = this.#passwords
    if (passwords === null) return this.allowAnonymous ? { user: username, proof: null } : 'anonymous'
    const entry = passwords.users.get(username)
    if (entry === undefined) {
      await verifyPassword(DECOY_HASH, password ?? Buffer.alloc(0))
      return 'unknown_user'
    }
    if (password === undefined) return 'no_password'
    return (await verifyPassword(entry, password)) ? { user: username, proof: entry.text } : 'bad_password'
  }

  /** Whether a principal authenticated earlier still holds under the files now in force. */
  stillValid(principal: Principal): boolean {
    if (principal.user === null) return this.allowAnonymous
    if (principal.proof === null) return this.#passwords === null ? this.allowAnonymous : true
    return this.#passwords?.users.get(principal.user)?.text === principal.proof
  }

  accessFor(principal: Principal, clientId: string): TopicAccess {
    return this.#acl === null ? defaultAccess(principal.user) : aclAccess(this.#acl, principal.user, clientId)
  }

  /** Called after each reload that took effect. */
  onReload(listener: () => void): void {
    this.#listeners.push(listener)
  }

  /** Reads the files again; keeps the rules in force if one does not read. Returns whether it took effect. */
  reload(): boolean {
    let loaded: ReturnType<typeof readFiles>
    try {
      loaded = readFiles(this.files)
    } catch (err) {
      this.log.error(
        { event: 'mqtt_auth_reload_failed', err: (err as Error).message },
        'security files not reloaded: the rules in force stay',
      )
      return false
    }
    this.#passwords = loaded.passwords
    this.#acl = loaded.acl
    this.log.info(
      { event: 'mqtt_auth_reloaded', users: loaded.passwords?.users.size ?? null },
      'security files reloaded',
    )
    for (const listener of this.#listeners) listener()
    return true
  }

  /**
   * Reloads when a file changes. The folder is watched, not the file: an
   * editor that saves by writing a new file and renaming it over the old one
   * replaces the inode a file watch would follow.
   */
  watch(): void {
    const byFolder = new Map<string, Set<string>>()
    for (const file of [this.files.passwordFile, this.files.aclFile]) {
      if (file === null) continue
      const path = resolve(file)
      const names = byFolder.get(dirname(path)) ?? new Set<string>()
      byFolder.set(dirname(path), names.add(basename(path)))
    }
    for (const [folder, names] of byFolder) {
      const watcher = watch(folder, (_event, name) => {
        if (name !== null && !names.has(name.toString())) return
        clearTimeout(this.#timer)
        this.#timer = setTimeout(() => this.reload(), WATCH_DEBOUNCE_MS)
      })
      watcher.on('error', (err) =>
        this.log.error({ err, folder }, 'cannot watch security files: reload with SIGHUP'),
      )
      watcher.unref()
      this.#watchers.push(watcher)
    }
  }

  close(): void {
    clearTimeout(this.#timer)
    for (const watcher of this.#watchers) watcher.close()
    this.#watchers.length = 0
  }
}

function readFiles(files: SecurityFiles): { passwords: PasswordFile | null; acl: AclFile | null } {
  const read = (flag: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8')
    } catch (err) {
      throw new Error(`--${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`)
    }
  }
  return {
    passwords:
      files.passwordFile === null
        ? null
        : parsePasswordFile(read('password-file', files.passwordFile), files.passwordFile),
    acl: files.aclFile === null ? null : parseAclFile(read('acl-file', files.aclFile), files.aclFile),
  }
}
