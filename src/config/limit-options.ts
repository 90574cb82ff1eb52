/**
 * The rows of the option table (options.ts) that bound what one client,
 * query or device may cost (issue 21). docs/operations.md says what a
 * client sees at each limit and which metric counts it.
 */

import { DEFAULT_BRIDGE_OPTIONS, DEFAULT_DEAD_LETTER_LIMITS } from '../../bridge/index.js'
import { DEFAULT_BROKER_OPTIONS } from '../../broker/index.js'
import { DEFAULT_QUERY_LIMITS } from '../store/index.js'
import type { Option } from './option-row.js'

const count = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const

export const LIMIT_OPTIONS = {
  'max-fields': {
    key: 'maxFields',
    schema: count(1, 100_000),
    default: DEFAULT_BRIDGE_OPTIONS.maxFields,
    description:
      'distinct field names the store holds; a message adding one more is a `too_many_fields` dead letter',
  },
  'max-fields-per-device': {
    key: 'maxFieldsPerDevice',
    schema: count(1, 100_000),
    default: DEFAULT_BRIDGE_OPTIONS.maxFieldsPerDevice,
    description:
      'distinct field names one device may add (counted since start), so one device cannot use up `--max-fields`; past it a `too_many_fields` dead letter',
  },
  'max-connections': {
    key: 'maxConnections',
    schema: count(0, 1_000_000),
    default: DEFAULT_BROKER_OPTIONS.maxConnections,
    description: 'open MQTT connections in all; the next is closed as soon as it is accepted. `0`: no cap',
  },
  'max-connections-per-address': {
    key: 'maxConnectionsPerAddress',
    schema: count(0, 1_000_000),
    default: DEFAULT_BROKER_OPTIONS.maxConnectionsPerAddress,
    description:
      'open MQTT connections from one remote address; high by default so one simulator or NAT can run 10,000 devices: lower it on a public address. `0`: no cap',
  },
  'max-incomplete-packet-bytes': {
    key: 'maxIncompletePacketBytes',
    schema: count(0, 2 ** 40),
    default: DEFAULT_BROKER_OPTIONS.maxIncompletePacketBytes,
    description:
      'bytes of MQTT packets begun and not yet complete, across all connections; past it the connections whose packet is oldest are closed',
  },
  'keepalive-zero-idle-ms': {
    key: 'keepaliveZeroIdleMs',
    schema: count(0, 86_400_000),
    default: DEFAULT_BROKER_OPTIONS.keepaliveZeroIdleMs,
    description:
      'a client that asked for keep alive 0 is closed after this long without a whole packet. `0`: never',
  },
  'slow-client-timeout-ms': {
    key: 'slowClientTimeoutMs',
    schema: count(0, 600_000),
    default: DEFAULT_BROKER_OPTIONS.slowClientTimeoutMs,
    description:
      'an MQTT subscriber whose socket stays full this long is disconnected; a publisher never waits for it. `0`: never (not recommended)',
  },
  'max-queued-bytes-per-client': {
    key: 'maxQueuedBytesPerClient',
    schema: count(0, 2 ** 40),
    default: DEFAULT_BROKER_OPTIONS.maxQueuedBytesPerClient,
    description:
      'an MQTT subscriber with more than this waiting in its socket is disconnected at once. `0`: no bound',
  },
  'max-queries': {
    key: 'maxQueries',
    schema: count(1, 64),
    default: DEFAULT_QUERY_LIMITS.maxRunning,
    description:
      'history queries (`/v1/telemetry`, `/v1/windows`, Parquet exports) running at once, each on its own connection',
  },
  'max-queued-queries': {
    key: 'maxQueuedQueries',
    schema: count(0, 10_000),
    default: DEFAULT_QUERY_LIMITS.maxQueued,
    description:
      'history queries waiting for a place; one more is refused at once with 503 `TLM_ERR_BUSY` and `Retry-After`',
  },
  'query-timeout-ms': {
    key: 'queryTimeoutMs',
    schema: count(100, 86_400_000),
    default: DEFAULT_QUERY_LIMITS.timeoutMs,
    description: 'a history query running longer is interrupted: 503 `TLM_ERR_QUERY_TIMEOUT`',
  },
  'dead-letters-per-device-minute': {
    key: 'deadLettersPerDeviceMinute',
    schema: count(0, 1_000_000),
    default: DEFAULT_DEAD_LETTER_LIMITS.perDevicePerMinute,
    description:
      'refused messages of one device kept as dead letters per minute (and in a burst); the rest are acknowledged and counted, not kept',
  },
  'dead-letter-max-mb': {
    key: 'deadLetterMaxMb',
    schema: count(1, 10_000_000),
    default: DEFAULT_DEAD_LETTER_LIMITS.maxTotalBytes / 1e6,
    description:
      'payload MB (10^6 bytes) all dead letters may hold; past it refused messages are acknowledged and counted, not kept',
  },
} as const satisfies Record<string, Option>
