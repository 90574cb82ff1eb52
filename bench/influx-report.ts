/** The "InfluxDB forwarding (bench:influx)" section of bench/RESULTS.md and its chart panel, from bench/results/influx.json. */

import { panel } from './chart.js'
import { type BenchDoc, fmt, med, num, plural, prose, runCells, table } from './doc.js'
import type { Report } from './render.js'

/** Issue 5: ours at least this share of the ceiling's readings/s. */
export const TARGET = 0.8
const EACH = 'import.seconds:2 http.seconds:2 ours.seconds:2 ours.serverCpuS:1 ours.peakRssMb:0 ours.writeS:1'
const EACH_HEAD =
  'run|import s|HTTP s|ours s|ours server CPU s|ours peak RSS MB|ours waiting on writes s|checks'

export function renderInflux(doc: BenchDoc): Report {
  const { runs } = doc
  const readings = num(doc.options.readings)
  const rates = {
    import: med(runs, 'import.perS'),
    http: med(runs, 'http.perS'),
    ours: med(runs, 'ours.perS'),
  }
  const ceiling = Math.max(rates.import, rates.http)
  const x = rates.ours / ceiling
  const share = `ours forwards ${(x * 100).toFixed(0)}% of the ceiling's readings/s`
  const verdict =
    x >= TARGET
      ? `**met**: ${share} (target ≥ ${TARGET * 100}%)`
      : `**missed**: ${share}, ${fmt(rates.ours)} where ${TARGET * 100}% is ${fmt(ceiling * TARGET)}`
  const passed = `${runs.filter((r) => r.ok === true).length}/${runs.length}`
  const ceilingName = rates.import >= rates.http ? '`influx -import`' : 'HTTP posts of 20,000 lines'
  const words = {
    target: TARGET * 100,
    passed,
    runs: plural(runs.length, 'run'),
    ceiling: ceilingName,
    verdict,
  }
  const out = [prose(doc, { ...words, share: (x * 100).toFixed(0) }, '', runs), '']
  out.push(
    '### Each run',
    '',
    ...table(
      EACH_HEAD,
      'rrrrrrrl',
      runs.map((r) => {
        const checks = `import ${r['import.check']}; HTTP ${r['http.check']}; ours ${r['ours.check']}`
        return [String(r.run), ...runCells(r, EACH), checks]
      }),
    ),
    ...doc.profiles.flatMap((p) => ['', '```', p, '```']),
  )
  const bars = [
    ['app, forwarder', rates.ours, true],
    ['`influx -import`', rates.import, false],
    ['HTTP, 20,000 lines a POST', rates.http, false],
  ] as const
  const scenario = `backlog of ${fmt(readings)} readings into InfluxDB ${doc.versions.influxd}`
  const target = { value: ceiling * TARGET, met: rates.ours >= ceiling * TARGET }
  return {
    title: 'InfluxDB forwarding (bench:influx)',
    section: out.join('\n'),
    panels: [panel(scenario, 'readings/s', 'readings/s', bars, target)],
  }
}
