/**
 * No log line holds a token (issue 22, item 5). A token reaches us in the
 * Authorization header, which nothing logs, or in the `access_token` query
 * parameter of an SSE URL (RFC 6750 §2.3), which any line that logs the URL
 * would hold: every URL we log goes through redactUrl, and the request
 * serializer of the server's logger (server.ts) uses it.
 */

import type { FastifyRequest } from 'fastify'

export const REDACTED = '[REDACTED]'

/**
 * The URL with the value of every `access_token` parameter replaced. The
 * name is compared decoded, as the query parser reads it (`access%5Ftoken`
 * is `access_token` too).
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const pairs = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const name = eq < 0 ? pair : pair.slice(0, eq)
      let decoded: string
      try {
        decoded = decodeURIComponent(name.replaceAll('+', ' '))
      } catch {
        decoded = name
      }
      return decoded === 'access_token' ? `${name}=${REDACTED}` : pair
    })
  return `${url.slice(0, q)}?${pairs.join('&')}`
}

/** Fastify's request serializer (lib/logger-pino.js) without the token: no headers, the URL redacted. */
export function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}
