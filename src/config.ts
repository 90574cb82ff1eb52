/**
 * Configuration from flags and environment variables (docs/configuration.md).
 * Each flag has a variable; a flag wins over its variable. Everything is
 * checked once at start-up, every problem reported at once, then frozen.
 */

import { accessSync, constants, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError } from './errors.js'
import { type FieldKind, NAME_PATTERN } from './telemetry.js'

export interface Config {
  /** Address both listeners bind. Default 127.0.0.1. */
  readonly host: string
  /** MQTT TCP port; 0 picks a free one. Default 1883. */
  readonly mqttPort: number
  /** HTTP port; 0 picks a free one. Default 8080. */
  readonly httpPort: number
  /** Where the store keeps its files. Default ./data. */
  readonly dataDir: string
  /** Largest MQTT packet accepted, bytes. Default 262144. */
  readonly maxPacketBytes: number
  /** Accept payloads without the CRC-32C envelope. Default true. */
  readonly acceptUnwrapped: boolean
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
}

export const DEFAULT_CONFIG: Config = Object.freeze({
  host: '127.0.0.1',
  mqttPort: 1883,
  httpPort: 8080,
  dataDir: './data',
  maxPacketBytes: 256 * 1024,
  acceptUnwrapped: true,
  fieldTypes: Object.freeze({}),
  logLevel: 'info',
  tlsCert: null,
  tlsKey: null,
  featuresPath: join(packageRoot(), 'features.default.json'),
  partialMs: 0,
  sseSlowClient: 'gap',
  sseHeartbeatMs: 15_000,
})

/** flag name → [environment variable, config key] */
const OPTIONS = {
  host: ['HOST', 'host'],
  'mqtt-port': ['MQTT_PORT', 'mqttPort'],
  'http-port': ['HTTP_PORT', 'httpPort'],
  'data-dir': ['DATA_DIR', 'dataDir'],
  'max-packet-bytes': ['MAX_PACKET_BYTES', 'maxPacketBytes'],
  'accept-unwrapped': ['ACCEPT_UNWRAPPED', 'acceptUnwrapped'],
  'field-types': ['FIELD_TYPES', 'fieldTypes'],
  'log-level': ['LOG_LEVEL', 'logLevel'],
  'tls-cert': ['TLS_CERT', 'tlsCert'],
  'tls-key': ['TLS_KEY', 'tlsKey'],
  features: ['FEATURES', 'featuresPath'],
  'partial-ms': ['PARTIAL_MS', 'partialMs'],
  'sse-slow-client': ['SSE_SLOW_CLIENT', 'sseSlowClient'],
  'sse-heartbeat-ms': ['SSE_HEARTBEAT_MS', 'sseHeartbeatMs'],
} as const satisfies Record<string, readonly [string, keyof Config]>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const FIELD_KINDS: readonly string[] = ['int', 'float', 'bool']

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  let values: Record<string, string | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.keys(OPTIONS).map((flag) => [flag, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>
  } catch (err) {
    // A renamed or mistyped flag fails loudly rather than being ignored.
    throw new ConfigError([(err as Error).message], { cause: err })
  }

  const problems: string[] = []
  const raw = (flag: keyof typeof OPTIONS): { value: string; source: string } | null => {
    const [variable] = OPTIONS[flag]
    if (values[flag] !== undefined) return { value: values[flag], source: `--${flag}` }
    const fromEnv = env[variable]
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: variable }
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
    maxPacketBytes: DEFAULT_CONFIG.maxPacketBytes,
    acceptUnwrapped: DEFAULT_CONFIG.acceptUnwrapped,
    fieldTypes: {},
    logLevel: text('log-level', DEFAULT_CONFIG.logLevel),
    tlsCert: raw('tls-cert')?.value ?? null,
    tlsKey: raw('tls-key')?.value ?? null,
    featuresPath: raw('features')?.value ?? DEFAULT_CONFIG.featuresPath,
    partialMs: DEFAULT_CONFIG.partialMs,
    sseSlowClient: DEFAULT_CONFIG.sseSlowClient,
    sseHeartbeatMs: DEFAULT_CONFIG.sseHeartbeatMs,
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

/** The folder holding package.json, from src/ or from dist/src/. */
function packageRoot(): string {
  let dir = import.meta.dirname
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}
