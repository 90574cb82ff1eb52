/**
 * The parameters the routes share, as TypeBox schemas (the routes' types
 * come from them through @fastify/type-provider-typebox). Fastify's ajv
 * checks them before a handler runs; a failure becomes a 400 naming its
 * parameter (validationError). What a schema cannot say, such as a device
 * or field the system does not know, or a range, the handlers check.
 */

import type { FastifyReply, FastifySchemaValidationError, FastifyServerOptions } from 'fastify'
import { Type } from 'typebox'
import { InvalidParameterError, UnknownDeviceError } from '../core/errors.js'
import { DEVICE_ID_PATTERN, nowNs } from '../core/telemetry.js'
import { parseTimeArg } from '../core/time.js'

/**
 * `a,b,c`: at most `max` items, each matching one of `item`, separated by
 * commas (blanks around an item are dropped, as a hand-typed URL has them).
 */
export function listParam(item: readonly RegExp[], max: number, description: string) {
  const one = `\\s*(?:${item.map((p) => p.source.replace(/^\^|\$$/g, '')).join('|')})\\s*`
  return Type.String({ pattern: `^${one}(?:,${one}){0,${max - 1}}$`, description })
}

/** The items of a list the schema has checked. */
export function items(list: string): string[] {
  return list.split(',').map((s) => s.trim())
}

/** `device=a,b` or `device=*`, for the routes that serve every device. */
export const devicesParam = listParam(
  [/^\*$/, DEVICE_ID_PATTERN],
  1000,
  'device ids separated by commas (at most 1000), or *',
)

/**
 * The devices a `devicesParam` names, or null for every device. With
 * `knowsDevice` (history), each must be known, else 400 TLM_ERR_UNKNOWN_DEVICE.
 */
export function devices(list: string, knowsDevice?: (device: string) => boolean): string[] | null {
  const named = items(list)
  if (named.includes('*')) return null
  for (const d of named) if (knowsDevice !== undefined && !knowsDevice(d)) throw new UnknownDeviceError(d)
  return named
}

/** A time: RFC 3339, epoch milliseconds, `now` or before now (`-15m`). */
const TIME_FORMAT = 'rfc3339-or-epoch-ms'

const parseTime = (text: string): bigint | null => parseTimeArg(text, nowNs())

export const timeParam = Type.String({
  format: TIME_FORMAT,
  description: 'RFC 3339, epoch milliseconds, now, or a time before now (-30s, -15m, -2h, -7d)',
})

/** A time the schema has checked, to epoch ns. */
export function timeNs(text: string | undefined): bigint | undefined {
  return text === undefined ? undefined : (parseTime(text) ?? undefined)
}

/** The formats these schemas use, for ajv. */
export const SCHEMA_FORMATS = { [TIME_FORMAT]: (text: string) => parseTime(text) !== null }

/** What ajv adds to an error with `verbose: true`. */
interface VerboseError extends FastifySchemaValidationError {
  readonly data?: unknown
  readonly parentSchema?: SchemaNode
}

interface SchemaNode {
  readonly type?: string
  readonly title?: string
  readonly description?: string
  readonly minimum?: number
  readonly maximum?: number
  readonly properties?: Readonly<Record<string, SchemaNode>>
}

/**
 * Fastify's schemaErrorFormatter: the first problem as a 400 that names its
 * parameter (a schema's `title` when the name a client knows differs, as for
 * a header), and says what the parameter takes.
 */
export const validationError: NonNullable<FastifyServerOptions['schemaErrorFormatter']> = (
  errors,
  dataVar,
) => {
  const error = errors[0] as VerboseError
  const required = error.keyword === 'required'
  const property = required ? String(error.params.missingProperty) : error.instancePath.split('/')[1]
  const schema = required ? error.parentSchema?.properties?.[property ?? ''] : error.parentSchema
  const parameter = schema?.title ?? property ?? dataVar
  const description = schema?.description === undefined ? '' : ` (${schema.description})`
  let problem: string
  if (required) problem = `required${description}`
  // A query string or header holds a list where the schema wants one value.
  else if (error.keyword === 'type' && Array.isArray(error.data) && dataVar !== 'body')
    problem = 'given more than once'
  else if (error.keyword === 'enum')
    problem = `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`
  else if (schema?.type === 'integer' && schema.minimum !== undefined && schema.maximum !== undefined)
    problem = `must be an integer from ${schema.minimum} to ${schema.maximum}`
  else if (description !== '') problem = `${shortJson(error.data)} is not valid${description}`
  else problem = error.message ?? 'is not valid'
  return new InvalidParameterError(parameter, problem)
}

/** A value for a message: a list of 10,000 ids is not quoted whole. */
function shortJson(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value)
  return json.length <= 80 ? json : `${json.slice(0, 77)}...`
}

/**
 * Aborted once the response closes: when the client went away, the store
 * interrupts the query behind it (src/store/query-gate.ts) instead of
 * computing rows nobody will read. After a complete response it aborts
 * nothing, since the query has ended; that is why no "finished" test is
 * made (an HTTP/2 response cancelled by its client says finished too).
 */
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  const raw = reply.raw as typeof reply.raw & { stream?: { destroyed: boolean } }
  const gone = () => controller.abort(new Error('the client went away'))
  // Gone already (an HTTP/2 stream cancelled while the request was parsed): 'close' has been and gone.
  if (raw.destroyed || raw.stream?.destroyed) gone()
  else raw.once('close', gone)
  return controller.signal
}
