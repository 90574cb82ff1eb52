/**
 * The embedded MQTT 3.1.1 broker: Aedes on its listeners (TCP, TLS, and
 * WebSocket through the HTTP server: listeners.ts), with the limits a public
 * broker needs and Aedes lacks by default.
 *
 * The durable point: Aedes writes a QoS 1 PUBACK before its `published` hook
 * runs (node_modules/aedes/lib/handlers/publish.js), and a QoS 2 PUBREC right
 * after storing the packet in its own (memory) persistence. Both come after
 * `authorizePublish`, so that is where a telemetry message is handed to the
 * bridge and waited on: the acknowledgement leaves only once the reading is
 * durable. If the bridge cannot make it durable, the hook fails, Aedes closes
 * the connection without acknowledging, and the device sends it again.
 */

import type { Socket } from 'node:net'
import type { SecureContextOptions } from 'node:tls'
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import { AuditLog } from './auth-audit.js'
import { ConnectionAuth } from './auth-connections.js'
import { ConnectionLimits } from './connection-limits.js'
import { DRAIN_TIMEOUT_MESSAGE, decoupleDelivery, queueBound } from './delivery.js'
import { Listeners } from './listeners.js'
import { type BrokerOptions, DEFAULT_BROKER_OPTIONS, type DisconnectReason } from './options.js'
import { PublishRate } from './publish-rate.js'
import type { UpgradeHandler } from './ws-listener.js'

/**
 * One log line per `everyMs` for a failure that repeats per message: while
 * the store is down every publish fails, and a line each would flood the
 * log. The first comes at once; the next says how many it stands for.
 */
class ThrottledLog {
  #last = Number.NEGATIVE_INFINITY
  #since = 0

  constructor(
    readonly log: Logger,
    readonly message: string,
    readonly everyMs = 10_000,
  ) {}

  note(err: unknown, topic: string): void {
    this.#since++
    const now = performance.now()
    if (now - this.#last < this.everyMs) return
    this.log.error({ err, topic, count: this.#since }, this.message)
    this.#last = now
    this.#since = 0
  }
}

class ProtocolViolation extends Error {
  override name = 'ProtocolViolation'
  constructor(readonly reason: DisconnectReason) {
    super(`protocol violation: ${reason}`)
  }
}

export class TelemetryBroker {
  readonly #aedes: Aedes
  readonly #listeners: Listeners
  readonly #limits: ConnectionLimits
  /**
   * The ids of the connected clients. A takeover (an id connecting again,
   * [MQTT-3.1.4-2]) closes the old client before the new one is registered
   * (registerClient in the installed aedes.js), so its disconnect never
   * removes the new one's id: test/integration/catalog-api.test.ts fails if that changes.
   */
  readonly #connected = new Set<string>()

  private constructor(aedes: Aedes, listeners: Listeners, limits: ConnectionLimits) {
    this.#aedes = aedes
    this.#listeners = listeners
    this.#limits = limits
  }

  static async start(brokerOptions: BrokerOptions): Promise<TelemetryBroker> {
    const options = { ...DEFAULT_BROKER_OPTIONS, ...brokerOptions }
    const { log } = options
    const closed = (reason: DisconnectReason): void => options.onDisconnectForViolation?.(reason)
    const violation = (reason: DisconnectReason): ProtocolViolation => {
      closed(reason)
      return new ProtocolViolation(reason)
    }
    const limits = new ConnectionLimits(options, closed)
    const rate = options.publishesPerSecondPerClient
    const publishRate = new PublishRate(rate, rate, 10_000)
    const unacknowledged = new ThrottledLog(log, 'publishes not made durable; not acknowledged')
    // [MQTT-3.1.3-8]: an empty client id with CleanSession 0 gets CONNACK 0x02.
    // preConnect sees the packet; authenticate answers with the return code.
    const emptyIdPersistent = new WeakSet<Client>()
    // Identity and ACLs (issue #22): none configured, every client may do everything, as before.
    const security = options.security ?? null
    const auth =
      security === null
        ? null
        : new ConnectionAuth(security, new AuditLog(log), (action) => options.onAuthDenied?.(action))
    const bound = queueBound(options.maxQueuedBytesPerClient, () => closed('client_queue_full'))

    const aedes = await Aedes.createBroker({
      connectTimeout: Math.min(options.connectTimeoutMs, 10_000),
      drainTimeout: options.slowClientTimeoutMs,
      // Each delivery is checked against the receiver's read rules, then its queue bound.
      authorizeForward:
        auth === null
          ? bound
          : (client, packet) => (auth.mayRead(client, packet.topic) ? bound(client, packet) : null),
      preConnect(client, packet, callback) {
        if (packet.clientId === '' && packet.clean === false) emptyIdPersistent.add(client)
        limits.connected(client.conn as Socket, packet.keepalive ?? 0)
        auth?.noteConnect(client, packet)
        callback(null, true)
      },
      authenticate(client, username, password, callback) {
        if (emptyIdPersistent.has(client)) {
          const err = new Error('empty client id requires clean session') as AuthenticateError
          err.returnCode = 2
          return callback(err, false)
        }
        if (auth === null) return callback(null, true)
        auth.authenticate(client, username, password, callback)
      },
      authorizePublish(client, packet, callback) {
        // An exception thrown here would kill the process: answer through the callback only.
        try {
          const problem = publishProblem(packet)
          if (problem !== null) return callback(violation(problem))
          // Refused: not stored, not acknowledged, and Aedes closes the connection.
          if (client !== null && auth !== null && !auth.mayPublish(client, packet.topic))
            return callback(new Error('not authorized'))
          const pass = (): void =>
            void options.onPublish(packet.topic, packet.payload as Uint8Array, client?.id ?? '').then(
              () => callback(null),
              (err: unknown) => {
                unacknowledged.note(err, packet.topic)
                callback(err instanceof Error ? err : new Error(String(err)))
              },
            )
          // Over its rate, a publish waits its turn: Aedes reads the client again only after (publish-rate.ts).
          const waitMs = client === null ? 0 : publishRate.take(client.id)
          if (waitMs === null) return callback(violation('publish_rate'))
          if (waitMs === 0) return pass()
          options.onPublishDelayed?.(waitMs)
          setTimeout(pass, waitMs)
        } catch (err) {
          log.error({ err }, 'authorizePublish failed')
          callback(err instanceof Error ? err : new Error(String(err)))
        }
      },
      authorizeSubscribe(client, subscription, callback) {
        try {
          // The filter's bytes were checked by PacketCheck; a refusal is SUBACK 0x80 [MQTT-3.9.3].
          if (auth !== null && !auth.maySubscribe(client, subscription.topic)) return callback(null, null)
          callback(null, subscription)
        } catch (err) {
          callback(err instanceof Error ? err : new Error(String(err)), null)
        }
      },
    })

    decoupleDelivery(aedes)

    const listeners = new Listeners(aedes, { ...options, mqtts: options.mqtts ?? null }, limits, closed)
    const broker = new TelemetryBroker(aedes, listeners, limits)

    const count = (): void => options.onClientCountChange?.(aedes.connectedClients)
    const connected = broker.#connected
    aedes.on('client', (client) => {
      connected.add(client.id)
      count()
    })
    aedes.on('clientDisconnect', (client) => {
      connected.delete(client.id)
      publishRate.forget(client.id)
      count()
    })
    // Aedes reports a drain timeout once per write that was waiting: count the client once.
    const slow = new WeakSet<Client>()
    aedes.on('clientError', (client, err) => {
      if (err.message === DRAIN_TIMEOUT_MESSAGE) {
        if (!slow.has(client)) closed('slow_client')
        slow.add(client)
      } else if (!(err instanceof ProtocolViolation))
        log.debug({ clientId: client.id, err: err.message }, 'client error')
    })

    await listeners.listen()
    return broker
  }

  get port(): number {
    return this.#listeners.port
  }

  /** The MQTT over TLS port, or null without `mqtts`. */
  get mqttsPort(): number | null {
    return this.#listeners.mqttsPort
  }

  /** MQTT over WebSocket: the HTTP server's `upgrade` handler for `/mqtt`. */
  get upgrade(): UpgradeHandler {
    return this.#listeners.upgrade
  }

  /** New certificate, key, CA or CRL for the next TLS connections (a reload); open ones keep theirs. */
  setSecureContext(options: SecureContextOptions): void {
    this.#listeners.setSecureContext(options)
  }

  /** Whether a client with this id is connected now. */
  isConnected(clientId: string): boolean {
    return this.#connected.has(clientId)
  }

  /** Bytes held for incomplete packets across all connections (see connection-limits.ts). */
  get incompletePacketBytes(): number {
    return this.#limits.incompletePacketBytes
  }

  /** Refuses new connections; the open ones keep being served until close(). */
  stopAccepting(): void {
    this.#listeners.stopAccepting()
  }

  /** Closes every connection and the broker. */
  async close(): Promise<void> {
    this.stopAccepting()
    this.#listeners.destroyAll()
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()))
  }
}

/** Why a PUBLISH must close the connection, or null. */
function publishProblem(packet: PublishPacket): DisconnectReason | null {
  // [MQTT-2.3.1-1]: QoS 1 and 2 PUBLISH carry a non-zero packet identifier.
  if (packet.qos > 0 && packet.messageId === 0) return 'packet_id_zero'
  // [MQTT-4.7.2-1]: $-topics belong to the server; wildcards Aedes refuses itself.
  if (packet.topic.startsWith('$')) return 'reserved_topic'
  if (packet.topic.includes('\u0000')) return 'topic_contains_nul'
  return null
}
