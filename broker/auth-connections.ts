/**
 * The broker's connections as principals (issue #22): who each is, what it
 * may do, and the Aedes hooks' answers built on that.
 *
 * - A client id belongs to the principal connected with it: another
 *   principal's CONNECT with that id gets CONNACK 0x05, where Aedes would
 *   otherwise close the first connection and hand the id over (its takeover
 *   runs after `authenticate`, in `registerClient`). The same principal's
 *   reconnect takes over, as [MQTT-3.1.4-2] requires.
 * - A will whose topic the client may not publish to is refused at CONNECT
 *   (CONNACK 0x05), as Mosquitto refuses it.
 * - A reload recomputes every connection's access and closes those whose
 *   user is gone, whose password entry changed, or that are anonymous once
 *   anonymous clients are no longer allowed.
 */

import type { AuthenticateError, Client, ConnectPacket } from 'aedes'
import { NOTHING, type TopicAccess } from './auth-access.js'
import type { AuditEvent, AuditLog } from './auth-audit.js'
import type { DeviceSecurity, Principal, RefusalReason } from './auth-security.js'
import { certificateIdentity } from './listeners.js'

export type DeniedAction = 'connect' | 'publish' | 'subscribe'

interface Session extends Principal {
  readonly client: Client
  access: TopicAccess
  /** Closed by a reload: its will is not published. */
  revoked: boolean
}

const remoteOf = (client: Client): string | null => {
  const address = (client.conn as { remoteAddress?: unknown }).remoteAddress
  return typeof address === 'string' ? address : null
}

export class ConnectionAuth {
  readonly #byClient = new WeakMap<Client, Session>()
  readonly #byId = new Map<string, Session>()
  readonly #wills = new WeakMap<Client, string>()

  constructor(
    readonly security: DeviceSecurity,
    readonly audit: AuditLog,
    readonly onDenied: (action: DeniedAction) => void,
  ) {
    security.onReload(() => this.#reapply())
  }

  /** From preConnect: what authenticate does not see of the CONNECT. */
  noteConnect(client: Client, packet: ConnectPacket): void {
    if (packet.will) this.#wills.set(client, packet.will.topic)
  }

  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    callback: (err: AuthenticateError | null, ok: boolean) => void,
  ): void {
    // Answered once: an exception in Aedes's callback must not come back here as a second answer.
    let answered = false
    const answer = (err: AuthenticateError | null): void => {
      if (answered) return
      answered = true
      callback(err, err === null)
    }
    const refuse = (reason: RefusalReason | 'client_id_in_use' | 'will_denied', user: string | null) => {
      this.#deny('mqtt_connect_refused', 'connect', client, user, { reason })
      const err = new Error(`not authorized: ${reason}`) as AuthenticateError
      err.returnCode = 5
      answer(err)
    }
    // A client certificate the CA verified names the device, as Mosquitto's use_identity_as_username.
    const commonName = certificateIdentity(client)
    this.security
      .authenticate(
        commonName === null ? { kind: 'password', username, password } : { kind: 'certificate', commonName },
      )
      .then((principal) => {
        if (typeof principal === 'string') return refuse(principal, username ?? null)
        // A reload may have landed while the hash was being checked.
        if (!this.security.stillValid(principal)) return refuse('unknown_user', principal.user)
        const holder = this.#byId.get(client.id)
        if (
          holder !== undefined &&
          holder.client !== client &&
          !holder.client.closed &&
          holder.user !== principal.user
        )
          return refuse('client_id_in_use', principal.user)
        const access = this.security.accessFor(principal, client.id)
        const will = this.#wills.get(client)
        if (will !== undefined && !access.canPublish(will)) return refuse('will_denied', principal.user)
        // Gone while its password was checked: Aedes drops the answer, and a 'close' listener would never fire.
        if (client.closed) return answer(null)
        const session: Session = { ...principal, client, access, revoked: false }
        this.#byClient.set(client, session)
        this.#byId.set(client.id, session)
        client.conn.once('close', () => {
          if (this.#byId.get(client.id) === session) this.#byId.delete(client.id)
        })
        answer(null)
      })
      .catch((err: unknown) => {
        // The client is refused, never the process (an exception in a hook would end it).
        const error = (err instanceof Error ? err : new Error(String(err))) as AuthenticateError
        error.returnCode = 5
        answer(error)
      })
  }

  /** Whether the client may publish to `topic`; a refusal is counted and logged. */
  mayPublish(client: Client, topic: string): boolean {
    const session = this.#byClient.get(client)
    if (session?.revoked === true) return false
    if (session?.access.canPublish(topic) === true) return true
    this.#deny('mqtt_publish_denied', 'publish', client, session?.user ?? null, { topic })
    return false
  }

  maySubscribe(client: Client, filter: string): boolean {
    const session = this.#byClient.get(client)
    if (session?.access.canSubscribe(filter) === true) return true
    this.#deny('mqtt_subscribe_denied', 'subscribe', client, session?.user ?? null, { topic: filter })
    return false
  }

  /** For authorizeForward: per delivery, so not logged. */
  mayRead(client: Client, topic: string): boolean {
    return (this.#byClient.get(client)?.access ?? NOTHING).canRead(topic)
  }

  #deny(
    event: AuditEvent,
    action: DeniedAction,
    client: Client,
    user: string | null,
    extra: { topic?: string; reason?: string },
  ): void {
    this.onDenied(action)
    this.audit.record(event, { clientId: client.id, user, remote: remoteOf(client), ...extra })
  }

  #reapply(): void {
    for (const session of [...this.#byId.values()]) {
      if (session.client.closed) continue
      if (this.security.stillValid(session)) {
        session.access = this.security.accessFor(session, session.client.id)
        continue
      }
      session.revoked = true
      session.access = NOTHING
      this.audit.record('mqtt_client_revoked', {
        clientId: session.client.id,
        user: session.user,
        remote: remoteOf(session.client),
      })
      session.client.close()
    }
  }
}
