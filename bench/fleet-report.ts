/**
 * The "Fleet, burst and connection storm (bench:fleet)" section of
 * bench/RESULTS.md and its chart panels, from bench/results/fleet.json, and
 * the targets it holds the runs against.
 */

import type { Panel } from './chart.js'
import { type BenchDoc, col, fmt, med, num, plural, type Row, ratio, table, verdict } from './doc.js'
import { EARLY_S, MEMORY_AT } from './fleet-run.js'
import type { Report } from './render.js'

/** Issue 6's targets, for this 2-core machine. */
export const TARGETS = Object.freeze({
  fleetRssMb: 500,
  fleetP99Ms: 25,
  burstRssMb: 1024,
  stormAllConnectedS: 10,
})
/** Over this many cores busy, the bench's one thread may be the limit, not the server. */
const GENERATOR_BOUND_CORES = 0.9
const SERVERS = ['app', 'mosquitto'] as const
const name = (server: unknown): string => (server === 'app' ? 'app' : 'Mosquitto')
const of = (runs: readonly Row[], scenario: string, server?: string): Row[] =>
  runs.filter((r) => r.scenario === scenario && (server === undefined || r.server === server))

/** One line per run for the console. */
export function fleetLine(r: Row): string {
  const n = (k: string, d: number): string => num(r[k]).toFixed(d)
  const head = `  ${`${r.scenario}, ${r.server}`.padEnd(16)} `
  const end = `${r.ok ? 'ok' : 'FAILED'}: ${r.check}`
  if (r.scenario === 'storm')
    return `${head}all connected ${n('allConnectedS', 2)} s  CONNACK p50 ${n('p50Ms', 1)} ms p99 ${n('p99Ms', 1)} ms  VmHWM ${n('hwmMb', 0)} MB  start lag ${n('startLagMs', 1)} ms  ${end}`
  return (
    `${head}${String(r.devices).padStart(5)} devices  ${n('ackedPerSecond', 0).padStart(6)} acked/s  p50 ${n('p50Ms', 2)} ms  ` +
    `p99 ${n('p99Ms', 2)} ms  max ${n('maxMs', 1)} ms  VmHWM ${n('hwmMb', 0)} MB  end RSS ${n('endRssMb', 0)} MB  ` +
    `cores ${n('cores', 2)}  generator ${n('generatorCores', 2)} cores, lag p99 ${n('lagP99Ms', 0)} ms  connect ${n('connectS', 1)} s  ${end}`
  )
}

export interface TargetRow {
  readonly scenario: 'fleet' | 'burst' | 'storm'
  readonly met: boolean
  readonly text: string
}

/** Each target against the median of ours, in words. */
export function targetRows(o: Readonly<Record<string, unknown>>, runs: readonly Row[]): TargetRow[] {
  const rows: TargetRow[] = []
  const ms = { atMost: true, unit: ' ms', digits: 1 }
  const fleet = of(runs, 'fleet', 'app')
  if (fleet.length > 0) {
    const connected = med(fleet, 'devices')
    const all = connected === o.fleetDevices
    const text = `${fmt(connected)} of ${fmt(Number(o.fleetDevices))} devices connected: ${all ? 'met' : '**missed**'}`
    rows.push({ scenario: 'fleet', met: all, text })
    const rss = verdict('peak RSS (VmHWM)', med(fleet, 'hwmMb'), TARGETS.fleetRssMb, {
      atMost: true,
      unit: ' MB',
    })
    rows.push(
      { scenario: 'fleet', ...rss },
      { scenario: 'fleet', ...verdict('publish→PUBACK p99', med(fleet, 'p99Ms'), TARGETS.fleetP99Ms, ms) },
    )
  }
  const burst = of(runs, 'burst', 'app')
  if (burst.length > 0) {
    const lost = burst.reduce((n, x) => n + num(x.lost), 0)
    const acked = burst.reduce((n, x) => n + num(x.acked), 0)
    const text =
      `${fmt(lost)} of ${fmt(acked)} acknowledged readings lost over ${plural(burst.length, 'run')}, target 0: ${lost === 0 ? 'met' : '**missed**'} ` +
      `(of the ${fmt(Number(o.burstRate))}/s offered the app acknowledged ${fmt(med(burst, 'ackedPerSecond'))}/s; ` +
      `the devices held back ${fmt(med(burst, 'heldBack'))} readings with their windows full)`
    rows.push({ scenario: 'burst', met: lost === 0 && burst.every((x) => x.ok === true), text })
    rows.push({
      scenario: 'burst',
      ...verdict('peak RSS (VmHWM)', med(burst, 'hwmMb'), TARGETS.burstRssMb, { atMost: true, unit: ' MB' }),
    })
  }
  const storm = of(runs, 'storm', 'app')
  if (storm.length > 0) {
    const refused = storm.reduce((n, x) => n + num(x.refused) + num(x.failed), 0)
    const everyRun = storm.every((x) => x.connected === o.stormDevices)
    const what = `all ${fmt(Number(o.stormDevices))} connected in`
    const time = verdict(what, med(storm, 'allConnectedS'), TARGETS.stormAllConnectedS, {
      ...ms,
      unit: ' s',
      digits: 2,
    })
    const text = `${fmt(refused)} refused or failed over ${plural(storm.length, 'run')}, target 0: ${refused === 0 ? 'met' : '**missed**'}`
    rows.push(
      { scenario: 'storm', met: time.met && everyRun, text: time.text },
      { scenario: 'storm', met: refused === 0, text },
    )
  }
  return rows
}

type Cell = readonly [key: string, digits: number] | ((x: Row[]) => string)

/** A median table: one row per server, figure columns `[key, digits]` or made by a function of the server's runs. */
function medians(rs: readonly Row[], head: readonly string[], cols: readonly Cell[]): string[] {
  const cell = (x: Row[], c: Cell): string => (typeof c === 'function' ? c(x) : col(x, c[0], c[1]))
  const rows = SERVERS.map((k) => rs.filter((r) => r.server === k)).filter((x) => x.length > 0)
  const ok = (x: Row[]): string[] =>
    head.at(-1) === 'runs ok' ? [`${x.filter((r) => r.ok === true).length}/${x.length}`] : []
  return table(
    head,
    `l${'r'.repeat(head.length - 1)}`,
    rows.map((x) => [name(x[0]!.server), ...cols.map((c) => cell(x, c)), ...ok(x)]),
  )
}

const appVsMosquitto = (rs: readonly Row[], keys: readonly (readonly [string, string])[]): string =>
  `App ÷ Mosquitto, medians: ${keys.map(([label, k]) => `${label} ${ratio(med(of(rs, String(rs[0]?.scenario), 'app'), k), med(of(rs, String(rs[0]?.scenario), 'mosquitto'), k))}`).join(', ')}.`

export function renderFleet(doc: BenchDoc): Report {
  const { options: o, runs, machine: m } = doc
  const n = Math.max(...runs.map((r) => num(r.run)))
  const f = (k: string): string => fmt(Number(o[k]))
  const out = [
    'How the app holds up under the load of a real fleet, next to Mosquitto under the same load in the same run: many connected devices each publishing slowly, a burst from a few fast ones, and a connection storm. Targets from issue 6.',
    '',
    `- Machine: ${m.cores} cores, ${m.cpu}, Node ${m.node}, Mosquitto ${doc.versions.mosquitto}; ${doc.measuredAt}; 1-minute load average ${Number(doc.loadAverage).toFixed(2)} when the bench started; the whole bench took ${doc.minutes.toFixed(1)} min`,
    `- Command: \`${doc.command}\`, code at ${doc.code}`,
    '- Every run, each scenario runs against a fresh app (fresh data dir) and a fresh Mosquitto (`persistence false`, its default `max_inflight_messages` of 20) with one `mosquitto_sub` subscribed at QoS 1 to every device’s topic, so Mosquitto delivers what it acknowledges, as the app stores what it acknowledges. The devices are mqtt.js clients, one connection each, in the one bench process on the same machine; loopback only; QoS 1; wire format v1 CBOR in the CRC-32C envelope.',
    `- Fleet: ${f('fleetDevices')} devices connect (100 at a time), then each publishes ${o.fleetRate} reading/s for ${o.fleetSeconds} s, the fleet’s publishes spread evenly over each second (${fmt(Number(o.fleetDevices) * Number(o.fleetRate))} readings/s in all). ` +
      `Before it, ${fmt(Math.min(Number(o.fleetDevices), 1000))} other devices publish the same total rate for 2 s (not counted). Checked by the app’s \`telemetry_readings_accepted_total\` against the acknowledgements (reading 10,000 devices back over HTTP would not fit a URL).`,
    `- Burst: ${f('burstDevices')} devices at ${fmt(Number(o.burstRate) / Number(o.burstDevices))} readings/s each (${f('burstRate')}/s in all) for ${o.burstSeconds} s, each keeping at most ${f('burstWindow')} unacknowledged (then it holds back: “held back” is what it could not send in time). ` +
      'Backpressure shows as PUBACK latency. The same load for 2 s on other ids first. Checked for the app by reading every acknowledged (device, seq) back from `GET /v1/telemetry?format=ndjson` (bench/verify.ts); for Mosquitto by its subscriber’s count.',
    `- Storm: ${f('stormDevices')} devices whose CONNECTs start evenly spread over ${o.stormSeconds} s (mqtt.js, clean session, no retry), each held open until all have their CONNACK or gave up (after 10 s). ` +
      '“All connected” is from the first CONNECT’s start to the last CONNACK; CONNACK latency from each `connect()` call. Before it, a storm of 500 other devices (not counted). “Start lag” is how late the bench started its last CONNECT: over a few ms, the bench was the limit.',
    '- Latency: from the `publish()` call to its PUBACK, in the device’s process. Server memory: `VmHWM` (`/proc/<pid>/status`, the peak over the server’s life, start-up and warm-up included) and `VmRSS` last sampled (every 250 ms) before the load ended, every device still connected. Server CPU: user + system, all threads, over the steady load (first acknowledgement to last) per wall second; the same for the bench process (“generator”), with how late its event loop ran (`monitorEventLoopDelay`).',
  ]
  if (o.fullSize === false)
    out.push(
      '- **Sizes differ from the issue’s** (10,000-device fleet for 60 s, 50,000 readings/s for 10 s, 5,000-device storm in 5 s): the verdicts below hold for these sizes only.',
    )
  const targets = targetRows(o, runs)
  out.push('', `Targets, against the median of ${plural(n, 'run')} of the app:`, '')
  out.push(
    ...table(
      ['scenario', 'target and verdict'],
      'll',
      targets.map((t) => [t.scenario, t.text]),
    ),
  )

  const load = (label: string, rs: readonly Row[], p99TargetMs?: number): void => {
    if (rs.length === 0) return
    const head = [
      'server',
      'devices',
      'connect s',
      'acked readings/s',
      'held back',
      'p50 ms',
      'p99 ms',
      'max ms',
      'VmHWM MB',
    ]
    head.push('RSS at end MB', 'server cores', 'generator cores', 'generator lag p99 ms', 'lost', 'runs ok')
    out.push('', `${label}, medians (min–max):`, '')
    const cols = [
      ['devices', 0],
      ['connectS', 1],
      ['ackedPerSecond', 0],
      ['heldBack', 0],
      ['p50Ms', 2],
      ['p99Ms', 2],
      ['maxMs', 1],
    ] as const
    out.push(
      ...medians(rs, head, [
        ...cols,
        ['hwmMb', 0],
        ['endRssMb', 0],
        ['cores', 2],
        ['generatorCores', 2],
        ['lagP99Ms', 1],
        ['lost', 0],
      ]),
    )
    const keys = [
      ['acked/s', 'ackedPerSecond'],
      ['p50', 'p50Ms'],
      ['p99', 'p99Ms'],
      ['VmHWM', 'hwmMb'],
      ['server cores', 'cores'],
    ] as const
    out.push('', appVsMosquitto(rs, keys))
    if (p99TargetMs !== undefined) {
      out.push(
        '',
        `Where the p99 is made: the readings published in the first ${EARLY_S} s of the load (every device’s first, reaching a server that has just taken every connection) apart from the rest, by publish time; and how many seconds of the load had a p99 over ${p99TargetMs} ms. ` +
          'Cores busy over the same stretches: the server’s (all threads) and the whole machine’s (`/proc/stat`: server, devices and anything else). Medians (min–max):',
        '',
      )
      const h = [
        'server',
        `first ${EARLY_S} s: readings`,
        'p50 ms',
        'p99 ms',
        'after: p50 ms',
        'p99 ms',
        `seconds over ${p99TargetMs} ms`,
      ]
      const phaseCols = [
        ['earlyCount', 0],
        ['earlyP50Ms', 1],
        ['earlyP99Ms', 1],
        ['restP50Ms', 1],
        ['restP99Ms', 1],
      ] as const
      const pair = (a: string, b: string, d: number, sep: string) => (x: Row[]) =>
        `${col(x, a, d)}${sep}${col(x, b, d)}`
      const more = [
        pair('secondsOver', 'seconds', 0, ' of '),
        pair('earlyServerCores', 'restServerCores', 2, ' / '),
      ]
      more.push(pair('earlyMachineCores', 'restMachineCores', 2, ' / '))
      out.push(
        ...medians(
          rs,
          [...h, 'server cores, first / after', 'machine cores, first / after'],
          [...phaseCols, ...more],
        ),
      )
      const gc = of(rs, 'fleet', 'app').filter((r) => typeof r.gcMajor === 'number')
      if (gc.length > 0) {
        const c = (k: string, d: number): string => col(gc, k, d)
        out.push(
          '',
          'The app’s garbage collections over the load (prom-client’s `nodejs_gc_duration_seconds` on its `/metrics`, scraped once a second; the pauses of its main thread, which also runs MQTT and the bridge), medians: ' +
            `${c('gcMajor', 0)} major (mark-compact) collections, pausing it ${c('gcMajorMs', 0)} ms in all; ${c('gcMinor', 0)} minor ones (scavenges), ${c('gcMinorMs', 0)} ms in all. ` +
            `Seconds of the load in or next to which a major collection ended: ${c('gcSecondsWithMajor', 0)}, and the p99 of the readings published in them ${c('gcWithMajorP99Ms', 1)} ms; in the other seconds ${c('gcOtherP99Ms', 1)} ms.`,
        )
      }
    }
    const memory = rs.filter((r) => r.server === 'app' && typeof r.memRssMb === 'number')
    if (memory.length > 0) {
      const mb = (k: string): string => `${col(memory, k, 0)} MB`
      out.push(
        '',
        `Where the app’s memory was, ${MEMORY_AT * 100}% of the way into the load (VmRSS and RssFile from /proc, the main thread’s heap spaces from the app’s \`/metrics\`; medians of ${plural(memory.length, 'run')}): ` +
          `RSS ${mb('memRssMb')} = code mapped from files (node, libduckdb) ${mb('memFileMb')} + the main thread’s V8 heap, committed: young generation ${mb('memYoungMb')}, old generation ${mb('memOldMb')} ` +
          `(its objects, live or not yet collected, ${mb('memOldUsedMb')}), other spaces ${mb('memOtherHeapMb')} + the rest ${mb('memOutsideMb')} (malloc of Node, libuv and DuckDB, the store worker’s own V8 heap, buffers). ` +
          'The peak (VmHWM) can come at another moment than this.',
      )
    }
    const bound = SERVERS.filter(
      (k) =>
        med(
          rs.filter((r) => r.server === k),
          'generatorCores',
        ) > GENERATOR_BOUND_CORES,
    )
    if (bound.length > 0)
      out.push(
        '',
        `Generator-bound (${bound.map(name).join(', ')}): the bench process, one JavaScript thread driving every device, was over ${GENERATOR_BOUND_CORES} cores busy, so its own queueing (event-loop lag above) is part of the latency, and the figures are what this machine gives with the devices beside the server, not the server alone.`,
      )
  }
  load(
    `Fleet: ${f('fleetDevices')} devices × ${o.fleetRate}/s for ${o.fleetSeconds} s`,
    of(runs, 'fleet'),
    TARGETS.fleetP99Ms,
  )
  load(
    `Burst: ${f('burstRate')} readings/s for ${o.burstSeconds} s from ${f('burstDevices')} devices`,
    of(runs, 'burst'),
  )
  const burstMosquitto = of(runs, 'burst', 'mosquitto')
  if (burstMosquitto.length > 0)
    out.push(
      '',
      `Mosquitto’s subscriber received ${col(burstMosquitto, 'deliveredPerSecond', 0)} messages/s in the burst, first to last.`,
    )
  const storm = of(runs, 'storm')
  if (storm.length > 0) {
    out.push(
      '',
      `Storm: ${f('stormDevices')} devices connecting within ${o.stormSeconds} s, medians (min–max):`,
      '',
    )
    const head = [
      'server',
      'connected',
      'refused',
      'failed',
      'dropped',
      'all connected s',
      'after the last start s',
      'CONNACK p50 ms',
      'p99 ms',
    ]
    const cols = [
      ['connected', 0],
      ['refused', 0],
      ['failed', 0],
      ['dropped', 0],
      ['allConnectedS', 2],
      ['afterLastStartS', 3],
      ['p50Ms', 1],
      ['p99Ms', 1],
    ] as const
    const more = [
      ['maxMs', 1],
      ['hwmMb', 0],
      ['cores', 2],
      ['generatorCores', 2],
      ['startLagMs', 1],
    ] as const
    out.push(
      ...medians(
        storm,
        [...head, 'max ms', 'VmHWM MB', 'server cores', 'generator cores', 'start lag ms'],
        [...cols, ...more],
      ),
    )
    out.push(
      '',
      appVsMosquitto(storm, [
        ['all connected', 'allConnectedS'],
        ['CONNACK p99', 'p99Ms'],
      ]),
    )
  }
  if (doc.profiles.length > 0)
    out.push(
      '',
      '### Where the app’s time goes',
      '',
      'For each scenario where the app missed a target, one more app run under `node --cpu-prof` (not in the results above; the whole process life, start-up included), summarized by bench/cpu-profile.ts: self time by package and by function, largest first. ' +
        'Where the fleet’s p99 missed, the fleet’s runs again with the store’s commits answered at once (bench/no-commit.ts, preloaded: nothing stored), to tell their share of the latency from that of everything else.',
      '',
      ...doc.profiles.flatMap((p) => ['```', p, '```', '']),
    )
  out.push('', '### Each run', '')
  const each = (['fleet', 'burst', 'storm'] as const).flatMap((s) => of(runs, s))
  const head = [
    'run',
    'scenario',
    'server',
    'acked/s or connected',
    'p50 ms',
    'p99 ms',
    'max ms',
    'VmHWM MB',
    'server cores',
    'check',
  ]
  out.push(
    ...table(
      head,
      'rllrrrrrrl',
      each.map((r) => {
        const x = (k: string, d: number): string => num(r[k]).toFixed(d)
        const count = fmt(num(r.scenario === 'storm' ? r.connected : r.ackedPerSecond))
        const check = `${r.ok === true ? '' : '**FAILED** '}${r.check}`
        return [
          String(r.run),
          String(r.scenario),
          name(r.server),
          count,
          x('p50Ms', 2),
          x('p99Ms', 2),
          x('maxMs', 1),
          fmt(num(r.hwmMb)),
          x('cores', 2),
          check,
        ]
      }),
    ),
  )
  return {
    title: 'Fleet, burst and connection storm (bench:fleet)',
    section: out.join('\n'),
    panels: panels(doc, targets),
  }
}

/** The chart: per scenario, the app beside Mosquitto. */
function panels(doc: BenchDoc, targets: readonly TargetRow[]): Panel[] {
  const { options: o, runs } = doc
  const met = (scenario: string, what: string): boolean =>
    targets.find((t) => t.scenario === scenario && t.text.includes(what))?.met ?? false
  const panel = (
    scenario: string,
    measure: string,
    unit: string,
    key: string,
    target?: { value: number; met: boolean },
  ): Panel => ({
    scenario:
      scenario === 'fleet'
        ? `fleet, ${fmt(Number(o.fleetDevices))} devices × ${o.fleetRate}/s`
        : scenario === 'burst'
          ? `burst, ${fmt(Number(o.burstRate))} readings/s offered`
          : `storm, ${fmt(Number(o.stormDevices))} devices in ${o.stormSeconds} s`,
    measure,
    unit,
    better: measure.includes('readings/s') ? 'higher' : 'lower',
    bars: [
      { label: 'app', value: med(of(runs, scenario, 'app'), key), ours: true },
      {
        label: `Mosquitto ${doc.versions.mosquitto}`,
        value: med(of(runs, scenario, 'mosquitto'), key),
        ours: false,
      },
    ],
    ...(target === undefined ? {} : { target }),
  })
  const has = (s: string): boolean => of(runs, s).length > 0
  return [
    ...(has('fleet')
      ? [
          panel('fleet', 'publish→PUBACK p99', 'ms', 'p99Ms', {
            value: TARGETS.fleetP99Ms,
            met: met('fleet', 'p99'),
          }),
          panel('fleet', 'server peak RSS', 'MB', 'hwmMb', {
            value: TARGETS.fleetRssMb,
            met: met('fleet', 'RSS'),
          }),
        ]
      : []),
    ...(has('burst')
      ? [
          panel('burst', 'acknowledged readings/s', 'readings/s', 'ackedPerSecond'),
          panel('burst', 'publish→PUBACK p99', 'ms', 'p99Ms'),
          panel('burst', 'server peak RSS', 'MB', 'hwmMb', {
            value: TARGETS.burstRssMb,
            met: met('burst', 'RSS'),
          }),
        ]
      : []),
    ...(has('storm')
      ? [
          panel('storm', 'all connected after', 's', 'allConnectedS', {
            value: TARGETS.stormAllConnectedS,
            met: met('storm', 'connected in'),
          }),
          panel('storm', 'CONNACK p99', 'ms', 'p99Ms'),
        ]
      : []),
  ]
}
