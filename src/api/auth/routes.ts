/**
 * Who may call each route, in one table. Every route the server registers
 * must have a row: a route without one stops the server from starting
 * (guard.ts checks each as it is registered), so a new route cannot be
 * left open by forgetting it. docs/security.md shows this table.
 */

import type { Scope } from './tokens.js'

/** `open`: no token asked, even with a tokens file. */
export type Access = Scope | 'open'

export interface RouteRule {
  readonly access: Access
  /** A Server-Sent Events stream: takes `access_token` in the query, counts against --sse-clients-per-token. */
  readonly stream?: true
}

export const ROUTE_RULES: Readonly<Record<string, RouteRule>> = Object.freeze({
  'GET /healthz': { access: 'open' },
  'GET /readyz': { access: 'open' },
  // Open with --metrics-open.
  'GET /metrics': { access: 'metrics' },
  'GET /v1/telemetry': { access: 'read' },
  'GET /v1/windows': { access: 'read' },
  'GET /v1/devices': { access: 'read' },
  'GET /v1/fields': { access: 'read' },
  'GET /v1/stream/telemetry': { access: 'read', stream: true },
  'GET /v1/stream/features': { access: 'read', stream: true },
  'GET /v1/dead-letters': { access: 'admin' },
  'POST /v1/dead-letters/replay': { access: 'admin' },
  'GET /v1/admin/jobs': { access: 'admin' },
  'POST /v1/admin/jobs/:name/run': { access: 'admin' },
  // CORS preflights (@fastify/cors): a browser sends them without the Authorization header.
  'OPTIONS *': { access: 'open' },
})

/** The rule of a route as Fastify registers it; HEAD is its GET's. Throws for a route without a row. */
export function ruleOf(method: string, url: string): RouteRule {
  const rule = ROUTE_RULES[`${method === 'HEAD' ? 'GET' : method} ${url}`]
  if (rule === undefined)
    throw new Error(
      `route ${method} ${url} has no access rule: add it to ROUTE_RULES in src/api/auth/routes.ts (and docs/security.md)`,
    )
  return rule
}
