/**
 * What a row of the option table (options.ts) is, and the names that come
 * from its flag: the variable, the unit.
 */

import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Config, InfluxConfig } from '../config.js'

/** The JSON Schema keywords the table uses. */
export interface OptionSchema {
  readonly type?: 'string' | 'integer' | 'boolean' | 'array' | 'object'
  readonly enum?: readonly (string | number)[]
  readonly const?: number
  readonly minimum?: number
  readonly maximum?: number
  readonly minLength?: number
  readonly pattern?: string
  readonly anyOf?: readonly OptionSchema[]
  readonly items?: OptionSchema
  readonly propertyNames?: OptionSchema
  readonly additionalProperties?: OptionSchema
}

export interface Option {
  /** Where the value lands in Config. */
  readonly key: Exclude<keyof Config, 'influx'> | `influx.${keyof InfluxConfig}`
  /** The value as the config file holds it; a flag's or variable's text is read into this type. */
  readonly schema: OptionSchema
  /** Absent: no value unless one is given (null in Config). */
  readonly default?: unknown
  /** The default as the docs show it, where the value is not for readers (a path of this machine). */
  readonly defaultText?: string
  /** Markdown, for docs/configuration.md. */
  readonly description: string
  /** What a wrong value is told it must be, where the schema cannot say it in words. */
  readonly accepted?: string
  /** A file that must be readable at start. */
  readonly readable?: true
  /** What is wrong with a value the schema accepts (a cron expression node-cron refuses); null when nothing. */
  readonly check?: (value: string) => string | null
  /** Left out of `--print-config`. */
  readonly secret?: true
  /** Applied to a valid value. */
  readonly normalize?: (value: string) => string
  /** A bound on what a client, query or device may cost: docs/operations.md lists it. */
  readonly limit?: Limit
}

export interface Limit {
  /** The metric that counts it being hit (Markdown). */
  readonly metric: string
  /** What a client sees when it hits it (Markdown). */
  readonly sees: string
}

export const TEXT = { type: 'string', minLength: 1 } as const

/** `max-backlog-bytes` → `MAX_BACKLOG_BYTES`. */
export const variableOf = (flag: string): string => flag.toUpperCase().replaceAll('-', '_')

/** The unit a name ends with, as a reader writes it. */
export function unitOf(flag: string): string | null {
  const unit = /-(ms|mb|bytes)$/.exec(flag)?.[1]
  return unit === undefined ? null : unit === 'mb' ? 'MB' : unit
}

/** The folder holding package.json, from src/ or from dist/src/. */
export function packageRoot(): string {
  let dir = import.meta.dirname
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}
