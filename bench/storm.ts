/**
 * A connection storm: many devices whose CONNECTs start evenly spread over a
 * few seconds, as a fleet does after a power cut or a broker restart. It
 * publishes nothing; each connection is held open until every device has its
 * CONNACK (or has failed), so the server carries them all at once.
 *
 *   start i at i × spread / devices ─▶ CONNACK (latency from connect())
 *                                    ─▶ all settled or deadline ─▶ close all
 */

import { performance } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import { LatencyHistogram, type LatencySummary } from '../simulators/index.js'

export interface StormOptions {
  readonly url: string
  readonly devices: number
  /** The CONNECT starts are spread evenly over this, ms. */
  readonly spreadMs: number
  /** Each device gives up on its CONNACK after this, ms. */
  readonly connectTimeoutMs: number
  /** Client ids are `<idPrefix><i>`. */
  readonly idPrefix: string
}

export interface StormResult {
  readonly devices: number
  readonly connected: number
  /** CONNACK with a non-zero return code, or the TCP connection refused. */
  readonly refused: number
  /** Timed out, or closed or failed before a CONNACK. */
  readonly failed: number
  /** Connected, then closed by the server before the storm ended. */
  readonly dropped: number
  /** From the first CONNECT start to the last CONNACK, ms; NaN unless every device connected. */
  readonly allConnectedMs: number
  /** From the last CONNECT's start to the last CONNACK, ms: the server's tail once the storm has passed. */
  readonly afterLastStartMs: number
  /** From each device's connect() call to its CONNACK. */
  readonly connack: LatencySummary
  /** How late the latest CONNECT started against its schedule, ms: the storm generator's own lag. */
  readonly maxStartLagMs: number
  readonly errorSamples: readonly string[]
}

const TICK_MS = 1
/** After the last start and its connect timeout, the storm gives up on anything still pending. */
const DEADLINE_SLACK_MS = 2000
const CLOSE_TIMEOUT_MS = 5000
const MAX_ERROR_SAMPLES = 5

type Outcome = 'connected' | 'refused' | 'failed'

export async function runStorm(o: StormOptions): Promise<StormResult> {
  const latency = new LatencyHistogram()
  const clients: MqttClient[] = []
  const counts: Record<Outcome, number> = { connected: 0, refused: 0, failed: 0 }
  const errorSamples: string[] = []
  let dropped = 0
  let ending = false
  let lastConnackAt = Number.NaN
  let maxStartLagMs = 0
  let lastStartAt = Number.NaN
  const spacingMs = o.spreadMs / o.devices
  const t0 = performance.now()

  const start = (i: number): void => {
    const startedAt = performance.now()
    maxStartLagMs = Math.max(maxStartLagMs, startedAt - (t0 + i * spacingMs))
    lastStartAt = startedAt
    const client = mqtt.connect(o.url, {
      clientId: `${o.idPrefix}${i}`,
      clean: true,
      protocolVersion: 4,
      // A refused or lost connection is what is counted, not hidden behind a retry.
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      keepalive: 60,
    })
    clients.push(client)
    let outcome: Outcome | null = null
    const settle = (what: Outcome, detail?: string): void => {
      if (outcome !== null) return
      outcome = what
      counts[what]++
      if (detail !== undefined && errorSamples.length < MAX_ERROR_SAMPLES)
        errorSamples.push(`${o.idPrefix}${i}: ${detail}`)
    }
    client.once('connect', () => {
      const now = performance.now()
      latency.record(now - startedAt)
      lastConnackAt = now
      settle('connected')
    })
    // Stays attached: a client's later errors must not surface as unhandled events.
    client.on('error', (err: Error & { code?: unknown }) => {
      // [MQTT-3.2.2-5] a CONNACK with a non-zero return code refuses the connection; mqtt.js
      // reports it as an error whose code is that return code.
      const refused = typeof err.code === 'number' || err.code === 'ECONNREFUSED'
      settle(refused ? 'refused' : 'failed', err.message)
    })
    client.once('close', () => {
      if (outcome === 'connected' && !ending) dropped++
      settle('failed', 'closed before CONNACK')
    })
  }

  const settled = (): number => counts.connected + counts.refused + counts.failed
  await new Promise<void>((resolve) => {
    const deadline = t0 + o.spreadMs + o.connectTimeoutMs + DEADLINE_SLACK_MS
    let next = 0
    const tick = (): void => {
      const now = performance.now()
      while (next < o.devices && now - t0 >= next * spacingMs) start(next++)
      if ((next === o.devices && settled() === o.devices) || now > deadline) {
        clearInterval(timer)
        resolve()
      }
    }
    const timer = setInterval(tick, TICK_MS)
    tick()
  })

  // Still pending at the deadline: neither connected nor refused in time.
  const pending = o.devices - settled()
  const final = { ...counts, failed: counts.failed + pending }
  if (pending > 0 && errorSamples.length < MAX_ERROR_SAMPLES)
    errorSamples.push(`${pending} still waiting for a CONNACK at the deadline`)
  ending = true
  await Promise.all(clients.map(close))

  return {
    devices: o.devices,
    connected: final.connected,
    refused: final.refused,
    failed: final.failed,
    dropped,
    allConnectedMs: final.connected === o.devices ? lastConnackAt - t0 : Number.NaN,
    afterLastStartMs: final.connected === o.devices ? lastConnackAt - lastStartAt : Number.NaN,
    connack: latency.summary(),
    maxStartLagMs,
    errorSamples,
  }
}

function close(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)
    client.end(true, {}, () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
