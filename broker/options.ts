/**
 * The broker's options and their defaults. Every limit a client can hit is
 * here, with what the client sees; each closure is counted through
 * `onDisconnectForViolation(reason)`, whose reasons are `DisconnectReason`.
 */

import type { SecureContextOptions } from 'node:tls'
import type { Logger } from 'pino'
import type { DeniedAction } from './auth-connections.js'
import type { PacketRefusal } from './auth-packet-check.js'
import type { DeviceSecurity } from './auth-security.js'
import type { GuardViolation } from './packet-guard.js'

/** Why the broker closed (or refused) a connection: the `reason` label of its counter. */
export type DisconnectReason =
  | GuardViolation
  /** A control packet MQTT 3.1.1 does not allow (auth-packet-check.ts); `unsupported_protocol` gets CONNACK 0x01 first. */
  | PacketRefusal
  | 'packet_id_zero'
  | 'reserved_topic'
  | 'topic_invalid'
  /** Refused at accept: `maxConnections` open already. */
  | 'connection_limit'
  /** Refused at accept: its address opened `maxConnectsPerSecondPerAddress` connections in the last second. */
  | 'connect_rate'
  /** Refused at accept: `maxConnectionsPerAddress` open already from its address. */
  | 'address_connection_limit'
  /** Held the oldest incomplete packet when the `maxIncompletePacketBytes` budget was exceeded. */
  | 'incomplete_packet_budget'
  /** Keep alive 0 and no whole packet for `keepaliveZeroIdleMs`. */
  | 'idle_timeout'
  /** Its socket did not drain within `slowClientTimeoutMs`. */
  | 'slow_client'
  /** Its publishes were more than 10 s behind `publishesPerSecondPerClient`. */
  | 'publish_rate'
  /** More than `maxQueuedBytesPerClient` waiting in its socket when the next message came for it. */
  | 'client_queue_full'
  /** MQTT over TLS: the handshake failed (no TLS spoken, too slow, no common cipher). */
  | 'tls_handshake_failed'
  /** MQTT over TLS with `requireClientCert`: no certificate, or one the CA does not verify (unknown CA, expired, revoked). */
  | 'client_certificate_refused'

export interface BrokerLimits {
  /** Largest MQTT packet accepted, in bytes of Remaining Length. The connection is closed on the fixed header. Default 262144. */
  readonly maxPacketBytes: number
  /** Time a new connection has to send CONNECT, in ms. Default 10000, at most 10000. */
  readonly connectTimeoutMs: number
  /**
   * Open MQTT connections in all; the next is closed as soon as it is
   * accepted, before a byte is read (Node's `server.maxConnections`). 0: no
   * cap. Default 20000.
   */
  readonly maxConnections?: number
  /**
   * Open MQTT connections from one remote address; the next is closed as soon
   * as it is accepted. 0: no cap. Default 10000, so that one simulator (or
   * one NAT) can run the 10,000 devices `npm run simulate` allows.
   */
  readonly maxConnectionsPerAddress?: number
  /**
   * New connections a second from one remote address, after a burst of ten
   * seconds' worth (so a fleet behind one NAT can come back at once); past
   * it a connection is closed as soon as it is accepted, before its CONNECT
   * is read or its password hashed. 0: no cap. Default 1000.
   */
  readonly maxConnectsPerSecondPerAddress?: number
  /**
   * Bytes of packets begun and not yet complete, held across all
   * connections. Past it, the connections whose incomplete packet is oldest
   * are closed until the rest fit. Default 67108864 (64 MiB: 256 packets of
   * the default maximum size).
   */
  readonly maxIncompletePacketBytes?: number
  /**
   * A connection whose CONNECT asked for keep alive 0 (no keep alive
   * [MQTT-3.1.2-10]) is closed after this long without a whole control
   * packet, in ms. Others are closed by their keep alive [MQTT-3.1.2-24].
   * 0: never. Default 300000.
   */
  readonly keepaliveZeroIdleMs?: number
  /**
   * A client whose socket has had bytes waiting since a write found it full
   * (over 16 KiB unsent) is disconnected if it does not drain within this
   * time, in ms (Aedes's `drainTimeout`; 0: never, not recommended). Default 5000.
   */
  readonly slowClientTimeoutMs?: number
  /**
   * A client with more than this many bytes waiting in its socket when
   * another message is routed to it is disconnected at once, whatever the
   * time: bounds what one slow subscriber holds. 0: no bound. Default 4194304 (4 MiB).
   */
  readonly maxQueuedBytesPerClient?: number
  /**
   * PUBLISH packets a second one client may send, after a burst of one
   * second's worth: past it each waits its turn before it is authorized (and
   * so acknowledged), which slows the client through TCP; a client whose
   * wait would pass 10 s (one read holding that many messages) is
   * disconnected. 0: no limit. Default 5000.
   */
  readonly publishesPerSecondPerClient?: number
}

/** MQTT over TLS (docs/security.md, "Listeners and TLS"). */
export interface MqttsOptions {
  /** TLS port; 0 picks a free one. */
  readonly port: number
  /**
   * `key` and `cert`, and with `ca` (and `crl`) client certificates are asked
   * for and verified against it; a verified one's CN is the client's identity
   * (`certificateIdentity`). Replaced by `setSecureContext` without a restart.
   */
  readonly secureContext: SecureContextOptions
  /** Refuse, at the handshake, a client without a certificate that `ca` verifies. Needs `ca`. */
  readonly requireClientCert: boolean
}

export interface BrokerOptions extends BrokerLimits {
  readonly host: string
  /** TCP port; 0 picks a free one. */
  readonly port: number
  /** Also serve MQTT over TLS; absent or null: TCP only. */
  readonly mqtts?: MqttsOptions | null
  /**
   * Called for every PUBLISH before it is acknowledged or routed. Resolve to
   * let it through; reject to refuse it (the client is disconnected, nothing
   * is acknowledged).
   */
  readonly onPublish: (topic: string, payload: Uint8Array, clientId: string) => Promise<void>
  /** A connection closed or refused by a limit or for breaking the protocol. */
  readonly onDisconnectForViolation?: (reason: DisconnectReason) => void
  readonly onClientCountChange?: (connected: number) => void
  /** A PUBLISH held back by `publishesPerSecondPerClient`, for this long. */
  readonly onPublishDelayed?: (ms: number) => void
  /**
   * Device identity and ACLs (auth-security.ts): `DeviceSecurity.load`'s
   * answer. Absent or null: every client may connect, publish and subscribe.
   */
  readonly security?: DeviceSecurity | null
  /** A CONNECT, PUBLISH or SUBSCRIBE refused by the password file or the ACLs. */
  readonly onAuthDenied?: (action: DeniedAction) => void
  readonly log: Logger
}

export const DEFAULT_BROKER_OPTIONS = Object.freeze({
  maxPacketBytes: 256 * 1024,
  connectTimeoutMs: 10_000,
  maxConnections: 20_000,
  maxConnectionsPerAddress: 10_000,
  maxConnectsPerSecondPerAddress: 1000,
  maxIncompletePacketBytes: 64 * 1024 * 1024,
  keepaliveZeroIdleMs: 300_000,
  slowClientTimeoutMs: 5_000,
  maxQueuedBytesPerClient: 4 * 1024 * 1024,
  publishesPerSecondPerClient: 5000,
}) satisfies Required<BrokerLimits>
