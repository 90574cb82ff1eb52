/**
 * The soak of issue 21 (item 8), shared by `npm run soak` (bench/soak.ts)
 * and its 30 s version in CI (test/e2e/soak.test.ts): the app as a process,
 * a legitimate fleet for the whole run, and every attack (attacks.ts) in
 * its second half.
 *
 *   0 ──── phase 1: the fleet alone ──── half ──── phase 2: fleet + attacks ──── end
 *   every second: /readyz and VmRSS              after: every reading read back once
 *
 * One run gives a row of figures; soakChecks() says whether it passed, the
 * same words for the test's assertions and bench/RESULTS.md.
 */

import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { type Figure, fmt, num, type Row, verdict } from '../../bench/doc.js'
import { LatencyHistogram, runSimulation } from '../../simulators/index.js'
import type { AttackCounts, AttackPlan, AttackSizes } from './attacks.js'
import { metricIn, scrape } from './http.js'
import { memoryMb, UsageSampler } from './probes.js'
import { REPO_ROOT, sleep, spawnApp, track } from './process.js'
import { AckLedger, checkStored, scrapeCounters } from './stored.js'

/** The attacks of `npm run soak`, as the issue measured them. */
export const SOAK_ATTACKS: AttackSizes = {
  ...{ fieldDevices: 8, junkBigPerS: 50, junkSmallPerS: 500, junkDevices: 1000, deadLetterReaders: 8 },
  ...{ windowsBurst: 300, sseClients: 1000, halfOpen: 2000, poisonPerS: 12 },
}
export const SOAK_FLEET = { devices: 100, ratePerSecond: 10 } as const
/** Phase 2's PUBACK p99 at most this multiple of phase 1's (the issue's criterion). */
export const P99_RATIO = 3
/**
 * Phase 1's first seconds (the fleet connecting, the server's JIT warming)
 * are left out of its latency: the baseline is the steady state.
 */
const WARMUP_MS = 2000
/** A /readyz slower than this counts as no answer: Kubernetes' default readiness timeout (1 s). */
const READY_TIMEOUT_MS = 1000
/** The attack process, compiled (`npm run build`): its own event loop, not the fleet's. */
const ATTACKS_JS = join(REPO_ROOT, 'dist', 'test', 'helpers', 'attacks.js')

export interface SoakOptions {
  readonly durationS: number
  readonly rssBudgetMb: number
  readonly attacks: AttackSizes
  /** More flags for the app (a test may take a protection away with one). */
  readonly serverArgs?: readonly string[]
  readonly log?: (line: string) => void
}

/** Runs the soak once; the figures are flat, the attack process's counts as `attack.<name>`, the app's as `server.<metric>`. */
export async function runSoak(o: SoakOptions): Promise<Row> {
  const log = o.log ?? (() => undefined)
  const app = await spawnApp({ args: o.serverArgs ?? [] })
  let exitedWith: number | string | null = null
  void app.exited.then((code) => {
    exitedWith = code
  })
  try {
    const [durationMs, half] = [o.durationS * 1000, o.durationS * 500]
    const { devices, ratePerSecond } = SOAK_FLEET
    const ledger = new AckLedger(devices, ratePerSecond * o.durationS)
    const [latency, rssMax] = [
      [new LatencyHistogram(), new LatencyHistogram()],
      [0, 0],
    ]
    const ready = { samples: 0, failures: 0, maxMs: 0, firstFailure: '' }
    const [before, startMs, t0] = [await scrapeCounters(app.httpUrl), Date.now(), performance.now()]
    const phase = (): 0 | 1 => (performance.now() - t0 < half ? 0 : 1)
    const usage = new UsageSampler(app.pid)
    const lag = monitorEventLoopDelay({ resolution: 10 })
    lag.enable()
    const probe = async (): Promise<void> => {
      const [p, at] = [phase(), performance.now()]
      let why = ''
      try {
        const r = await fetch(`${app.httpUrl}/readyz`, { signal: AbortSignal.timeout(READY_TIMEOUT_MS) })
        await r.arrayBuffer()
        if (r.status !== 200) why = `status ${r.status}`
      } catch (err) {
        why = (err as Error).name
      }
      ready.samples++
      ready.maxMs = Math.max(ready.maxMs, performance.now() - at)
      if (why !== '') ready.firstFailure ||= `${why} at ${((at - t0) / 1000).toFixed(0)} s`
      if (why !== '') ready.failures++
      rssMax[p] = Math.max(rssMax[p]!, exitedWith === null ? memoryMb(app.pid).rssMb : 0)
    }
    const everySecond = setInterval(() => void probe(), 1000)
    let attacker: UsageSampler | undefined
    const attacks = sleep(half).then(() => {
      log(`${o.durationS / 2} s: the attacks begin`)
      const plan = {
        mqttPort: app.mqttPort,
        httpPort: app.httpPort,
        durationMs: half,
        fromMs: startMs,
        sizes: o.attacks,
      }
      return attackProcess(plan, (pid) => (attacker = new UsageSampler(pid)))
    })
    const sim = await runSimulation({
      ...{ devices, ratePerSecond, durationMs, url: app.mqttUrl, idPrefix: 'soak-', drainTimeoutMs: 30_000 },
      onAck(device, seq, ms) {
        ledger.ack(device, seq)
        const publishedAt = performance.now() - ms - t0
        if (publishedAt >= WARMUP_MS) latency[publishedAt < half ? 0 : 1]!.record(ms)
      },
      onProgress(p) {
        if (Math.round(p.elapsedMs / 1000) % 10 !== 0) return
        const rss = exitedWith === null ? memoryMb(app.pid).rssMb : Number.NaN
        log(
          `${(p.elapsedMs / 1000).toFixed(0)} s: ${fmt(p.acknowledged)} acknowledged, p99 ${p.latency.p99Ms.toFixed(1)} ms ` +
            `in the last second; RSS ${rss.toFixed(0)} MB; /readyz ${ready.failures} failed of ${ready.samples}`,
        )
      },
    })
    const counts = await attacks
    const t1 = performance.now()
    clearInterval(everySecond)
    usage.stop()
    attacker?.stop()
    lag.disable()
    const [p1, p2] = [latency[0]!.summary(), latency[1]!.summary()]
    const [c1, c2] = [usage.stretch(t0 + WARMUP_MS, t0 + half), usage.stretch(t0 + half, t1)]
    const alive = exitedWith === null
    const stored = alive ? await checkStored(app.httpUrl, before, ledger, 'soak-', startMs - 60_000) : null
    const figures: Record<string, Figure> = {
      ...{
        durationS: o.durationS,
        devices,
        ratePerSecond,
        expected: ledger.devices * ratePerSecond * o.durationS,
      },
      ...{ sent: sim.sent, acked: sim.acknowledged, errors: sim.errors, unacked: sim.unacknowledged },
      ...{ heldBack: sim.heldBack, error: sim.errorSamples[0] ?? null, missing: stored?.missing ?? null },
      ...{ duplicates: stored?.duplicates ?? null, acceptedCounter: stored?.acceptedCounter ?? null },
      ...{ p1Count: p1.count, p1P50Ms: p1.p50Ms, p1P99Ms: p1.p99Ms, p1MaxMs: p1.maxMs },
      ...{ p2Count: p2.count, p2P50Ms: p2.p50Ms, p2P99Ms: p2.p99Ms, p2MaxMs: p2.maxMs },
      ...{
        p99Ratio: p2.p99Ms / p1.p99Ms,
        rssBudgetMb: o.rssBudgetMb,
        p1RssMaxMb: rssMax[0]!,
        p2RssMaxMb: rssMax[1]!,
      },
      ...{ hwmMb: alive ? memoryMb(app.pid).hwmMb : null, exitedWith, alive },
      ...{ readyzSamples: ready.samples, readyzFailures: ready.failures, readyzMaxMs: ready.maxMs },
      ...{ readyzFirstFailure: ready.firstFailure, p1Cores: c1.cores, p2Cores: c2.cores },
      ...{ p1MachineCores: c1.machineCores, p2MachineCores: c2.machineCores },
      ...{ attackerCores: attacker?.stretch(t0 + half, t1).cores ?? null },
      ...{ generatorLagP99Ms: lag.percentile(99) / 1e6, generatorLagMaxMs: lag.max / 1e6 },
    }
    Object.assign(figures, o.attacks)
    for (const [k, v] of Object.entries(counts)) figures[`attack.${k}`] = v
    if (alive) Object.assign(figures, serverFigures(await scrape(app.httpUrl)))
    return figures
  } finally {
    await app.stop()
  }
}

/** The attack process for the plan; resolves with its counts once it has exited ({} if it failed or was killed). */
async function attackProcess(plan: AttackPlan, started: (pid: number) => void): Promise<AttackCounts> {
  const child = track(
    spawn(process.execPath, [ATTACKS_JS, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] }),
  )
  started(child.pid!)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), plan.durationMs + 60_000)
  await new Promise((resolve) => child.once('exit', resolve))
  clearTimeout(timer)
  return JSON.parse(out.trim().split('\n').at(-1) || '{}') as AttackCounts
}

/** What each protection counted, from the app's /metrics: `server.<metric>` or `server.<metric>.<label>`. */
function serverFigures(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const name of ['sse_events_dropped_total', 'sse_clients_cut_total'])
    out[`server.${name}`] = metricIn(text, name) || 0
  const labelled =
    /^(mqtt_protocol_disconnects_total|telemetry_dead_letters_not_stored_total|telemetry_queries_refused_total|telemetry_messages_rejected_total)\{\w+="(\w+)"\} (\S+)$/gm
  for (const [, name, label, value] of text.matchAll(labelled)) out[`server.${name}.${label}`] = Number(value)
  return out
}

const DISCONNECTS = 'server.mqtt_protocol_disconnects_total'
/** Each attack's protection: what it counts (the sum of the figures named), and the size that runs the attack. */
const PROTECTIONS = [
  ['too_many_fields', 'server.telemetry_messages_rejected_total.too_many_fields', 'fieldDevices'],
  ['dead letters over the rate cap', 'server.telemetry_dead_letters_not_stored_total.rate', 'junkSmallPerS'],
  ['dead-letter pages read', 'attack.deadLetters.status200', 'deadLetterReaders'],
  ['queries refused busy', 'server.telemetry_queries_refused_total.busy', 'windowsBurst'],
  ['SSE events dropped', 'server.sse_events_dropped_total server.sse_clients_cut_total', 'sseClients'],
  ['slow subscribers cut', `${DISCONNECTS}.slow_client ${DISCONNECTS}.client_queue_full`, 'fleet'],
  ['closed for the incomplete-packet budget', `${DISCONNECTS}.incomplete_packet_budget`, 'halfOpen'],
  ['poison acknowledged', 'attack.poison.acked', 'poisonPerS'],
] as const

export type SoakCheck = 'acked' | 'stored' | 'p99' | 'rss' | 'alive' | 'ready' | 'protections'

/** The issue's pass criteria, and whether each attack met its protection, in words. */
export function soakChecks(r: Row): Record<SoakCheck, { met: boolean; text: string }> {
  const n = (k: string): number => (Number.isFinite(r[k]) ? (r[k] as number) : k === 'fleet' ? 1 : 0)
  const [acked, expected, errors, unacked] = [n('acked'), n('expected'), n('errors'), n('unacked')]
  const error = typeof r.error === 'string' ? ` (${r.error})` : ''
  const [failed, samples] = [n('readyzFailures'), n('readyzSamples')]
  const protections = PROTECTIONS.map(([what, keys, size]) => {
    const count = keys.split(' ').reduce((sum, k) => sum + n(k), 0)
    // Poison is met only when every message of it was acknowledged.
    const met = n(size) === 0 || (count > 0 && (size !== 'poisonPerS' || count === n('attack.poison.sent')))
    return { met, text: `${what} ${n(size) > 0 ? fmt(count) : '(not run)'}` }
  })
  const crashed = Object.keys(r).filter((k) => k.endsWith('.crashed'))
  return {
    acked: {
      met: acked === expected && errors === 0 && unacked === 0,
      text: `every legitimate reading acknowledged: ${fmt(acked)} of ${fmt(expected)}, ${fmt(errors)} errors, ${fmt(unacked)} unacknowledged${error}`,
    },
    stored: {
      met: r.missing === 0 && r.duplicates === 0,
      text: `stored exactly once (read back from /v1/telemetry): ${r.missing ?? 'not read'} missing, ${r.duplicates ?? 'not read'} duplicated`,
    },
    p99: verdict('phase 2’s PUBACK p99 over phase 1’s', num(r.p99Ratio), P99_RATIO, true, '×', 2),
    rss: verdict('peak RSS (VmHWM)', num(r.hwmMb), n('rssBudgetMb'), true, ' MB'),
    alive: {
      met: r.alive === true,
      text: r.alive === true ? 'the process never died' : `the process died (${r.exitedWith})`,
    },
    ready: {
      met: samples > 0 && failed === 0,
      text: `/readyz 200 within ${READY_TIMEOUT_MS} ms every second: ${failed} of ${samples} failed${failed > 0 ? `, first ${r.readyzFirstFailure}` : ''}`,
    },
    protections: {
      met: protections.every((p) => p.met) && crashed.length === 0,
      text: `every attack met its protection: ${protections.map((p) => p.text).join(', ')}${crashed.length > 0 ? `; crashed: ${crashed.join(', ')}` : ''}`,
    },
  }
}
