/**
 * What a simulated fleet does: its size, rate, protocol settings, profile and
 * faults, with defaults and limits, checked once before it starts.
 */

import { performance } from 'node:perf_hooks'
import type { FaultRates } from './faults.js'
import type { LatencySummary } from './latency.js'
import { loadProfile, type Profile } from './profile.js'

export interface SimulationOptions {
  /** Virtual devices, one MQTT connection each. */
  readonly devices: number
  /** Readings per second per device; Infinity sends as fast as the in-flight window allows. */
  readonly ratePerSecond: number
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string
  /** How long devices publish, ms. Default 10000. */
  readonly durationMs: number
  /** Readings per device at most. Default: rate × duration (required when the rate is Infinity). */
  readonly readingsPerDevice: number
  /** Default 1. */
  readonly qos: 0 | 1 | 2
  /** MQTT clean session. Default true; false keeps the session (and QoS 1/2 state) across reconnects. */
  readonly clean: boolean
  /** Wrap each reading in the CRC-32C envelope. Default true. */
  readonly wrap: boolean
  /** Unacknowledged publishes per device before it holds back. Default 1000. */
  readonly maxInFlight: number
  /** Spread the connections evenly over this many ms; 0 connects in batches of 100. Default 0. */
  readonly rampUpMs: number
  /** Wait for acknowledgements still owed once publishing stops, ms. Default 10000. */
  readonly drainTimeoutMs: number
  /** Wait for each CONNACK, ms. Default 10000. */
  readonly connectTimeoutMs: number
  /** Client and device ids are `<idPrefix><i>`. Default `sim-`. */
  readonly idPrefix: string
  /**
   * MQTT username of every device. `{device}` in it stands for the device's
   * id, so `{device}` makes each device its own user: what the server's
   * default policy (and an ACL of `pattern write devices/%u/telemetry`)
   * needs. Default none.
   */
  readonly username?: string
  /** MQTT password, `{device}` likewise; only with a username [MQTT-3.1.2-22]. Default none. */
  readonly password?: string
  /** The devices' `boot`. Default: this process's start, epoch seconds. */
  readonly boot: number
  /** Device types and signals. Default simulators/profiles/default.json. */
  readonly profile: Profile
  /** Tags on every reading, over the device type's. Default none. */
  readonly tags: Readonly<Record<string, string>>
  /** Faults to inject, by rate (faults.ts). Default none. */
  readonly faults: FaultRates
  /** The server's packet limit, which an oversized payload exceeds. Default 262144. */
  readonly maxPacketBytes: number
  /** Keep a ground-truth entry for every reading (SimulationSummary.truth). Default false. */
  readonly keepTruth: boolean
  /** Stops publishing early (the drain and summary still happen). */
  readonly signal?: AbortSignal
  /**
   * Called for each acknowledged reading, e.g. to check later that the system
   * stored it; `latencyMs` is from its publish to its acknowledgement.
   */
  readonly onAck?: (device: number, seq: number, latencyMs: number) => void
  /** Called once a second while the fleet runs. */
  readonly onProgress?: (p: Progress) => void
}

export type SimulationInput = Partial<SimulationOptions> &
  Pick<SimulationOptions, 'devices' | 'ratePerSecond' | 'url'>

export const DEFAULT_SIMULATION_OPTIONS = Object.freeze({
  durationMs: 10_000,
  qos: 1 as const,
  clean: true,
  wrap: true,
  maxInFlight: 1000,
  rampUpMs: 0,
  drainTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  idPrefix: 'sim-',
  tags: Object.freeze({}),
  faults: Object.freeze({}),
  maxPacketBytes: 256 * 1024,
  keepTruth: false,
})

export const SIMULATION_LIMITS = Object.freeze({
  maxDevices: 10_000,
  maxRatePerSecond: 100_000,
  maxDurationMs: 24 * 3600_000,
  maxInFlight: 65_535,
})

export interface Progress {
  readonly elapsedMs: number
  readonly connected: number
  readonly devices: number
  readonly sent: number
  readonly acknowledged: number
  /** Acknowledgements per second over the last interval. */
  readonly ackedPerSecond: number
  /** Publish to acknowledgement over the last interval. */
  readonly latency: LatencySummary
  readonly reconnects: number
}

/** Problems with the options, one message each; empty when they are fine. */
export function checkSimulationOptions(o: SimulationOptions): string[] {
  const problems: string[] = []
  const intIn = (name: string, v: number, lo: number, hi: number): void => {
    if (!Number.isInteger(v) || v < lo || v > hi)
      problems.push(`${name} must be an integer from ${lo} to ${hi}, got ${v}`)
  }
  intIn('devices', o.devices, 1, SIMULATION_LIMITS.maxDevices)
  const rate = o.ratePerSecond
  if (!(rate === Number.POSITIVE_INFINITY || (rate > 0 && rate <= SIMULATION_LIMITS.maxRatePerSecond)))
    problems.push(
      `rate must be above 0 and at most ${SIMULATION_LIMITS.maxRatePerSecond} per device, or max; got ${rate}`,
    )
  intIn('duration (ms)', o.durationMs, 1, SIMULATION_LIMITS.maxDurationMs)
  if (![0, 1, 2].includes(o.qos)) problems.push(`qos must be 0, 1 or 2, got ${o.qos}`)
  intIn('maxInFlight', o.maxInFlight, 1, SIMULATION_LIMITS.maxInFlight)
  intIn('rampUpMs', o.rampUpMs, 0, 3_600_000)
  intIn('drainTimeoutMs', o.drainTimeoutMs, 0, 600_000)
  intIn('connectTimeoutMs', o.connectTimeoutMs, 1, 600_000)
  intIn('maxPacketBytes', o.maxPacketBytes, 1, 256 * 1024 * 1024)
  if (!Number.isFinite(rate) && o.readingsPerDevice === Number.POSITIVE_INFINITY)
    problems.push('a rate of max needs a count of readings per device')
  else if (o.readingsPerDevice < 1 || !Number.isInteger(o.readingsPerDevice))
    problems.push(`rate × duration must give at least one reading per device (got ${o.readingsPerDevice})`)
  if (!/^[A-Za-z0-9._-]{0,56}$/.test(o.idPrefix))
    problems.push(`id prefix ${JSON.stringify(o.idPrefix)} is not valid in a device id`)
  if (!/^mqtts?:\/\/[^/]+(:\d+)?\/?$/.test(o.url))
    problems.push(`url must look like mqtt://host:port, got ${JSON.stringify(o.url)}`)
  if (o.password !== undefined && o.username === undefined)
    problems.push('a password needs a username (MQTT 3.1.1 sends no password without one)')
  if (!Number.isSafeInteger(o.boot) || o.boot < 0)
    problems.push(`boot must be an unsigned integer, got ${o.boot}`)
  return problems
}

export function resolveSimulationOptions(input: SimulationInput): SimulationOptions {
  const durationMs = input.durationMs ?? DEFAULT_SIMULATION_OPTIONS.durationMs
  const byRate = Number.isFinite(input.ratePerSecond)
    ? Math.floor((input.ratePerSecond * durationMs) / 1000 + 1e-9)
    : Number.POSITIVE_INFINITY
  return {
    ...DEFAULT_SIMULATION_OPTIONS,
    boot: Math.floor(performance.timeOrigin / 1000),
    ...input,
    profile: input.profile ?? loadProfile(),
    durationMs,
    readingsPerDevice: Math.min(byRate, input.readingsPerDevice ?? Number.POSITIVE_INFINITY),
  }
}
