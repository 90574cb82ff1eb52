/**
 * The option table: every setting once, with its JSON Schema, default and
 * meaning. Its flag is the row's name (`--mqtt-port`), its variable the
 * name in capitals (`MQTT_PORT`), its config-file key the name itself, and
 * a unit is read from the name's end (`-ms`, `-mb`, `-bytes`). Reading
 * (load.ts), checking (ajv, with these schemas) and the table of
 * docs/configuration.md (docs.ts) all come from here: a new option is a
 * new row (what a row holds: option-row.ts).
 */

import { join } from 'node:path'
import { CLOCK_CORRECTIONS, DEFAULT_CLOCK_OPTIONS } from '../../bridge/index.js'
import { DEVICE_ID_PATTERN, NAME_PATTERN } from '../core/telemetry.js'
import { DEFAULT_STORE_MEMORY_MB } from '../store/index.js'
import { HTTP_SECURITY_OPTIONS } from './http-security-options.js'
import { INFLUX_OPTIONS } from './influx-options.js'
import { JOB_OPTIONS } from './job-options.js'
import { LIMIT_OPTIONS } from './limit-options.js'
import { LISTENER_OPTIONS } from './listener-options.js'
import { type Option, packageRoot, TEXT } from './option-row.js'
import { SECURITY_OPTIONS } from './security-options.js'

/**
 * The least the store may be given. Measured, writing 2 float fields: at 16
 * MB a checkpoint failed after 44,000 readings in commits of 1,000, and
 * DuckDB invalidated the database; at 24, 32 and 64 MB 2.4 million readings
 * in commits of 20,000 went in. More fields need more.
 */
const MIN_STORE_MEMORY_MB = 64

const PORT = { type: 'integer', minimum: 0, maximum: 65535 } as const
const ms = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const

export const OPTIONS = {
  host: {
    key: 'host',
    schema: TEXT,
    default: '127.0.0.1',
    description: 'address the MQTT and HTTP listeners bind',
  },
  'mqtt-port': {
    key: 'mqttPort',
    schema: PORT,
    default: 1883,
    description: 'MQTT over TCP; `0` picks a free port',
  },
  'http-port': {
    key: 'httpPort',
    schema: PORT,
    default: 8080,
    description: 'HTTP API; `0` picks a free port',
  },
  'data-dir': {
    key: 'dataDir',
    schema: TEXT,
    default: './data',
    description:
      "where the store keeps `telemetry.duckdb` and its WAL; also `exports/` (Parquet files being served) and `spill/` (DuckDB's overflow: a history query larger than `--store-memory-mb` spills here)",
  },
  'store-memory-mb': {
    key: 'storeMemoryMb',
    schema: { type: 'integer', minimum: MIN_STORE_MEMORY_MB, maximum: 1_000_000 },
    default: DEFAULT_STORE_MEMORY_MB,
    description:
      "what the store's database may hold in memory, MB (10^6 bytes): its cache of the table and the queries running. See [the store's memory](configuration.md#the-stores-memory)",
    limit: {
      metric: '`store_memory_bytes`, `store_memory_limit_bytes`',
      sees: 'nothing: past it the cache gives way and a large query spills to `spill/` in the data directory',
    },
  },
  'max-packet-bytes': {
    key: 'maxPacketBytes',
    schema: { type: 'integer', minimum: 1024, maximum: 268_435_455 },
    default: 256 * 1024,
    description: 'largest MQTT packet accepted',
    limit: {
      metric: '`mqtt_protocol_disconnects_total{reason="packet_too_large"}`',
      sees: "the connection is closed on the packet's fixed header, before its body is read",
    },
  },
  'accept-unwrapped': {
    key: 'acceptUnwrapped',
    schema: { type: 'boolean' },
    default: true,
    description: 'accept payloads without the CRC-32C envelope',
  },
  'device-auth': {
    key: 'deviceAuth',
    schema: { enum: ['none', 'client-id'] },
    default: 'none',
    description:
      '`client-id`: a client may publish telemetry only on `devices/{its client id}/telemetry`; others are refused as `device_not_authorized`',
  },
  'field-types': {
    key: 'fieldTypes',
    schema: {
      type: 'object',
      propertyNames: { pattern: NAME_PATTERN.source },
      additionalProperties: { enum: ['int', 'float', 'bool'] },
    },
    default: {},
    accepted: 'name=int, name=float or name=bool, comma-separated',
    description:
      'field types fixed ahead of data: `temp=float,count=int,on=bool`; see [field types](#field-types)',
  },
  'log-level': {
    key: 'logLevel',
    schema: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    default: 'info',
    description: 'what the process logs (pino levels)',
  },
  ...LISTENER_OPTIONS,
  features: {
    key: 'featuresPath',
    schema: TEXT,
    default: join(packageRoot(), 'features.default.json'),
    defaultText: '`features.default.json` of the package',
    readable: true,
    description: 'feature definitions for the live stream: see [feature definitions](#feature-definitions)',
  },
  'partial-ms': {
    key: 'partialMs',
    schema: { type: 'integer', anyOf: [{ const: 0 }, { minimum: 10, maximum: 3_600_000 }] },
    default: 0,
    description: 'send `partial` updates of open windows this often; `0`: never',
  },
  'sse-slow-client': {
    key: 'sseSlowClient',
    schema: { enum: ['gap', 'disconnect'] },
    default: 'gap',
    description:
      'an SSE client whose queue (4,096 events) is full: `gap` drops for it alone and tells it how many, `disconnect` cuts it',
  },
  'sse-heartbeat-ms': {
    key: 'sseHeartbeatMs',
    schema: ms(100, 3_600_000),
    default: 15_000,
    description: 'comment line sent on idle SSE streams, so proxies keep them open',
  },
  ...INFLUX_OPTIONS,
  ...LIMIT_OPTIONS,
  ...HTTP_SECURITY_OPTIONS,
  ...SECURITY_OPTIONS,
  ...JOB_OPTIONS,
  'clock-correction': {
    key: 'clockCorrection',
    schema: { enum: CLOCK_CORRECTIONS },
    default: DEFAULT_CLOCK_OPTIONS.mode,
    description:
      "when a reading's device time is replaced: `off`, `future-only` (only times more than 5 s in the future, clamped) or `auto` (also clocks proven wrong); see [wire-format.md](wire-format.md#time)",
  },
  'clock-correction-devices': {
    key: 'clockCorrectionDevices',
    schema: {
      type: 'object',
      propertyNames: { pattern: DEVICE_ID_PATTERN.source },
      additionalProperties: { enum: CLOCK_CORRECTIONS },
    },
    default: {},
    accepted: `device=policy, comma-separated, a policy being ${CLOCK_CORRECTIONS.join(', ')}`,
    description: 'a policy per device id, winning over `--clock-correction`: `meter-7=auto,lab-bench=off`',
  },
  'clock-stable-ms': {
    key: 'clockStableMs',
    schema: ms(1000, 86_400_000),
    default: DEFAULT_CLOCK_OPTIONS.stableSpanMs,
    description:
      "`auto`: how long, in receive time, a clock's offset must stay within 1 s before it is corrected",
  },
  'clock-stable-readings': {
    key: 'clockStableReadings',
    schema: { type: 'integer', minimum: 2, maximum: 1_000_000 },
    default: DEFAULT_CLOCK_OPTIONS.stableReadings,
    description: '`auto`: and over how many readings at least',
  },
  'shutdown-timeout-ms': {
    key: 'shutdownTimeoutMs',
    schema: ms(1000, 600_000),
    default: 8000,
    description:
      "on SIGTERM or SIGINT, commits in flight are finished and acknowledged, then everything closes; past this the process exits anyway (code 1), leaving what was not committed unacknowledged for devices to resend. Below Docker's 10 s grace by default",
    limit: {
      metric: 'the log line `shutdown took too long`',
      sees: 'readings not yet committed are not acknowledged; devices resend them',
    },
  },
  'device-idle-ms': {
    key: 'deviceIdleMs',
    schema: ms(60_000, 2_592_000_000),
    default: 600_000,
    description:
      'a device with no reading for this long (by receive time) has its open feature windows closed (`closed_by: "idle"`) and its clock and watermark state forgotten: it starts afresh when it comes back',
  },
} as const satisfies Record<string, Option>

export type Flag = keyof typeof OPTIONS

// Every field of Config has a row: a field without one fails to compile here.
type Covered = (typeof OPTIONS)[Flag]['key']
const _everyFieldHasARow: Record<Exclude<Option['key'], Covered>, never> = {}
void _everyFieldHasARow

/** The rows in table order, typed as rows. */
export const ROWS: readonly (readonly [Flag, Option])[] = Object.entries(OPTIONS) as [Flag, Option][]
