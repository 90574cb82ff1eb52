/**
 * Feature definitions (issue 3): which field, which window, which
 * aggregations, how much lateness to allow. Read once at start-up, every
 * problem reported at once with its JSON path, then frozen. The history API of
 * issue 4 reads the same file; the store names its columns (src/store/window-sql.ts).
 */

import { readFileSync } from 'node:fs'
import { AGGREGATIONS, type Aggregation, columnName, type WindowFeature } from '../core/aggregations.js'
import { ConfigError } from '../core/errors.js'
import { NAME_PATTERN } from '../core/telemetry.js'

export { AGGREGATIONS, type Aggregation, columnName }

/** Feature names become event names and query parameters, so they are plainer than field names. */
export const FEATURE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

export const MAX_FEATURES = 256

/**
 * The longest window, 2400h (100 days): the engine keeps a window's times as
 * float64 ns after its start (src/features/aggregate.ts), exact below 2^53 ns.
 */
export const MAX_WINDOW_NS = 2400n * 3_600_000_000_000n

export interface FeatureDefinition extends WindowFeature {
  readonly name: string
}

export interface FeatureDefinitions {
  readonly features: readonly FeatureDefinition[]
}

const UNIT_NS = { h: 3_600_000_000_000n, m: 60_000_000_000n, s: 1_000_000_000n, ms: 1_000_000n } as const

const DURATION_PATTERN = /^([0-9]+)(ms|s|m|h)$/

/** "10s" → 10_000_000_000n; null when it is not an integer followed by ms, s, m or h. */
export function parseDuration(text: string): bigint | null {
  const match = DURATION_PATTERN.exec(text)
  if (match === null) return null
  return BigInt(match[1]!) * UNIT_NS[match[2] as keyof typeof UNIT_NS]
}

/** The largest unit that divides the duration exactly: 60s → "1m", 1500ms → "1500ms". */
export function formatDuration(ns: bigint): string {
  for (const [unit, unitNs] of Object.entries(UNIT_NS)) {
    if (ns % unitNs === 0n) return `${ns / unitNs}${unit}`
  }
  return `${ns}ns`
}

const ROOT_KEYS = ['features']
const FEATURE_KEYS = ['name', 'field', 'window', 'aggregations', 'grace']
const WINDOW_KEYS = ['size', 'hop']

/** Reads and validates a definitions file; problems are prefixed with the file's path. */
export function loadFeatureDefinitions(path: string): FeatureDefinitions {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new ConfigError([`${path}: ${(err as Error).message}`], { cause: err })
  }
  try {
    return parseFeatureDefinitions(value)
  } catch (err) {
    if (err instanceof ConfigError)
      throw new ConfigError(
        err.problems.map((p) => `${path}: ${p}`),
        { cause: err },
      )
    throw err
  }
}

/** Validates parsed JSON; throws one ConfigError naming every problem by its JSON path. */
export function parseFeatureDefinitions(value: unknown): FeatureDefinitions {
  const problems: string[] = []
  const features: FeatureDefinition[] = []
  if (!isObject(value)) throw new ConfigError(['(root): must be a JSON object'])
  unknownKeys(value, ROOT_KEYS, '', problems)
  const list = value.features
  if (list === undefined) problems.push('features: is required')
  else if (!Array.isArray(list)) problems.push('features: must be an array')
  else if (list.length > MAX_FEATURES)
    problems.push(`features: at most ${MAX_FEATURES} features, got ${list.length}`)
  else {
    const names = new Map<string, number>()
    const columns = new Map<string, number>()
    list.forEach((item: unknown, i) => {
      const feature = parseFeature(item, `features[${i}]`, problems)
      if (feature === null) return
      const earlier = names.get(feature.name)
      if (earlier !== undefined)
        problems.push(`features[${i}].name: "${feature.name}" is already used by features[${earlier}]`)
      else names.set(feature.name, i)
      feature.aggregations.forEach((aggregation, k) => {
        const column = columnName(feature, aggregation)
        const owner = columns.get(column)
        // Same field, size and aggregation: the history API could not tell the two apart.
        if (owner !== undefined && owner !== i)
          problems.push(
            `features[${i}].aggregations[${k}]: column "${column}" is also produced by features[${owner}]`,
          )
        else columns.set(column, i)
      })
      features.push(feature)
    })
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze({ features: Object.freeze(features) })
}

/** One feature, or null when it has a problem (recorded). */
function parseFeature(item: unknown, path: string, problems: string[]): FeatureDefinition | null {
  if (!isObject(item)) {
    problems.push(`${path}: must be an object`)
    return null
  }
  const before = problems.length
  unknownKeys(item, FEATURE_KEYS, `${path}.`, problems)

  const name = requiredString(item.name, `${path}.name`, problems)
  if (name !== null && !FEATURE_NAME_PATTERN.test(name))
    problems.push(`${path}.name: "${name}" must match ${FEATURE_NAME_PATTERN}`)
  const field = requiredString(item.field, `${path}.field`, problems)
  if (field !== null && !NAME_PATTERN.test(field))
    problems.push(`${path}.field: "${field}" is not a field name (${NAME_PATTERN})`)

  let sizeNs: bigint | null = null
  let hopNs: bigint | null = null
  const window = item.window
  if (window === undefined) problems.push(`${path}.window: is required`)
  else if (!isObject(window)) problems.push(`${path}.window: must be an object`)
  else {
    unknownKeys(window, WINDOW_KEYS, `${path}.window.`, problems)
    if (window.size === undefined) problems.push(`${path}.window.size: is required`)
    else sizeNs = positiveDuration(window.size, `${path}.window.size`, problems)
    if (sizeNs !== null && sizeNs > MAX_WINDOW_NS) {
      problems.push(
        `${path}.window.size: ${formatDuration(sizeNs)} is longer than ${formatDuration(MAX_WINDOW_NS)}`,
      )
      sizeNs = null
    }
    if (window.hop === undefined) hopNs = sizeNs
    else {
      hopNs = positiveDuration(window.hop, `${path}.window.hop`, problems)
      if (sizeNs !== null && hopNs !== null) {
        if (hopNs > sizeNs)
          problems.push(
            `${path}.window.hop: ${formatDuration(hopNs)} must not exceed the size ${formatDuration(sizeNs)}`,
          )
        else if (sizeNs % hopNs !== 0n)
          problems.push(
            `${path}.window.hop: the size ${formatDuration(sizeNs)} must be a multiple of the hop ${formatDuration(hopNs)}`,
          )
      }
    }
  }

  const aggregations = parseAggregations(item.aggregations, `${path}.aggregations`, problems)
  const graceNs = item.grace === undefined ? 0n : duration(item.grace, `${path}.grace`, problems)

  if (problems.length > before || name === null || field === null || sizeNs === null || hopNs === null)
    return null
  if (aggregations === null || graceNs === null) return null
  return Object.freeze({
    name,
    field,
    sizeNs,
    hopNs,
    graceNs,
    sizeLabel: formatDuration(sizeNs),
    aggregations,
  })
}

function parseAggregations(value: unknown, path: string, problems: string[]): readonly Aggregation[] | null {
  if (value === undefined) {
    problems.push(`${path}: is required`)
    return null
  }
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be an array`)
    return null
  }
  if (value.length === 0) {
    problems.push(`${path}: must not be empty`)
    return null
  }
  const seen = new Set<string>()
  const before = problems.length
  value.forEach((entry: unknown, k) => {
    if (typeof entry !== 'string' || !(AGGREGATIONS as readonly string[]).includes(entry))
      problems.push(`${path}[${k}]: ${JSON.stringify(entry)} must be one of ${AGGREGATIONS.join(', ')}`)
    else if (seen.has(entry)) problems.push(`${path}[${k}]: "${entry}" is listed twice`)
    else seen.add(entry)
  })
  return problems.length > before ? null : Object.freeze([...seen] as Aggregation[])
}

function duration(value: unknown, path: string, problems: string[]): bigint | null {
  if (typeof value !== 'string') {
    problems.push(`${path}: must be a duration string such as "10s" (units ms, s, m, h)`)
    return null
  }
  const ns = parseDuration(value)
  if (ns !== null) return ns
  problems.push(
    value.startsWith('-')
      ? `${path}: "${value}" must not be negative`
      : `${path}: "${value}" is not a duration: an integer and a unit ms, s, m or h, such as "10s"`,
  )
  return null
}

function positiveDuration(value: unknown, path: string, problems: string[]): bigint | null {
  const ns = duration(value, path, problems)
  if (ns === 0n) {
    problems.push(`${path}: must be greater than zero`)
    return null
  }
  return ns
}

function requiredString(value: unknown, path: string, problems: string[]): string | null {
  if (value === undefined) problems.push(`${path}: is required`)
  else if (typeof value !== 'string') problems.push(`${path}: must be a string`)
  else return value
  return null
}

function unknownKeys(value: Record<string, unknown>, allowed: string[], prefix: string, problems: string[]) {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) problems.push(`${prefix}${key}: unknown key (allowed: ${allowed.join(', ')})`)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
