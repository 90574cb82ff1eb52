/**
 * Errors across a thread boundary: postMessage's structured clone keeps an
 * Error's message but not its class or its own fields (code, statusCode,
 * parameter). The sender turns the error into a plain object; the receiver
 * makes it an instance of the same registry class again, so a store error
 * in the worker reaches the API with its code and HTTP status.
 */

import * as registry from './errors.js'
import { TelemetryError } from './errors.js'

/** An error as a structured-clone-safe object. */
export interface ErrorRecord {
  readonly name: string
  readonly message: string
  readonly stack: string | undefined
  /** The error's own enumerable fields: code, statusCode, parameter, ... */
  readonly fields: Record<string, unknown>
}

const CLASSES = new Map<string, typeof TelemetryError>(
  Object.values(registry)
    .filter(
      (v): v is typeof TelemetryError =>
        typeof v === 'function' && (v === TelemetryError || v.prototype instanceof TelemetryError),
    )
    .map((c) => [c.name, c]),
)

export function errorRecord(err: unknown): ErrorRecord {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), stack: undefined, fields: {} }
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(err)) if (key !== 'cause') fields[key] = value
  let cloneable: Record<string, unknown> = {}
  try {
    cloneable = structuredClone(fields)
  } catch {
    // A field that cannot cross (a function, a socket): the name and message still do.
  }
  return { name: err.name, message: err.message, stack: err.stack, fields: cloneable }
}

/** The error again: an instance of its registry class when it had one, else an Error of the same name and message. */
export function reviveError(record: ErrorRecord): Error {
  const cls = CLASSES.get(record.name)
  const err = cls === undefined ? new Error(record.message) : (Object.create(cls.prototype) as Error)
  Object.assign(err, record.fields)
  Object.defineProperty(err, 'message', { value: record.message, writable: true, configurable: true })
  Object.defineProperty(err, 'stack', { value: record.stack, writable: true, configurable: true })
  if (cls === undefined && record.name !== 'Error') err.name = record.name
  return err
}
