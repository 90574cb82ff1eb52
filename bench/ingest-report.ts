/** The "Ingest (bench:ingest)" section of bench/RESULTS.md and its chart panels, from bench/results/ingest.json. */

import type { Panel } from './chart.js'
import { type BenchDoc, col, fmt, med, num, plural, prose, type Row, ratio, table, verdict } from './doc.js'
import type { Report } from './render.js'

/** Issue 6's saturation targets: readings/s durably stored, and that ÷ Mosquitto's QoS 1 delivery rate. */
export const SATURATION_TARGETS = Object.freeze({ storedPerSecond: 40_000, ratioToDelivery: 1.5 })
const SCENARIOS = ['appFlat', 'mosquittoFlat', 'appPaced', 'mosquittoPaced'] as const

export function scenarioLabel(scenario: string, pacedRate: number): string {
  const server = scenario.startsWith('app') ? 'app' : 'Mosquitto'
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

/** Issue 6's saturation targets against the flat-out medians, in words. */
export function saturation(runs: readonly Row[], cores: number): string {
  const { stored, delivered } = saturationMedians(runs)
  const t = SATURATION_TARGETS
  const rate = verdict('durably stored', stored, t.storedPerSecond, { atMost: false, unit: '/s' })
  const times = verdict('stored ÷ delivered', stored / delivered, t.ratioToDelivery, {
    atMost: false,
    unit: '×',
    digits: 2,
  })
  const text =
    `Saturation (issue 6), flat out, medians: the app ${rate.text}. Mosquitto’s one QoS 1 subscriber ` +
    `received ${fmt(delivered)} messages/s (first to last) in the same run; ${times.text}.`
  if (times.met) return text
  // What the missed rate would cost in CPU here, at the measured CPU per reading of the app and its publishers.
  const target = t.ratioToDelivery * delivered
  const app = of(runs, 'appFlat')
  const serverUs = med(app, 'serverUs')
  const publisherUs = med(
    app.map((r) => ({ us: (num(r.publisherCores) / num(r.ackedPerSecond)) * 1e6 })),
    'us',
  )
  const server = (target * serverUs) / 1e6
  const publishers = (target * publisherUs) / 1e6
  return (
    `${text} At ${fmt(target)}/s the server would need ${server.toFixed(2)} cores at its ${serverUs.toFixed(1)} µs of CPU ` +
    `per reading, and the publishers ${publishers.toFixed(2)} at their ${publisherUs.toFixed(1)} µs: ` +
    `${(server + publishers).toFixed(2)} of this machine’s ${cores}. With the publishers beside it the server ` +
    `could spend at most ${(((cores - publishers) / target) * 1e6).toFixed(1)} µs a reading, all its threads ` +
    'together (Mosquitto, storing nothing, spends the figure in the table above).'
  )
}

export function renderIngest(doc: BenchDoc): Report {
  const o = doc.options
  const m = doc.machine
  const runs = doc.runs
  const label = (s: string): string => scenarioLabel(s, Number(o.pacedRate))
  const present = SCENARIOS.filter((s) => of(runs, s).length > 0)
  const n = Math.max(...runs.map((r) => num(r.run)))
  const out = [
    prose(doc, { payloadBytes: med(runs, 'payloadBytes').toFixed(0) }),
    '',
    `Medians of ${plural(n, 'run')} (min–max):`,
    '',
    ...table(
      [
        'scenario',
        'acked readings/s',
        'p50 ms',
        'p99 ms',
        'server CPU µs/reading',
        'server cores',
        'publisher cores',
        'machine cores',
        'check',
      ],
      'lrrrrrrrl',
      present.map((s) => {
        const rs = of(runs, s)
        const c = (k: string, d: number): string => col(rs, k, d)
        const passed = `${rs.filter((r) => r.ok === true).length}/${rs.length} runs passed`
        const cores = [c('serverCores', 2), c('publisherCores', 2), c('machineCores', 2)]
        return [
          label(s),
          c('ackedPerSecond', 0),
          c('p50Ms', 2),
          c('p99Ms', 2),
          c('serverUs', 1),
          ...cores,
          passed,
        ]
      }),
    ),
    '',
  ]
  const r = (a: string, b: string, k: string): string => ratio(med(of(runs, a), k), med(of(runs, b), k))
  out.push(
    `App ÷ Mosquitto, medians: flat out, throughput ${r('appFlat', 'mosquittoFlat', 'ackedPerSecond')} and server ` +
      `CPU per reading ${r('appFlat', 'mosquittoFlat', 'serverUs')}; paced, p50 ${r('appPaced', 'mosquittoPaced', 'p50Ms')} ` +
      `and p99 ${r('appPaced', 'mosquittoPaced', 'p99Ms')}.`,
    '',
    saturation(runs, m.cores),
  )
  // Where the figure is a floor: the machine, or the publishers' one thread, ran out first.
  const bound = (k: string, limit: number): string =>
    present
      .filter((s) => med(of(runs, s), k) > limit)
      .map(label)
      .join('; ')
  if (bound('machineCores', 0.9 * m.cores) !== '')
    out.push(
      '',
      `Machine-bound (over 90% of ${m.cores} cores busy): ${bound('machineCores', 0.9 * m.cores)}. There the figure is what this machine gives with the load generator beside the server, not the server’s ceiling.`,
    )
  if (bound('publisherCores', 0.9) !== '')
    out.push(
      '',
      `Publisher-bound (the publishers’ process, one JavaScript thread, over 0.9 cores busy): ${bound('publisherCores', 0.9)}. There the server was not the limit, so its figure is a floor.`,
    )
  const head = [
    'run',
    'scenario',
    'acked/s',
    'p50 ms',
    'p99 ms',
    'server µs/reading',
    'sent',
    'acked',
    'errors',
    'held back',
    'check',
  ]
  out.push('', '### Each run', '')
  out.push(
    ...table(
      head,
      'rlrrrrrrrrl',
      runs.map((x) => {
        const f = (k: string, d: number): string => num(x[k]).toFixed(d)
        const counts = [fmt(num(x.sent)), fmt(num(x.acked)), String(x.errors), fmt(num(x.heldBack))]
        const check = `${x.ok === true ? '' : '**FAILED** '}${x.check}`
        return [
          String(x.run),
          label(String(x.scenario)),
          fmt(num(x.ackedPerSecond)),
          f('p50Ms', 2),
          f('p99Ms', 2),
          f('serverUs', 1),
          ...counts,
          check,
        ]
      }),
    ),
  )
  for (const profile of doc.profiles)
    out.push(
      '',
      '### Where the app’s time goes, flat out',
      '',
      'A saturation target was missed, so one more flat-out app run went under `node --cpu-prof` (not in the results above; the whole process life, start-up included), summarized by bench/cpu-profile.ts: self time by package and by function, largest first.',
      '',
      '```',
      profile,
      '```',
    )
  return { title: 'Ingest (bench:ingest)', section: out.join('\n'), panels: panels(doc) }
}

/** The chart: flat-out throughput and paced latency, the app beside Mosquitto. */
function panels(doc: BenchDoc): Panel[] {
  const runs = doc.runs
  const { stored, delivered } = saturationMedians(runs)
  const t = SATURATION_TARGETS
  const mosquitto = `Mosquitto ${doc.versions.mosquitto}`
  const flat = `saturation, ${doc.options.publishers} publishers flat out, QoS 1`
  const paced = `paced, ${fmt(Number(doc.options.pacedRate))} readings/s, QoS 1`
  const latency = (k: string): Panel => ({
    scenario: paced,
    measure: `publish→PUBACK ${k.slice(0, 3)}`,
    unit: 'ms',
    better: 'lower',
    bars: [
      { label: 'app (durable PUBACK)', value: med(of(runs, 'appPaced'), k), ours: true },
      { label: `${mosquitto} (stores nothing)`, value: med(of(runs, 'mosquittoPaced'), k), ours: false },
    ],
  })
  return [
    {
      scenario: flat,
      measure: 'readings/s',
      unit: 'readings/s',
      better: 'higher',
      bars: [
        { label: 'app, durably stored', value: stored, ours: true },
        {
          label: `${mosquitto}, acknowledged`,
          value: med(of(runs, 'mosquittoFlat'), 'ackedPerSecond'),
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
    latency('p50Ms'),
    latency('p99Ms'),
  ]
}
