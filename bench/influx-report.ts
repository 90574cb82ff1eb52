/** The "InfluxDB forwarding (bench:influx)" section of bench/RESULTS.md and its chart panel, from bench/results/influx.json. */

import { panel } from './chart.js'
import { type BenchDoc, cells, col, fmt, med, num, plural, prose, runCells, table } from './doc.js'
import type { Report } from './render.js'

/** Issue 5: ours at least this share of the ceiling's readings/s. */
export const TARGET = 0.8
const EACH = 'import.seconds:2 http.seconds:2 ours.seconds:2 ours.serverCpuS:1 ours.peakRssMb:0 ours.writeS:1'
const EACH_HEAD =
  'run|import s|HTTP s|ours s|ours server CPU s|ours peak RSS MB|ours waiting on writes s|checks'

export function renderInflux(doc: BenchDoc): Report {
  const { runs, context: c } = doc
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
  const o = (k: string): string =>
    col(runs, `ours.${k}`, k === 'writes' || k.endsWith('Mb') || k === 'forwardedAtListen' ? 0 : 1)
  const out = [
    prose(doc, {
      ...{ target: TARGET * 100, passed: `${runs.filter((r) => r.ok === true).length}/${runs.length}` },
      ...{
        generateS: num(c.generateS).toFixed(1),
        storeMB: num(c.storeMB).toFixed(0),
        lineMB: num(c.lineMB).toFixed(0),
      },
      ...{ lineBytes: num(c.lineBytes).toFixed(0), readS: num(c.readS).toFixed(1) },
      ceiling: rates.import >= rates.http ? '`influx -import`' : 'HTTP posts of 20,000 lines',
    }),
    '',
    `Medians of ${plural(runs.length, 'run')}, alternating (min–max):`,
    '',
    ...table('|seconds|readings/s|client CPU s|influxd CPU s', 'lrrrr', [
      [
        '`influx -import`',
        ...cells(runs, 'import.seconds:2 import.perS:0 import.clientCpuS:1 import.influxdCpuS:1'),
      ],
      [
        'HTTP, 20,000 lines a POST (bench)',
        ...cells(runs, 'http.seconds:2 http.perS:0'),
        '',
        col(runs, 'http.influxdCpuS', 1),
      ],
      [
        'ours (forwarder, drain)',
        ...cells(runs, 'ours.seconds:2 ours.perS:0 ours.serverCpuS:1 ours.influxdCpuS:1'),
      ],
    ]),
    '',
    `Drain of ${fmt(readings)} readings: ${col(runs, 'ours.seconds', 1)} s. Ours ÷ ceiling in readings/s, medians: ${(x * 100).toFixed(0)}%. Verdict: ${verdict}.`,
    '',
    `Ours in detail: of the drain, ${o('writeS')} s waiting for InfluxDB to confirm ${o('writes')} writes (\`influx_write_seconds\`), ` +
      `the rest reading the store, making lines and saving checkpoints; server CPU ${o('serverCpuS')} s (${o('usPerReading')} µs a reading); ` +
      `server peak RSS ${o('peakRssMb')} MB during the drain, VmHWM ${o('hwmMb')} MB (start-up included); start-up ${o('startupS')} s; ` +
      `forwarded before the first poll ${o('forwardedAtListen')}.`,
    '',
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
  ]
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
