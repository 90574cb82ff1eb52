/**
 * The HTTP audit log (issue 22, item 7): structured lines with a stable
 * `event` field, who (token id and name), what, from where; pino adds when.
 *
 * - `http_auth_failed`: a 401 (no token, malformed, unknown, expired, revoked).
 * - `http_forbidden`: a 403 (a valid token without the route's scope).
 * - `http_admin_action`: every request an admin route answered, once answered.
 *
 * Refusals are throttled per event: the first of a window is logged at once,
 * the others of the window are counted and told in one line at its end
 * (`suppressed`), so a flood of bad tokens writes one line per window, not
 * one per request. Admin actions come from holders of an admin token, whose
 * requests are rate-limited already: each is logged.
 */

import type { FastifyBaseLogger } from 'fastify'

export type RefusalEvent = 'http_auth_failed' | 'http_forbidden'

export interface AuditFields {
  readonly reason?: string
  readonly tokenId: string | null
  readonly tokenName: string | null
  readonly method: string
  /** The URL with `access_token` redacted (redact.ts). */
  readonly url: string
  readonly remoteAddress: string
  readonly statusCode?: number
}

/** Default window of the throttle, ms. */
export const AUDIT_WINDOW_MS = 10_000

export class Audit {
  readonly #windows = new Map<
    RefusalEvent,
    { suppressed: number; last: AuditFields; timer: NodeJS.Timeout }
  >()

  constructor(
    readonly log: FastifyBaseLogger,
    readonly windowMs = AUDIT_WINDOW_MS,
  ) {}

  refused(event: RefusalEvent, fields: AuditFields): void {
    const open = this.#windows.get(event)
    if (open !== undefined) {
      open.suppressed++
      open.last = fields
      return
    }
    this.log.warn(
      { event, ...fields },
      event === 'http_auth_failed' ? 'HTTP authentication failed' : 'HTTP scope refused',
    )
    const timer = setTimeout(() => this.#close(event), this.windowMs)
    timer.unref()
    this.#windows.set(event, { suppressed: 0, last: fields, timer })
  }

  #close(event: RefusalEvent): void {
    const window = this.#windows.get(event)
    this.#windows.delete(event)
    if (window === undefined || window.suppressed === 0) return
    this.log.warn(
      { event, suppressed: window.suppressed, windowMs: this.windowMs, last: window.last },
      'more of the same refusals in this window, not logged one by one',
    )
  }

  admin(fields: AuditFields & { readonly body?: string }): void {
    this.log.info({ event: 'http_admin_action', ...fields }, 'HTTP admin action')
  }

  /** Logs the counts of the open windows now. */
  close(): void {
    for (const [event, window] of this.#windows) {
      clearTimeout(window.timer)
      this.#close(event)
    }
  }
}
