/**
 * The process's configuration, as app.ts and the sinks read it. Every
 * setting is one row of the option table in `config/options.ts`, which says
 * its flag, variable, JSON Schema, default and meaning; `config/load.ts`
 * reads flags, variables and the config file from it, and
 * docs/configuration.md's table is generated from it (`npm run docs:config`).
 */

import type { ClockCorrection } from '../bridge/index.js'
import type { FieldKind } from './core/telemetry.js'

export { DEFAULT_MAX_BACKLOG_BYTES } from './config/influx-options.js'
export { configFile, DEFAULT_CONFIG, loadConfig, readCommandLine, wantsHelp } from './config/load.js'
export { packageRoot } from './config/option-row.js'

/** Units and defaults of each setting: docs/configuration.md, or `OPTIONS` in config/options.ts. */
export interface Config {
  /** Address both listeners bind. */
  readonly host: string
  /** MQTT TCP port; 0 picks a free one. */
  readonly mqttPort: number
  /** HTTP port; 0 picks a free one. */
  readonly httpPort: number
  /** Where the store keeps its files. */
  readonly dataDir: string
  /** What the store's database may hold in memory, MB (10^6 bytes). */
  readonly storeMemoryMb: number
  /** Largest MQTT packet accepted, bytes. */
  readonly maxPacketBytes: number
  /** Accept payloads without the CRC-32C envelope. */
  readonly acceptUnwrapped: boolean
  /** `client-id`: a client may publish telemetry only for the device id equal to its MQTT client id. */
  readonly deviceAuth: 'none' | 'client-id'
  /** Field types fixed by configuration, by field name. */
  readonly fieldTypes: Readonly<Record<string, FieldKind>>
  /** pino level. */
  readonly logLevel: string
  /** Feature definitions file (JSON). */
  readonly featuresPath: string
  /** Partial updates of open windows every this many ms; 0 for none. */
  readonly partialMs: number
  /** What an SSE client too slow to keep up gets: `gap` (its dropped events, counted) or `disconnect`. */
  readonly sseSlowClient: 'gap' | 'disconnect'
  /** Comment line sent to idle SSE streams every this many ms. */
  readonly sseHeartbeatMs: number
  /** PEM certificate for HTTPS (HTTP/2 with ALPN, and HTTP/1.1), with tlsKey; null: cleartext. */
  readonly tlsCert: string | null
  /** PEM private key of tlsCert. */
  readonly tlsKey: string | null
  /** MQTT over TLS port, served only with tlsCert; 0 picks a free one. */
  readonly mqttsPort: number
  /** PEM CA bundle verifying MQTT clients' certificates; null: none asked for. */
  readonly tlsCa: string | null
  /** PEM revocation lists checked with tlsCa; null: none. */
  readonly tlsCrl: string | null
  /** Refuse MQTT TLS clients without a certificate tlsCa verifies. */
  readonly requireClientCert: boolean
  /** Forward every stored reading to this InfluxDB (docs/influxdb.md); null: no forwarding. */
  readonly influx: InfluxConfig | null
  /** Where /v1/telemetry and /v1/windows read history: the local store, or InfluxDB. */
  readonly historySource: 'local' | 'influx'
  /** When a device's time is replaced (docs/wire-format.md, "Time"). */
  readonly clockCorrection: ClockCorrection
  /** Per-device clock policies, by device id, winning over clockCorrection. */
  readonly clockCorrectionDevices: Readonly<Record<string, ClockCorrection>>
  /** `auto`: receive time over which a clock's offset must stay stable before it is corrected, ms. */
  readonly clockStableMs: number
  /** `auto`: readings over which a clock's offset must stay stable before it is corrected. */
  readonly clockStableReadings: number
  /** A device silent this long, by receive time, has its open windows closed and its state forgotten, ms. */
  readonly deviceIdleMs: number
  /** On SIGTERM, exit (code 1) if shutting down takes longer, ms. Default 8000. */
  readonly shutdownTimeoutMs: number
  /** Limits (src/config/limit-options.ts, docs/operations.md). */
  readonly sseClientBufferBytes: number
  readonly sseTotalBufferBytes: number
  readonly maxFields: number
  readonly maxFieldsPerDevice: number
  readonly maxConnections: number
  /** New MQTT connections a second from one address, after a burst of ten seconds' worth; 0: no cap. */
  readonly maxConnectsPerSecondPerAddress: number
  readonly maxConnectionsPerAddress: number
  readonly maxIncompletePacketBytes: number
  readonly keepaliveZeroIdleMs: number
  readonly slowClientTimeoutMs: number
  readonly maxQueuedBytesPerClient: number
  /** PUBLISH packets a second one MQTT client may send before each waits its turn; 0: no limit. */
  readonly publishesPerSecondPerClient: number
  readonly maxQueries: number
  readonly maxQueuedQueries: number
  readonly queryTimeoutMs: number
  readonly deadLettersPerDeviceMinute: number
  readonly deadLetterMaxBytesPerSecond: number
  readonly deadLetterMaxMb: number
  /** HTTP API tokens, CORS and per-token limits (src/config/http-security-options.ts, docs/security.md). */
  readonly tokensFile: string | null
  readonly metricsOpen: boolean
  readonly corsOrigin: readonly string[]
  readonly httpRequestsPerSecondPerToken: number
  readonly sseClientsPerToken: number
  /** Device identity and ACLs (src/config/security-options.ts, docs/security.md); null: not given. */
  readonly passwordFile: string | null
  readonly aclFile: string | null
  readonly allowAnonymous: boolean | null
  /** Maintenance jobs (src/config/job-options.ts, docs/operations.md): the retention job's cron schedule, or `off`. */
  readonly retentionSchedule: string
  /** Raw readings older than this (event time) are deleted by retention: a duration such as `30d`. */
  readonly retainRaw: string
  /** Dead letters older than this (receive time) are deleted by retention. */
  readonly retainDeadLetters: string
}

export interface InfluxConfig {
  /** Without a trailing slash. */
  readonly url: string
  /** 1: /write?db=&rp= (InfluxDB 1.x); 2: /api/v2/write (1.8+, 2.x, 3.x); auto: by /ping's version header. */
  readonly version: 'auto' | 1 | 2
  readonly token: string | null
  readonly org: string | null
  readonly bucket: string | null
  /** InfluxDB 1.x database and retention policy. */
  readonly db: string | null
  readonly rp: string | null
  readonly measurement: string
  /** Reading tags written as InfluxDB tags (device always is). */
  readonly tags: readonly string[]
  /** Unforwarded readings, in line-protocol bytes, past which ingest is held back. */
  readonly maxBacklogBytes: number
}
