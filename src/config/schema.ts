/**
 * From the option table to what reads and checks values: the text of a flag
 * or variable read into the schema's type, the words a wrong value is told,
 * and one ajv validator for the whole set of settings (the config file's
 * shape), unknown keys refused.
 */

import { Ajv } from 'ajv'
import { type Option, type OptionSchema, unitOf } from './option-row.js'
import { ROWS } from './options.js'

/**
 * A flag's or variable's text as the schema's type: `1883` a number, `true`
 * a boolean, `a,b` a list, `a=x,b=y` a map. Text that does not read is left
 * as text, for the schema to refuse with the option's own words.
 */
export function fromText(schema: OptionSchema, text: string): unknown {
  if (schema.enum !== undefined) return schema.enum.find((value) => String(value) === text) ?? text
  const items = () =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')
  switch (schema.type) {
    case 'integer':
      return /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text
    case 'array':
      return items()
    case 'object':
      return Object.fromEntries(
        items().map((item) => {
          const at = item.indexOf('=')
          // No `=`: an empty value, which no map of this table accepts.
          return at < 0 ? [item, ''] : [item.slice(0, at).trim(), item.slice(at + 1).trim()]
        }),
      )
    default:
      return text
  }
}

/** What a value must be, in words: `0 to 65535`, `none or client-id`. Shown in errors and in the docs. */
export function accepted(flag: string, option: Option): string {
  if (option.accepted !== undefined) return option.accepted
  if (option.readable === true) return 'a readable file'
  const unit = unitOf(flag)
  const words = describe(option.schema)
  return unit === null || option.schema.type !== 'integer' ? words : `${words} ${unit}`
}

function describe(schema: OptionSchema): string {
  if (schema.enum !== undefined) return list(schema.enum.map(String))
  if (schema.const !== undefined) return String(schema.const)
  if (schema.anyOf !== undefined) return schema.anyOf.map(describe).join(' or ')
  if (schema.type === 'boolean') return list(['true', 'false'])
  if (schema.pattern !== undefined) return `text matching ${schema.pattern}`
  const { minimum, maximum } = schema
  if (minimum !== undefined) return maximum === undefined ? `at least ${minimum}` : `${minimum} to ${maximum}`
  if (schema.minLength === 1) return 'non-empty text'
  return schema.type ?? 'a value'
}

const list = (values: readonly string[]): string =>
  values.length === 2 ? `${values[0]} or ${values[1]}` : values.join(', ')

/** The config file's shape, and the shape of the settings merged from every source. */
export const SETTINGS_SCHEMA = {
  type: 'object',
  properties: Object.fromEntries(ROWS.map(([flag, option]) => [flag, option.schema])),
  additionalProperties: false,
}

export const validateSettings = new Ajv({ allErrors: true }).compile<Record<string, unknown>>(SETTINGS_SCHEMA)
