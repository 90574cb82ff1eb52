/** The "InfluxDB forwarding (bench:influx)" section of bench/RESULTS.md and its chart panel, from bench/results/influx.json. */

import { type BenchDoc, col, fmt, med, num, plural, type Row, table } from './doc.js'
import type { Report } from './render.js'

/** Issue 5: ours at least this share of the ceiling's readings/s. */
export const TARGET = 0.8

/** One line per run for the console. */
export function influxLine(r: Row): string {
  const n = (k: string, d: number): string => num(r[k]).toFixed(d)
  return (
    `influx -import ${n('importS', 2)} s (${fmt(num(r.importPerS))}/s, ${r.importCheck}); ` +
    `HTTP ${n('httpS', 2)} s (${fmt(num(r.httpPerS))}/s, ${r.httpCheck}); ours ${n('oursS', 2)} s ` +
    `(${fmt(num(r.oursPerS))}/s, server CPU ${n('serverCpuS', 1)} s, influxd CPU ${n('oursInfluxdCpuS', 1)} s, ` +
    `waiting on writes ${n('writeS', 1)} s, peak RSS ${n('peakRssMb', 0)} MB, ` +
    `${fmt(num(r.forwardedAtListen))} forwarded before listening, ${r.oursCheck})`
  )
}

export function renderInflux(doc: BenchDoc): Report {
  const { runs, context: c, machine: m } = doc
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
    'How fast the forwarder drains a backlog of stored readings into InfluxDB (readings/s, and the drain time of the whole backlog), next to InfluxDB ingesting the very same lines through its own tools in ' +
      `the same run (the ceiling). Target (issue 5): at least ${TARGET * 100}% of the ceiling.`,
    '',
    `- Machine: ${m.cores} cores (${m.cpu}), Node ${m.node}, InfluxDB ${doc.versions.influxd} (Debian's influxd, its default engine settings: WAL fsynced per write, inmem index) on loopback; ${doc.measuredAt}`,
    `- Command: \`${doc.command}\`, code at ${doc.code}`,
    `- Data: ${fmt(readings)} readings from ${fmt(Number(doc.options.devices))} devices, each every second, with a float, an integer and a boolean field (\`temp\`, \`count\`, \`on\`) and a reading tag \`site\` (4 values, one per device; written as an InfluxDB tag with \`--influx-tags site\`), the device time set. ` +
      `Written into a store by one \`INSERT … SELECT\` in DuckDB in ${Number(c.generateS).toFixed(1)} s (database file ${Number(c.storeMB).toFixed(0)} MB), with no forwarder checkpoint: all of it is backlog.`,
    '- Lines: the bench asks the store for them as the forwarder does (`linesAfter`, batches of 20,000 in stored order, rendered by DuckDB), so the ceiling writes byte for byte what ours writes: ' +
      `${Number(c.lineMB).toFixed(0)} MB, ${Number(c.lineBytes).toFixed(0)} bytes a line, rendered in ${Number(c.readS).toFixed(1)} s in the bench process. A line:`,
    '',
    '```',
    String(c.sampleLine),
    '```',
    '',
    '- Ceiling, two ways, each into a freshly created database: `influx -import -path=FILE -precision=ns` (the CLI posts 5,000 lines a write, one write at a time), timed from spawn to exit; and the bench posting the same lines, prepared in memory, to `/write?db=&precision=ns` in bodies of 20,000 lines (the forwarder’s size), one at a time, timed from the first request to the last 204. ' +
      `The faster (by median readings/s) is the ceiling: here ${rates.import >= rates.http ? '`influx -import`' : 'HTTP posts of 20,000 lines'}.`,
    '- Ours: a fresh server (`--influx-url`, `--influx-db`, `--influx-version 1`) on a copy of the store, into a freshly created database; timed from its "listening" log line to `influx_backlog_readings` 0 (/metrics polled every 100 ms); readings/s = readings ÷ that time. Its start-up (opening the store) is not counted; the forwarder starts a moment before the HTTP port opens, and what it forwarded by the first poll is shown below. Server CPU over the drain from /proc, its RSS polled with /metrics.',
    `- Check, every run and every writer: InfluxDB holds ${fmt(Number(c.points))} points with the expected \`count("@seq")\`, \`sum("@seq")\`, \`sum("count")\`, \`count("on")\` and \`sum("temp")\` (within 1e-9), ` +
      `computed from the store; ours had no retries and no refused lines. ${passed}/${runs.length} runs passed.`,
    '- Between writers, the database is dropped and influxd left to settle (under 5% of a core for a second).',
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
