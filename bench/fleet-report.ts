/**
 * The "Fleet, burst and connection storm (bench:fleet)" section of
 * bench/RESULTS.md and its chart panels, from bench/results/fleet.json, and
 * the targets it holds the runs against.
 */

import { type Panel, panel } from './chart.js'
import type { BenchDoc, Figure, Row } from './doc.js'
import { cells, fmt, med, num, plural, prose, ratio, runCells, table, verdict } from './doc.js'
import { EARLY_S, MEMORY_AT } from './fleet-run.js'
import type { Report } from './render.js'

/** Issue 6's targets, for this 2-core machine. */
export const TARGETS = Object.freeze({
  fleetRssMb: 500,
  fleetP99Ms: 25,
  burstRssMb: 1024,
  stormAllConnectedS: 10,
})
const RATIOS = 'acked/s=ackedPerSecond, p50=p50Ms, p99=p99Ms, VmHWM=hwmMb, server cores=cores'
const EACH_HEAD = 'run|scenario|server|acked/s or connected|p50 ms|p99 ms|max ms|VmHWM MB|server cores|check'
const EACH = 'p50Ms:2 p99Ms:2 maxMs:1 hwmMb:# cores:2'
const NAMES: Readonly<Record<string, string>> = {
  app: 'app',
  auth: 'app + auth + ACL',
  mosquitto: 'Mosquitto',
}
export const serverName = (server: unknown): string => NAMES[String(server)] ?? String(server)
const name = serverName
const of = (runs: readonly Row[], scenario: string, server?: string): Row[] =>
  runs.filter((r) => r.scenario === scenario && (server === undefined || r.server === server))
const LOAD_HEAD =
  'server|devices|connect s|acked readings/s|held back|p50 ms|p99 ms|max ms|VmHWM MB|RSS at end MB|server cores|generator cores|generator lag p99 ms|lost'
const LOAD_CELLS =
  'devices:0 connectS:1 ackedPerSecond:0 heldBack:0 p50Ms:2 p99Ms:2 maxMs:1 hwmMb:0 endRssMb:0 cores:2 generatorCores:2 lagP99Ms:1 lost:0'
const PHASE_CELLS =
  'earlyCount:0 earlyP50Ms:1 earlyP99Ms:1 restP50Ms:1 restP99Ms:1 secondsOver~seconds:0 earlyServerCores/restServerCores:2 earlyMachineCores/restMachineCores:2'
const STORM_HEAD =
  'server|connected|refused, failed or dropped|all connected s|CONNACK p50 ms|p99 ms|max ms|VmHWM MB|server cores|server event-loop lag p99 ms|generator cores|generator lag p99 ms'
const STORM_CELLS =
  'connected:0 failed:0 allConnectedS:2 p50Ms:1 p99Ms:1 maxMs:1 hwmMb:0 cores:2 serverLagP99Ms:1 generatorCores:2 lagP99Ms:1'

export interface TargetRow {
  readonly scenario: 'fleet' | 'burst' | 'storm'
  /** Our app open, or with a password file and an ACL file. */
  readonly server: 'app' | 'auth'
  readonly met: boolean
  readonly text: string
}

/** Each target against the median of ours, open and with auth + ACL, in words. */
export function targetRows(o: Readonly<Record<string, Figure>>, runs: readonly Row[]): TargetRow[] {
  return (['app', 'auth'] as const).flatMap((server) => serverTargets(o, runs, server))
}

function serverTargets(o: Readonly<Record<string, Figure>>, runs: readonly Row[], server: 'app' | 'auth') {
  const [fleet, burst, storm] = ['fleet', 'burst', 'storm'].map((s) => of(runs, s, server)) as [
    Row[],
    Row[],
    Row[],
  ]
  const total = (rs: readonly Row[], key: string): number => rs.reduce((n, r) => n + num(r[key]), 0)
  const [word, runsOf] = [
    (met: boolean) => (met ? 'met' : '**missed**'),
    (rs: Row[]) => plural(rs.length, 'run'),
  ]
  const rows: TargetRow[] = []
  const row = (scenario: TargetRow['scenario'], v: { met: boolean; text: string }): number =>
    rows.push({ scenario, server, ...v })
  if (fleet.length > 0) {
    const connected = med(fleet, 'devices')
    const all = connected === o.fleetDevices
    row('fleet', {
      met: all,
      text: `${fmt(connected)} of ${fmt(num(o.fleetDevices))} devices connected: ${word(all)}`,
    })
    row('fleet', verdict('peak RSS (VmHWM)', med(fleet, 'hwmMb'), TARGETS.fleetRssMb, true, ' MB'))
    row('fleet', verdict('publish→PUBACK p99', med(fleet, 'p99Ms'), TARGETS.fleetP99Ms, true, ' ms', 1))
  }
  if (burst.length > 0) {
    const lost = total(burst, 'lost')
    const text =
      `${fmt(lost)} of ${fmt(total(burst, 'acked'))} acknowledged readings lost over ${runsOf(burst)}, target 0: ${word(lost === 0)} ` +
      `(of the ${fmt(num(o.burstRate))}/s offered the app acknowledged ${fmt(med(burst, 'ackedPerSecond'))}/s; ` +
      `the devices held back ${fmt(med(burst, 'heldBack'))} readings with their windows full)`
    row('burst', { met: lost === 0 && burst.every((x) => x.ok === true), text })
    row('burst', verdict('peak RSS (VmHWM)', med(burst, 'hwmMb'), TARGETS.burstRssMb, true, ' MB'))
  }
  if (storm.length > 0) {
    const [failed, what] = [total(storm, 'failed'), `all ${fmt(num(o.stormDevices))} connected in`]
    const time = verdict(what, med(storm, 'allConnectedS'), TARGETS.stormAllConnectedS, true, ' s', 2)
    row('storm', { met: time.met && storm.every((x) => x.connected === o.stormDevices), text: time.text })
    const text = `${fmt(failed)} refused, failed or dropped over ${runsOf(storm)}, target 0: ${word(failed === 0)}`
    row('storm', { met: failed === 0, text })
  }
  return rows
}

/** A median table, one row per server: head cells `a|b|…`, figure cells (doc.ts cells), `runs ok` when asked. */
function medians(rs: readonly Row[], head: string, specs: string, runsOk: boolean): string[] {
  const servers = Object.keys(NAMES)
    .map((k) => rs.filter((r) => r.server === k))
    .filter((x) => x.length > 0)
  const ok = (x: Row[]): string[] => (runsOk ? [`${x.filter((r) => r.ok === true).length}/${x.length}`] : [])
  const heads = `${head}${runsOk ? '|runs ok' : ''}`
  const align = `l${'r'.repeat(heads.split('|').length - 1)}`
  const rows = servers.map((x) => [name(x[0]!.server), ...cells(x, specs), ...ok(x)])
  return table(heads, align, rows)
}

/** `App ÷ Mosquitto, medians: …`, then auth + ACL ÷ open when it ran, from `label=key` pairs. */
function ratios(rs: readonly Row[], keys: string): string {
  const by = (server: string): Row[] => rs.filter((r) => r.server === server)
  const pairs = [['App ÷ Mosquitto', 'app', 'mosquitto']]
  if (by('auth').length > 0) pairs.push(['App + auth + ACL ÷ app open', 'auth', 'app'])
  const parts = ([what = '', a = '', b = '']: string[]): string =>
    `${what}, medians: ${keys
      .split(', ')
      .map((pair) => pair.split('='))
      .map(([label, k = '']) => `${label} ${ratio(med(by(a), k), med(by(b), k))}`)
      .join(', ')}.`
  return pairs.map(parts).join(' ')
}

export function renderFleet(doc: BenchDoc): Report {
  const { options: o, runs } = doc
  const [devices, burstDevices] = [num(o.fleetDevices), num(o.burstDevices)]
  const counts = { fleetTotal: devices * num(o.fleetRate), warmupDevices: Math.min(devices, 1000) }
  const out = [prose(doc, { ...counts, burstEach: num(o.burstRate) / burstDevices })]
  if (runs.some((r) => r.server === 'auth')) out.push(prose(doc, {}, 'authMethod'))
  if (o.fullSize === false) out.push(prose(doc, {}, 'smaller'))
  const [targets, n] = [targetRows(o, runs), Math.max(...runs.map((r) => num(r.run)))]
  out.push('', prose(doc, { runs: plural(n, 'run') }, 'targets'), '')
  out.push(
    ...table(
      'scenario|target and verdict',
      'll',
      targets.map((t) => [t.server === 'app' ? t.scenario : `${t.scenario}, ${name(t.server)}`, t.text]),
    ),
  )
  const phases = `server|first ${EARLY_S} s: readings|p50 ms|p99 ms|after: p50 ms|p99 ms|seconds over ${TARGETS.fleetP99Ms} ms|server cores, first / after|machine cores, first / after`
  for (const scenario of ['fleet', 'burst']) {
    const rs = of(runs, scenario)
    const app = rs.filter((r) => r.server === 'app')
    if (rs.length === 0) continue
    out.push('', prose(doc, {}, `${scenario}Table`), '', ...medians(rs, LOAD_HEAD, LOAD_CELLS, true))
    out.push('', ratios(rs, RATIOS))
    if (scenario === 'fleet') {
      out.push('', prose(doc, { early: EARLY_S, target: TARGETS.fleetP99Ms }, 'phases'), '')
      out.push(...medians(rs, phases, PHASE_CELLS, false))
      const gc = app.filter((r) => typeof r.gcMajor === 'number')
      if (gc.length > 0) out.push('', prose(doc, {}, 'gc', gc))
    }
    const memory = app.filter((r) => typeof r.memRssMb === 'number')
    const runsOf = plural(memory.length, 'run')
    if (memory.length > 0) out.push('', prose(doc, { at: MEMORY_AT * 100, runs: runsOf }, 'memory', memory))
    const busy = (k: string): boolean => med(of(rs, scenario, k), 'generatorCores') > 0.9
    const bound = ['app', 'mosquitto'].filter(busy).map(name).join(', ')
    if (bound !== '') out.push('', prose(doc, { servers: bound, limit: 0.9 }, 'generatorBound'))
  }
  const burstMosquitto = of(runs, 'burst', 'mosquitto')
  if (burstMosquitto.length > 0) out.push('', prose(doc, {}, 'delivered', burstMosquitto))
  const storm = of(runs, 'storm')
  const stormRatios = 'all connected=allConnectedS, CONNACK p99=p99Ms, server cores=cores'
  if (storm.length > 0)
    out.push('', prose(doc, {}, 'stormTable'), '', ...medians(storm, STORM_HEAD, STORM_CELLS, false), '')
  if (storm.length > 0) out.push(ratios(storm, stormRatios))
  if (doc.profiles.length > 0)
    out.push('', '### Where the app’s time goes', '', prose(doc, {}, 'profiles'), '')
  out.push(...doc.profiles.flatMap((p) => ['```', p, '```', '']))
  out.push('', '### Each run', '')
  const each = ['fleet', 'burst', 'storm'].flatMap((s) => of(runs, s))
  const row = (r: Row): string[] => {
    const count = fmt(num(r.scenario === 'storm' ? r.connected : r.ackedPerSecond))
    const check = `${r.ok === true ? '' : '**FAILED** '}${r.check}`
    return [String(r.run), String(r.scenario), name(r.server), count, ...runCells(r, EACH), check]
  }
  out.push(...table(EACH_HEAD, 'rllrrrrrrl', each.map(row)))
  return {
    title: 'Fleet, burst and connection storm (bench:fleet)',
    section: out.join('\n'),
    panels: panels(doc, targets),
  }
}

/** The chart: per scenario, the app (and with auth + ACL, where it ran) beside Mosquitto, with issue 6's targets. */
function panels(doc: BenchDoc, targets: readonly TargetRow[]): Panel[] {
  const { options: o, runs } = doc
  // Met when every server of ours met it: the app open, and with auth + ACL where that ran.
  const met = (scenario: string, what: string): boolean =>
    targets.filter((t) => t.scenario === scenario && t.text.includes(what)).every((t) => t.met)
  const titles: Record<string, string> = {
    fleet: `fleet, ${fmt(num(o.fleetDevices))} devices × ${o.fleetRate}/s`,
    burst: `burst, ${fmt(num(o.burstRate))} readings/s offered`,
    storm: `storm, ${fmt(num(o.stormDevices))} devices in ${o.stormSeconds} s`,
  }
  // scenario, measure, unit, figure, target, the words of its target row
  const specs = [
    ['fleet', 'publish→PUBACK p99', 'ms', 'p99Ms', TARGETS.fleetP99Ms, 'p99'],
    ['fleet', 'server peak RSS', 'MB', 'hwmMb', TARGETS.fleetRssMb, 'RSS'],
    ['burst', 'acknowledged readings/s', 'readings/s', 'ackedPerSecond'],
    ['burst', 'publish→PUBACK p99', 'ms', 'p99Ms'],
    ['burst', 'server peak RSS', 'MB', 'hwmMb', TARGETS.burstRssMb, 'RSS'],
    ['storm', 'all connected after', 's', 'allConnectedS', TARGETS.stormAllConnectedS, 'connected in'],
    ['storm', 'CONNACK p99', 'ms', 'p99Ms'],
  ] as const
  const bars = (scenario: string, key: string) => [
    ['app', med(of(runs, scenario, 'app'), key), true] as const,
    ...(of(runs, scenario, 'auth').length > 0
      ? [['app + auth + ACL', med(of(runs, scenario, 'auth'), key), true] as const]
      : []),
    [`Mosquitto ${doc.versions.mosquitto}`, med(of(runs, scenario, 'mosquitto'), key), false] as const,
  ]
  return specs
    .filter(([scenario]) => of(runs, scenario).length > 0)
    .map(([scenario, measure, unit, key, value, words]) => {
      const target = value === undefined ? undefined : { value, met: met(scenario, words!) }
      return panel(titles[scenario]!, measure, unit, bars(scenario, key), target)
    })
}
