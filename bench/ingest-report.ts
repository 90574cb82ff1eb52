/** The "Ingest (bench:ingest)" section of bench/RESULTS.md, from the measurements. */

import { cpus } from 'node:os'
import { type BenchFigures, machine } from './chart.js'
import type { IngestBenchOptions } from './ingest.js'
import { codeVersion, mosquittoVersion } from './processes.js'
import { fmt, median, spread, verdict } from './results-doc.js'

export interface Measurement {
  readonly ackedPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Server process CPU (all threads, user + system) per acknowledged reading. */
  readonly serverCpuUsPerReading: number
  /** Server CPU seconds per wall second of the scenario. */
  readonly serverCores: number
  /** The publishers' process CPU seconds per wall second. */
  readonly publisherCores: number
  /** The whole machine's busy CPU seconds per wall second, other processes included. */
  readonly machineCores: number
  readonly sent: number
  readonly acknowledged: number
  /** Failed publishes and connections, plus publishes never acknowledged. */
  readonly errors: number
  readonly heldBack: number
  readonly meanPayloadBytes: number
  readonly ok: boolean
  readonly check: string
  /** Mosquitto: messages/s its one QoS 1 subscriber received, first to last; NaN for the app. */
  readonly deliveredPerSecond: number
}

/** Issue 6's saturation targets: readings/s durably stored, and that ÷ Mosquitto's QoS 1 delivery rate. */
export const SATURATION_TARGETS = Object.freeze({ storedPerSecond: 40_000, ratioToDelivery: 1.5 })

export interface Scenario {
  readonly key: string
  readonly label: string
  readonly runs: Measurement[]
}

export function renderReport(
  o: IngestBenchOptions,
  scenarios: readonly Scenario[],
  command: string,
  loadAverageAtStart: number,
  /** A CPU profile summary of the app flat out, when a saturation target was missed. */
  profile: string | null = null,
): string {
  const cpu = cpus()
  const byKey = new Map(scenarios.map((s) => [s.key, s]))
  const payload = median(scenarios.flatMap((s) => s.runs.map((m) => m.meanPayloadBytes)))
  const out: string[] = [
    'How many readings per second the app acknowledges _durably_ at QoS 1 (the PUBACK leaves only ' +
      'after the reading is committed to DuckDB, WAL fsynced), next to Mosquitto acknowledging QoS 1 ' +
      'while storing nothing (`persistence false`), with the same publishers in the same run.',
    '',
    `- Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, ` +
      `Mosquitto ${mosquittoVersion()}; ${new Date().toISOString()}; ` +
      `1-minute load average ${loadAverageAtStart.toFixed(2)} when the bench started`,
    `- Command: \`${command}\`, code at ${codeVersion()}`,
    `- Load: ${o.publishers} mqtt.js publisher connections in one Node process on the same machine, QoS 1, ` +
      `wire format v1 CBOR readings in the CRC-32C envelope (mean ${payload.toFixed(0)} bytes), ` +
      `each publisher keeping at most ${o.window} unacknowledged. Flat out: ${fmt(o.readings)} readings ` +
      `per scenario. Paced: ${fmt(o.pacedRate)} readings/s for ${o.pacedSeconds} s. ` +
      'A fresh server (and empty data dir) for every scenario; loopback only.',
    '- Latency: from the `publish()` call to its PUBACK, in the publisher. Flat out it is mostly the ' +
      `wait in the ${o.window}-deep window (in flight ÷ throughput), so the paced rows are the latency figures.`,
    '- Server CPU: user + system time of the server process, all threads (`/proc/<pid>/stat`), over the ' +
      'scenario, per acknowledged reading. Cores busy: CPU seconds per wall second, for the server, for ' +
      'the publishers’ process, and for the whole machine (`/proc/stat`: everything, the subscriber and ' +
      'any other process included). When the machine is near all its cores, the figure is bounded by ' +
      'the machine, not by the server alone.',
    '- Before each measured scenario the same load runs for 2 s on other device ids (JIT, connections, ' +
      'the store’s first field columns), and is not counted.',
    '- Check: for the app, every acknowledged (device, seq) read back from ' +
      '`GET /v1/telemetry?format=ndjson`, and `telemetry_readings_accepted_total`; for Mosquitto, the ' +
      'messages its subscriber (`mosquitto_sub`, subscribed at QoS 1, so each delivery is acknowledged; ' +
      'Mosquitto’s default of 20 in flight to it) received, and their rate from the first to the last.',
    '',
    `Medians of ${o.runs} run${o.runs === 1 ? '' : 's'} (min–max):`,
    '',
    '| scenario | acked readings/s | p50 ms | p99 ms | server CPU µs/reading | server cores | publisher cores | machine cores | check |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const s of scenarios) {
    const col = (f: (m: Measurement) => number, digits: number): string => spread(s.runs.map(f), digits)
    const passed = s.runs.filter((m) => m.ok).length
    out.push(
      `| ${s.label} | ${col((m) => m.ackedPerSecond, 0)} | ${col((m) => m.p50Ms, 2)} | ${col((m) => m.p99Ms, 2)} ` +
        `| ${col((m) => m.serverCpuUsPerReading, 1)} | ${col((m) => m.serverCores, 2)} ` +
        `| ${col((m) => m.publisherCores, 2)} | ${col((m) => m.machineCores, 2)} ` +
        `| ${passed}/${s.runs.length} runs passed |`,
    )
  }

  const ratio = (a: string, b: string, f: (m: Measurement) => number): string => {
    const x = byKey.get(a)
    const y = byKey.get(b)
    if (x === undefined || y === undefined) return '-'
    return `${(median(x.runs.map(f)) / median(y.runs.map(f))).toFixed(2)}×`
  }
  out.push(
    '',
    `App ÷ Mosquitto, medians: flat out, throughput ${ratio('appFlat', 'mosquittoFlat', (m) => m.ackedPerSecond)} ` +
      `and server CPU per reading ${ratio('appFlat', 'mosquittoFlat', (m) => m.serverCpuUsPerReading)}; ` +
      `paced, p50 ${ratio('appPaced', 'mosquittoPaced', (m) => m.p50Ms)} and ` +
      `p99 ${ratio('appPaced', 'mosquittoPaced', (m) => m.p99Ms)}.`,
  )
  out.push('', saturation(byKey))
  // Where the figure is a floor: the machine, or the publishers' one thread, ran out first.
  const bound = (f: (m: Measurement) => number, limit: number): string[] =>
    scenarios.filter((s) => median(s.runs.map(f)) > limit).map((s) => s.label)
  const machineBound = bound((m) => m.machineCores, 0.9 * cpu.length)
  if (machineBound.length > 0) {
    out.push(
      '',
      `Machine-bound (over 90% of ${cpu.length} cores busy): ${machineBound.join('; ')}. There the figure ` +
        'is what this machine gives with the load generator beside the server, not the server’s ceiling.',
    )
  }
  const publisherBound = bound((m) => m.publisherCores, 0.9)
  if (publisherBound.length > 0) {
    out.push(
      '',
      `Publisher-bound (the publishers’ process, one JavaScript thread, over 0.9 cores busy): ` +
        `${publisherBound.join('; ')}. There the server was not the limit, so its figure is a floor.`,
    )
  }

  out.push(
    '',
    '### Each run',
    '',
    '| run | scenario | acked/s | p50 ms | p99 ms | server µs/reading | sent | acked | errors | held back | check |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  )
  const runs = Math.max(0, ...scenarios.map((s) => s.runs.length))
  for (let r = 0; r < runs; r++) {
    for (const s of scenarios) {
      const m = s.runs[r]
      if (m === undefined) continue
      out.push(
        `| ${r + 1} | ${s.label} | ${fmt(m.ackedPerSecond)} | ${m.p50Ms.toFixed(2)} | ${m.p99Ms.toFixed(2)} ` +
          `| ${m.serverCpuUsPerReading.toFixed(1)} | ${fmt(m.sent)} | ${fmt(m.acknowledged)} | ${m.errors} ` +
          `| ${fmt(m.heldBack)} | ${m.ok ? '' : '**FAILED** '}${m.check} |`,
      )
    }
  }
  if (profile !== null)
    out.push(
      '',
      '### Where the app’s time goes, flat out',
      '',
      'A saturation target was missed, so one more flat-out app run went under `node --cpu-prof` (not in the ' +
        'results above; the whole process life, start-up included), summarized by bench/cpu-profile.ts: self ' +
        'time by package and by function, largest first.',
      '',
      '```',
      profile,
      '```',
    )
  return out.join('\n')
}

/** The flat-out medians issue 6's saturation targets are about; null without both scenarios. */
function saturationMedians(
  byKey: ReadonlyMap<string, Scenario>,
): { stored: number; delivered: number } | null {
  const app = byKey.get('appFlat')
  const mosquitto = byKey.get('mosquittoFlat')
  if (app === undefined || mosquitto === undefined) return null
  return {
    stored: median(app.runs.map((m) => m.ackedPerSecond)),
    delivered: median(mosquitto.runs.map((m) => m.deliveredPerSecond)),
  }
}

/** Whether the app missed a saturation target: then the report says where its time went. */
export function saturationMissed(scenarios: readonly Scenario[]): boolean {
  const m = saturationMedians(new Map(scenarios.map((s) => [s.key, s])))
  const t = SATURATION_TARGETS
  return m !== null && !(m.stored >= t.storedPerSecond && m.stored / m.delivered >= t.ratioToDelivery)
}

/** Issue 6's saturation targets against the flat-out medians, in words. */
export function saturation(byKey: ReadonlyMap<string, Scenario>): string {
  const m = saturationMedians(byKey)
  if (m === null) return ''
  const { stored, delivered } = m
  const t = SATURATION_TARGETS
  const rate = verdict('durably stored', stored, t.storedPerSecond, { atMost: false, unit: '/s' })
  const ratio = verdict('stored ÷ delivered', stored / delivered, t.ratioToDelivery, {
    atMost: false,
    unit: '×',
    digits: 2,
  })
  const text =
    `Saturation (issue 6), flat out, medians: the app ${rate.text}. Mosquitto’s one QoS 1 subscriber ` +
    `received ${fmt(delivered)} messages/s (first to last) in the same run; ${ratio.text}.`
  return ratio.met ? text : `${text} ${cpuNeeded(byKey.get('appFlat')!, t.ratioToDelivery * delivered)}`
}

/**
 * What the missed rate would cost in CPU on this machine, at the app's and
 * its publishers' measured CPU per reading: whether the target is a matter of
 * using more of the machine, or of spending less per reading.
 */
function cpuNeeded(app: Scenario, rate: number): string {
  const cores = cpus().length
  const serverUs = median(app.runs.map((m) => m.serverCpuUsPerReading))
  const publisherUs = median(app.runs.map((m) => (m.publisherCores / m.ackedPerSecond) * 1e6))
  const server = (rate * serverUs) / 1e6
  const publishers = (rate * publisherUs) / 1e6
  const budgetUs = ((cores - publishers) / rate) * 1e6
  return (
    `At ${fmt(rate)}/s the server would need ${server.toFixed(2)} cores at its ${serverUs.toFixed(1)} µs of CPU ` +
    `per reading, and the publishers ${publishers.toFixed(2)} at their ${publisherUs.toFixed(1)} µs: ` +
    `${(server + publishers).toFixed(2)} of this machine’s ${cores}. With the publishers beside it the server ` +
    `could spend at most ${budgetUs.toFixed(1)} µs a reading, all its threads together (Mosquitto, storing ` +
    'nothing, spends the figure in the table above).'
  )
}

/** The chart's figures: flat-out throughput and paced latency, the app beside Mosquitto. */
export function ingestFigures(o: IngestBenchOptions, scenarios: readonly Scenario[]): BenchFigures {
  const byKey = new Map(scenarios.map((s) => [s.key, s]))
  const med = (key: string, f: (m: Measurement) => number): number =>
    median(byKey.get(key)?.runs.map(f) ?? [])
  const stored = med('appFlat', (m) => m.ackedPerSecond)
  const delivered = med('mosquittoFlat', (m) => m.deliveredPerSecond)
  const t = SATURATION_TARGETS
  const mosquitto = `Mosquitto ${mosquittoVersion()}`
  const flat = `saturation, ${o.publishers} publishers flat out, QoS 1`
  const paced = `paced, ${fmt(o.pacedRate)} readings/s, QoS 1`
  const latency = (q: 'p50Ms' | 'p99Ms') => [
    { label: 'app (durable PUBACK)', value: med('appPaced', (m) => m[q]), ours: true },
    { label: `${mosquitto} (stores nothing)`, value: med('mosquittoPaced', (m) => m[q]), ours: false },
  ]
  return {
    bench: 'ingest',
    title: 'Ingest (bench:ingest)',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    code: codeVersion(),
    runs: o.runs,
    panels: [
      {
        scenario: flat,
        measure: 'readings/s',
        unit: 'readings/s',
        better: 'higher',
        bars: [
          { label: 'app, durably stored', value: stored, ours: true },
          {
            label: `${mosquitto}, acknowledged`,
            value: med('mosquittoFlat', (m) => m.ackedPerSecond),
            ours: false,
          },
          { label: `${mosquitto}, delivered (QoS 1 sub)`, value: delivered, ours: false },
        ],
        target: { value: t.storedPerSecond, met: stored >= t.storedPerSecond },
      },
      {
        scenario: flat,
        measure: 'stored ÷ Mosquitto’s delivery rate',
        unit: '×',
        better: 'higher',
        bars: [{ label: 'app', value: stored / delivered, ours: true }],
        target: { value: t.ratioToDelivery, met: stored / delivered >= t.ratioToDelivery },
      },
      { scenario: paced, measure: 'publish→PUBACK p50', unit: 'ms', better: 'lower', bars: latency('p50Ms') },
      { scenario: paced, measure: 'publish→PUBACK p99', unit: 'ms', better: 'lower', bars: latency('p99Ms') },
    ],
  }
}
