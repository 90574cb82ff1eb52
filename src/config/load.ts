/**
 * Reading the configuration (docs/configuration.md): each option from its
 * flag, else its variable, else the config file, else its default; all
 * checked at once against the table's schemas, every problem reported
 * together, then frozen.
 */

import { accessSync, constants, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { ErrorObject } from 'ajv'
import type { Config } from '../config.js'
import { ConfigError } from '../core/errors.js'
import { exposureProblems } from './exposure.js'
import { listenerRelations } from './listener-options.js'
import { variableOf } from './option-row.js'
import { type Flag, OPTIONS, ROWS } from './options.js'
import { accepted, fromText, validateSettings } from './schema.js'

/** A value someone gave, and where: `--mqtt-port`, `MQTT_PORT`, `site.json: mqtt-port`. */
interface Given {
  readonly value: unknown
  /** As given: the text of a flag or variable, the JSON value of the file. */
  readonly shown: unknown
  readonly source: string
  readonly fromFile: boolean
}

/** Whether the command line asks for `--help` (or `-h`): answered before anything is read or checked. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h')
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  return readCommandLine(argv, env).config
}

/**
 * The command line of `npm start`: the configuration, and
 * whether to print it instead of running (`--print-config`).
 */
export function readCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): { config: Config; printConfig: boolean } {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(
          [...ROWS.map(([flag]) => flag), 'config'].map((f) => [f, { type: 'string' as const }]),
        ),
        'print-config': { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (err) {
    // A renamed or mistyped flag fails loudly rather than being ignored.
    throw new ConfigError([(err as Error).message], { cause: err })
  }
  const problems: string[] = []
  const path = (values.config as string | undefined) ?? (env.CONFIG === '' ? undefined : env.CONFIG)
  const file = path === undefined ? {} : readFile(path, problems)

  const given = new Map<string, Given>()
  for (const [key, value] of Object.entries(file))
    given.set(key, { value, shown: value, source: `${path}: ${key}`, fromFile: true })
  for (const [flag, option] of ROWS) {
    const variable = env[variableOf(flag)]
    const [text, source] =
      values[flag] !== undefined ? [values[flag], `--${flag}`] : [variable || undefined, variableOf(flag)]
    if (typeof text === 'string')
      given.set(flag, { value: fromText(option.schema, text), shown: text, source, fromFile: false })
  }
  // fromEntries, not assignment: a file's "__proto__" key stays a key, to be refused.
  const settings: Record<string, unknown> = Object.fromEntries([
    ...ROWS.filter(([, option]) => option.default !== undefined).map(([flag, o]) => [flag, o.default]),
    ...[...given].map(([key, { value }]) => [key, value]),
  ])

  if (!validateSettings(settings))
    problems.push(...describeErrors(validateSettings.errors ?? [], given, path))
  problems.push(...relations(given, settings))
  problems.push(
    ...exposureProblems({
      host: String(settings.host),
      passwordFile: (settings['password-file'] as string | undefined) ?? null,
      tokensFile: (settings['tokens-file'] as string | undefined) ?? null,
      allowAnonymous: (settings['allow-anonymous'] as boolean | undefined) ?? null,
    }),
  )
  for (const [flag, option] of ROWS) {
    const file = settings[flag]
    const problem = typeof file === 'string' ? option.check?.(file) : null
    if (problem) problems.push(`--${flag}: ${problem}`)
    if (option.readable !== true || typeof file !== 'string') continue
    try {
      accessSync(file, constants.R_OK)
    } catch {
      problems.push(`--${flag}: cannot read ${file}`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return { config: toConfig(settings), printConfig: values['print-config'] === true }
}

/**
 * The config file (`--config`): a JSON object whose keys are the flags'
 * names, each value of its option's schema (a number for a port, a list of
 * tags, a map of field types). A flag or variable wins over the file.
 */
function readFile(path: string, problems: string[]): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    problems.push(`--config: cannot read ${path} as JSON: ${(err as Error).message}`)
    return {}
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
    return parsed as Record<string, unknown>
  problems.push(`--config: ${path} must hold a JSON object`)
  return {}
}

/**
 * One problem per wrong option, in the option's words and with the value as
 * given; an entry of a map or list from the file by its path, as ajv says it.
 */
function describeErrors(errors: readonly ErrorObject[], given: Map<string, Given>, path?: string): string[] {
  const problems = new Map<string, number>()
  const say = (flag: string, problem: string) =>
    problems.set(problem, ROWS.findIndex(([f]) => f === flag) >>> 0)
  for (const e of errors) {
    const [, top = '', ...deeper] = e.instancePath.split('/')
    const at = given.get(top)
    if (top === '') {
      if (e.keyword === 'additionalProperties')
        say(top, `${path}: unknown key ${JSON.stringify(e.params.additionalProperty)}`)
    } else if (at === undefined) {
      say(top, `the default of --${top} is wrong: ${e.message}`)
    } else if (
      at.fromFile &&
      (deeper.length > 0 || e.keyword === 'propertyNames' || e.propertyName !== undefined)
    ) {
      if (e.keyword === 'propertyNames') continue // its pattern error names the key
      const key = e.propertyName === undefined ? '' : `key ${JSON.stringify(e.propertyName)} `
      const detail =
        e.keyword === 'enum' ? `must be one of ${e.params.allowedValues.join(', ')}` : `${key}${e.message}`
      say(top, `${path}: ${[top, ...deeper].join('.')} ${detail}`)
    } else {
      say(top, `${at.source}: ${JSON.stringify(at.shown)} must be ${accepted(top, OPTIONS[top as Flag])}`)
    }
  }
  // In table order; the file's unknown keys (not in the table) last.
  return [...problems].sort(([, a], [, b]) => a - b).map(([problem]) => problem)
}

const named = (flag: Flag) => `--${flag} (${variableOf(flag)})`
const INFLUX_FLAGS = ROWS.filter(([f, o]) => o.key.startsWith('influx.') && f !== 'influx-url').map(
  ([f]) => f,
)

/** What holds between options. */
function relations(given: Map<string, Given>, settings: Record<string, unknown>): string[] {
  const problems: string[] = []
  if (!given.has('influx-url')) {
    for (const flag of INFLUX_FLAGS) {
      const at = given.get(flag)
      if (at !== undefined) problems.push(`${at.source} needs ${named('influx-url')}`)
    }
    const history = given.get('history-source')
    if (history?.value === 'influx') problems.push(`${history.source}: influx needs ${named('influx-url')}`)
  } else {
    const {
      'influx-version': version,
      'influx-db': db,
      'influx-org': org,
      'influx-bucket': bucket,
    } = settings
    if (version === 1 && db === undefined) problems.push('--influx-version 1 needs --influx-db')
    if (version === 2 && (bucket === undefined || org === undefined))
      problems.push('--influx-version 2 needs --influx-org and --influx-bucket')
    if (version === 'auto' && db === undefined && (bucket === undefined || org === undefined))
      problems.push(
        '--influx-url needs --influx-db (InfluxDB 1.x) or --influx-org and --influx-bucket (2.x, 3.x)',
      )
  }
  if (given.has('tls-cert') !== given.has('tls-key'))
    problems.push('--tls-cert and --tls-key go together: give both or neither')
  problems.push(...listenerRelations(given, settings))
  const { 'sse-client-buffer-bytes': client, 'sse-total-buffer-bytes': total } = settings
  if (typeof client === 'number' && typeof total === 'number' && client > total)
    problems.push('--sse-client-buffer-bytes must not be more than --sse-total-buffer-bytes')
  return problems
}

/** Valid settings, keyed by flag, as the Config the process reads. */
function toConfig(settings: Record<string, unknown>): Config {
  const config: Record<string, unknown> = {}
  const influx: Record<string, unknown> = {}
  for (const [flag, option] of ROWS) {
    let value = settings[flag] ?? null
    if (option.normalize !== undefined && typeof value === 'string') value = option.normalize(value)
    if (typeof value === 'object' && value !== null)
      value = Object.freeze(Array.isArray(value) ? [...value] : { ...value })
    const [head, sub] = option.key.split('.') as [string, string | undefined]
    if (sub === undefined) config[head] = value
    else influx[sub] = value
  }
  config.influx = influx.url === null ? null : Object.freeze(influx)
  return Object.freeze(config) as unknown as Config
}

/** Every option's default: the configuration of `npm start` with nothing given. */
export const DEFAULT_CONFIG: Config = toConfig(
  Object.fromEntries(ROWS.map(([flag, option]) => [flag, option.default])),
)

/**
 * A configuration in the config file's form, which `--config` reads back to
 * the same configuration: every option with a value, secrets left out (they
 * are named in `redacted`, to be given again by their variables).
 */
export function configFile(config: Config): { file: Record<string, unknown>; redacted: string[] } {
  const file: Record<string, unknown> = {}
  const redacted: string[] = []
  for (const [flag, option] of ROWS) {
    const [head, sub] = option.key.split('.') as [
      keyof Config,
      keyof NonNullable<Config['influx']> | undefined,
    ]
    const value = sub === undefined ? config[head] : config.influx?.[sub]
    if (value === null || value === undefined) continue
    if (option.secret === true) redacted.push(flag)
    else file[flag] = value
  }
  return { file, redacted }
}
