/**
 * The PEM files of the TLS listeners (certificate, key, and for client
 * certificates the CA bundle and CRL), read again on `reload()` (SIGHUP)
 * and when one of them changes on disk, without a restart (issue #22).
 *
 *   file changed ─▶ (settle) ─▶ read all ─▶ tls.createSecureContext ─┬─ ok ─▶ onChange(options): the next handshakes use them
 *   SIGHUP ─────────────────────────────┘                            └─ fails ─▶ error logged, the old context stays
 *
 * Files are polled (`fs.watchFile`: stat every `pollMs`), not watched by
 * inode: certbot and cert-manager replace a certificate by renaming a new
 * file over it (or moving a symlink), which an inotify watch on the old
 * file never sees. A certificate and its key written one after the other
 * may be read half-replaced: that reload fails (key and certificate do not
 * match), is logged, and the next change, the other file, succeeds.
 */

import { X509Certificate } from 'node:crypto'
import { readFileSync, unwatchFile, watchFile } from 'node:fs'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import type { Logger } from 'pino'

export interface TlsPaths {
  readonly cert: string
  readonly key: string
  /** CA bundle verifying client certificates; null: none are asked for. */
  readonly ca: string | null
  /** Revocation lists checked with `ca`; null: none. */
  readonly crl: string | null
}

/** How often the files are checked for a change, ms. */
export const DEFAULT_TLS_POLL_MS = 2000
/** A change is read this long after it was seen, so that files written together are read together, ms. */
const SETTLE_MS = 200

export class TlsFiles {
  readonly #paths: TlsPaths
  readonly #log: Logger
  readonly #listeners: ((options: SecureContextOptions) => void)[] = []
  #options: SecureContextOptions
  #settle: NodeJS.Timeout | null = null
  readonly #changed = (): void => {
    if (this.#settle !== null) clearTimeout(this.#settle)
    this.#settle = setTimeout(() => {
      this.#settle = null
      this.reload()
    }, SETTLE_MS)
  }

  /** Reads the files (throwing if one is unreadable or wrong) and watches them. */
  constructor(paths: TlsPaths, log: Logger, pollMs = DEFAULT_TLS_POLL_MS) {
    this.#paths = paths
    this.#log = log
    this.#options = read(paths)
    for (const path of this.#files())
      watchFile(path, { interval: pollMs, persistent: false }, (now, before) => {
        if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino || now.size !== before.size)
          this.#changed()
      })
  }

  /** Key, certificate, and CA and CRL when given: as the files held at the last good read. */
  get options(): SecureContextOptions {
    return this.#options
  }

  /** Called with the new options after each good reload. */
  onChange(listener: (options: SecureContextOptions) => void): void {
    this.#listeners.push(listener)
  }

  /** Reads the files again; true when they were good and are now in use. */
  reload(): boolean {
    let options: SecureContextOptions
    try {
      options = read(this.#paths)
    } catch (err) {
      this.#log.error(
        { err, files: this.#files() },
        'TLS files not reloaded: the certificates in use are kept until the files are good again',
      )
      return false
    }
    this.#options = options
    for (const listener of this.#listeners) listener(options)
    this.#log.info({ files: this.#files() }, 'TLS files reloaded: new connections use them')
    return true
  }

  close(): void {
    if (this.#settle !== null) clearTimeout(this.#settle)
    for (const path of this.#files()) unwatchFile(path)
  }

  #files(): string[] {
    const { cert, key, ca, crl } = this.#paths
    return [cert, key, ...(ca === null ? [] : [ca]), ...(crl === null ? [] : [crl])]
  }
}

/** The files' contents, checked by building a context from them: a key not of the certificate, a bad PEM, throw. */
function read(paths: TlsPaths): SecureContextOptions {
  const options: SecureContextOptions = {
    cert: readFileSync(paths.cert),
    key: readFileSync(paths.key),
    ...(paths.ca === null ? {} : { ca: readFileSync(paths.ca) }),
    ...(paths.crl === null ? {} : { crl: readFileSync(paths.crl) }),
  }
  createSecureContext(options)
  // Node skips what is not a certificate in a CA bundle: a truncated file would verify nobody.
  if (options.ca !== undefined) new X509Certificate(options.ca as Buffer)
  return options
}
