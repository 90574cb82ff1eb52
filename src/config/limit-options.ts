/**
 * The rows of the option table (options.ts) that bound what one client,
 * query or device may cost (issue 21). docs/operations.md says what a
 * client sees at each limit and which metric counts it.
 */

import { DEFAULT_BRIDGE_OPTIONS, DEFAULT_DEAD_LETTER_LIMITS } from '../../bridge/index.js'
import { DEFAULT_BROKER_OPTIONS } from '../../broker/index.js'
import { DEFAULT_SSE_CLIENT_BYTES, DEFAULT_SSE_TOTAL_BYTES } from '../api/sse-budget.js'
import { DEFAULT_QUERY_LIMITS } from '../store/index.js'
import type { Option } from './option-row.js'

const count = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const

export const LIMIT_OPTIONS = {
  'sse-client-buffer-bytes': {
    key: 'sseClientBufferBytes',
    schema: count(16_384, 2 ** 32),
    default: DEFAULT_SSE_CLIENT_BYTES,
    description:
      'bytes one SSE client may hold (queued while its socket is full, and written but not yet taken) before it is slow: a `gap`, or cut with `--sse-slow-client disconnect`',
    limit: {
      metric: '`sse_events_dropped_total`, `sse_clients_cut_total`',
      sees: 'a `gap` event naming how many events it missed; or its stream ends',
    },
  },
  'sse-total-buffer-bytes': {
    key: 'sseTotalBufferBytes',
    schema: count(16_384, 2 ** 40),
    default: DEFAULT_SSE_TOTAL_BYTES,
    description:
      'bytes all SSE clients may hold together; past it the slow clients that waited longest lose their queues (`gap`), then are cut',
    limit: {
      metric: '`sse_buffered_bytes`, `sse_clients_cut_total`',
      sees: 'the slowest clients get a `gap` or lose their stream; clients that keep up see nothing',
    },
  },
  'max-fields': {
    key: 'maxFields',
    schema: count(1, 100_000),
    default: DEFAULT_BRIDGE_OPTIONS.maxFields,
    description:
      'distinct field names the store holds; a message adding one more is a `too_many_fields` dead letter',
    limit: {
      metric: '`telemetry_messages_rejected_total{reason="too_many_fields"}`',
      sees: 'its message is a `too_many_fields` dead letter, acknowledged',
    },
  },
  'max-fields-per-device': {
    key: 'maxFieldsPerDevice',
    schema: count(1, 100_000),
    default: DEFAULT_BRIDGE_OPTIONS.maxFieldsPerDevice,
    description:
      'distinct field names one device may add (counted since start), so one device cannot use up `--max-fields`; past it a `too_many_fields` dead letter',
    limit: {
      metric: '`telemetry_messages_rejected_total{reason="too_many_fields"}`',
      sees: 'the same, for that device only: other devices still add fields',
    },
  },
  'max-connections': {
    key: 'maxConnections',
    schema: count(0, 1_000_000),
    default: DEFAULT_BROKER_OPTIONS.maxConnections,
    description: 'open MQTT connections in all; the next is closed as soon as it is accepted. `0`: no cap',
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="connection_limit"}`',
      sees: 'TCP accepted then closed at once, before CONNACK',
    },
  },
  'max-connections-per-address': {
    key: 'maxConnectionsPerAddress',
    schema: count(0, 1_000_000),
    default: DEFAULT_BROKER_OPTIONS.maxConnectionsPerAddress,
    description:
      'open MQTT connections from one remote address; high by default so one simulator or NAT can run 10,000 devices: lower it on a public address. `0`: no cap',
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="address_connection_limit"}`',
      sees: 'the same, for that address only',
    },
  },
  'max-connects-per-second-per-address': {
    key: 'maxConnectsPerSecondPerAddress',
    schema: count(0, 1_000_000),
    default: DEFAULT_BROKER_OPTIONS.maxConnectsPerSecondPerAddress,
    description:
      "new MQTT connections a second from one remote address, after a burst of ten seconds' worth (a fleet behind one NAT comes back at once); past it a connection is closed before its CONNECT is read or its password hashed. `0`: no cap",
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="connect_rate"}`',
      sees: 'the TCP connection closed with no CONNACK; other addresses still connect',
    },
  },
  'max-incomplete-packet-bytes': {
    key: 'maxIncompletePacketBytes',
    schema: count(0, 2 ** 40),
    default: DEFAULT_BROKER_OPTIONS.maxIncompletePacketBytes,
    description:
      'bytes of MQTT packets begun and not yet complete (WebSocket frames not yet whole included), across all connections; past it the connections whose packet is oldest are closed',
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="incomplete_packet_budget"}`',
      sees: 'the connection whose packet began longest ago is closed mid-packet; nothing of it was acknowledged, so it resends after reconnecting',
    },
  },
  'keepalive-zero-idle-ms': {
    key: 'keepaliveZeroIdleMs',
    schema: count(0, 86_400_000),
    default: DEFAULT_BROKER_OPTIONS.keepaliveZeroIdleMs,
    description:
      'a client that asked for keep alive 0 is closed after this long without a whole packet. `0`: never',
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="idle_timeout"}`',
      sees: 'the connection is closed',
    },
  },
  'slow-client-timeout-ms': {
    key: 'slowClientTimeoutMs',
    schema: count(0, 600_000),
    default: DEFAULT_BROKER_OPTIONS.slowClientTimeoutMs,
    description:
      'an MQTT subscriber whose socket stays full this long is disconnected; a publisher never waits for it. `0`: never (not recommended)',
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="slow_client"}`',
      sees: 'the subscriber is disconnected; what was queued for it is lost for QoS 0, redelivered to a persistent session',
    },
  },
  'publishes-per-second-per-client': {
    key: 'publishesPerSecondPerClient',
    schema: count(0, 10_000_000),
    default: DEFAULT_BROKER_OPTIONS.publishesPerSecondPerClient,
    description:
      "PUBLISH packets a second one MQTT client may send, after a burst of one second's worth; past it each waits its turn before it is acknowledged (the client is slowed through TCP, nothing is lost). A client more than 10 s behind is disconnected. `0`: no limit",
    limit: {
      metric: '`mqtt_publishes_delayed_total`; `mqtt_protocol_disconnects_total{reason="publish_rate"}`',
      sees: 'PUBACKs come at the rate; far above it, the connection is closed without acknowledging the rest',
    },
  },
  'max-queued-bytes-per-client': {
    key: 'maxQueuedBytesPerClient',
    schema: count(0, 2 ** 40),
    default: DEFAULT_BROKER_OPTIONS.maxQueuedBytesPerClient,
    description:
      'an MQTT subscriber with more than this waiting in its socket is disconnected at once. `0`: no bound',
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="client_queue_full"}`',
      sees: 'the same, at once',
    },
  },
  'max-queries': {
    key: 'maxQueries',
    schema: count(1, 64),
    default: DEFAULT_QUERY_LIMITS.maxRunning,
    description:
      'history queries (`/v1/telemetry`, `/v1/windows`, Parquet exports, dead-letter listings) running at once, each on its own connection; DuckDB computes them on at most the cores minus one (or this many, when more), so a core stays with ingest',
    limit: {
      metric: '`telemetry_queries_refused_total{cause="busy"}` once the queue is full too',
      sees: 'its query waits for a place (the response starts later)',
    },
  },
  'max-queued-queries': {
    key: 'maxQueuedQueries',
    schema: count(0, 10_000),
    default: DEFAULT_QUERY_LIMITS.maxQueued,
    description:
      'history queries waiting for a place; one more is refused at once with 503 `TLM_ERR_BUSY` and `Retry-After`',
    limit: {
      metric: '`telemetry_queries_refused_total{cause="busy"}`',
      sees: '503 `TLM_ERR_BUSY` with `Retry-After: 5`',
    },
  },
  'query-timeout-ms': {
    key: 'queryTimeoutMs',
    schema: count(100, 86_400_000),
    default: DEFAULT_QUERY_LIMITS.timeoutMs,
    description: 'a history query running longer is interrupted: 503 `TLM_ERR_QUERY_TIMEOUT`',
    limit: {
      metric: '`telemetry_queries_refused_total{cause="timeout"}`',
      sees: '503 `TLM_ERR_QUERY_TIMEOUT`, or a response cut short if its rows had started',
    },
  },
  'dead-letters-per-device-minute': {
    key: 'deadLettersPerDeviceMinute',
    schema: count(0, 1_000_000),
    default: DEFAULT_DEAD_LETTER_LIMITS.perDevicePerMinute,
    description:
      'refused messages of one device kept as dead letters per minute (and in a burst); the rest are acknowledged and counted, not kept',
    limit: {
      metric: '`telemetry_dead_letters_not_stored_total{cap="rate"}`',
      sees: 'nothing: the refused message is acknowledged as always, only not kept; a warning line a minute in the log',
    },
  },
  'dead-letter-max-bytes-per-second': {
    key: 'deadLetterMaxBytesPerSecond',
    schema: count(0, 2 ** 40),
    default: DEFAULT_DEAD_LETTER_LIMITS.maxBytesPerSecond,
    description:
      "payload bytes of all devices kept as dead letters per second (a second's worth at once), so that a flood of refusals from many device ids cannot slow the readings' commits; the rest are acknowledged and counted, not kept. `0`: no bound",
    limit: {
      metric: '`telemetry_dead_letters_not_stored_total{cap="byte_rate"}`',
      sees: 'the same',
    },
  },
  'dead-letter-max-mb': {
    key: 'deadLetterMaxMb',
    schema: count(1, 10_000_000),
    default: DEFAULT_DEAD_LETTER_LIMITS.maxTotalBytes / 1e6,
    description:
      'payload MB (10^6 bytes) all dead letters may hold; past it refused messages are acknowledged and counted, not kept',
    limit: {
      metric: '`telemetry_dead_letters_not_stored_total{cap="size"}`',
      sees: 'the same',
    },
  },
} as const satisfies Record<string, Option>
