/** The "Ingest (bench:ingest)" section of bench/RESULTS.md and its chart panels, from bench/results/ingest.json. */

import { panel } from './chart.js'
import type { BenchDoc, Row } from './doc.js'
import { cells, fmt, med, median, num, plural, prose, ratio, runCells, table, verdict } from './doc.js'
import type { Report } from './render.js'

/** Issue 6's saturation targets: readings/s durably stored, and that ÷ Mosquitto's QoS 1 delivery rate. */
export const SATURATION_TARGETS = Object.freeze({ storedPerSecond: 40_000, ratioToDelivery: 1.5 })
/** Issue 22's: flat out, readings/s acknowledged durably with a password file and an ACL file ÷ open. */
export const AUTH_TARGET = 0.95
const SCENARIOS = ['appFlat', 'authFlat', 'mosquittoFlat', 'appPaced', 'authPaced', 'mosquittoPaced'] as const
const SERVERS: Readonly<Record<string, string>> = {
  app: 'app',
  auth: 'app + auth + ACL',
  mosquitto: 'Mosquitto',
}
const HEAD =
  'scenario|acked readings/s|p50 ms|p99 ms|server CPU µs/reading|server cores|publisher cores|machine cores|check'
const CELLS = 'ackedPerSecond:0 p50Ms:2 p99Ms:2 serverUs:1 serverCores:2 publisherCores:2 machineCores:2'
const EACH_HEAD = 'run|scenario|acked/s|p50 ms|p99 ms|server µs/reading|sent|acked|errors|held back|check'
const EACH = 'ackedPerSecond:# p50Ms:2 p99Ms:2 serverUs:1 sent:# acked:# errors:0 heldBack:#'

export function scenarioLabel(scenario: string, pacedRate: number): string {
  const server = SERVERS[scenario.replace(/(Flat|Paced)$/, '')]
  return scenario.endsWith('Flat') ? `${server}, flat out` : `${server}, paced ${pacedRate}/s`
}

const of = (runs: readonly Row[], scenario: string): Row[] => runs.filter((r) => r.scenario === scenario)

/** The flat-out medians issue 6's saturation targets are about. */
function saturationMedians(runs: readonly Row[]): { stored: number; delivered: number } {
  return {
    stored: med(of(runs, 'appFlat'), 'ackedPerSecond'),
    delivered: med(of(runs, 'mosquittoFlat'), 'deliveredPerSecond'),
  }
}

/** Whether the app missed a saturation target: then the results say where its time went. */
export function saturationMissed(runs: readonly Row[]): boolean {
  const { stored, delivered } = saturationMedians(runs)
  const t = SATURATION_TARGETS
  return !(stored >= t.storedPerSecond && stored / delivered >= t.ratioToDelivery)
}

const authRatio = (runs: readonly Row[]): number =>
  med(of(runs, 'authFlat'), 'ackedPerSecond') / med(of(runs, 'appFlat'), 'ackedPerSecond')

/** Whether auth + ACL fell below AUTH_TARGET of the open rate: then the results say where its time went. */
export function authMissed(runs: readonly Row[]): boolean {
  return !(authRatio(runs) >= AUTH_TARGET)
}

/** Issue 22's target against the flat-out medians, and what auth + ACL does to paced latency, in words. */
export function authVerdict(doc: BenchDoc): string {
  const what = 'acked readings/s with auth + ACL ÷ open'
  const rate = verdict(what, authRatio(doc.runs), AUTH_TARGET, false, '×', 2).text
  const r = (k: string): string => ratio(med(of(doc.runs, 'authPaced'), k), med(of(doc.runs, 'appPaced'), k))
  return prose(doc, { rate, pacedP50: r('p50Ms'), pacedP99: r('p99Ms') }, 'auth')
}

/** Issue 6's saturation targets against the flat-out medians, in words (bench/sections/ingest.md). */
export function saturation(doc: BenchDoc): string {
  const { stored, delivered } = saturationMedians(doc.runs)
  const t = SATURATION_TARGETS
  const rate = verdict('durably stored', stored, t.storedPerSecond, false, '/s')
  const times = verdict('stored ÷ delivered', stored / delivered, t.ratioToDelivery, false, '×', 2)
  const vars = { rate: rate.text, delivered: fmt(delivered), times: times.text }
  if (times.met) return prose(doc, vars, 'saturation')
  // What the missed rate would cost in CPU here, at the measured CPU per reading of the app and its publishers.
  const [target, app] = [t.ratioToDelivery * delivered, of(doc.runs, 'appFlat')]
  const [serverUs, publisherUs] = [
    med(app, 'serverUs'),
    median(app.map((r) => (num(r.publisherCores) / num(r.ackedPerSecond)) * 1e6)),
  ]
  const [server, publishers] = [(target * serverUs) / 1e6, (target * publisherUs) / 1e6]
  const spare = ((doc.machine.cores - publishers) / target) * 1e6
  const cost = {
    target: fmt(target),
    server,
    serverUs,
    publishers,
    publisherUs,
    both: server + publishers,
    spare,
  }
  return `${prose(doc, vars, 'saturation')} ${prose(doc, cost, 'saturationCost')}`
}

export function renderIngest(doc: BenchDoc): Report {
  const { options: o, machine: m, runs } = doc
  const label = (s: unknown): string => scenarioLabel(String(s), num(o.pacedRate))
  const present = SCENARIOS.filter((s) => of(runs, s).length > 0)
  const passed = (rs: readonly Row[]): string =>
    `${rs.filter((r) => r.ok === true).length}/${rs.length} runs passed`
  const r = (a: string, b: string, k: string): string => ratio(med(of(runs, a), k), med(of(runs, b), k))
  // Where the figure is a floor: the machine, or the publishers' one thread, ran out first.
  const bound = (k: string, limit: number): string =>
    present
      .filter((s) => med(of(runs, s), k) > limit)
      .map(label)
      .join('; ')
  const n = Math.max(...runs.map((x) => num(x.run)))
  const rows = present.map((s) => [label(s), ...cells(of(runs, s), CELLS), passed(of(runs, s))])
  const out = [
    prose(doc, { payloadBytes: med(runs, 'payloadBytes') }),
    ...(present.includes('authFlat') ? [prose(doc, {}, 'authMethod')] : []),
    '',
    `Medians of ${plural(n, 'run')} (min–max):`,
  ]
  out.push('', ...table(HEAD, 'lrrrrrrrl', rows), '')
  const flat = {
    flatRate: r('appFlat', 'mosquittoFlat', 'ackedPerSecond'),
    flatCpu: r('appFlat', 'mosquittoFlat', 'serverUs'),
  }
  const paced = {
    pacedP50: r('appPaced', 'mosquittoPaced', 'p50Ms'),
    pacedP99: r('appPaced', 'mosquittoPaced', 'p99Ms'),
  }
  out.push(prose(doc, { ...flat, ...paced }, 'ratios'), '', saturation(doc))
  if (present.includes('authFlat')) out.push('', authVerdict(doc))
  const machineBound = bound('machineCores', 0.9 * m.cores)
  if (machineBound !== '') out.push('', prose(doc, { scenarios: machineBound }, 'machineBound'))
  const publisherBound = bound('publisherCores', 0.9)
  if (publisherBound !== '') out.push('', prose(doc, { scenarios: publisherBound }, 'publisherBound'))
  const check = (x: Row): string => `${x.ok === true ? '' : '**FAILED** '}${x.check}`
  const each = runs.map((x) => [String(x.run), label(x.scenario), ...runCells(x, EACH), check(x)])
  out.push('', '### Each run', '', ...table(EACH_HEAD, 'rlrrrrrrrrl', each))
  for (const profile of doc.profiles) out.push('', prose(doc, { profile }, 'profile'))
  return { title: 'Ingest (bench:ingest)', section: out.join('\n'), panels: panels(doc) }
}

/** The chart: flat-out throughput and paced latency, the app beside Mosquitto. */
function panels(doc: BenchDoc): ReturnType<typeof panel>[] {
  const runs = doc.runs
  const { stored, delivered } = saturationMedians(runs)
  const [t, mosquitto] = [SATURATION_TARGETS, `Mosquitto ${doc.versions.mosquitto}`]
  const flat = `saturation, ${doc.options.publishers} publishers flat out, QoS 1`
  const paced = `paced, ${fmt(num(doc.options.pacedRate))} readings/s, QoS 1`
  // The bars of auth + ACL only where it ran: an older run has none.
  const withAuth = of(runs, 'authFlat').length > 0
  const auth = (bar: readonly [string, number, boolean]) => (withAuth ? [bar] : [])
  const latency = (q: string) =>
    panel(paced, `publish→PUBACK ${q}`, 'ms', [
      ['app (durable PUBACK)', med(of(runs, 'appPaced'), `${q}Ms`), true],
      ...auth(['app + auth + ACL', med(of(runs, 'authPaced'), `${q}Ms`), true]),
      [`${mosquitto} (stores nothing)`, med(of(runs, 'mosquittoPaced'), `${q}Ms`), false],
    ])
  const rates = [
    ['app, durably stored', stored, true] as const,
    ...auth(['app + auth + ACL, durably stored', med(of(runs, 'authFlat'), 'ackedPerSecond'), true]),
    [`${mosquitto}, acknowledged`, med(of(runs, 'mosquittoFlat'), 'ackedPerSecond'), false] as const,
    [`${mosquitto}, delivered (QoS 1 sub)`, delivered, false] as const,
  ]
  const [x, a] = [stored / delivered, authRatio(runs)]
  const authPanel = panel(flat, 'auth + ACL ÷ open, acked/s', '×', [['app + auth + ACL', a, true]], {
    value: AUTH_TARGET,
    met: a >= AUTH_TARGET,
  })
  return [
    panel(flat, 'readings/s', 'readings/s', rates, {
      value: t.storedPerSecond,
      met: stored >= t.storedPerSecond,
    }),
    panel(flat, 'stored ÷ Mosquitto’s delivery rate', '×', [['app', x, true]], {
      value: t.ratioToDelivery,
      met: x >= t.ratioToDelivery,
    }),
    ...(withAuth ? [authPanel] : []),
    latency('p50'),
    latency('p99'),
  ]
}
