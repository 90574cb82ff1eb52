/**
 * `npm run token -- <command>`: the HTTP API's tokens file (docs/security.md).
 *
 *   create --tokens-file F --scope read[,admin,metrics] [--expires 30d] [--name x]
 *          prints the new token as the last line of its output, once
 *   revoke --tokens-file F <id>
 *   list   --tokens-file F        ids, names, scopes, dates; never a hash or a token
 *
 * TOKENS_FILE stands for --tokens-file. The file is rewritten whole into a
 * new file and renamed over the old (so a running server never reads half
 * of it), readable by its owner only.
 */

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import {
  formatTokens,
  newToken,
  parseTokens,
  SCOPES,
  type Scope,
  type TokenRecord,
} from './api/auth/index.js'

const USAGE = `usage: npm run token -- create --tokens-file F --scope read[,admin,metrics] [--expires 30d] [--name x]
       npm run token -- revoke --tokens-file F <id>
       npm run token -- list --tokens-file F`

class UsageError extends Error {}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `30d`, `12h`, `90m`, or `never`. */
export function expiryOf(text: string | undefined, now: Date): Date | null {
  if (text === undefined || text === 'never') return null
  const match = /^(\d{1,6})([mhd])$/.exec(text)
  if (match === null)
    throw new UsageError(`--expires ${text}: give minutes, hours or days (90m, 12h, 30d), or never`)
  return new Date(now.getTime() + Number(match[1]) * (UNIT_MS[match[2] as string] as number))
}

function read(path: string): TokenRecord[] {
  if (!existsSync(path)) return []
  try {
    return parseTokens(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`${path}: ${(err as Error).message}`)
  }
}

function write(path: string, records: readonly TokenRecord[]): void {
  const next = join(dirname(path), `.${basename(path)}.${process.pid}.new`)
  writeFileSync(next, formatTokens(records), { mode: 0o600 })
  renameSync(next, path)
}

/** Runs one command; returns the lines it prints. */
export function runTokenCommand(argv: readonly string[], env: NodeJS.ProcessEnv, now = new Date()): string[] {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      'tokens-file': { type: 'string' },
      scope: { type: 'string', multiple: true },
      expires: { type: 'string' },
      name: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  const [command, ...rest] = positionals
  const path = values['tokens-file'] ?? (env.TOKENS_FILE || undefined)
  if (path === undefined) throw new UsageError('give --tokens-file (or TOKENS_FILE)')
  const records = read(path)
  switch (command) {
    case 'create': {
      const scopes = [...new Set((values.scope ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()))]
      if (scopes.length === 0) throw new UsageError(`give --scope: ${SCOPES.join(', ')}`)
      for (const s of scopes)
        if (!SCOPES.includes(s as Scope)) throw new UsageError(`--scope ${s}: one of ${SCOPES.join(', ')}`)
      const { token, record } = newToken(
        scopes as Scope[],
        values.name ?? null,
        expiryOf(values.expires, now),
        now,
      )
      write(path, [...records, record])
      return [
        `created token ${record.id}${record.name === null ? '' : ` (${record.name})`}: scopes ${record.scopes.join(',')}, expires ${record.expires ?? 'never'}; kept hashed in ${path}`,
        'the token is shown once, here (send it as `Authorization: Bearer <token>`):',
        token,
      ]
    }
    case 'revoke': {
      const [id] = rest
      if (id === undefined) throw new UsageError('revoke: give the id of the token (npm run token -- list)')
      const record = records.find((r) => r.id === id)
      if (record === undefined) throw new UsageError(`revoke: no token ${id} in ${path}`)
      if (record.revoked !== null) return [`token ${id} was revoked already, at ${record.revoked}`]
      write(
        path,
        records.map((r) => (r.id === id ? { ...r, revoked: now.toISOString() } : r)),
      )
      return [`revoked token ${id}; a server reading ${path} refuses it within a second`]
    }
    case 'list':
      return [
        'id\tname\tscopes\tcreated\texpires\tstate',
        ...records.map((r) =>
          [
            r.id,
            r.name ?? '-',
            r.scopes.join(','),
            r.created,
            r.expires ?? 'never',
            r.revoked !== null
              ? `revoked ${r.revoked}`
              : r.expires !== null && Date.parse(r.expires) <= now.getTime()
                ? 'expired'
                : 'valid',
          ].join('\t'),
        ),
      ]
    default:
      throw new UsageError(command === undefined ? 'give a command' : `unknown command ${command}`)
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    process.stdout.write(`${runTokenCommand(process.argv.slice(2), process.env).join('\n')}\n`)
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    process.stderr.write(`${(err as Error).message}\n${usage ? `${USAGE}\n` : ''}`)
    process.exitCode = usage ? 2 : 1
  }
}
