/** The "Training windows (bench:windows)" section of bench/RESULTS.md and its chart panels, from bench/results/windows.json. */

import { panel } from './chart.js'
import { type BenchDoc, cells, col, fmt, med, num, plural, prose, runCells, table } from './doc.js'
import type { Report } from './render.js'

/** Issue 4: ours within this multiple of the floor. */
const TARGET_RATIO = 1.5
const FLOOR = 'floor.seconds:2 floor.cpuS:2 floor.idleRssMb:0 floor.peakRssMb:0 floor.rows:0 floor.MB:1'
const OURS = 'ours.seconds:2 ours.cpuS:2 ours.idleRssMb:0 ours.peakRssMb:0 check.rows:0 ours.MB:1'
const EACH_HEAD =
  'run|floor s|ours s|file ready s|server CPU s|server peak RSS MB|VmHWM MB|start-up s|rows (floor / ours / x-rows)|not bit-identical to run 1|check'
const EACH =
  'floor.seconds:2 ours.seconds:2 ours.headersS:2 ours.cpuS:2 ours.peakRssMb:0 ours.hwmMb:0 ours.startupS:1'

export function renderWindows(doc: BenchDoc): Report {
  const { runs, context: c } = doc
  const [floorS, oursS] = [med(runs, 'floor.seconds'), med(runs, 'ours.seconds')]
  const x = oursS / floorS
  const verdict =
    x <= TARGET_RATIO
      ? `**met**: ours takes ${x.toFixed(2)}× the floor (target ≤ ${TARGET_RATIO}×)`
      : `**missed** by ${((x / TARGET_RATIO - 1) * 100).toFixed(0)}%: ours takes ${x.toFixed(2)}× the floor, ` +
        `${oursS.toFixed(2)} s where ${TARGET_RATIO}× allows ${(floorS * TARGET_RATIO).toFixed(2)} s`
  const later = runs.slice(1).map((r) => fmt(num(r['check.unrepeated'])))
  const passed = `${runs.filter((r) => r.ok === true).length}/${runs.length}`
  const out = [
    prose(doc, {
      ...{ target: TARGET_RATIO, passed, periodS: num(c.periodS).toFixed(2) },
      ...{ generateS: num(c.generateS).toFixed(1), storeMB: num(c.storeMB).toFixed(1) },
    }),
    '',
    ...['```sql', String(c.floorSql), '```', ''],
    `Medians of ${plural(runs.length, 'run')}, floor and ours alternating (min–max):`,
    '',
    ...table('|seconds|CPU seconds|RSS before MB|peak RSS MB|rows|Parquet MB', 'lrrrrrr', [
      ['floor (hand-written DuckDB query)', ...cells(runs, FLOOR)],
      ['ours (GET /v1/windows, to the last byte)', ...cells(runs, OURS)],
      ['ours: file ready (headers)', col(runs, 'ours.headersS', 2), '', '', '', '', ''],
      ['ours: streaming', col(runs, 'ours.streamingS', 2), '', '', '', '', ''],
    ]),
    '',
    `Ours ÷ floor, medians: ${x.toFixed(2)}×. Verdict: ${verdict}. The server’s VmHWM (start-up included) ${col(runs, 'ours.hwmMb', 0)} MB; ` +
      `its start-up ${col(runs, 'ours.startupS', 1)} s. Means or standard deviations not bit-identical to the floor’s (DuckDB’s avg against fsum / count): ` +
      `${col(runs, 'check.inexact', 0)} of ${col(runs, 'check.rows', 0)} windows. Windows of ours not bit-identical to ours in run 1 (same query, same data): ` +
      `${later.length === 0 ? '-' : later.join(', ')}.`,
    '',
    '### Each run',
    '',
    ...table(
      EACH_HEAD,
      'rrrrrrrrlrl',
      runs.map((r) => {
        const rows = runCells(r, 'floor.rows:# check.rows:# ours.headerRows:#').join(' / ')
        const check = r.ok === true ? 'ok' : `**MISMATCH**: ${fmt(num(r['check.differing']))} windows differ`
        return [String(r.run), ...runCells(r, EACH), rows, fmt(num(r['check.unrepeated'])), check]
      }),
    ),
  ]
  const o = doc.options
  const scenario = `one day of 10 s windows, ${fmt(num(o.devices))} devices, ${fmt(num(o.readings))} readings, Parquet`
  const target = { value: floorS * TARGET_RATIO, met: oursS <= floorS * TARGET_RATIO }
  const [oursRss, floorRss] = [med(runs, 'ours.peakRssMb'), med(runs, 'floor.peakRssMb')]
  return {
    title: 'Training windows (bench:windows)',
    section: out.join('\n'),
    panels: [
      panel(
        scenario,
        'seconds to the last byte',
        's',
        [
          ['app, GET /v1/windows', oursS, true],
          ['hand-written DuckDB query', floorS, false],
        ],
        target,
      ),
      panel(scenario, 'peak RSS', 'MB', [
        ['app (server)', oursRss, true],
        ['DuckDB query (bench process)', floorRss, false],
      ]),
    ],
  }
}
