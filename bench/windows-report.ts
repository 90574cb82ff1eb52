/** The "Training windows (bench:windows)" section of bench/RESULTS.md and its chart panels, from bench/results/windows.json. */

import { type BenchDoc, col, fmt, med, num, plural, prose, type Row, table } from './doc.js'
import type { Report } from './render.js'

const TARGET_RATIO = 1.5

const check = (r: Row): string =>
  r.ok === true ? 'ok' : `**MISMATCH**: ${fmt(num(r.differing))} windows differ`

export function renderWindows(doc: BenchDoc): Report {
  const { runs, context: c } = doc
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
    prose(doc, {
      ...{ target: TARGET_RATIO, passed: `${passed}/${runs.length}`, periodS: num(c.periodS).toFixed(2) },
      ...{ generateS: num(c.generateS).toFixed(1), storeMB: num(c.storeMB).toFixed(1) },
    }),
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
