/**
 * Configuration from flags and environment variables (docs/configuration.md).
 * Each flag has a variable; a flag wins over its variable. Everything is
 * checked once at start-up, every problem reported at once, then frozen.
 */

import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { Ajv } from 'ajv'
import { CLOCK_CORRECTIONS, type ClockCorrection, DEFAULT_CLOCK_OPTIONS } from '../bridge/index.js'
import { ConfigError } from './core/errors.js'
import { DEVICE_ID_PATTERN, type FieldKind, NAME_PATTERN } from './core/telemetry.js'
import { DEFAULT_STORE_MEMORY_MB } from './store/index.js'

export interface Config {
  /** Address both listeners bind. Default 127.0.0.1. */
  readonly host: string
  /** MQTT TCP port; 0 picks a free one. Default 1883. */
  readonly mqttPort: number
  /** HTTP port; 0 picks a free one. Default 8080. */
  readonly httpPort: number
  /** Where the store keeps its files. Default ./data. */
  readonly dataDir: string
  /** What the store's database may hold in memory, MB (10^6 bytes). Default 1000. */
  readonly storeMemoryMb: number
  /** Largest MQTT packet accepted, bytes. Default 262144. */
  readonly maxPacketBytes: number
  /** Accept payloads without the CRC-32C envelope. Default true. */
  readonly acceptUnwrapped: boolean
  /** `client-id`: a client may publish telemetry only for the device id equal to its MQTT client id. Default none. */
  readonly deviceAuth: 'none' | 'client-id'
  /** Field types fixed by configuration, e.g. `temp=float,count=int`. */
  readonly fieldTypes: Readonly<Record<string, FieldKind>>
  /** pino level. Default info. */
  readonly logLevel: string
  /** Feature definitions file (JSON). Default: features.default.json of the package. */
  readonly featuresPath: string
  /** Partial updates of open windows every this many ms; 0 for none. Default 0. */
  readonly partialMs: number
  /** What an SSE client too slow to keep up gets: `gap` (its dropped events, counted) or `disconnect`. Default gap. */
  readonly sseSlowClient: 'gap' | 'disconnect'
  /** Comment line sent to idle SSE streams every this many ms. Default 15000. */
  readonly sseHeartbeatMs: number
  /** PEM certificate for HTTPS (HTTP/2 with ALPN, and HTTP/1.1); with tlsKey. Default none: cleartext. */
  readonly tlsCert: string | null
  /** PEM private key of tlsCert. */
  readonly tlsKey: string | null
  /** Forward every stored reading to this InfluxDB (docs/influxdb.md); null: no forwarding. */
  readonly influx: InfluxConfig | null
  /** Where /v1/telemetry and /v1/windows read history: the local store, or InfluxDB. Default local. */
  readonly historySource: 'local' | 'influx'
  /** When a device's time is replaced (docs/wire-format.md, "Time"). Default future-only. */
  readonly clockCorrection: ClockCorrection
  /** Per-device clock policies, by device id; from the config file only. Default none. */
  readonly clockCorrectionDevices: Readonly<Record<string, ClockCorrection>>
  /** `auto`: receive time over which a clock's offset must stay stable before it is corrected, ms. Default 300000. */
  readonly clockStableMs: number
  /** `auto`: readings over which a clock's offset must stay stable before it is corrected. Default 30. */
  readonly clockStableReadings: number
  /** A device silent this long, by receive time, has its open windows closed and its per-device state forgotten, ms. Default 600000. */
  readonly deviceIdleMs: number
}

export interface InfluxConfig {
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
  /** Unforwarded readings, in line-protocol bytes, past which ingest is held back. Default 1 GiB. */
  readonly maxBacklogBytes: number
}

export const DEFAULT_CONFIG: Config = Object.freeze({
  host: '127.0.0.1',
  mqttPort: 1883,
  httpPort: 8080,
  dataDir: './data',
  storeMemoryMb: DEFAULT_STORE_MEMORY_MB,
  maxPacketBytes: 256 * 1024,
  acceptUnwrapped: true,
  deviceAuth: 'none',
  fieldTypes: Object.freeze({}),
  logLevel: 'info',
  tlsCert: null,
  tlsKey: null,
  featuresPath: join(packageRoot(), 'features.default.json'),
  partialMs: 0,
  sseSlowClient: 'gap',
  sseHeartbeatMs: 15_000,
  influx: null,
  historySource: 'local',
  clockCorrection: DEFAULT_CLOCK_OPTIONS.mode,
  clockCorrectionDevices: Object.freeze({}),
  clockStableMs: DEFAULT_CLOCK_OPTIONS.stableSpanMs,
  clockStableReadings: DEFAULT_CLOCK_OPTIONS.stableReadings,
  deviceIdleMs: 600_000,
})

export const DEFAULT_MAX_BACKLOG_BYTES = 1024 ** 3

/**
 * The least the store may be given. Measured, writing 2 float fields: at 16
 * MB a checkpoint failed after 44,000 readings in commits of 1,000, and
 * DuckDB invalidated the database; at 24, 32 and 64 MB 2.4 million readings
 * in commits of 20,000 went in. More fields need more.
 */
const MIN_STORE_MEMORY_MB = 64

/** flag name → [environment variable, config key] */
const OPTIONS = {
  host: ['HOST', 'host'],
  'mqtt-port': ['MQTT_PORT', 'mqttPort'],
  'http-port': ['HTTP_PORT', 'httpPort'],
  'data-dir': ['DATA_DIR', 'dataDir'],
  'store-memory-mb': ['STORE_MEMORY_MB', 'storeMemoryMb'],
  'max-packet-bytes': ['MAX_PACKET_BYTES', 'maxPacketBytes'],
  'accept-unwrapped': ['ACCEPT_UNWRAPPED', 'acceptUnwrapped'],
  'device-auth': ['DEVICE_AUTH', 'deviceAuth'],
  'field-types': ['FIELD_TYPES', 'fieldTypes'],
  'log-level': ['LOG_LEVEL', 'logLevel'],
  'tls-cert': ['TLS_CERT', 'tlsCert'],
  'tls-key': ['TLS_KEY', 'tlsKey'],
  features: ['FEATURES', 'featuresPath'],
  'partial-ms': ['PARTIAL_MS', 'partialMs'],
  'sse-slow-client': ['SSE_SLOW_CLIENT', 'sseSlowClient'],
  'sse-heartbeat-ms': ['SSE_HEARTBEAT_MS', 'sseHeartbeatMs'],
  'influx-url': ['INFLUX_URL', 'influx'],
  'influx-version': ['INFLUX_VERSION', 'influx'],
  'influx-token': ['INFLUX_TOKEN', 'influx'],
  'influx-org': ['INFLUX_ORG', 'influx'],
  'influx-bucket': ['INFLUX_BUCKET', 'influx'],
  'influx-db': ['INFLUX_DB', 'influx'],
  'influx-rp': ['INFLUX_RP', 'influx'],
  'influx-measurement': ['INFLUX_MEASUREMENT', 'influx'],
  'influx-tags': ['INFLUX_TAGS', 'influx'],
  'max-backlog-bytes': ['MAX_BACKLOG_BYTES', 'influx'],
  'history-source': ['HISTORY_SOURCE', 'historySource'],
  'clock-correction': ['CLOCK_CORRECTION', 'clockCorrection'],
  'clock-stable-ms': ['CLOCK_STABLE_MS', 'clockStableMs'],
  'clock-stable-readings': ['CLOCK_STABLE_READINGS', 'clockStableReadings'],
  'device-idle-ms': ['DEVICE_IDLE_MS', 'deviceIdleMs'],
} as const satisfies Record<string, readonly [string, keyof Config]>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const FIELD_KINDS: readonly string[] = ['int', 'float', 'bool']

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  let values: Record<string, string | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        [...Object.keys(OPTIONS), 'config'].map((flag) => [flag, { type: 'string' as const }]),
      ),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>
  } catch (err) {
    // A renamed or mistyped flag fails loudly rather than being ignored.
    throw new ConfigError([(err as Error).message], { cause: err })
  }

  const problems: string[] = []
  const configPath = values.config ?? (env.CONFIG === '' ? undefined : env.CONFIG)
  const file = configPath === undefined ? {} : readConfigFile(configPath, problems)
  const raw = (flag: keyof typeof OPTIONS): { value: string; source: string } | null => {
    const [variable] = OPTIONS[flag]
    if (values[flag] !== undefined) return { value: values[flag], source: `--${flag}` }
    const fromEnv = env[variable]
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: variable }
    const fromFile = file[flag]
    if (fromFile !== undefined) return { value: String(fromFile), source: `${configPath}: ${flag}` }
    return null
  }
  const port = (flag: 'mqtt-port' | 'http-port', fallback: number): number => {
    const r = raw(flag)
    if (r === null) return fallback
    const n = Number(r.value)
    if (!/^\d+$/.test(r.value) || n > 65535) {
      problems.push(`${r.source}: ${JSON.stringify(r.value)} is not a port (0 to 65535)`)
      return fallback
    }
    return n
  }
  const text = (flag: 'host' | 'data-dir' | 'log-level', fallback: string): string =>
    raw(flag)?.value ?? fallback

  const config: Config = {
    host: text('host', DEFAULT_CONFIG.host),
    mqttPort: port('mqtt-port', DEFAULT_CONFIG.mqttPort),
    httpPort: port('http-port', DEFAULT_CONFIG.httpPort),
    dataDir: text('data-dir', DEFAULT_CONFIG.dataDir),
    storeMemoryMb: DEFAULT_CONFIG.storeMemoryMb,
    maxPacketBytes: DEFAULT_CONFIG.maxPacketBytes,
    acceptUnwrapped: DEFAULT_CONFIG.acceptUnwrapped,
    deviceAuth: DEFAULT_CONFIG.deviceAuth,
    fieldTypes: {},
    logLevel: text('log-level', DEFAULT_CONFIG.logLevel),
    tlsCert: raw('tls-cert')?.value ?? null,
    tlsKey: raw('tls-key')?.value ?? null,
    featuresPath: raw('features')?.value ?? DEFAULT_CONFIG.featuresPath,
    partialMs: DEFAULT_CONFIG.partialMs,
    sseSlowClient: DEFAULT_CONFIG.sseSlowClient,
    sseHeartbeatMs: DEFAULT_CONFIG.sseHeartbeatMs,
    influx: null,
    historySource: DEFAULT_CONFIG.historySource,
    clockCorrection: DEFAULT_CONFIG.clockCorrection,
    clockCorrectionDevices: Object.freeze({
      ...(file['clock-correction-devices'] as Record<string, ClockCorrection>),
    }),
    clockStableMs: DEFAULT_CONFIG.clockStableMs,
    clockStableReadings: DEFAULT_CONFIG.clockStableReadings,
    deviceIdleMs: DEFAULT_CONFIG.deviceIdleMs,
  }

  const influxUrl = raw('influx-url')
  const influxFlags = [
    'influx-version',
    'influx-token',
    'influx-org',
    'influx-bucket',
    'influx-db',
    'influx-rp',
    'influx-measurement',
    'influx-tags',
    'max-backlog-bytes',
  ] as const
  if (influxUrl === null) {
    for (const flag of influxFlags)
      if (raw(flag) !== null) problems.push(`${raw(flag)!.source} needs --influx-url (INFLUX_URL)`)
  } else {
    if (!/^https?:\/\/[^/]+/.test(influxUrl.value))
      problems.push(
        `${influxUrl.source}: ${JSON.stringify(influxUrl.value)} must be an http:// or https:// URL`,
      )
    const versionText = raw('influx-version')?.value ?? 'auto'
    if (!['auto', '1', '2'].includes(versionText))
      problems.push(`${raw('influx-version')!.source}: ${JSON.stringify(versionText)} must be auto, 1 or 2`)
    const version = versionText === '1' ? 1 : versionText === '2' ? 2 : 'auto'
    const value = (flag: (typeof influxFlags)[number]) => raw(flag)?.value ?? null
    const db = value('influx-db')
    const bucket = value('influx-bucket')
    const org = value('influx-org')
    if (version === 1 && db === null) problems.push('--influx-version 1 needs --influx-db')
    if (version === 2 && (bucket === null || org === null))
      problems.push('--influx-version 2 needs --influx-org and --influx-bucket')
    if (version === 'auto' && db === null && (bucket === null || org === null))
      problems.push(
        '--influx-url needs --influx-db (InfluxDB 1.x) or --influx-org and --influx-bucket (2.x, 3.x)',
      )
    const measurement = value('influx-measurement') ?? 'telemetry'
    if (!NAME_PATTERN.test(measurement))
      problems.push(`--influx-measurement: ${JSON.stringify(measurement)} must match ${NAME_PATTERN}`)
    const tags = (value('influx-tags') ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '')
    for (const tag of tags)
      if (!NAME_PATTERN.test(tag) || tag === 'device')
        problems.push(`--influx-tags: ${JSON.stringify(tag)} must match ${NAME_PATTERN} and not be device`)
    let maxBacklogBytes = DEFAULT_MAX_BACKLOG_BYTES
    const backlog = raw('max-backlog-bytes')
    if (backlog !== null) {
      maxBacklogBytes = Number(backlog.value)
      if (!/^\d+$/.test(backlog.value) || maxBacklogBytes < 1024 || !Number.isSafeInteger(maxBacklogBytes))
        problems.push(
          `${backlog.source}: ${JSON.stringify(backlog.value)} must be a whole number of bytes, at least 1024`,
        )
    }
    ;(config as { influx: InfluxConfig }).influx = Object.freeze({
      url: influxUrl.value.replace(/\/+$/, ''),
      version,
      token: value('influx-token'),
      org,
      bucket,
      db,
      rp: value('influx-rp'),
      measurement,
      tags: Object.freeze(tags),
      maxBacklogBytes,
    })
  }
  const auth = raw('device-auth')
  if (auth !== null) {
    if (auth.value !== 'none' && auth.value !== 'client-id')
      problems.push(`${auth.source}: ${JSON.stringify(auth.value)} must be none or client-id`)
    else (config as { deviceAuth: string }).deviceAuth = auth.value
  }
  const history = raw('history-source')
  if (history !== null) {
    if (history.value !== 'local' && history.value !== 'influx')
      problems.push(`${history.source}: ${JSON.stringify(history.value)} must be local or influx`)
    else if (history.value === 'influx' && config.influx === null)
      problems.push(`${history.source}: influx needs --influx-url (INFLUX_URL)`)
    else (config as { historySource: string }).historySource = history.value
  }

  const clock = raw('clock-correction')
  if (clock !== null) {
    if (!(CLOCK_CORRECTIONS as readonly string[]).includes(clock.value))
      problems.push(`${clock.source}: ${JSON.stringify(clock.value)} must be ${CLOCK_CORRECTIONS.join(', ')}`)
    else (config as { clockCorrection: string }).clockCorrection = clock.value
  }
  for (const [flag, key, least, most] of [
    ['clock-stable-ms', 'clockStableMs', 1000, 86_400_000],
    ['clock-stable-readings', 'clockStableReadings', 2, 1_000_000],
    ['device-idle-ms', 'deviceIdleMs', 60_000, 2_592_000_000],
  ] as const) {
    const r = raw(flag)
    if (r === null) continue
    const n = Number(r.value)
    if (!/^\d+$/.test(r.value) || n < least || n > most)
      problems.push(`${r.source}: ${JSON.stringify(r.value)} must be a whole number from ${least} to ${most}`)
    else (config as Record<typeof key, number>)[key] = n
  }

  const slow = raw('sse-slow-client')
  if (slow !== null) {
    if (slow.value !== 'gap' && slow.value !== 'disconnect') {
      problems.push(`${slow.source}: ${JSON.stringify(slow.value)} must be gap or disconnect`)
    } else (config as { sseSlowClient: string }).sseSlowClient = slow.value
  }
  const heartbeat = raw('sse-heartbeat-ms')
  if (heartbeat !== null) {
    const n = Number(heartbeat.value)
    if (!/^\d+$/.test(heartbeat.value) || n < 100 || n > 3_600_000) {
      problems.push(`${heartbeat.source}: ${JSON.stringify(heartbeat.value)} must be 100 to 3600000 ms`)
    } else (config as { sseHeartbeatMs: number }).sseHeartbeatMs = n
  }

  const partial = raw('partial-ms')
  if (partial !== null) {
    const n = Number(partial.value)
    if (!/^\d+$/.test(partial.value) || (n !== 0 && n < 10) || n > 3_600_000) {
      problems.push(`${partial.source}: ${JSON.stringify(partial.value)} must be 0 (off) or 10 to 3600000 ms`)
    } else (config as { partialMs: number }).partialMs = n
  }

  const storeMemory = raw('store-memory-mb')
  if (storeMemory !== null) {
    const n = Number(storeMemory.value)
    if (!/^\d+$/.test(storeMemory.value) || n < MIN_STORE_MEMORY_MB || n > 1_000_000) {
      problems.push(
        `${storeMemory.source}: ${JSON.stringify(storeMemory.value)} must be ${MIN_STORE_MEMORY_MB} to 1000000 MB`,
      )
    } else (config as { storeMemoryMb: number }).storeMemoryMb = n
  }

  const maxPacket = raw('max-packet-bytes')
  if (maxPacket !== null) {
    const n = Number(maxPacket.value)
    if (!/^\d+$/.test(maxPacket.value) || n < 1024 || n > 268_435_455) {
      problems.push(
        `${maxPacket.source}: ${JSON.stringify(maxPacket.value)} must be an integer from 1024 to 268435455`,
      )
    } else (config as { maxPacketBytes: number }).maxPacketBytes = n
  }

  const unwrapped = raw('accept-unwrapped')
  if (unwrapped !== null) {
    if (unwrapped.value !== 'true' && unwrapped.value !== 'false') {
      problems.push(`${unwrapped.source}: ${JSON.stringify(unwrapped.value)} must be true or false`)
    } else (config as { acceptUnwrapped: boolean }).acceptUnwrapped = unwrapped.value === 'true'
  }

  const types = raw('field-types')
  if (types !== null) {
    const fieldTypes: Record<string, FieldKind> = {}
    for (const entry of types.value.split(',').filter((e) => e.trim() !== '')) {
      const [name, kind] = entry.split('=').map((s) => s.trim())
      if (
        name === undefined ||
        !NAME_PATTERN.test(name) ||
        kind === undefined ||
        !FIELD_KINDS.includes(kind)
      ) {
        problems.push(`${types.source}: ${JSON.stringify(entry)} must be name=int, name=float or name=bool`)
      } else fieldTypes[name] = kind as FieldKind
    }
    ;(config as { fieldTypes: Record<string, FieldKind> }).fieldTypes = Object.freeze(fieldTypes)
  }

  if ((config.tlsCert === null) !== (config.tlsKey === null)) {
    problems.push('--tls-cert and --tls-key go together: give both or neither')
  }
  for (const [flag, path] of [
    ['--tls-cert', config.tlsCert],
    ['--tls-key', config.tlsKey],
    ['--features', config.featuresPath],
  ] as const) {
    if (path === null) continue
    try {
      accessSync(path, constants.R_OK)
    } catch {
      problems.push(`${flag}: cannot read ${path}`)
    }
  }
  if (config.host === '') problems.push('host must not be empty')
  if (config.dataDir === '') problems.push('data dir must not be empty')
  if (!LOG_LEVELS.includes(config.logLevel))
    problems.push(`log level ${JSON.stringify(config.logLevel)} must be one of ${LOG_LEVELS.join(', ')}`)

  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze(config)
}

/**
 * The config file (`--config`, docs/configuration.md): a JSON object whose
 * keys are the flags' names, with the flags' values, plus what no flag can
 * say (`clock-correction-devices`). A flag or variable wins over the file;
 * an unknown key is refused, like an unknown flag.
 */
function readConfigFile(path: string, problems: string[]): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    problems.push(`--config: cannot read ${path} as JSON: ${(err as Error).message}`)
    return {}
  }
  const scalar = { type: ['string', 'number', 'boolean'] }
  const schema = {
    type: 'object',
    properties: {
      ...Object.fromEntries(Object.keys(OPTIONS).map((flag) => [flag, scalar])),
      'clock-correction-devices': {
        type: 'object',
        propertyNames: { pattern: DEVICE_ID_PATTERN.source },
        additionalProperties: { enum: CLOCK_CORRECTIONS },
      },
    },
    additionalProperties: false,
  }
  const validate = new Ajv({ allErrors: true }).compile<Record<string, unknown>>(schema)
  if (validate(parsed)) return parsed
  for (const e of validate.errors ?? []) {
    const where = `${path}: ${e.instancePath === '' ? '' : `${e.instancePath.slice(1).replaceAll('/', '.')} `}`
    if (e.keyword === 'additionalProperties')
      problems.push(`${where}unknown key ${JSON.stringify(e.params.additionalProperty)}`)
    else if (e.keyword === 'enum') problems.push(`${where}must be one of ${CLOCK_CORRECTIONS.join(', ')}`)
    else problems.push(`${where}${e.message}`)
  }
  return {}
}

/** The folder holding package.json, from src/ or from dist/src/. */
export function packageRoot(): string {
  let dir = import.meta.dirname
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}
