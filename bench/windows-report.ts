/** The "Training windows (bench:windows)" section of bench/RESULTS.md and its chart panels, from bench/results/windows.json. */

import { panel } from './chart.js'
import { type BenchDoc, fmt, med, num, plural, prose, runCells, table } from './doc.js'
import type { Report } from './render.js'

/** Issue 4: ours within this multiple of the floor. */
const TARGET_RATIO = 1.5
const EACH_HEAD =
  'run|floor s|ours s|file ready s|server CPU s|server peak RSS MB|VmHWM MB|start-up s|rows (floor / ours / x-rows)|not bit-identical to run 1|check'
const EACH =
  'floor.seconds:2 ours.seconds:2 ours.headersS:2 ours.cpuS:2 ours.peakRssMb:0 ours.hwmMb:0 ours.startupS:1'

export function renderWindows(doc: BenchDoc): Report {
  const { runs } = doc
  const [floorS, oursS] = [med(runs, 'floor.seconds'), med(runs, 'ours.seconds')]
  const x = oursS / floorS
  const verdict =
    x <= TARGET_RATIO
      ? `**met**: ours takes ${x.toFixed(2)}× the floor (target ≤ ${TARGET_RATIO}×)`
      : `**missed** by ${((x / TARGET_RATIO - 1) * 100).toFixed(0)}%: ours takes ${x.toFixed(2)}× the floor, ` +
        `${oursS.toFixed(2)} s where ${TARGET_RATIO}× allows ${(floorS * TARGET_RATIO).toFixed(2)} s`
  const later = runs.slice(1).map((r) => fmt(num(r['check.unrepeated'])))
  const passed = `${runs.filter((r) => r.ok === true).length}/${runs.length}`
  const words = { target: TARGET_RATIO, passed, runs: plural(runs.length, 'run'), ratio: x.toFixed(2) }
  const unrepeated = later.length === 0 ? '-' : later.join(', ')
  const each = runs.map((r) => {
    const rows = runCells(r, 'floor.rows:# check.rows:# ours.headerRows:#').join(' / ')
    const check = r.ok === true ? 'ok' : `**MISMATCH**: ${fmt(num(r['check.differing']))} windows differ`
    return [String(r.run), ...runCells(r, EACH), rows, fmt(num(r['check.unrepeated'])), check]
  })
  const out = [prose(doc, { ...words, verdict, unrepeated }, '', runs), '', '### Each run', '']
  out.push(...table(EACH_HEAD, 'rrrrrrrrlrl', each))
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
