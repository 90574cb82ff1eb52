/**
 * The MQTT side's audit lines (issue #22, item 7): refused logins, refused
 * publishes and subscriptions, connections closed by a reload. Each is one
 * structured line at warn level whose `event` field is stable (operators
 * alert on it), with the client id, user and remote address.
 *
 * A flood of bad logins must not fill the disk: lines come from a token
 * bucket (a burst of `burst`, then `perSecond`); what it holds back is
 * counted and said in the next line that goes out (`suppressed`). The
 * metric `mqtt_auth_denied_total` counts every refusal regardless.
 */

import type { Logger } from 'pino'

export type AuditEvent =
  /** CONNECT refused: bad credentials, anonymous, a client id of another user, a will not allowed. */
  | 'mqtt_connect_refused'
  | 'mqtt_publish_denied'
  | 'mqtt_subscribe_denied'
  /** A connected client closed because a reload removed its user or changed its password. */
  | 'mqtt_client_revoked'

export interface AuditFields {
  readonly clientId: string
  readonly user: string | null
  readonly remote: string | null
  readonly topic?: string
  readonly reason?: string
}

export class AuditLog {
  #tokens: number
  #last = performance.now()
  #suppressed = 0

  constructor(
    readonly log: Logger,
    readonly burst = 100,
    readonly perSecond = 10,
  ) {
    this.#tokens = burst
  }

  record(event: AuditEvent, fields: AuditFields): void {
    const now = performance.now()
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.perSecond)
    this.#last = now
    if (this.#tokens < 1) {
      this.#suppressed++
      return
    }
    this.#tokens--
    const suppressed = this.#suppressed
    this.#suppressed = 0
    this.log.warn({ event, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, event.replaceAll('_', ' '))
  }
}
