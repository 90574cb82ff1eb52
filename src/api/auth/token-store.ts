/**
 * The tokens file as the server holds it: read at start (a wrong file stops
 * the start), then read again when it changes and on `reload()` (SIGHUP,
 * wired in app.ts). A file that no longer reads keeps the tokens of the
 * last good reading and logs why, so a half-saved edit locks nobody out
 * and lets no revoked token back in.
 *
 * The file is polled (fs.watchFile, by path) rather than watched by inode:
 * editors and `npm run token` replace the file by a rename, which an inode
 * watch would lose after the first time.
 */

import { readFileSync, unwatchFile, watchFile } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { ConfigError } from '../../core/errors.js'
import { parseTokens, TokenSet, type Verdict } from './tokens.js'

/** How often the file's stat is polled, ms: a revocation takes effect within this. */
export const TOKENS_POLL_MS = 1000

export class TokenStore {
  #tokens: TokenSet
  #reading: Promise<void> | null = null
  #again = false
  readonly #onChange = () => void this.reload()

  private constructor(
    readonly path: string,
    tokens: TokenSet,
    readonly log: Logger,
    readonly reloaded: (ok: boolean) => void,
  ) {
    this.#tokens = tokens
  }

  /** Reads the file and starts watching it; a file that does not read is a ConfigError. */
  static open(path: string, log: Logger, reloaded: (ok: boolean) => void = () => {}): TokenStore {
    let tokens: TokenSet
    try {
      tokens = new TokenSet(parseTokens(readFileSync(path, 'utf8')))
    } catch (err) {
      throw new ConfigError([`--tokens-file: ${path}: ${(err as Error).message}`], { cause: err })
    }
    const store = new TokenStore(path, tokens, log, reloaded)
    log.info({ tokensFile: path, tokens: tokens.size }, 'HTTP API tokens loaded: requests need a token')
    watchFile(path, { interval: TOKENS_POLL_MS, persistent: false }, store.#onChange)
    return store
  }

  verify(presented: string): Verdict {
    return this.#tokens.verify(presented)
  }

  /** Reads the file again; on a problem keeps the tokens it has. Calls made meanwhile read once more after. */
  reload(): Promise<void> {
    if (this.#reading !== null) {
      this.#again = true
      return this.#reading
    }
    this.#reading = this.#read().finally(() => {
      this.#reading = null
      if (this.#again) {
        this.#again = false
        void this.reload()
      }
    })
    return this.#reading
  }

  async #read(): Promise<void> {
    try {
      const tokens = new TokenSet(parseTokens(await readFile(this.path, 'utf8')))
      this.#tokens = tokens
      this.reloaded(true)
      this.log.info({ tokensFile: this.path, tokens: tokens.size }, 'HTTP API tokens reloaded')
    } catch (err) {
      this.reloaded(false)
      this.log.error(
        { tokensFile: this.path, err: (err as Error).message },
        'HTTP API tokens file does not read: the tokens loaded before stay in force',
      )
    }
  }

  close(): void {
    unwatchFile(this.path, this.#onChange)
  }
}
