/** The "Live streams (bench:live)" section of bench/RESULTS.md, from the runs. */

import { cpus } from 'node:os'
import type { FeatureDefinition } from '../src/features/index.js'
import { formatDuration } from '../src/features/index.js'
import { type BenchFigures, machine } from './chart.js'
import type { LiveRun, Loss } from './live-run.js'
import { codeVersion } from './processes.js'
import { fmt, median, spread } from './results-doc.js'

/** Issue 3: p99 publish-to-delivery under this, at the specified load, with nothing lost. */
export const TARGET_P99_MS = 50

/** Over this many cores busy, the one-threaded load generator may be the limit, not the server. */
const GENERATOR_BOUND_CORES = 0.9

/** What the report needs of the bench's options. */
export interface LiveReportOptions {
  readonly devices: number
  readonly rate: number
  readonly warmupSeconds: number
  readonly seconds: number
}

export interface LiveScenario {
  readonly label: string
  /** One sentence for the report: who subscribes to what, and why this scenario is here. */
  readonly description: string
  readonly telemetrySubscribers: number
  readonly featureSubscribers: number
  /** Each subscriber on its share of the fleet; else every one on `device=*`. */
  readonly partitioned: boolean
  /**
   * Past what the machine can deliver, on purpose: a run passes if it
   * degrades as designed (every event a subscriber missed announced by a
   * `gap`, ingest unharmed), not by losing nothing.
   */
  readonly stress: boolean
  readonly runs: LiveRun[]
}

/** How many telemetry events one reading becomes, all subscribers together. */
function copiesPerReading(s: LiveScenario): number {
  return s.partitioned ? Math.min(1, s.telemetrySubscribers) : s.telemetrySubscribers
}

export function renderLiveReport(
  o: LiveReportOptions,
  features: readonly FeatureDefinition[],
  scenarios: readonly LiveScenario[],
  command: string,
  loadAverageAtStart: number,
): string {
  const cpu = cpus()
  const total = o.devices * o.rate
  const all = scenarios.flatMap((s) => s.runs)
  const runs = Math.max(0, ...scenarios.map((s) => s.runs.length))
  const payload = median(all.map((r) => r.sim.meanPayloadBytes))
  const featureList = features
    .map(
      (f) =>
        `\`${f.name}\` (${f.sizeNs === f.hopNs ? 'tumbling' : 'sliding'} ${formatDuration(f.sizeNs)}` +
        `${f.sizeNs === f.hopNs ? '' : ` every ${formatDuration(f.hopNs)}`}, grace ${formatDuration(f.graceNs)})`,
    )
    .join(', ')
  const out: string[] = [
    'How fast the live streams deliver, and whether they lose anything, with the whole load on this machine: ' +
      'devices publishing over MQTT, and Server-Sent Events subscribers each on its own HTTP/2 connection.',
    '',
    `- Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}; ` +
      `${new Date().toISOString()}; 1-minute load average ${loadAverageAtStart.toFixed(2)} when the bench started`,
    `- Command: \`${command}\`, code at ${codeVersion()}`,
    `- Load: ${fmt(o.devices)} devices × ${o.rate} readings/s = ${fmt(total)} readings/s, one mqtt.js ` +
      `connection per device, QoS 1, wire format v1 CBOR in the CRC-32C envelope (mean ${payload.toFixed(0)} bytes).`,
    '- Subscribers, each its own HTTP/2 connection (cleartext, prior knowledge; Node’s `http2` client, ' +
      'granting a 1 MiB stream window), on the server’s default settings (a slow client gets `gap`). ' +
      'Issue 3 asks for 100 subscribers at this load but not which devices each takes; the scenarios:',
    ...scenarios.map((s) => `  - “${s.label}”: ${s.description}`),
    '- The fleet and the subscribers share one Node process (one JavaScript thread) on the same machine as ' +
      'the server; loopback only; a fresh server and data dir every run. Before the subscribers connect, every ' +
      'device publishes one reading (under another boot, so the measured seqs are untouched): the server ' +
      'refuses a stream naming a device it holds nothing of (400 `TLM_ERR_UNKNOWN_DEVICE`). Then the fleet ' +
      `reconnects and publishes. Each run: ${o.warmupSeconds} s of ` +
      `warm-up, ${o.seconds} s measured, 1 s more publishing so that the windows closing in the measured ` +
      'time get closed.',
    '- Telemetry latency, publish to delivery: the event’s `device_ts` is the publisher’s `Date.now()` when ' +
      'it made the reading (just before `publish()`), and the delivery time is `Date.now()` when the event’s ' +
      'bytes reach the subscriber: one process, one clock, so no clock sync is assumed. Every telemetry ' +
      'subscriber’s every event of a reading published in the measured time counts. Split at `recv_ts` (the ' +
      'server’s `Date.now()` when the broker handed it the message): another process, but the same kernel clock ' +
      'on one machine. Integer milliseconds at both ends: each figure is within ±1 ms. Only events that ' +
      'arrive have a latency: a lost one counts under loss, not here.',
    '- Feature latency, window close to delivery: delivery minus (`window_end` + the feature’s grace). ' +
      '`window_end` is in event time, the device’s clock, which is the publisher’s `Date.now()` here (the ' +
      'simulator stamps each reading with it, and the bridge corrects a device clock only when it is more than ' +
      '2 s off; nothing here is). A window closes only when a reading at or past that moment arrives, so this ' +
      `includes the wait for the device’s next reading (up to ${(1000 / o.rate).toFixed(0)} ms). ` +
      '“From the closing reading” starts at that reading’s publish instead (its time is the event’s ' +
      '`watermark` + grace): the pipeline’s own share. `staleness_ms` is the server’s own figure (emit time ' +
      'minus the newest receive time of the window’s readings), so it holds the grace and the wait as well. ' +
      `Windows whose close moment falls in the measured time, \`closed_by: watermark\`; features: ${featureList}.`,
    '- Loss, per subscriber: every acknowledged (device, seq) of the devices a telemetry subscriber asked ' +
      'for must reach it once, and no event of another device may reach any subscriber; ids must go up, and ' +
      'on a `device=*` stream by exactly one (a filtered stream skips the ids of the devices it did not ask ' +
      'for); `gap` and `reset` events are loss; every device must have the same number of `feature` events, ' +
      'windows closing in the measured time, on every feature subscriber that asked for it. The target is ' +
      'zero after the warm-up; the warm-up’s loss is shown apart.',
    '- CPU: the server process’s user + system time, all threads, and its main thread alone ' +
      '(`/proc/<pid>/stat`, `/proc/<pid>/task/<pid>/stat`), over the measured time; the generator (fleet + ' +
      'subscribers) from `process.cpuUsage()`, and how late its event loop ran (`monitorEventLoopDelay`); the ' +
      'machine from `/proc/stat`. Cores = CPU seconds per wall second. Server RSS: `VmRSS` at the end of the ' +
      'measured time, and `VmHWM` (peak) at the end of the run.',
    '- Garbage collection: the server’s `nodejs_gc_duration_seconds` (prom-client, on its `/metrics`, ' +
      'scraped once a second, a few ms of its event loop each time, as Prometheus’s would): collections and ' +
      'the pauses they made, over the measured time. Each whole second of the measured time, by publish time, ' +
      'is set apart when a major (mark-compact) collection ended in or next to it (the scrapes around the ' +
      'second saw the count go up), and the telemetry p99 is given for the readings published in those seconds ' +
      'and in the others.',
    '- Peer: none. No system a user would pick instead streams windowed features over SSE (the point of ' +
      'issue 3); for raw telemetry the nearest alternative, an MQTT broker fanning out to MQTT subscribers, ' +
      'neither stores before it delivers nor speaks SSE, so its latency would answer another question ' +
      '(bench:ingest compares ingest with Mosquitto). The figures are held against the target instead: p99 ' +
      `publish-to-delivery under ${TARGET_P99_MS} ms with nothing lost.`,
    '',
    `Medians of ${runs} run${runs === 1 ? '' : 's'} (min–max):`,
    '',
    `| measure | ${scenarios.map((s) => s.label).join(' | ')} |`,
    `|---|${scenarios.map(() => '---:').join('|')}|`,
  ]
  const row = (label: string, cell: (runs: readonly LiveRun[]) => string): void => {
    out.push(`| ${label} | ${scenarios.map((s) => cell(s.runs)).join(' | ')} |`)
  }
  const one = (f: (r: LiveRun) => number, digits: number) => (rs: readonly LiveRun[]) =>
    spread(rs.map(f), digits)
  const two =
    (a: (r: LiveRun) => number, b: (r: LiveRun) => number, digits = 1) =>
    (rs: readonly LiveRun[]) =>
      `${spread(rs.map(a), digits)} / ${spread(rs.map(b), digits)}`
  row(
    'telemetry, publish → delivery p50 ms',
    one((r) => r.telemetry.publishToDelivery.p50Ms, 1),
  )
  row(
    'telemetry, publish → delivery p99 ms',
    one((r) => r.telemetry.publishToDelivery.p99Ms, 1),
  )
  row(
    'telemetry, publish → delivery max ms',
    one((r) => r.telemetry.publishToDelivery.maxMs, 0),
  )
  row(
    '… publish → server receive, p50 / p99 ms',
    two(
      (r) => r.telemetry.publishToReceive.p50Ms,
      (r) => r.telemetry.publishToReceive.p99Ms,
    ),
  )
  row(
    '… server receive → delivery, p50 / p99 ms',
    two(
      (r) => r.telemetry.receiveToDelivery.p50Ms,
      (r) => r.telemetry.receiveToDelivery.p99Ms,
    ),
  )
  row(
    '… p99 ms of readings published in a second in or next to which the server’s major GC ended / in the others',
    two(
      (r) => r.gc.withMajor.p99Ms,
      (r) => r.gc.other.p99Ms,
    ),
  )
  row(
    '… seconds with a major GC, of the measured',
    two(
      (r) => r.gc.secondsWithMajor,
      (r) => r.gc.seconds,
      0,
    ),
  )
  row(
    'feature, window close → delivery p50 ms',
    one((r) => r.features.closeToDelivery.p50Ms, 1),
  )
  row(
    'feature, window close → delivery p99 ms',
    one((r) => r.features.closeToDelivery.p99Ms, 1),
  )
  row(
    '… from the closing reading, p50 / p99 ms',
    two(
      (r) => r.features.closingReadingToDelivery.p50Ms,
      (r) => r.features.closingReadingToDelivery.p99Ms,
    ),
  )
  row(
    '… server `staleness_ms`, p50 / p99',
    two(
      (r) => r.features.staleness.p50Ms,
      (r) => r.features.staleness.p99Ms,
      0,
    ),
  )
  row(
    'feature events measured, all subscribers',
    one((r) => r.features.closeToDelivery.count, 0),
  )
  row(
    'events delivered/s, all subscribers',
    one((r) => r.deliveredPerSecond, 0),
  )
  row(
    '… of them telemetry',
    one((r) => r.telemetryDeliveredPerSecond, 0),
  )
  out.push(`| … telemetry expected | ${scenarios.map((s) => fmt(total * copiesPerReading(s))).join(' | ')} |`)
  row(
    'readings lost to a subscriber, after warm-up',
    one((r) => r.loss.lost, 0),
  )
  row(
    '`gap` events / events they report lost, after warm-up',
    two(
      (r) => r.loss.gapEvents,
      (r) => r.loss.gapLost,
      0,
    ),
  )
  row(
    '… of them on feature streams: `gap` events / ids skipped',
    two(
      (r) => r.featureLoss.gapEvents,
      (r) => r.featureLoss.idSkipped,
      0,
    ),
  )
  row(
    'readings lost to a subscriber, warm-up',
    one((r) => r.warmupLoss.lost, 0),
  )
  row(
    'events the server counted as dropped, whole run',
    one((r) => r.serverDropped, 0),
  )
  row(
    'server cores',
    one((r) => r.serverCores, 2),
  )
  row(
    '… its main (JavaScript) thread',
    one((r) => r.serverMainThreadCores, 2),
  )
  row(
    'server major (mark-compact) GCs / their pauses ms, measured time',
    two(
      (r) => r.gc.major,
      (r) => r.gc.majorS * 1000,
      0,
    ),
  )
  row(
    'server minor GCs (scavenges) / their pauses ms',
    two(
      (r) => r.gc.minor,
      (r) => r.gc.minorS * 1000,
      0,
    ),
  )
  row(
    'server RSS MB, end of measured time / peak',
    two(
      (r) => r.serverRssMb,
      (r) => r.serverPeakRssMb,
      0,
    ),
  )
  row(
    'generator cores (fleet + subscribers)',
    one((r) => r.generatorCores, 2),
  )
  row(
    'generator event-loop lag p99 ms',
    one((r) => r.generatorLagP99Ms, 1),
  )
  row(
    'machine cores busy',
    one((r) => r.machineCores, 2),
  )
  row(
    '… by anything else (machine − server − generator)',
    // Clamped: the three are read a moment apart, and a hundredth below zero means nothing.
    one((r) => Math.max(0, r.machineCores - r.serverCores - r.generatorCores), 2),
  )
  row('runs with nothing lost after warm-up', (rs) => `${rs.filter((r) => r.ok).length}/${rs.length}`)

  out.push('', summary(scenarios))
  for (const s of scenarios) out.push('', verdict(s, cpu.length))

  out.push(
    '',
    '### Each run',
    '',
    '| run | scenario | telemetry p50 / p99 ms | feature close p50 / p99 ms | events/s | published | acked | held back | server cores | RSS MB | generator cores | machine cores | check |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  )
  for (let i = 0; i < runs; i++) {
    for (const s of scenarios) {
      const r = s.runs[i]
      if (r === undefined) continue
      const t = r.telemetry.publishToDelivery
      const f = r.features.closeToDelivery
      out.push(
        `| ${i + 1} | ${s.label} | ${ms(t.p50Ms)} / ${ms(t.p99Ms)} ` +
          `| ${ms(f.p50Ms)} / ${ms(f.p99Ms)} | ${fmt(r.deliveredPerSecond)} | ${fmt(r.sim.sent)} ` +
          `| ${fmt(r.sim.acknowledged)} | ${fmt(r.sim.heldBack)} | ${r.serverCores.toFixed(2)} ` +
          `| ${fmt(r.serverRssMb)} | ${r.generatorCores.toFixed(2)} | ${r.machineCores.toFixed(2)} | ${check(s, r)} |`,
      )
    }
  }
  return out.join('\n')
}

/** One line per run for the console. */
export function runLine(s: LiveScenario, r: LiveRun): string {
  const t = r.telemetry.publishToDelivery
  const f = r.features.closeToDelivery
  return (
    `  ${s.label}: telemetry p50 ${ms(t.p50Ms)} p99 ${ms(t.p99Ms)} max ${fmt(t.maxMs)} ms` +
    `  feature close p50 ${ms(f.p50Ms)} p99 ${ms(f.p99Ms)} ms  ${fmt(r.deliveredPerSecond)} events/s` +
    `  server ${r.serverCores.toFixed(2)} cores (main ${r.serverMainThreadCores.toFixed(2)}) ${fmt(r.serverRssMb)} MB` +
    `  generator ${r.generatorCores.toFixed(2)} cores (lag p99 ${fmt(r.generatorLagP99Ms)} ms)` +
    `  machine ${r.machineCores.toFixed(2)}  ${check(s, r)}`
  )
}

/** Whether a run passed: nothing lost, or for a stress case, only losses a `gap` announced. */
export function passed(s: LiveScenario, r: LiveRun): boolean {
  return s.stress ? degradedAsDesigned(r) : r.ok
}

/**
 * A subscriber that cannot keep up loses events, and hears how many from a
 * `gap` in their place (src/api/sse.ts); nothing else may go wrong: no
 * publish fails, no id is skipped unannounced, none goes backwards or
 * repeats, no subscriber gets a device it did not ask for.
 */
function degradedAsDesigned(r: LiveRun): boolean {
  const announced = (l: Loss): boolean =>
    l.idSkipped <= l.gapLost && l.resets + l.idBackwards + l.duplicates + l.foreign + l.unreadable === 0
  return (
    r.sim.errors + r.sim.unacknowledged === 0 &&
    r.failures.length === 0 &&
    announced(r.loss) &&
    announced(r.warmupLoss)
  )
}

function check(s: LiveScenario, r: LiveRun): string {
  if (s.stress && degradedAsDesigned(r))
    return `ok as a stress case: ${fmt(r.loss.lost)} readings lost to slow subscribers, every skipped id announced by a gap`
  const problems = lossProblems(r.loss)
  if (r.sim.errors + r.sim.unacknowledged > 0)
    problems.push(`${r.sim.errors} publish errors, ${r.sim.unacknowledged} unacknowledged`)
  const f = r.featureEventsPerDevice
  if (f.min !== f.max) problems.push(`feature events per device and subscriber ${fmt(f.min)}–${fmt(f.max)}`)
  problems.push(...r.failures.slice(0, 3))
  const warmup = lossProblems(r.warmupLoss)
  const verdict = problems.length === 0 ? 'ok' : `**FAILED** ${problems.join('; ')}`
  return warmup.length === 0 ? verdict : `${verdict}; warm-up: ${warmup.join('; ')}`
}

function lossProblems(l: Loss): string[] {
  const problems: string[] = []
  if (l.lost > 0) problems.push(`${fmt(l.lost)} readings lost over ${l.subscribersWithLoss} subscribers`)
  if (l.gapEvents > 0) problems.push(`${fmt(l.gapEvents)} gap events (${fmt(l.gapLost)} events)`)
  if (l.resets > 0) problems.push(`${l.resets} resets`)
  if (l.idSkipped > 0) problems.push(`${fmt(l.idSkipped)} ids skipped`)
  if (l.idBackwards > 0) problems.push(`${l.idBackwards} ids out of order`)
  if (l.duplicates > 0) problems.push(`${fmt(l.duplicates)} duplicates`)
  if (l.foreign > 0) problems.push(`${fmt(l.foreign)} events of devices not asked for`)
  if (l.unreadable > 0) problems.push(`${l.unreadable} unreadable`)
  return problems
}

/** Whether a scenario meets the target: the median p99 under it and every run clean after the warm-up. */
function meetsTarget(s: LiveScenario): boolean {
  const p99 = median(s.runs.map((r) => r.telemetry.publishToDelivery.p99Ms))
  return p99 < TARGET_P99_MS && s.runs.length > 0 && s.runs.every((r) => r.ok)
}

/** The p99 against the target, in words: by how much it is under or over. */
function margin(p99: number): string {
  if (Number.isNaN(p99)) return 'no telemetry latency measured'
  const by = Math.abs(TARGET_P99_MS - p99)
  return p99 < TARGET_P99_MS
    ? `p99 ${p99.toFixed(1)} ms, ${by.toFixed(1)} ms under the ${TARGET_P99_MS} ms target`
    : `p99 ${p99.toFixed(1)} ms, ${by.toFixed(1)} ms over the ${TARGET_P99_MS} ms target (${(p99 / TARGET_P99_MS).toFixed(1)}×)`
}

/** One paragraph: which scenarios meet the target and which do not. */
function summary(scenarios: readonly LiveScenario[]): string {
  const line = (s: LiveScenario): string => {
    const p99 = median(s.runs.map((r) => r.telemetry.publishToDelivery.p99Ms))
    const lossy = s.runs.filter((r) => !r.ok).length
    const loss = lossy === 0 ? 'nothing lost' : `loss in ${lossy} of ${s.runs.length} runs`
    return `“${s.label}” (${margin(p99)}; ${loss})`
  }
  const met = scenarios.filter(meetsTarget)
  const missed = scenarios.filter((s) => !meetsTarget(s))
  const parts: string[] = []
  if (met.length > 0)
    parts.push(
      `**Meets the target** (p99 publish-to-delivery under ${TARGET_P99_MS} ms, nothing lost after warm-up): ${met.map(line).join('; ')}.`,
    )
  if (missed.length > 0) parts.push(`**Misses it**: ${missed.map(line).join('; ')}.`)
  return parts.join(' ')
}

function verdict(s: LiveScenario, cores: number): string {
  const p99 = median(s.runs.map((r) => r.telemetry.publishToDelivery.p99Ms))
  const clean = s.runs.filter((r) => r.ok).length
  const latency = `${margin(p99)}, ${p99 < TARGET_P99_MS ? 'met' : '**not met**'}`
  const parts = [
    `${s.label}: ${latency}; ` +
      `${clean === s.runs.length ? 'nothing lost after warm-up in any run' : `**loss after warm-up in ${s.runs.length - clean} of ${s.runs.length} runs**`}.`,
  ]
  if (s.stress)
    parts.push(
      `As a stress case, ${s.runs.filter((r) => degradedAsDesigned(r)).length} of ${s.runs.length} runs degraded as designed: every event a subscriber lost was announced by a \`gap\`, and no publish failed.`,
    )
  const warmupLost = median(s.runs.map((r) => r.warmupLoss.lost))
  if (warmupLost > 0)
    parts.push(`In the warm-up a median of ${fmt(warmupLost)} readings were lost to subscribers.`)
  const generator = median(s.runs.map((r) => r.generatorCores))
  const lag = median(s.runs.map((r) => r.generatorLagP99Ms))
  parts.push(
    generator > GENERATOR_BOUND_CORES
      ? `Generator-bound: the load generator’s one thread was ${generator.toFixed(2)} cores busy (over ` +
          `${GENERATOR_BOUND_CORES}); delivery times are taken when its event loop gets to the bytes, so they ` +
          `include its own queueing (event-loop lag p99 ${lag.toFixed(0)} ms).`
      : `The load generator was ${generator.toFixed(2)} cores busy, under the ${GENERATOR_BOUND_CORES} at which ` +
          `it would be the limit (event-loop lag p99 ${lag.toFixed(0)} ms: about what its own queueing adds ` +
          'to a delivery time).',
  )
  const machine = median(s.runs.map((r) => r.machineCores))
  if (machine > 0.9 * cores) {
    parts.push(
      `Machine-bound: ${machine.toFixed(2)} of ${cores} cores busy; server and generator compete for them, so ` +
        'this is what the machine gives with the generator beside the server, not the server’s ceiling.',
    )
  }
  const heldBack = median(s.runs.map((r) => r.sim.heldBack))
  if (heldBack > 0)
    parts.push(`The fleet fell behind its rate: a median of ${fmt(heldBack)} readings not sent.`)
  return parts.join(' ')
}

function ms(v: number): string {
  return Number.isNaN(v) ? '-' : v.toFixed(1)
}

/**
 * The chart's figures. No peer streams features over SSE (see the report), so
 * each scenario's telemetry latency is held against the target alone.
 */
export function liveFigures(o: LiveReportOptions, scenarios: readonly LiveScenario[]): BenchFigures {
  const runs = Math.max(0, ...scenarios.map((s) => s.runs.length))
  const q = (s: LiveScenario, f: (r: LiveRun) => number): number => median(s.runs.map(f))
  return {
    bench: 'live',
    title: 'Live streams (bench:live)',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    code: codeVersion(),
    runs,
    panels: scenarios.map((s) => ({
      scenario: `${s.label}, ${fmt(o.devices * o.rate)} readings/s`,
      measure: 'publish→SSE delivery (no peer)',
      unit: 'ms',
      better: 'lower' as const,
      bars: [
        { label: 'app, p50', value: q(s, (r) => r.telemetry.publishToDelivery.p50Ms), ours: true },
        { label: 'app, p99', value: q(s, (r) => r.telemetry.publishToDelivery.p99Ms), ours: true },
      ],
      target: { value: TARGET_P99_MS, met: meetsTarget(s) },
    })),
  }
}
