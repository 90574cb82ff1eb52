/**
 * The "Fleet, burst and connection storm (bench:fleet)" section of
 * bench/RESULTS.md from the runs, and the targets it holds them against.
 */

import { machine } from './chart.js'
import type { FleetBenchOptions } from './fleet.js'
import {
  EARLY_S,
  type LoadPhases,
  type LoadRun,
  MEMORY_AT,
  type ServerKind,
  type StormRun,
} from './fleet-run.js'
import { codeVersion, mosquittoVersion } from './processes.js'
import { fmt, median, spread, verdict } from './results-doc.js'
import type { MemoryBreakdown } from './server-memory.js'

/** Issue 6's targets, for this 2-core machine. */
export const TARGETS = Object.freeze({
  fleetRssMb: 500,
  fleetP99Ms: 25,
  burstRssMb: 1024,
  stormAllConnectedS: 10,
})

/** Over this many cores busy, the bench's one thread may be the limit, not the server. */
const GENERATOR_BOUND_CORES = 0.9

export const SECTION = 'Fleet, burst and connection storm (bench:fleet)'

export interface FleetResults {
  readonly fleet: LoadRun[]
  readonly burst: LoadRun[]
  readonly storm: StormRun[]
}

export interface TargetRow {
  readonly scenario: 'fleet' | 'burst' | 'storm'
  readonly met: boolean
  readonly text: string
}

export const of = <R extends { server: ServerKind }>(runs: readonly R[], kind: ServerKind): R[] =>
  runs.filter((r) => r.server === kind)
export const med = <R>(runs: readonly R[], f: (r: R) => number): number => median(runs.map(f))

/** Each target against the median of ours, in words. */
export function targetRows(o: FleetBenchOptions, r: FleetResults): TargetRow[] {
  const rows: TargetRow[] = []
  const fleet = of(r.fleet, 'app')
  if (fleet.length > 0) {
    const rss = verdict(
      'peak RSS (VmHWM)',
      med(fleet, (x) => x.usage.hwmMb),
      TARGETS.fleetRssMb,
      {
        atMost: true,
        unit: ' MB',
      },
    )
    const p99 = verdict(
      'publish→PUBACK p99',
      med(fleet, (x) => x.sim.latency.p99Ms),
      TARGETS.fleetP99Ms,
      {
        atMost: true,
        unit: ' ms',
        digits: 1,
      },
    )
    const connected = med(fleet, (x) => x.sim.devices)
    const all = connected === o.fleetDevices
    rows.push(
      {
        scenario: 'fleet',
        met: all,
        text: `${fmt(connected)} of ${fmt(o.fleetDevices)} devices connected: ${all ? 'met' : '**missed**'}`,
      },
      { scenario: 'fleet', ...rss },
      { scenario: 'fleet', ...p99 },
    )
  }
  const burst = of(r.burst, 'app')
  if (burst.length > 0) {
    const lost = burst.reduce((n, x) => n + x.lost, 0)
    const acked = burst.reduce((n, x) => n + x.sim.acknowledged, 0)
    rows.push(
      {
        scenario: 'burst',
        met: lost === 0 && burst.every((x) => x.ok),
        text:
          `${fmt(lost)} of ${fmt(acked)} acknowledged readings lost over ${burst.length} run` +
          `${burst.length === 1 ? '' : 's'}, target 0: ${lost === 0 ? 'met' : '**missed**'} ` +
          `(of the ${fmt(o.burstRate)}/s offered the app acknowledged ` +
          `${fmt(med(burst, (x) => x.sim.ackedPerSecond))}/s; the devices held back ` +
          `${fmt(med(burst, (x) => x.sim.heldBack))} readings with their windows full)`,
      },
      {
        scenario: 'burst',
        ...verdict(
          'peak RSS (VmHWM)',
          med(burst, (x) => x.usage.hwmMb),
          TARGETS.burstRssMb,
          {
            atMost: true,
            unit: ' MB',
          },
        ),
      },
    )
  }
  const storm = of(r.storm, 'app')
  if (storm.length > 0) {
    const allS = med(storm, (x) => x.storm.allConnectedMs / 1000)
    const refused = storm.reduce((n, x) => n + x.storm.refused + x.storm.failed, 0)
    const everyRun = storm.every((x) => x.storm.connected === o.stormDevices)
    const time = verdict(`all ${fmt(o.stormDevices)} connected in`, allS, TARGETS.stormAllConnectedS, {
      atMost: true,
      unit: ' s',
      digits: 2,
    })
    rows.push(
      { scenario: 'storm', met: time.met && everyRun, text: time.text },
      {
        scenario: 'storm',
        met: refused === 0,
        text:
          `${fmt(refused)} refused or failed over ${storm.length} run${storm.length === 1 ? '' : 's'}, ` +
          `target 0: ${refused === 0 ? 'met' : '**missed**'}`,
      },
    )
  }
  return rows
}

export interface ReportContext {
  readonly command: string
  readonly loadAverageAtStart: number
  readonly fullSize: boolean
  /** Summarized CPU profiles of ours, for the scenarios that missed a target. */
  readonly profiles: readonly string[]
  readonly minutes: number
}

export function renderFleetReport(o: FleetBenchOptions, r: FleetResults, c: ReportContext): string {
  const runs = o.runs
  const warmupDevices = Math.min(o.fleetDevices, 1000)
  const out: string[] = [
    'How the app holds up under the load of a real fleet, next to Mosquitto under the same load in the same ' +
      'run: many connected devices each publishing slowly, a burst from a few fast ones, and a connection ' +
      'storm. Targets from issue 6.',
    '',
    `- Machine: ${machine()}, Mosquitto ${mosquittoVersion()}; ${new Date().toISOString()}; ` +
      `1-minute load average ${c.loadAverageAtStart.toFixed(2)} when the bench started; the whole bench took ` +
      `${c.minutes.toFixed(1)} min`,
    `- Command: \`${c.command}\`, code at ${codeVersion()}`,
    '- Every run, each scenario runs against a fresh app (fresh data dir) and a fresh Mosquitto ' +
      '(`persistence false`, its default `max_inflight_messages` of 20) with one `mosquitto_sub` ' +
      'subscribed at QoS 1 to every device’s topic, so Mosquitto delivers what it acknowledges, as the app ' +
      'stores what it acknowledges. The devices are mqtt.js clients, one connection each, in the one bench ' +
      'process on the same machine; loopback only; QoS 1; wire format v1 CBOR in the CRC-32C envelope.',
    `- Fleet: ${fmt(o.fleetDevices)} devices connect (100 at a time), then each publishes ${o.fleetRate} ` +
      `reading/s for ${o.fleetSeconds} s, the fleet’s publishes spread evenly over each second ` +
      `(${fmt(o.fleetDevices * o.fleetRate)} readings/s in all). Before it, ${fmt(warmupDevices)} other ` +
      'devices publish the same total rate for 2 s (not counted). Checked by the app’s ' +
      '`telemetry_readings_accepted_total` against the acknowledgements (reading 10,000 devices back over ' +
      'HTTP would not fit a URL).',
    `- Burst: ${fmt(o.burstDevices)} devices at ${fmt(o.burstRate / o.burstDevices)} readings/s each ` +
      `(${fmt(o.burstRate)}/s in all) for ${o.burstSeconds} s, each keeping at most ${fmt(o.burstWindow)} ` +
      'unacknowledged (then it holds back: “held back” is what it could not send in time). Backpressure ' +
      'shows as PUBACK latency. The same load for 2 s on other ids first. Checked for the app by reading ' +
      'every acknowledged (device, seq) back from `GET /v1/telemetry?format=ndjson` (bench/verify.ts); ' +
      'for Mosquitto by its subscriber’s count.',
    `- Storm: ${fmt(o.stormDevices)} devices whose CONNECTs start evenly spread over ${o.stormSeconds} s ` +
      '(mqtt.js, clean session, no retry), each held open until all have their CONNACK or gave up ' +
      '(after 10 s). “All connected” is from the first CONNECT’s start to the last CONNACK; CONNACK ' +
      'latency from each `connect()` call. Before it, a storm of 500 other devices (not counted). ' +
      '“Start lag” is how late the bench started its last CONNECT: over a few ms, the bench was the limit.',
    '- Latency: from the `publish()` call to its PUBACK, in the device’s process. Server memory: `VmHWM` ' +
      '(`/proc/<pid>/status`, the peak over the server’s life, start-up and warm-up included) and `VmRSS` ' +
      'last sampled (every 250 ms) before the load ended, every device still connected. Server CPU: user + ' +
      'system, all threads, over the steady load (first acknowledgement to last) per wall second; the same ' +
      'for the bench process (“generator”), with how late its event loop ran (`monitorEventLoopDelay`).',
  ]
  if (!c.fullSize)
    out.push(
      '- **Sizes differ from the issue’s** (10,000-device fleet for 60 s, 50,000 readings/s for 10 s, ' +
        '5,000-device storm in 5 s): the verdicts below hold for these sizes only.',
    )

  const targets = targetRows(o, r)
  out.push(
    '',
    `Targets, against the median of ${runs} run${runs === 1 ? '' : 's'} of the app:`,
    '',
    '| scenario | target and verdict |',
    '|---|---|',
    ...targets.map((t) => `| ${t.scenario} | ${t.text} |`),
  )

  const name = (k: ServerKind): string => (k === 'app' ? 'app' : 'Mosquitto')
  const load = (label: string, rs: readonly LoadRun[], p99TargetMs?: number): void => {
    if (rs.length === 0) return
    out.push(
      '',
      `${label}, medians (min–max):`,
      '',
      '| server | devices | connect s | acked readings/s | held back | p50 ms | p99 ms | max ms | VmHWM MB | RSS at end MB | server cores | generator cores | generator lag p99 ms | lost | runs ok |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    )
    for (const k of ['app', 'mosquitto'] as const) {
      const x = of(rs, k)
      if (x.length === 0) continue
      const col = (f: (m: LoadRun) => number, digits: number): string => spread(x.map(f), digits)
      out.push(
        `| ${name(k)} | ${col((m) => m.sim.devices, 0)} | ${col((m) => m.usage.connectS, 1)} ` +
          `| ${col((m) => m.sim.ackedPerSecond, 0)} | ${col((m) => m.sim.heldBack, 0)} ` +
          `| ${col((m) => m.sim.latency.p50Ms, 2)} | ${col((m) => m.sim.latency.p99Ms, 2)} ` +
          `| ${col((m) => m.sim.latency.maxMs, 1)} | ${col((m) => m.usage.hwmMb, 0)} ` +
          `| ${col((m) => m.usage.endRssMb, 0)} | ${col((m) => m.usage.cores, 2)} ` +
          `| ${col((m) => m.usage.generatorCores, 2)} | ${col((m) => m.usage.generatorLagP99Ms, 1)} ` +
          `| ${col((m) => m.lost, 0)} | ${x.filter((m) => m.ok).length}/${x.length} |`,
      )
    }
    out.push('', ratios(rs))
    if (p99TargetMs !== undefined) phases(rs, p99TargetMs)
    const memory = of(rs, 'app').flatMap((m) => (m.memory === null ? [] : [m.memory]))
    if (memory.length > 0) {
      const mb = (f: (m: MemoryBreakdown) => number): string => `${spread(memory.map(f), 0)} MB`
      out.push(
        '',
        `Where the app’s memory was, ${MEMORY_AT * 100}% of the way into the load (VmRSS and RssFile from ` +
          '/proc, the main thread’s heap spaces from the app’s `/metrics`; medians of ' +
          `${memory.length} run${memory.length === 1 ? '' : 's'}): RSS ${mb((m) => m.rssMb)} = code mapped from files (node, libduckdb) ` +
          `${mb((m) => m.fileMb)} + the main thread’s V8 heap, committed: young generation ` +
          `${mb((m) => m.youngMb)}, old generation ${mb((m) => m.oldMb)} (its objects, live or not yet ` +
          `collected, ${mb((m) => m.oldUsedMb)}), other spaces ${mb((m) => m.otherHeapMb)} + the rest ` +
          `${mb((m) => m.outsideMb)} (malloc of Node, libuv and DuckDB, the store worker’s own V8 heap, ` +
          'buffers). The peak (VmHWM) can come at another moment than this.',
      )
    }
    const bound = (['app', 'mosquitto'] as const).filter(
      (k) => med(of(rs, k), (m) => m.usage.generatorCores) > GENERATOR_BOUND_CORES,
    )
    if (bound.length > 0)
      out.push(
        '',
        `Generator-bound (${bound.map(name).join(', ')}): the bench process, one JavaScript thread driving ` +
          `every device, was over ${GENERATOR_BOUND_CORES} cores busy, so its own queueing (event-loop lag ` +
          'above) is part of the latency, and the figures are what this machine gives with the devices ' +
          'beside the server, not the server alone.',
      )
  }
  const phases = (rs: readonly LoadRun[], targetMs: number): void => {
    out.push(
      '',
      `Where the p99 is made: the readings published in the first ${EARLY_S} s of the load (every device’s ` +
        'first, reaching a server that has just taken every connection) apart from the rest, by publish time; ' +
        `and how many seconds of the load had a p99 over ${targetMs} ms. Cores busy over the same stretches: ` +
        'the server’s (all threads) and the whole machine’s (`/proc/stat`: server, devices and anything else). ' +
        'Medians (min–max):',
      '',
      `| server | first ${EARLY_S} s: readings | p50 ms | p99 ms | after: p50 ms | p99 ms | seconds over ${targetMs} ms | server cores, first / after | machine cores, first / after |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    )
    const phasesOf = (k: ServerKind): LoadPhases[] =>
      of(rs, k).flatMap((m) => (m.phases === null ? [] : [m.phases]))
    for (const k of ['app', 'mosquitto'] as const) {
      const x = phasesOf(k)
      if (x.length === 0) continue
      const col = (f: (p: LoadPhases) => number, digits: number): string => spread(x.map(f), digits)
      out.push(
        `| ${name(k)} | ${col((p) => p.early.count, 0)} | ${col((p) => p.early.p50Ms, 1)} ` +
          `| ${col((p) => p.early.p99Ms, 1)} | ${col((p) => p.rest.p50Ms, 1)} ` +
          `| ${col((p) => p.rest.p99Ms, 1)} ` +
          `| ${col((p) => p.p99BySecond.filter((s) => s > targetMs).length, 0)} of ${col((p) => p.p99BySecond.length, 0)} ` +
          `| ${col((p) => p.earlyServerCores, 2)} / ${col((p) => p.restServerCores, 2)} ` +
          `| ${col((p) => p.earlyMachineCores, 2)} / ${col((p) => p.restMachineCores, 2)} |`,
      )
    }
    const gcs = phasesOf('app').flatMap((p) => (p.gc === null ? [] : [p.gc]))
    if (gcs.length === 0) return
    const col = (f: (g: NonNullable<LoadPhases['gc']>) => number, digits: number): string =>
      spread(gcs.map(f), digits)
    out.push(
      '',
      'The app’s garbage collections over the load (prom-client’s `nodejs_gc_duration_seconds` on its ' +
        '`/metrics`, scraped once a second; the pauses of its main thread, which also runs MQTT and the ' +
        `bridge), medians: ${col((g) => g.major, 0)} major (mark-compact) collections, pausing it ` +
        `${col((g) => g.majorS * 1000, 0)} ms in all; ${col((g) => g.minor, 0)} minor ones ` +
        `(scavenges), ${col((g) => g.minorS * 1000, 0)} ms in all. Seconds of the load in or next to ` +
        `which a major collection ended: ${col((g) => g.secondsWithMajor, 0)}, ` +
        `and the p99 of the readings published in them ${col((g) => g.withMajor.p99Ms, 1)} ms; in the ` +
        `other seconds ${col((g) => g.other.p99Ms, 1)} ms.`,
    )
  }
  load(
    `Fleet: ${fmt(o.fleetDevices)} devices × ${o.fleetRate}/s for ${o.fleetSeconds} s`,
    r.fleet,
    TARGETS.fleetP99Ms,
  )
  load(
    `Burst: ${fmt(o.burstRate)} readings/s for ${o.burstSeconds} s from ${fmt(o.burstDevices)} devices`,
    r.burst,
  )
  const burstMosquitto = of(r.burst, 'mosquitto')
  if (burstMosquitto.length > 0)
    out.push(
      '',
      `Mosquitto’s subscriber received ${spread(
        burstMosquitto.map((m) => m.deliveredPerSecond),
        0,
      )} messages/s in the burst, first to last.`,
    )

  if (r.storm.length > 0) {
    out.push(
      '',
      `Storm: ${fmt(o.stormDevices)} devices connecting within ${o.stormSeconds} s, medians (min–max):`,
      '',
      '| server | connected | refused | failed | dropped | all connected s | after the last start s | CONNACK p50 ms | p99 ms | max ms | VmHWM MB | server cores | generator cores | start lag ms |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    )
    for (const k of ['app', 'mosquitto'] as const) {
      const x = of(r.storm, k)
      if (x.length === 0) continue
      const col = (f: (m: StormRun) => number, digits: number): string => spread(x.map(f), digits)
      out.push(
        `| ${name(k)} | ${col((m) => m.storm.connected, 0)} | ${col((m) => m.storm.refused, 0)} ` +
          `| ${col((m) => m.storm.failed, 0)} | ${col((m) => m.storm.dropped, 0)} ` +
          `| ${col((m) => m.storm.allConnectedMs / 1000, 2)} | ${col((m) => m.storm.afterLastStartMs / 1000, 3)} ` +
          `| ${col((m) => m.storm.connack.p50Ms, 1)} ` +
          `| ${col((m) => m.storm.connack.p99Ms, 1)} | ${col((m) => m.storm.connack.maxMs, 1)} ` +
          `| ${col((m) => m.usage.hwmMb, 0)} | ${col((m) => m.usage.cores, 2)} ` +
          `| ${col((m) => m.usage.generatorCores, 2)} | ${col((m) => m.storm.maxStartLagMs, 1)} |`,
      )
    }
    const a = of(r.storm, 'app')
    const m = of(r.storm, 'mosquitto')
    if (a.length > 0 && m.length > 0)
      out.push(
        '',
        `App ÷ Mosquitto, medians: all connected ${ratio(a, m, (x) => x.storm.allConnectedMs)}, ` +
          `CONNACK p99 ${ratio(a, m, (x) => x.storm.connack.p99Ms)}.`,
      )
  }

  if (c.profiles.length > 0) {
    out.push(
      '',
      '### Where the app’s time goes',
      '',
      'For each scenario where the app missed a target, one more app run under `node --cpu-prof` ' +
        '(not in the results above; the whole process life, start-up included), summarized by ' +
        'bench/cpu-profile.ts: self time by package and by function, largest first. Where the ' +
        'fleet’s p99 missed, the fleet’s runs again with the store’s commits answered at once ' +
        '(bench/no-commit.ts, preloaded: nothing stored), to tell their share of the latency ' +
        'from that of everything else.',
      '',
      ...c.profiles.flatMap((p) => ['```', p, '```', '']),
    )
  }

  out.push(
    '',
    '### Each run',
    '',
    '| run | scenario | server | acked/s or connected | p50 ms | p99 ms | max ms | VmHWM MB | server cores | check |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---|',
  )
  const each = (label: string, rs: readonly LoadRun[]): void => {
    rs.forEach((m, i) => {
      out.push(
        `| ${Math.floor(i / 2) + 1} | ${label} | ${name(m.server)} | ${fmt(m.sim.ackedPerSecond)} ` +
          `| ${m.sim.latency.p50Ms.toFixed(2)} | ${m.sim.latency.p99Ms.toFixed(2)} | ${m.sim.latency.maxMs.toFixed(1)} ` +
          `| ${fmt(m.usage.hwmMb)} | ${m.usage.cores.toFixed(2)} | ${m.ok ? '' : '**FAILED** '}${m.check} |`,
      )
    })
  }
  each('fleet', r.fleet)
  each('burst', r.burst)
  r.storm.forEach((m, i) => {
    out.push(
      `| ${Math.floor(i / 2) + 1} | storm | ${name(m.server)} | ${fmt(m.storm.connected)} ` +
        `| ${m.storm.connack.p50Ms.toFixed(2)} | ${m.storm.connack.p99Ms.toFixed(2)} | ${m.storm.connack.maxMs.toFixed(1)} ` +
        `| ${fmt(m.usage.hwmMb)} | ${m.usage.cores.toFixed(2)} | ${m.ok ? '' : '**FAILED** '}${m.check} |`,
    )
  })
  return out.join('\n')
}

function ratio<R>(a: readonly R[], b: readonly R[], f: (r: R) => number): string {
  const x = med(a, f) / med(b, f)
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '-'
}

function ratios(rs: readonly LoadRun[]): string {
  const a = of(rs, 'app')
  const m = of(rs, 'mosquitto')
  if (a.length === 0 || m.length === 0) return ''
  return (
    `App ÷ Mosquitto, medians: acked/s ${ratio(a, m, (x) => x.sim.ackedPerSecond)}, ` +
    `p50 ${ratio(a, m, (x) => x.sim.latency.p50Ms)}, p99 ${ratio(a, m, (x) => x.sim.latency.p99Ms)}, ` +
    `VmHWM ${ratio(a, m, (x) => x.usage.hwmMb)}, server cores ${ratio(a, m, (x) => x.usage.cores)}.`
  )
}
