/**
 * Tokens, scopes, CORS and per-principal limits on the HTTP API (issue 22,
 * items 5 to 7; docs/security.md). The order of a request:
 *
 *   onRequest: CORS (@fastify/cors; answers a preflight itself)
 *          ─▶ the token and the route's scope (401, 403), the principal,
 *             the SSE stream cap (429)
 *          ─▶ per route: @fastify/rate-limit keyed by the principal (429)
 *   preHandler (streams): headers set so far copied to the raw response, which the stream writes itself
 *   onResponse (admin routes): the audit line
 *
 * The principal is the token's id, or without one the remote address.
 * Loopback addresses are not limited: without tokens they are the
 * operator's own processes, and would share one key anyway.
 * @fastify/rate-limit counts in its onRequest hook, once per request: an
 * SSE stream counts once, however many events it carries, over HTTP/1.1
 * or an HTTP/2 stream alike.
 */

import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  ForbiddenError,
  InvalidParameterError,
  RateLimitedError,
  TooManyStreamsError,
  UnauthorizedError,
} from '../../core/errors.js'
import { Audit } from './audit.js'
import { redactUrl } from './redact.js'
import { type Access, type RouteRule, ruleOf } from './routes.js'
import type { TokenStore } from './token-store.js'
import type { Refusal } from './tokens.js'

export interface SecurityCounters {
  /** A 401 by its reason, or a 403 (`scope`). */
  refused(reason: Refusal | 'missing' | 'scope'): void
  rateLimited(): void
  streamsRefused(): void
}

export interface HttpSecurity {
  /** null: no tokens file, every route open (as before issue 22). */
  readonly tokens: TokenStore | null
  /** GET /metrics without a token. */
  readonly metricsOpen: boolean
  /** Origins allowed by CORS; empty: CORS off. */
  readonly corsOrigins: readonly string[]
  /** 0: no limit. */
  readonly requestsPerSecondPerToken: number
  /** 0: no cap. */
  readonly sseClientsPerToken: number
  readonly counters?: SecurityCounters
}

export const OPEN_HTTP: HttpSecurity = Object.freeze({
  tokens: null,
  metricsOpen: false,
  corsOrigins: [],
  requestsPerSecondPerToken: 0,
  sseClientsPerToken: 0,
})

interface Principal {
  /** `token:<id>` or `address:<ip>`. */
  readonly key: string
  readonly tokenId: string | null
  readonly tokenName: string | null
  readonly limited: boolean
  /** Passed the check of an admin route: its answer is audited. */
  readonly admin: boolean
}

const REALM = 'Bearer realm="telemetry-bridge"'
const MESSAGES: Record<Refusal, string> = {
  malformed: 'the Authorization header is not `Bearer <token>`, or the token is not one of ours',
  unknown: 'the token is not known',
  expired: 'the token has expired',
  revoked: 'the token was revoked',
}

const isLoopback = (ip: string) => /^(127\.|::1$|::ffff:127\.)/.test(ip)

/**
 * Registers the hooks and plugins, loading the plugins at once: Fastify runs
 * onRoute hooks as each route is declared, so @fastify/rate-limit must be
 * loaded before the routes to hook into them.
 */
export async function registerHttpSecurity(app: FastifyInstance, security: HttpSecurity): Promise<void> {
  const { tokens, counters } = security
  const audit = new Audit(app.log)
  const principals = new WeakMap<FastifyRequest, Principal>()
  const streams = new Map<string, number>()

  // Each route is checked as it is registered: one without a rule fails the start (routes.ts).
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) ruleOf(method, route.url)
  })

  if (security.corsOrigins.length > 0)
    await app.register(cors, {
      origin: [...security.corsOrigins],
      methods: ['GET', 'HEAD', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'last-event-id'],
      // link and telemetry-truncated: a page of /v1/telemetry says so in them (telemetry.ts).
      exposedHeaders: ['retry-after', 'www-authenticate', 'link', 'telemetry-truncated'],
      maxAge: 600,
      // An OPTIONS without Origin gets a 204 rather than a text/plain 400: every error of ours is JSON.
      strictPreflight: false,
    })

  const who = (request: FastifyRequest, principal: Principal | null = null) => ({
    tokenId: principal?.tokenId ?? null,
    tokenName: principal?.tokenName ?? null,
    method: request.method,
    url: redactUrl(request.url),
    remoteAddress: request.ip,
  })

  const refuse = (
    request: FastifyRequest,
    reason: Refusal | 'missing',
    stream: boolean,
    presented = '',
  ): never => {
    counters?.refused(reason)
    // The id a token claims is not secret (tokens.ts): an expired or revoked token is named. Never more of it.
    const tokenId = /^tlm_([0-9a-f]{12})_/.exec(presented)?.[1] ?? null
    audit.refused('http_auth_failed', { reason, ...who(request), tokenId })
    if (reason === 'missing')
      throw new UnauthorizedError(
        `this route needs a token: send \`Authorization: Bearer <token>\`${stream ? ' or, for EventSource, `access_token=<token>` in the query' : ''}`,
        REALM,
      )
    const message = MESSAGES[reason]
    throw new UnauthorizedError(message, `${REALM}, error="invalid_token", error_description="${message}"`)
  }

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url
    const rule: RouteRule = url === undefined ? { access: 'open' } : ruleOf(request.method, url)
    const needed: Access = rule.access === 'metrics' && security.metricsOpen ? 'open' : rule.access
    const query = request.query as Record<string, unknown>
    const fromQuery = query.access_token
    // Nothing after this hook sees the token.
    delete query.access_token
    let principal: Principal = {
      key: `address:${request.ip}`,
      tokenId: null,
      tokenName: null,
      limited: !isLoopback(request.ip),
      admin: needed === 'admin',
    }
    if (tokens !== null && needed !== 'open') {
      const header = request.headers.authorization
      if (fromQuery !== undefined) {
        if (rule.stream !== true)
          throw new InvalidParameterError(
            'access_token',
            'accepted only by /v1/stream/* (EventSource cannot send headers): send `Authorization: Bearer <token>`',
          )
        // RFC 6750 §2: one way at a time.
        if (header !== undefined || typeof fromQuery !== 'string')
          throw new InvalidParameterError(
            'access_token',
            'give the token once: in the query or in Authorization',
          )
      }
      let presented: string
      if (header !== undefined) {
        const match = /^Bearer +(\S+) *$/i.exec(header)
        if (match === null) return refuse(request, 'malformed', rule.stream === true)
        presented = match[1] as string
      } else if (typeof fromQuery === 'string') presented = fromQuery
      else return refuse(request, 'missing', rule.stream === true)
      const verdict = tokens.verify(presented)
      if (!verdict.ok) return refuse(request, verdict.reason, rule.stream === true, presented)
      const { token } = verdict
      principal = {
        ...principal,
        key: `token:${token.id}`,
        tokenId: token.id,
        tokenName: token.name,
        limited: true,
      }
      if (!token.scopes.includes(needed as (typeof token.scopes)[number])) {
        counters?.refused('scope')
        audit.refused('http_forbidden', { reason: `needs ${needed}`, ...who(request, principal) })
        throw new ForbiddenError(needed)
      }
    }
    principals.set(request, principal)
    if (rule.stream === true) holdStream(principal, reply)
  })

  /** --sse-clients-per-token: a slot taken until the response closes, however it closes. */
  const holdStream = (principal: Principal, reply: FastifyReply): void => {
    const cap = security.sseClientsPerToken
    if (cap === 0 || !principal.limited) return
    const held = streams.get(principal.key) ?? 0
    if (held >= cap) {
      counters?.streamsRefused()
      throw new TooManyStreamsError(
        `this ${principal.tokenId === null ? 'address' : 'token'} has ${cap} streams open already (--sse-clients-per-token): close one first`,
      )
    }
    streams.set(principal.key, held + 1)
    const release = () => {
      const now = (streams.get(principal.key) ?? 1) - 1
      if (now === 0) streams.delete(principal.key)
      else streams.set(principal.key, now)
    }
    const raw = reply.raw as typeof reply.raw & { stream?: { destroyed: boolean } }
    // Gone already (an HTTP/2 stream cancelled while its headers were read): its 'close' has been.
    if (raw.destroyed || raw.stream?.destroyed) release()
    else raw.once('close', release)
  }

  if (security.requestsPerSecondPerToken > 0)
    await app.register(rateLimit, {
      global: true,
      max: security.requestsPerSecondPerToken,
      timeWindow: 1000,
      keyGenerator: (request) => principals.get(request)?.key ?? `address:${request.ip}`,
      allowList: (request) => principals.get(request)?.limited === false,
      onExceeded: () => counters?.rateLimited(),
      errorResponseBuilder: (_request, context) =>
        new RateLimitedError(
          `over ${context.max} requests per second for this token (--http-requests-per-second-per-token): retry in ${context.after}`,
          Math.max(1, Math.ceil(context.ttl / 1000)),
        ),
    })

  // A stream writes its own head on the raw response (sse.ts): what the hooks set (CORS, rate-limit headers) goes there.
  app.addHook('preHandler', async (request, reply) => {
    if (
      request.routeOptions.url === undefined ||
      ruleOf(request.method, request.routeOptions.url).stream !== true
    )
      return
    for (const [name, value] of Object.entries(reply.getHeaders()))
      if (value !== undefined) reply.raw.setHeader(name, value)
  })

  app.addHook('onResponse', async (request, reply) => {
    const principal = principals.get(request)
    if (principal?.admin !== true) return
    const body = request.body === undefined ? {} : { body: shortJson(request.body) }
    audit.admin({ ...who(request, principal), statusCode: reply.statusCode, ...body })
  })

  app.addHook('onClose', async () => audit.close())
}

/** A request body for the audit line: a list of 10,000 ids is not logged whole. */
function shortJson(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value)
  return json.length <= 500 ? json : `${json.slice(0, 497)}...`
}
