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
import { dirname, resolve } from 'node:path'
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
  /** Both files' text as last loaded: a watch event that changed neither reloads nothing. */
  #text: string
  /** The text that last failed to parse: said once, not at every watch event. */
  #failedText: string | null = null
  readonly #listeners: Array<() => void> = []
  readonly #watchers: FSWatcher[] = []
  #timer: NodeJS.Timeout | undefined

  private constructor(
    readonly files: SecurityFiles,
    readonly log: Logger,
    loaded: Loaded,
  ) {
    this.#passwords = loaded.passwords
    this.#acl = loaded.acl
    this.#text = loaded.text
  }

  /**
   * The files read and checked, or null when nothing is configured (every
   * client served, as before issue #22). Throws ConfigError when a file
   * cannot be read or does not parse, naming the line.
   */
  static load(files: SecurityFiles, log: Logger): DeviceSecurity | null {
    if (files.passwordFile === null && files.aclFile === null && files.allowAnonymous !== false) return null
    let loaded: Loaded
    try {
      loaded = parseTexts(files, readTexts(files))
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
    if (passwords === null) return this.allowAnonymous ? { user: username, proof: null } : 'unknown_user'
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

  /**
   * Reads the files again; keeps the rules in force if one does not read.
   * Returns whether it took effect. `ifChanged`: nothing happens unless a
   * file's text changed (a watch event may be for another file of the folder).
   */
  reload(ifChanged = false): boolean {
    let loaded: Loaded
    let text: string | null = null
    try {
      const texts = readTexts(this.files)
      text = joined(texts)
      if (ifChanged && (text === this.#text || text === this.#failedText)) return false
      loaded = parseTexts(this.files, texts)
    } catch (err) {
      this.#failedText = text
      this.log.error(
        { event: 'mqtt_auth_reload_failed', err: (err as Error).message },
        'security files not reloaded: the rules in force stay',
      )
      return false
    }
    this.#failedText = null
    this.#passwords = loaded.passwords
    this.#acl = loaded.acl
    this.#text = loaded.text
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
   * replaces the inode a file watch would follow, and a Kubernetes secret is
   * updated by swapping a symbolic link (`..data`) beside the file. So any
   * event in the folder reads the files, and only a changed text reloads.
   */
  watch(): void {
    const folders = new Set<string>()
    for (const file of [this.files.passwordFile, this.files.aclFile])
      if (file !== null) folders.add(dirname(resolve(file)))
    for (const folder of folders) {
      const watcher = watch(folder, () => {
        clearTimeout(this.#timer)
        this.#timer = setTimeout(() => this.reload(true), WATCH_DEBOUNCE_MS)
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

interface Loaded {
  readonly passwords: PasswordFile | null
  readonly acl: AclFile | null
  /** Both files' text, to tell whether they changed. */
  readonly text: string
}

interface Texts {
  readonly passwords: string | null
  readonly acl: string | null
}

/** The files' text; throws naming the flag and path of one that cannot be read. */
function readTexts(files: SecurityFiles): Texts {
  const read = (flag: string, path: string | null): string | null => {
    if (path === null) return null
    try {
      return readFileSync(path, 'utf8')
    } catch (err) {
      throw new Error(`--${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`)
    }
  }
  return { passwords: read('password-file', files.passwordFile), acl: read('acl-file', files.aclFile) }
}

const joined = (texts: Texts): string => `${texts.passwords}\u0000${texts.acl}`

/** The files parsed; throws naming the file and line of the first fault. */
function parseTexts(files: SecurityFiles, texts: Texts): Loaded {
  return {
    passwords: texts.passwords === null ? null : parsePasswordFile(texts.passwords, files.passwordFile ?? ''),
    acl: texts.acl === null ? null : parseAclFile(texts.acl, files.aclFile ?? ''),
    text: joined(texts),
  }
}
