/** The "Training windows (bench:windows)" section of bench/RESULTS.md and its chart panels, from bench/results/windows.json. */

import { type BenchDoc, col, fmt, med, num, plural, type Row, table } from './doc.js'
import type { Report } from './render.js'

const TARGET_RATIO = 1.5

const check = (r: Row): string =>
  r.ok === true ? 'ok' : `**MISMATCH**: ${fmt(num(r.differing))} windows differ`

/** One line per run for the console. */
export function windowsLine(r: Row): string {
  const n = (k: string, d: number): string => num(r[k]).toFixed(d)
  return (
    `floor ${n('floorS', 2)} s (${fmt(num(r.floorRows))} rows, peak RSS ${n('floorPeakRssMb', 0)} MB); ours ${n('oursS', 2)} s ` +
    `(file ready ${n('headersS', 2)} s, ${fmt(num(r.checkRows))} rows, server peak RSS ${n('oursPeakRssMb', 0)} MB, ` +
    `VmHWM ${n('hwmMb', 0)} MB, CPU ${n('oursCpuS', 2)} s, start-up ${n('startupS', 1)} s); ${check(r)}; ` +
    `${fmt(num(r.unrepeated))} windows not bit-identical to run 1's`
  )
}

export function renderWindows(doc: BenchDoc): Report {
  const { runs, context: c, machine: m } = doc
  const floorS = med(runs, 'floorS')
  const oursS = med(runs, 'oursS')
  const x = oursS / floorS
  const verdict =
    x <= TARGET_RATIO
      ? `**met**: ours takes ${x.toFixed(2)}× the floor (target ≤ ${TARGET_RATIO}×)`
      : `**missed** by ${((x / TARGET_RATIO - 1) * 100).toFixed(0)}%: ours takes ${x.toFixed(2)}× the floor, ` +
        `${oursS.toFixed(2)} s where ${TARGET_RATIO}× allows ${(floorS * TARGET_RATIO).toFixed(2)} s`
  const later = runs.slice(1).map((r) => fmt(num(r.unrepeated)))
  const passed = runs.filter((r) => r.ok === true).length
  const cells = (keys: readonly (readonly [string, number])[]): string[] =>
    keys.map(([k, d]) => col(runs, k, d))
  const out = [
    'How long `GET /v1/windows?device=*&feature=temp_10s&format=parquet` takes to compute one day of 10 s feature windows for every device over the stored readings and stream them as a Parquet file, ' +
      'next to the query a data scientist would write for the same rows, run by DuckDB itself on the same database file in the same bench (the floor). ' +
      `Target (issue 4): within ${TARGET_RATIO}× of the floor, with bounded memory.`,
    '',
    `- Machine: ${m.cores} cores (${m.cpu}), Node ${m.node}, DuckDB ${doc.versions.duckdb} (@duckdb/node-api, in the server and in the bench); ${doc.measuredAt}`,
    `- Command: \`${doc.command}\`, code at ${doc.code}`,
    `- Data: ${fmt(Number(doc.options.readings))} readings of one float field (\`temp\`) from ${fmt(Number(doc.options.devices))} devices over one day (2024-01-01 UTC), ` +
      `each device every ${Number(c.periodS).toFixed(2)} s with up to half that of jitter; 1 in 100 readings carries an event time 0.5–20.5 s older, as if delayed in transit, ` +
      "so some arrive after newer ones (newest_ts > ts) and some are late for the window's 2 s grace. " +
      `Written by one \`INSERT … SELECT\` in DuckDB in ${Number(c.generateS).toFixed(1)} s; database file ${Number(c.storeMB).toFixed(1)} MB.`,
    `- Feature (the server's definitions file): \`${c.feature}\`.`,
    '- Floor: the query below, run by the bench process through @duckdb/node-api on the same file (the server stopped: DuckDB lets one process open it); timed from the call to its return, the Parquet file complete on disk. DuckDB is opened fresh for each run; opening is not counted. Before the runs the floor runs once, not counted (the file just written is read for the first time).',
    '- Ours: a fresh server on the same data dir each run (its start-up, which opens the store and rebuilds the bridge’s dedupe ranges from it, is not counted and shown apart); timed from `fetch()` to the last byte written to a file. The server sends its headers only once DuckDB has written the whole Parquet file (a Parquet file is read from its footer), so "file ready" is the time to the headers and the rest is streaming the file over loopback.',
    '- Memory: the server’s RSS polled every 50 ms during the request (`/proc/<pid>/status` VmRSS), and its VmHWM at the end (its peak over its whole life, start-up included). For the floor, the bench process’s RSS during the COPY (Node plus DuckDB, the same mix as the server; it also holds what generating the data left behind).',
    '- Check: ours read back with DuckDB (`read_parquet`) and joined to the floor’s file on (device, window_end): the same rows, counts, minima and maxima equal, means and standard deviations ' +
      `within 1e-9. ${passed}/${runs.length} runs passed.`,
    '',
    '```sql',
    String(c.floorSql),
    '```',
    '',
    `Medians of ${plural(runs.length, 'run')}, floor and ours alternating (min–max):`,
    '',
    ...table(
      ['', 'seconds', 'CPU seconds', 'RSS before MB', 'peak RSS MB', 'rows', 'Parquet MB'],
      'lrrrrrr',
      [
        [
          'floor (hand-written DuckDB query)',
          ...cells([
            ['floorS', 2],
            ['floorCpuS', 2],
            ['floorIdleRssMb', 0],
            ['floorPeakRssMb', 0],
            ['floorRows', 0],
            ['floorMB', 1],
          ]),
        ],
        [
          'ours (GET /v1/windows, to the last byte)',
          ...cells([
            ['oursS', 2],
            ['oursCpuS', 2],
            ['oursIdleRssMb', 0],
            ['oursPeakRssMb', 0],
            ['checkRows', 0],
            ['oursMB', 1],
          ]),
        ],
        ['ours: file ready (headers)', col(runs, 'headersS', 2), '', '', '', '', ''],
        ['ours: streaming', col(runs, 'streamingS', 2), '', '', '', '', ''],
      ],
    ),
    '',
    `Ours ÷ floor, medians: ${x.toFixed(2)}×. Verdict: ${verdict}. The server’s VmHWM (start-up included) ${col(runs, 'hwmMb', 0)} MB; ` +
      `its start-up ${col(runs, 'startupS', 1)} s. Means or standard deviations not bit-identical to the floor’s (DuckDB’s avg against fsum / count): ` +
      `${col(runs, 'inexact', 0)} of ${col(runs, 'checkRows', 0)} windows. Windows of ours not bit-identical to ours in run 1 (same query, same data): ` +
      `${later.length === 0 ? '-' : later.join(', ')}.`,
    '',
    '### Each run',
    '',
    ...table(
      [
        'run',
        'floor s',
        'ours s',
        'file ready s',
        'server CPU s',
        'server peak RSS MB',
        'VmHWM MB',
        'start-up s',
        'rows (floor / ours / x-rows)',
        'not bit-identical to run 1',
        'check',
      ],
      'rrrrrrrrlrl',
      runs.map((r) => {
        const n = (k: string, d: number): string => num(r[k]).toFixed(d)
        const rows = [r.floorRows, r.checkRows, r.headerRows].map((v) => fmt(num(v))).join(' / ')
        const times = [n('floorS', 2), n('oursS', 2), n('headersS', 2), n('oursCpuS', 2)]
        return [
          String(r.run),
          ...times,
          n('oursPeakRssMb', 0),
          n('hwmMb', 0),
          n('startupS', 1),
          rows,
          fmt(num(r.unrepeated)),
          check(r),
        ]
      }),
    ),
  ]
  const scenario = `one day of 10 s windows, ${fmt(Number(doc.options.devices))} devices, ${fmt(Number(doc.options.readings))} readings, Parquet`
  return {
    title: 'Training windows (bench:windows)',
    section: out.join('\n'),
    panels: [
      {
        scenario,
        measure: 'seconds to the last byte',
        unit: 's',
        better: 'lower',
        bars: [
          { label: 'app, GET /v1/windows', value: oursS, ours: true },
          { label: 'hand-written DuckDB query', value: floorS, ours: false },
        ],
        target: { value: floorS * TARGET_RATIO, met: oursS <= floorS * TARGET_RATIO },
      },
      {
        scenario,
        measure: 'peak RSS',
        unit: 'MB',
        better: 'lower',
        bars: [
          { label: 'app (server)', value: med(runs, 'oursPeakRssMb'), ours: true },
          { label: 'DuckDB query (bench process)', value: med(runs, 'floorPeakRssMb'), ours: false },
        ],
      },
    ],
  }
}
