/**
 * The one error registry. Codes are stable and never reused: clients match on
 * `code`, never on the message. Each class says whether the API exposes it and
 * with which HTTP status.
 */

export interface TelemetryErrorOptions {
  cause?: unknown
}

export class TelemetryError extends Error {
  override name = 'TelemetryError'
  readonly code: string = 'TLM_ERR_INTERNAL'
  readonly statusCode: number = 500
  constructor(message: string, options: TelemetryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
  }
}

/** A request parameter is missing or malformed; `parameter` names it. */
export class InvalidParameterError extends TelemetryError {
  override name = 'InvalidParameterError'
  override readonly code: string = 'TLM_ERR_INVALID_PARAMETER'
  override readonly statusCode = 400
  constructor(
    readonly parameter: string,
    message: string,
    options: TelemetryErrorOptions = {},
  ) {
    super(`${parameter}: ${message}`, options)
  }
}

/** A request names a device the system has never stored a reading of. */
export class UnknownDeviceError extends InvalidParameterError {
  override name = 'UnknownDeviceError'
  override readonly code = 'TLM_ERR_UNKNOWN_DEVICE'
  constructor(device: string) {
    super('device', `unknown device ${JSON.stringify(device)}`)
  }
}

/** A request names a feature the definitions file does not define. */
export class UnknownFeatureError extends InvalidParameterError {
  override name = 'UnknownFeatureError'
  override readonly code = 'TLM_ERR_UNKNOWN_FEATURE'
  constructor(feature: string) {
    super('feature', `unknown feature ${JSON.stringify(feature)}`)
  }
}

/**
 * A history range holds more windows than one request may: `fromNs` to
 * `toNs` is the part of it, from its start, that one request may ask for
 * (sent as `from` and `to`), and the next request goes on from `toNs`. Its
 * code stays TLM_ERR_INVALID_PARAMETER, as this refusal had before it
 * carried the range.
 */
export class RangeTooLargeError extends InvalidParameterError {
  override name = 'RangeTooLargeError'
  constructor(
    message: string,
    readonly fromNs: bigint,
    readonly toNs: bigint,
  ) {
    super('to', message)
  }
}

/** A configuration value is wrong; thrown once at start-up. */
export class ConfigError extends TelemetryError {
  override name = 'ConfigError'
  override readonly code = 'TLM_ERR_CONFIG'
  constructor(
    readonly problems: readonly string[],
    options: TelemetryErrorOptions = {},
  ) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`, options)
  }
}

/** No route answers this method and path. */
export class NotFoundError extends TelemetryError {
  override name = 'NotFoundError'
  override readonly code = 'TLM_ERR_NOT_FOUND'
  override readonly statusCode = 404
}

/** A request Fastify refused before any route ran (its body, its content type, its size). */
export class BadRequestError extends TelemetryError {
  override name = 'BadRequestError'
  override readonly code = 'TLM_ERR_BAD_REQUEST'
  constructor(
    message: string,
    override readonly statusCode: number,
    options: TelemetryErrorOptions = {},
  ) {
    super(message, options)
  }
}

/** GET /readyz: the store or the broker is not ready; a retry later may help. */
export class NotReadyError extends TelemetryError {
  override name = 'NotReadyError'
  override readonly code = 'TLM_ERR_NOT_READY'
  override readonly statusCode = 503
}

/**
 * The store cannot take writes or answer now: it is closed, or its database
 * failed and is being reopened. Nothing of the request was committed; a retry
 * later may succeed.
 */
export class StoreUnavailableError extends TelemetryError {
  override name = 'StoreUnavailableError'
  override readonly code = 'TLM_ERR_STORE_UNAVAILABLE'
  override readonly statusCode = 503
}

/** Too many history queries are running and waiting: retry after `retryAfterS` (sent as Retry-After). */
export class StoreBusyError extends TelemetryError {
  override name = 'StoreBusyError'
  override readonly code = 'TLM_ERR_BUSY'
  override readonly statusCode = 503
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message)
  }
}

/** A history query ran past its time limit (--query-timeout-ms) and was stopped: ask for less. */
export class QueryTimeoutError extends TelemetryError {
  override name = 'QueryTimeoutError'
  override readonly code = 'TLM_ERR_QUERY_TIMEOUT'
  override readonly statusCode = 503
}

/**
 * RFC 6750 §3: the request carries no bearer token, or one that is unknown,
 * expired or revoked. `wwwAuthenticate` is the challenge sent with the 401.
 */
export class UnauthorizedError extends TelemetryError {
  override name = 'UnauthorizedError'
  override readonly code = 'TLM_ERR_UNAUTHORIZED'
  override readonly statusCode = 401
  constructor(
    message: string,
    readonly wwwAuthenticate: string,
  ) {
    super(message)
  }
}

/** RFC 6750 §3.1 `insufficient_scope`: the token is valid but lacks the scope the route needs. */
export class ForbiddenError extends TelemetryError {
  override name = 'ForbiddenError'
  override readonly code = 'TLM_ERR_FORBIDDEN'
  override readonly statusCode = 403
  readonly wwwAuthenticate: string
  constructor(readonly scope: string) {
    super(`this token lacks the ${scope} scope`)
    this.wwwAuthenticate = `Bearer error="insufficient_scope", scope="${scope}"`
  }
}

/** Over --http-requests-per-second-per-token: retry after `retryAfterS` (sent as Retry-After). */
export class RateLimitedError extends TelemetryError {
  override name = 'RateLimitedError'
  override readonly code = 'TLM_ERR_RATE_LIMITED'
  override readonly statusCode = 429
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message)
  }
}

/** Over --sse-clients-per-token: this token already holds that many open streams. */
export class TooManyStreamsError extends TelemetryError {
  override name = 'TooManyStreamsError'
  override readonly code = 'TLM_ERR_TOO_MANY_STREAMS'
  override readonly statusCode = 429
}

/** POST /v1/admin/jobs/{name}/run: that job is running now (scheduled or asked for); its run is not repeated. */
export class JobRunningError extends TelemetryError {
  override name = 'JobRunningError'
  override readonly code = 'TLM_ERR_JOB_RUNNING'
  override readonly statusCode = 409
}

/**
 * Why the bridge refused a payload. These strings are stored with every dead
 * letter and exposed over HTTP and in metrics: they are part of the contract
 * (docs/wire-format.md) and are never renamed or reused.
 */
export const REJECT_REASONS = [
  'payload_malformed',
  'payload_truncated',
  'payload_trailing_bytes',
  'payload_too_deep',
  'json_malformed',
  'not_a_map',
  'invalid_envelope',
  'envelope_required',
  'checksum_mismatch',
  'unsupported_version',
  'missing_seq',
  'invalid_seq',
  'invalid_boot',
  'invalid_timestamp',
  // A time outside what 64-bit nanoseconds hold (1677-09-21 to 2262-04-11).
  'ts_out_of_range',
  'invalid_fields',
  'invalid_field_name',
  'invalid_tags',
  'invalid_samples',
  'field_type_conflict',
  'too_many_fields',
  'invalid_device_id',
  'duplicate_conflict',
  // Not a device's fault: InfluxDB refused the reading's line (docs/influxdb.md); payload is the line.
  'influx_rejected',
  // With --device-auth client-id: a client published on another device's topic.
  'device_not_authorized',
  // Not the device's fault: the pipeline threw on this message (a bug). Kept so it is acknowledged, not resent forever.
  'internal_error',
] as const

export type RejectReason = (typeof REJECT_REASONS)[number]

/** A payload the bridge refuses: a value, not an exception, since it is routine. */
export class Rejection {
  readonly ok = false as const
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
  ) {}
}

export function reject(reason: RejectReason, detail: string): Rejection {
  return new Rejection(reason, detail)
}
