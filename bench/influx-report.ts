/** The "InfluxDB forwarding (bench:influx)" section of bench/RESULTS.md and its chart panel, from bench/results/influx.json. */

import { type BenchDoc, col, fmt, med, num, plural, prose, table } from './doc.js'
import type { Report } from './render.js'

/** Issue 5: ours at least this share of the ceiling's readings/s. */
export const TARGET = 0.8

export function renderInflux(doc: BenchDoc): Report {
  const { runs, context: c } = doc
  const readings = Number(doc.options.readings)
  const rates = { import: med(runs, 'importPerS'), http: med(runs, 'httpPerS'), ours: med(runs, 'oursPerS') }
  const ceiling = Math.max(rates.import, rates.http)
  const x = rates.ours / ceiling
  const verdict =
    x >= TARGET
      ? `**met**: ours forwards ${(x * 100).toFixed(0)}% of the ceiling's readings/s (target ≥ ${TARGET * 100}%)`
      : `**missed**: ours forwards ${(x * 100).toFixed(0)}% of the ceiling's readings/s, ${fmt(rates.ours)} where ${TARGET * 100}% is ${fmt(ceiling * TARGET)}`
  const passed = runs.filter((r) => r.ok === true).length
  const out = [
    prose(doc, {
      ...{ target: TARGET * 100, passed: `${passed}/${runs.length}`, generateS: num(c.generateS).toFixed(1) },
      ...{
        storeMB: num(c.storeMB).toFixed(0),
        lineMB: num(c.lineMB).toFixed(0),
        lineBytes: num(c.lineBytes).toFixed(0),
      },
      ...{
        readS: num(c.readS).toFixed(1),
        ceiling: rates.import >= rates.http ? '`influx -import`' : 'HTTP posts of 20,000 lines',
      },
    }),
    '',
    `Medians of ${plural(runs.length, 'run')}, alternating (min–max):`,
    '',
    ...table(['', 'seconds', 'readings/s', 'client CPU s', 'influxd CPU s'], 'lrrrr', [
      [
        '`influx -import`',
        col(runs, 'importS', 2),
        col(runs, 'importPerS', 0),
        col(runs, 'importClientCpuS', 1),
        col(runs, 'importInfluxdCpuS', 1),
      ],
      [
        'HTTP, 20,000 lines a POST (bench)',
        col(runs, 'httpS', 2),
        col(runs, 'httpPerS', 0),
        '',
        col(runs, 'httpInfluxdCpuS', 1),
      ],
      [
        'ours (forwarder, drain)',
        col(runs, 'oursS', 2),
        col(runs, 'oursPerS', 0),
        col(runs, 'serverCpuS', 1),
        col(runs, 'oursInfluxdCpuS', 1),
      ],
    ]),
    '',
    `Drain of ${fmt(readings)} readings: ${col(runs, 'oursS', 1)} s. Ours ÷ ceiling in readings/s, medians: ${(x * 100).toFixed(0)}%. Verdict: ${verdict}.`,
    '',
    `Ours in detail: of the drain, ${col(runs, 'writeS', 1)} s waiting for InfluxDB to confirm ${col(runs, 'writes', 0)} writes (\`influx_write_seconds\`), ` +
      `the rest reading the store, making lines and saving checkpoints; server CPU ${col(runs, 'serverCpuS', 1)} s (${col(runs, 'usPerReading', 1)} µs a reading); ` +
      `server peak RSS ${col(runs, 'peakRssMb', 0)} MB during the drain, VmHWM ${col(runs, 'hwmMb', 0)} MB (start-up included); start-up ${col(runs, 'startupS', 1)} s; ` +
      `forwarded before the first poll ${col(runs, 'forwardedAtListen', 0)}.`,
    '',
    '### Each run',
    '',
    ...table(
      [
        'run',
        'import s',
        'HTTP s',
        'ours s',
        'ours server CPU s',
        'ours peak RSS MB',
        'ours waiting on writes s',
        'checks',
      ],
      'rrrrrrrl',
      runs.map((r) => {
        const n = (k: string, d: number): string => num(r[k]).toFixed(d)
        const checks = `import ${r.importCheck}; HTTP ${r.httpCheck}; ours ${r.oursCheck}`
        return [
          String(r.run),
          n('importS', 2),
          n('httpS', 2),
          n('oursS', 2),
          n('serverCpuS', 1),
          n('peakRssMb', 0),
          n('writeS', 1),
          checks,
        ]
      }),
    ),
  ]
  for (const p of doc.profiles) out.push('', '```', p, '```')
  return {
    title: 'InfluxDB forwarding (bench:influx)',
    section: out.join('\n'),
    panels: [
      {
        scenario: `backlog of ${fmt(readings)} readings into InfluxDB ${doc.versions.influxd}`,
        measure: 'readings/s',
        unit: 'readings/s',
        better: 'higher',
        bars: [
          { label: 'app, forwarder', value: rates.ours, ours: true },
          { label: '`influx -import`', value: rates.import, ours: false },
          { label: 'HTTP, 20,000 lines a POST', value: rates.http, ours: false },
        ],
        target: { value: ceiling * TARGET, met: rates.ours >= ceiling * TARGET },
      },
    ],
  }
}
