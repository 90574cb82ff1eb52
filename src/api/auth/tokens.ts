/**
 * API tokens and the file that keeps them (`--tokens-file`, docs/security.md).
 *
 * A token is `tlm_<id>_<secret>`: the id (12 hex digits) is not secret and
 * names the token in logs, metrics and `npm run token -- list`; the secret is
 * 32 random bytes, base64url. The file keeps, one JSON object per line, the
 * id, a name, the scopes, the SHA-256 of the whole token, and when it was
 * made, expires and was revoked; never the token. SHA-256 rather than scrypt:
 * a slow hash protects guessable passwords, and 256 random bits are not
 * guessable (GitHub's tokens are kept the same way).
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { Ajv } from 'ajv'

/** What a token may do: `read` history and streams, `admin` dead letters and replay, `metrics` GET /metrics. */
export const SCOPES = ['read', 'admin', 'metrics'] as const
export type Scope = (typeof SCOPES)[number]

export interface TokenRecord {
  readonly id: string
  /** Who or what holds it, for people reading the log. */
  readonly name: string | null
  readonly scopes: readonly Scope[]
  /** SHA-256 of the whole token, hex. */
  readonly sha256: string
  /** RFC 3339. */
  readonly created: string
  /** RFC 3339; null: never. */
  readonly expires: string | null
  /** RFC 3339 of the revocation; null: in force. */
  readonly revoked: string | null
}

const ID_PATTERN = '^[0-9a-f]{12}$'
const TOKEN = /^tlm_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/
const TIME = { type: 'string', format: 'date-time' } as const

const validateRecord = new Ajv({
  allErrors: false,
  formats: { 'date-time': (text: string) => !Number.isNaN(Date.parse(text)) },
}).compile<TokenRecord>({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    name: { type: ['string', 'null'], maxLength: 200 },
    scopes: { type: 'array', items: { enum: SCOPES }, minItems: 1, uniqueItems: true },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    created: TIME,
    expires: { anyOf: [TIME, { type: 'null' }] },
    revoked: { anyOf: [TIME, { type: 'null' }] },
  },
  required: ['id', 'name', 'scopes', 'sha256', 'created', 'expires', 'revoked'],
  additionalProperties: false,
})

/** The file's text as records; throws an Error naming the first wrong line. Blank lines are skipped. */
export function parseTokens(text: string): TokenRecord[] {
  const records: TokenRecord[] = []
  const ids = new Set<string>()
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (err) {
      throw new Error(`line ${i + 1}: not JSON: ${(err as Error).message}`)
    }
    if (!validateRecord(value)) {
      const e = validateRecord.errors?.[0]
      throw new Error(`line ${i + 1}: ${e?.instancePath || 'the record'} ${e?.message ?? 'is not a token'}`)
    }
    if (ids.has(value.id)) throw new Error(`line ${i + 1}: id ${value.id} appears twice`)
    ids.add(value.id)
    records.push(value)
  }
  return records
}

export function formatTokens(records: readonly TokenRecord[]): string {
  return records.map((r) => `${JSON.stringify(r)}\n`).join('')
}

export const sha256Hex = (token: string): string => createHash('sha256').update(token).digest('hex')

/** A new token and its record. The token is shown once and kept nowhere. */
export function newToken(
  scopes: readonly Scope[],
  name: string | null,
  expires: Date | null,
  now = new Date(),
): { token: string; record: TokenRecord } {
  const id = randomBytes(6).toString('hex')
  const token = `tlm_${id}_${randomBytes(32).toString('base64url')}`
  const record: TokenRecord = {
    id,
    name,
    scopes: [...scopes],
    sha256: sha256Hex(token),
    created: now.toISOString(),
    expires: expires?.toISOString() ?? null,
    revoked: null,
  }
  return { token, record }
}

/** Why a presented token is refused. */
export type Refusal = 'malformed' | 'unknown' | 'expired' | 'revoked'

export type Verdict =
  | { readonly ok: true; readonly token: TokenRecord }
  | { readonly ok: false; readonly reason: Refusal }

/** The tokens of one reading of the file, by id. */
export class TokenSet {
  readonly #byId: Map<string, { record: TokenRecord; hash: Buffer }>

  constructor(records: readonly TokenRecord[]) {
    this.#byId = new Map(records.map((r) => [r.id, { record: r, hash: Buffer.from(r.sha256, 'hex') }]))
  }

  get size(): number {
    return this.#byId.size
  }

  verify(presented: string, nowMs = Date.now()): Verdict {
    const id = TOKEN.exec(presented)?.[1]
    if (id === undefined) return { ok: false, reason: 'malformed' }
    const entry = this.#byId.get(id)
    if (entry === undefined) return { ok: false, reason: 'unknown' }
    // Constant time: how much of the hash matched does not show in the answer's timing.
    const hash = createHash('sha256').update(presented).digest()
    if (!timingSafeEqual(hash, entry.hash)) return { ok: false, reason: 'unknown' }
    const { record } = entry
    if (record.revoked !== null) return { ok: false, reason: 'revoked' }
    if (record.expires !== null && Date.parse(record.expires) <= nowMs)
      return { ok: false, reason: 'expired' }
    return { ok: true, token: record }
  }
}
