/**
 * `npm run simulate -- --devices N --rate R [options]` (USAGE below)
 *
 * N virtual devices, one MQTT connection each (`sim-<i>`), each publishing R
 * readings per second to `devices/sim-<i>/telemetry` for S seconds, with
 * the faults asked for, then a summary (and the ground-truth log for
 * `npm run verify`). A live progress line goes to a terminal's stderr.
 * Exit status 0 when every reading was acknowledged, 1 when not, 2 for bad
 * arguments. Ctrl-C stops publishing early and still prints the summary.
 */

import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { FAULTS, parseFaults } from './faults.js'
import {
  checkSimulationOptions,
  DEFAULT_SIMULATION_OPTIONS,
  type Progress,
  resolveSimulationOptions,
  runSimulation,
  type SimulationInput,
  type SimulationSummary,
} from './fleet.js'
import { loadProfile } from './profile.js'
import { writeTruth } from './truth.js'

export { runSimulation, type SimulationInput, type SimulationSummary } from './fleet.js'

const USAGE = `usage: npm run simulate -- --devices N --rate R [options]

  --devices N         virtual devices, one MQTT connection each (1 to 10000)
  --rate R            readings per second per device (e.g. 5, 0.5), or max
  --url URL           broker (default mqtt://127.0.0.1:1883)
  --duration S        seconds of publishing (default 10)
  --qos 0|1|2         (default 1)
  --wrap true|false   CRC-32C envelope around each reading (default true)
  --count N           readings per device at most (required with --rate max)
  --max-in-flight N   unacknowledged publishes per device (default 1000)
  --clean true|false  MQTT clean session (default true; false: persistent sessions)
  --ramp-up S         spread the connections over S seconds (default: batches of 100)
  --id-prefix P       device ids are P0, P1, … (default sim-)
  --username U        MQTT username; {device} in it is the device's id, so
                      --username '{device}' makes each device its own user
  --password P        MQTT password ({device} likewise)
  --profile FILE      device types and signals (default simulators/profiles/default.json)
  --faults SPEC       e.g. skew=0.1,late=0.01 or all=0.01; rates from 0 to 1. Faults:
                      ${FAULTS.join(', ')}
                      (docs/simulator.md says what each does and what the system must do)
  --max-packet-bytes N  the server's packet limit, for oversized payloads (default 262144)
  --truth FILE        write the ground-truth log of every reading, for npm run verify`

const FLAGS = {
  devices: { type: 'string' },
  rate: { type: 'string' },
  url: { type: 'string' },
  duration: { type: 'string' },
  qos: { type: 'string' },
  wrap: { type: 'string' },
  count: { type: 'string' },
  'max-in-flight': { type: 'string' },
  clean: { type: 'string' },
  'ramp-up': { type: 'string' },
  'id-prefix': { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  profile: { type: 'string' },
  faults: { type: 'string' },
  'max-packet-bytes': { type: 'string' },
  truth: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Flags to options, or every problem found; `help` when usage was asked for. */
export function parseSimulateArgs(
  argv: readonly string[],
): (SimulationInput & { truthPath?: string }) | { problems: string[] } | 'help' {
  let values: { [K in keyof typeof FLAGS]?: string | boolean }
  try {
    values = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values
  } catch (err) {
    return { problems: [(err as Error).message] }
  }
  if (values.help === true) return 'help'
  const problems: string[] = []
  const text = (flag: keyof typeof FLAGS): string | undefined => {
    const v = values[flag]
    return typeof v === 'string' ? v : undefined
  }
  const int = (flag: keyof typeof FLAGS): number | undefined => {
    const v = text(flag)
    if (v === undefined) return undefined
    if (!/^\d+$/.test(v)) problems.push(`--${flag} must be a whole number, got ${JSON.stringify(v)}`)
    return Number(v)
  }

  const devices = int('devices')
  if (devices === undefined) problems.push('--devices is required')
  const rateText = text('rate')
  let rate = Number.NaN
  if (rateText === undefined) problems.push('--rate is required')
  else if (rateText === 'max') rate = Number.POSITIVE_INFINITY
  else if (!/^\d+(\.\d+)?$/.test(rateText))
    problems.push(`--rate must be a number or max, got ${JSON.stringify(rateText)}`)
  else rate = Number(rateText)

  const durationText = text('duration')
  let durationMs: number = DEFAULT_SIMULATION_OPTIONS.durationMs
  if (durationText !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(durationText))
      problems.push(`--duration must be seconds, got ${JSON.stringify(durationText)}`)
    durationMs = Math.round(Number(durationText) * 1000)
  }
  const qosText = text('qos') ?? '1'
  if (!['0', '1', '2'].includes(qosText))
    problems.push(`--qos must be 0, 1 or 2, got ${JSON.stringify(qosText)}`)
  const wrapText = text('wrap') ?? 'true'
  if (wrapText !== 'true' && wrapText !== 'false')
    problems.push(`--wrap must be true or false, got ${JSON.stringify(wrapText)}`)
  const count = int('count')
  const maxInFlight = int('max-in-flight')
  const maxPacketBytes = int('max-packet-bytes')
  const cleanText = text('clean') ?? 'true'
  if (cleanText !== 'true' && cleanText !== 'false')
    problems.push(`--clean must be true or false, got ${JSON.stringify(cleanText)}`)
  const rampText = text('ramp-up')
  if (rampText !== undefined && !/^\d+(\.\d+)?$/.test(rampText))
    problems.push(`--ramp-up must be seconds, got ${JSON.stringify(rampText)}`)
  const faults = parseFaults(text('faults') ?? '')
  if ('problems' in faults) problems.push(...faults.problems.map((p) => `--faults: ${p}`))
  let profile: SimulationInput['profile']
  const profilePath = text('profile')
  if (profilePath !== undefined) {
    try {
      profile = loadProfile(profilePath)
    } catch (err) {
      problems.push(`--profile: ${(err as Error).message}`)
    }
  }
  if (problems.length > 0 || 'problems' in faults) return { problems }
  const truthPath = text('truth')

  const input: SimulationInput = {
    devices: devices!,
    ratePerSecond: rate,
    url: text('url') ?? 'mqtt://127.0.0.1:1883',
    durationMs,
    qos: Number(qosText) as 0 | 1 | 2,
    wrap: wrapText === 'true',
    ...(count === undefined ? {} : { readingsPerDevice: count }),
    ...(maxInFlight === undefined ? {} : { maxInFlight }),
    ...(maxPacketBytes === undefined ? {} : { maxPacketBytes }),
    ...(rampText === undefined ? {} : { rampUpMs: Math.round(Number(rampText) * 1000) }),
    ...(profile === undefined ? {} : { profile }),
    ...(text('id-prefix') === undefined ? {} : { idPrefix: text('id-prefix')! }),
    ...(text('username') === undefined ? {} : { username: text('username')! }),
    ...(text('password') === undefined ? {} : { password: text('password')! }),
    ...(truthPath === undefined ? {} : { truthPath, keepTruth: true }),
    clean: cleanText === 'true',
    faults,
  }
  const invalid = checkSimulationOptions(resolveSimulationOptions(input))
  return invalid.length > 0 ? { problems: invalid } : input
}

export function formatSummary(s: SimulationSummary): string {
  const ms = (v: number): string => (Number.isNaN(v) ? '-' : `${v.toFixed(2)} ms`)
  const lines = [
    `devices ${s.devices}, QoS ${s.qos}, mean payload ${s.meanPayloadBytes.toFixed(0)} bytes`,
    `sent ${s.sent}, acknowledged ${s.acknowledged} (${s.ack}), errors ${s.errors}, ` +
      `unacknowledged ${s.unacknowledged}, held back ${s.heldBack}`,
    `throughput ${s.ackedPerSecond.toFixed(1)} acknowledged/s over ${(s.elapsedMs / 1000).toFixed(2)} s`,
    `latency publish→${s.ack}: p50 ${ms(s.latency.p50Ms)}, p99 ${ms(s.latency.p99Ms)}, max ${ms(s.latency.maxMs)}`,
    `connected in ${(s.connectSpanMs / 1000).toFixed(2)} s, CONNACK p99 ${ms(s.connectLatency.p99Ms)}; reconnects ${s.reconnects}`,
  ]
  const injected = Object.entries(s.injected)
  if (injected.length > 0) lines.push(`faults injected: ${injected.map(([f, k]) => `${f} ${k}`).join(', ')}`)
  for (const e of s.errorSamples) lines.push(`error: ${e}`)
  return lines.join('\n')
}

/** One line: connected, sent, acknowledged, rate and latency of the last second. */
export function formatProgress(p: Progress): string {
  const ms = (v: number): string => (Number.isNaN(v) ? '-' : v.toFixed(1))
  return (
    `${(p.elapsedMs / 1000).toFixed(0)} s · connected ${p.connected}/${p.devices} · sent ${p.sent} · ` +
    `acked ${p.acknowledged} · ${p.ackedPerSecond.toFixed(0)}/s · ` +
    `p50 ${ms(p.latency.p50Ms)} ms p99 ${ms(p.latency.p99Ms)} ms · reconnects ${p.reconnects}`
  )
}

async function main(): Promise<void> {
  const parsed = parseSimulateArgs(process.argv.slice(2))
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if ('problems' in parsed) {
    process.stderr.write(`${parsed.problems.map((p) => `simulate: ${p}`).join('\n')}\n\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  const abort = new AbortController()
  process.once('SIGINT', () => abort.abort())
  const rate = Number.isFinite(parsed.ratePerSecond) ? `${parsed.ratePerSecond}/s` : 'max rate'
  process.stderr.write(
    `simulating ${parsed.devices} devices at ${rate} each for ${(parsed.durationMs ?? 0) / 1000} s → ${parsed.url}\n`,
  )
  const live = process.stderr.isTTY === true
  const summary = await runSimulation({
    ...parsed,
    signal: abort.signal,
    ...(live ? { onProgress: (p: Progress) => process.stderr.write(`\r\x1b[K${formatProgress(p)}`) } : {}),
  })
  if (live) process.stderr.write('\n')
  process.stdout.write(`${formatSummary(summary)}\n`)
  if (parsed.truthPath !== undefined && summary.truth !== undefined) {
    await writeTruth(parsed.truthPath, summary.truth.header, summary.truth.entries)
    process.stdout.write(`ground truth: ${summary.truth.entries.length} readings in ${parsed.truthPath}\n`)
  }
  if (summary.errors > 0 || summary.unacknowledged > 0 || summary.devices === 0) process.exitCode = 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`simulate: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
