/** The "Training windows (bench:windows)" section of bench/RESULTS.md, from the measurements. */

import { cpus } from 'node:os'
import { version as duckdbVersion } from '@duckdb/node-api'
import { type BenchFigures, machine } from './chart.js'
import { codeVersion } from './processes.js'
import { fmt, median, spread } from './results-doc.js'
import type { WindowsBenchOptions } from './windows.js'

/** The hand-written query, run by the bench process on the store file. */
export interface FloorRun {
  /** The COPY statement, from call to return (the file complete on disk). */
  readonly seconds: number
  /** The bench process's CPU time over the COPY, all threads. */
  readonly cpuSeconds: number
  /** The bench process's RSS just before the COPY. */
  readonly idleRssMb: number
  /** The bench process's highest RSS during the COPY (Node and DuckDB together). */
  readonly peakRssMb: number
  readonly rows: number
  readonly bytes: number
}

/** GET /v1/windows?format=parquet against a fresh server on the same store. */
export interface OursRun {
  /** From fetch() to the last byte written to disk. */
  readonly seconds: number
  /** From fetch() to the response headers: the server sends them once its Parquet file is complete. */
  readonly headersSeconds: number
  /** From spawning the server to its listening log line (not in `seconds`). */
  readonly startupSeconds: number
  /** The server's CPU time over the request, all threads. */
  readonly cpuSeconds: number
  /** The server's RSS once listening, before the request. */
  readonly idleRssMb: number
  /** The server's highest RSS seen during the request (polled every 50 ms). */
  readonly peakRssMb: number
  /** The server's VmHWM at the end: its peak over its whole life, start-up included. */
  readonly hwmRssMb: number
  /** The response's x-rows header. */
  readonly headerRows: number
  readonly bytes: number
}

/** Ours read back with DuckDB and joined to the floor's file on (device, window_end). */
export interface Check {
  readonly rows: number
  /** Rows on one side only, or whose values differ (mean and std beyond 1e-9). */
  readonly differing: number
  /** Rows within the tolerance whose mean or std is not bit-identical to the floor's. */
  readonly inexact: number
  /** Windows not bit-identical to the first run's output (NaN in the first run). */
  readonly unrepeated: number
  readonly ok: boolean
}

export interface Run {
  readonly floor: FloorRun
  readonly ours: OursRun
  readonly check: Check
}

export interface WindowsReportContext {
  readonly command: string
  readonly generateSeconds: number
  readonly storeBytes: number
  readonly floorSql: string
  readonly feature: unknown
  readonly periodS: number
}

const TARGET_RATIO = 1.5

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)

export function runLine({ floor, ours, check }: Run): string {
  return (
    `floor ${floor.seconds.toFixed(2)} s (${fmt(floor.rows)} rows, peak RSS ${floor.peakRssMb.toFixed(0)} MB); ` +
    `ours ${ours.seconds.toFixed(2)} s (file ready ${ours.headersSeconds.toFixed(2)} s, ` +
    `${fmt(check.rows)} rows, server peak RSS ${ours.peakRssMb.toFixed(0)} MB, VmHWM ${ours.hwmRssMb.toFixed(0)} MB, ` +
    `CPU ${ours.cpuSeconds.toFixed(2)} s, start-up ${ours.startupSeconds.toFixed(1)} s); ` +
    `${check.ok ? 'same rows and values' : `**MISMATCH**: ${fmt(check.differing)} windows differ`}` +
    (Number.isNaN(check.unrepeated) ? '' : `; ${fmt(check.unrepeated)} windows not bit-identical to run 1's`)
  )
}

export function renderWindowsReport(
  o: WindowsBenchOptions,
  runs: readonly Run[],
  context: WindowsReportContext,
): string {
  const cpu = cpus()
  const floorS = median(runs.map((r) => r.floor.seconds))
  const oursS = median(runs.map((r) => r.ours.seconds))
  const ratio = oursS / floorS
  const passed = runs.filter((r) => r.check.ok).length
  const verdict =
    ratio <= TARGET_RATIO
      ? `**met**: ours takes ${ratio.toFixed(2)}× the floor (target ≤ ${TARGET_RATIO}×)`
      : `**missed** by ${((ratio / TARGET_RATIO - 1) * 100).toFixed(0)}%: ours takes ${ratio.toFixed(2)}× ` +
        `the floor, ${oursS.toFixed(2)} s where ${TARGET_RATIO}× allows ${(floorS * TARGET_RATIO).toFixed(2)} s`
  const col = (f: (r: Run) => number, digits: number): string => spread(runs.map(f), digits)
  const later = runs.slice(1).map((r) => r.check.unrepeated)
  const unrepeated = later.length === 0 ? '-' : later.map(fmt).join(', ')
  const out: string[] = [
    'How long `GET /v1/windows?device=*&feature=temp_10s&format=parquet` takes to compute one day of ' +
      '10 s feature windows for every device over the stored readings and stream them as a Parquet file, ' +
      'next to the query a data scientist would write for the same rows, run by DuckDB itself on the same ' +
      `database file in the same bench (the floor). Target (issue 4): within ${TARGET_RATIO}× of the floor, ` +
      'with bounded memory.',
    '',
    `- Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, ` +
      `DuckDB ${duckdbVersion()} (@duckdb/node-api, in the server and in the bench); ${new Date().toISOString()}`,
    `- Command: \`${context.command}\`, code at ${codeVersion()}`,
    `- Data: ${fmt(o.readings)} readings of one float field (\`temp\`) from ${fmt(o.devices)} devices over ` +
      `one day (2024-01-01 UTC), each device every ${context.periodS.toFixed(2)} s with up to half that of ` +
      'jitter; 1 in 100 readings carries an event time 0.5–20.5 s older, as if delayed in transit, so ' +
      "some arrive after newer ones (newest_ts > ts) and some are late for the window's 2 s grace. " +
      `Written by one \`INSERT … SELECT\` in DuckDB in ${context.generateSeconds.toFixed(1)} s; ` +
      `database file ${mb(context.storeBytes)} MB.`,
    `- Feature (the server's definitions file): \`${JSON.stringify(context.feature)}\`.`,
    '- Floor: the query below, run by the bench process through @duckdb/node-api on the same file ' +
      '(the server stopped: DuckDB lets one process open it); timed from the call to its return, the ' +
      'Parquet file complete on disk. DuckDB is opened fresh for each run; opening is not counted. ' +
      'Before the runs the floor runs once, not counted (the file just written is read for the first time).',
    '- Ours: a fresh server on the same data dir each run (its start-up, which opens the store and ' +
      'rebuilds the bridge’s dedupe ranges from it, is not counted and shown apart); timed from `fetch()` ' +
      'to the last byte written to a file. The server sends its headers only once DuckDB has written the ' +
      'whole Parquet file (a Parquet file is read from its footer), so "file ready" is the time to the ' +
      'headers and the rest is streaming the file over loopback.',
    '- Memory: the server’s RSS polled every 50 ms during the request (`/proc/<pid>/status` VmRSS), and ' +
      'its VmHWM at the end (its peak over its whole life, start-up included). For the floor, the bench ' +
      'process’s RSS during the COPY (Node plus DuckDB, the same mix as the server; it also holds what ' +
      'generating the data left behind).',
    `- Check: ours read back with DuckDB (\`read_parquet\`) and joined to the floor’s file on ` +
      '(device, window_end): the same rows, counts, minima and maxima equal, means and standard deviations ' +
      `within 1e-9. ${passed}/${runs.length} runs passed.`,
    '',
    '```sql',
    context.floorSql,
    '```',
    '',
    `Medians of ${runs.length} run${runs.length === 1 ? '' : 's'}, floor and ours alternating (min–max):`,
    '',
    '| | seconds | CPU seconds | RSS before MB | peak RSS MB | rows | Parquet MB |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| floor (hand-written DuckDB query) | ${col((r) => r.floor.seconds, 2)} | ${col((r) => r.floor.cpuSeconds, 2)} ` +
      `| ${col((r) => r.floor.idleRssMb, 0)} | ${col((r) => r.floor.peakRssMb, 0)} | ${col((r) => r.floor.rows, 0)} ` +
      `| ${col((r) => r.floor.bytes / 1e6, 1)} |`,
    `| ours (GET /v1/windows, to the last byte) | ${col((r) => r.ours.seconds, 2)} | ${col((r) => r.ours.cpuSeconds, 2)} ` +
      `| ${col((r) => r.ours.idleRssMb, 0)} | ${col((r) => r.ours.peakRssMb, 0)} | ${col((r) => r.check.rows, 0)} ` +
      `| ${col((r) => r.ours.bytes / 1e6, 1)} |`,
    `| ours: file ready (headers) | ${col((r) => r.ours.headersSeconds, 2)} | | | | | |`,
    `| ours: streaming | ${col((r) => r.ours.seconds - r.ours.headersSeconds, 2)} | | | | | |`,
    '',
    `Ours ÷ floor, medians: ${ratio.toFixed(2)}×. Verdict: ${verdict}. The server’s VmHWM (start-up ` +
      `included) ${col((r) => r.ours.hwmRssMb, 0)} MB; its start-up ${col((r) => r.ours.startupSeconds, 1)} s. ` +
      `Means or standard deviations not bit-identical to the floor’s (DuckDB’s avg against fsum / count): ` +
      `${col((r) => r.check.inexact, 0)} of ${col((r) => r.check.rows, 0)} windows. Windows of ours not ` +
      `bit-identical to ours in run 1 (same query, same data): ${unrepeated}.`,
    '',
    '### Each run',
    '',
    '| run | floor s | ours s | file ready s | server CPU s | server peak RSS MB | VmHWM MB | start-up s | rows (floor / ours / x-rows) | not bit-identical to run 1 | check |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|',
  ]
  runs.forEach(({ floor, ours, check }, i) => {
    out.push(
      `| ${i + 1} | ${floor.seconds.toFixed(2)} | ${ours.seconds.toFixed(2)} | ${ours.headersSeconds.toFixed(2)} ` +
        `| ${ours.cpuSeconds.toFixed(2)} | ${ours.peakRssMb.toFixed(0)} | ${ours.hwmRssMb.toFixed(0)} ` +
        `| ${ours.startupSeconds.toFixed(1)} | ${fmt(floor.rows)} / ${fmt(check.rows)} / ${fmt(ours.headerRows)} ` +
        `| ${Number.isNaN(check.unrepeated) ? '-' : fmt(check.unrepeated)} ` +
        `| ${check.ok ? 'ok' : `**MISMATCH**: ${fmt(check.differing)} windows differ`} |`,
    )
  })
  return out.join('\n')
}

/** The chart's figures: seconds for one day of windows, ours beside the hand-written query. */
export function windowsFigures(o: WindowsBenchOptions, runs: readonly Run[]): BenchFigures {
  const floorS = median(runs.map((r) => r.floor.seconds))
  const oursS = median(runs.map((r) => r.ours.seconds))
  const scenario = `one day of 10 s windows, ${fmt(o.devices)} devices, ${fmt(o.readings)} readings, Parquet`
  return {
    bench: 'windows',
    title: 'Training windows (bench:windows)',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    code: codeVersion(),
    runs: runs.length,
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
          { label: 'app (server)', value: median(runs.map((r) => r.ours.peakRssMb)), ours: true },
          {
            label: 'DuckDB query (bench process)',
            value: median(runs.map((r) => r.floor.peakRssMb)),
            ours: false,
          },
        ],
      },
    ],
  }
}
