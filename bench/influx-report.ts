/** The "InfluxDB forwarding (bench:influx)" section of bench/RESULTS.md, from the measurements. */

import { cpus } from 'node:os'
import { type BenchFigures, machine } from './chart.js'
import type { InfluxBenchOptions } from './influx.js'
import { codeVersion } from './processes.js'
import { fmt, median, spread } from './results-doc.js'

/** What InfluxDB holds after a run: `SELECT count("@seq"), sum("@seq"), sum("count"), sum("temp"), count("on")`. */
export interface Content {
  readonly points: number
  readonly seqSum: number
  readonly countSum: number
  readonly tempSum: number
  readonly onCount: number
}

/** InfluxDB's own ingest of the lines: `influx -import` of the file, or the bench posting it in batches. */
export interface CeilingRun {
  /** End to end: `influx` spawned to exited, or the first POST to the last 204. */
  readonly seconds: number
  /** influxd's CPU time over the write, all threads. */
  readonly influxdCpuSeconds: number
  /** The writing client's CPU time: the `influx` process, or NaN for the bench's own fetch. */
  readonly clientCpuSeconds: number
  readonly content: Content
  readonly ok: boolean
  readonly check: string
}

/** Our server forwarding the backlog from a copy of the store. */
export interface OursRun {
  /** From the server's "listening" log line to `influx_backlog_readings` 0 (polled every 100 ms). */
  readonly seconds: number
  /** From spawning the server to its listening line (opening the store; not in `seconds`). */
  readonly startupSeconds: number
  /** `influx_readings_forwarded_total` at the first poll: the forwarder starts just before the HTTP port opens. */
  readonly forwardedAtListen: number
  /** The server's CPU time over the drain, all threads. */
  readonly serverCpuSeconds: number
  readonly influxdCpuSeconds: number
  /** The server's highest RSS seen during the drain. */
  readonly peakRssMb: number
  /** The server's VmHWM at the end: its peak over its whole life, start-up included. */
  readonly hwmRssMb: number
  /** `influx_write_seconds` sum and count: time spent waiting for InfluxDB to confirm writes. */
  readonly writeSeconds: number
  readonly writes: number
  readonly retries: number
  readonly rejected: number
  readonly content: Content
  readonly ok: boolean
  readonly check: string
}

export interface Run {
  readonly importRun: CeilingRun
  readonly http: CeilingRun
  readonly ours: OursRun
}

export interface InfluxReportContext {
  readonly command: string
  readonly influxdVersion: string
  readonly generateSeconds: number
  readonly storeBytes: number
  readonly lineBytes: number
  /** The bench's own pass over the store, as the forwarder does it: linesAfter in batches. */
  readonly readSeconds: number
  readonly sampleLine: string
  readonly expected: Content
}

const TARGET = 0.8

export function runLine(o: InfluxBenchOptions, { importRun, http, ours }: Run): string {
  const rate = (s: number): string => fmt(o.readings / s)
  return (
    `influx -import ${importRun.seconds.toFixed(2)} s (${rate(importRun.seconds)}/s, ${importRun.check}); ` +
    `HTTP ${http.seconds.toFixed(2)} s (${rate(http.seconds)}/s, ${http.check}); ` +
    `ours ${ours.seconds.toFixed(2)} s (${rate(ours.seconds)}/s, server CPU ${ours.serverCpuSeconds.toFixed(1)} s, ` +
    `influxd CPU ${ours.influxdCpuSeconds.toFixed(1)} s, waiting on writes ${ours.writeSeconds.toFixed(1)} s, ` +
    `peak RSS ${ours.peakRssMb.toFixed(0)} MB, ${fmt(ours.forwardedAtListen)} forwarded before listening, ` +
    `${ours.check})`
  )
}

export function renderInfluxReport(
  o: InfluxBenchOptions,
  runs: readonly Run[],
  context: InfluxReportContext,
): string {
  const cpu = cpus()
  const perS = (s: number): number => o.readings / s
  const rates = {
    importRun: median(runs.map((r) => perS(r.importRun.seconds))),
    http: median(runs.map((r) => perS(r.http.seconds))),
    ours: median(runs.map((r) => perS(r.ours.seconds))),
  }
  const ceilingIsImport = rates.importRun >= rates.http
  const ceiling = ceilingIsImport ? rates.importRun : rates.http
  const ceilingName = ceilingIsImport ? '`influx -import`' : 'HTTP posts of 20,000 lines'
  const ratio = rates.ours / ceiling
  const verdict =
    ratio >= TARGET
      ? `**met**: ours forwards ${(ratio * 100).toFixed(0)}% of the ceiling's readings/s (target ≥ ${TARGET * 100}%)`
      : `**missed**: ours forwards ${(ratio * 100).toFixed(0)}% of the ceiling's readings/s, ` +
        `${fmt(rates.ours)} where ${TARGET * 100}% is ${fmt(ceiling * TARGET)}`
  const col = (f: (r: Run) => number, digits: number): string => spread(runs.map(f), digits)
  const passed = runs.filter((r) => r.importRun.ok && r.http.ok && r.ours.ok).length
  const e = context.expected
  const out: string[] = [
    'How fast the forwarder drains a backlog of stored readings into InfluxDB (readings/s, and the drain ' +
      'time of the whole backlog), next to InfluxDB ingesting the very same lines through its own tools in ' +
      `the same run (the ceiling). Target (issue 5): at least ${TARGET * 100}% of the ceiling.`,
    '',
    `- Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, ` +
      `InfluxDB ${context.influxdVersion} (Debian's influxd, its default engine settings: WAL fsynced per ` +
      `write, inmem index) on loopback; ${new Date().toISOString()}`,
    `- Command: \`${context.command}\`, code at ${codeVersion()}`,
    `- Data: ${fmt(o.readings)} readings from ${fmt(o.devices)} devices, each every second, with a float, an ` +
      'integer and a boolean field (`temp`, `count`, `on`) and a reading tag `site` (4 values, one per ' +
      'device; written as an InfluxDB tag with `--influx-tags site`), the device time set. Written into a ' +
      `store by one \`INSERT … SELECT\` in DuckDB in ${context.generateSeconds.toFixed(1)} s (database file ` +
      `${(context.storeBytes / 1e6).toFixed(0)} MB), with no forwarder checkpoint: all of it is backlog.`,
    `- Lines: the bench asks the store for them as the forwarder does (\`linesAfter\`, batches of 20,000 in ` +
      'stored order, rendered by DuckDB), so the ceiling writes byte for byte what ours writes: ' +
      `${(context.lineBytes / 1e6).toFixed(0)} MB, ${(context.lineBytes / o.readings).toFixed(0)} bytes a line, ` +
      `rendered in ${context.readSeconds.toFixed(1)} s in the bench process. A line:`,
    '',
    '```',
    context.sampleLine,
    '```',
    '',
    '- Ceiling, two ways, each into a freshly created database: `influx -import -path=FILE -precision=ns` ' +
      '(the CLI posts 5,000 lines a write, one write at a time), timed from spawn to exit; and the bench ' +
      'posting the same lines, prepared in memory, to `/write?db=&precision=ns` in bodies of 20,000 lines (the forwarder’s size), ' +
      'one at a time, timed from the first request to the last 204. The faster (by median readings/s) is the ' +
      `ceiling: here ${ceilingName}.`,
    '- Ours: a fresh server (`--influx-url`, `--influx-db`, `--influx-version 1`) on a copy of the store, ' +
      'into a freshly created database; timed from its "listening" log line to `influx_backlog_readings` 0 ' +
      '(/metrics polled every 100 ms); readings/s = readings ÷ that time. Its start-up (opening the store) ' +
      'is not counted; the forwarder starts a moment before the HTTP port opens, and what it forwarded ' +
      'by the first poll is shown below. Server CPU over the drain from /proc, its RSS polled with /metrics.',
    `- Check, every run and every writer: InfluxDB holds ${fmt(e.points)} points with the expected ` +
      '`count("@seq")`, `sum("@seq")`, `sum("count")`, `count("on")` and `sum("temp")` (within 1e-9), ' +
      `computed from the store; ours had no retries and no refused lines. ${passed}/${runs.length} runs passed.`,
    '- Between writers, the database is dropped and influxd left to settle (under 5% of a core for a second).',
    '',
    `Medians of ${runs.length} run${runs.length === 1 ? '' : 's'}, alternating (min–max):`,
    '',
    '| | seconds | readings/s | client CPU s | influxd CPU s |',
    '|---|---:|---:|---:|---:|',
    `| \`influx -import\` | ${col((r) => r.importRun.seconds, 2)} | ${col((r) => perS(r.importRun.seconds), 0)} ` +
      `| ${col((r) => r.importRun.clientCpuSeconds, 1)} | ${col((r) => r.importRun.influxdCpuSeconds, 1)} |`,
    `| HTTP, 20,000 lines a POST (bench) | ${col((r) => r.http.seconds, 2)} | ${col((r) => perS(r.http.seconds), 0)} ` +
      `| | ${col((r) => r.http.influxdCpuSeconds, 1)} |`,
    `| ours (forwarder, drain) | ${col((r) => r.ours.seconds, 2)} | ${col((r) => perS(r.ours.seconds), 0)} ` +
      `| ${col((r) => r.ours.serverCpuSeconds, 1)} | ${col((r) => r.ours.influxdCpuSeconds, 1)} |`,
    '',
    `Drain of ${fmt(o.readings)} readings: ${col((r) => r.ours.seconds, 1)} s. Ours ÷ ceiling in readings/s, ` +
      `medians: ${(ratio * 100).toFixed(0)}%. Verdict: ${verdict}.`,
    '',
    `Ours in detail: of the drain, ${col((r) => r.ours.writeSeconds, 1)} s waiting for InfluxDB to confirm ` +
      `${col((r) => r.ours.writes, 0)} writes (\`influx_write_seconds\`), the rest reading the store, making ` +
      `lines and saving checkpoints; server CPU ${col((r) => r.ours.serverCpuSeconds, 1)} s ` +
      `(${col((r) => (r.ours.serverCpuSeconds * 1e6) / o.readings, 1)} µs a reading); server peak RSS ` +
      `${col((r) => r.ours.peakRssMb, 0)} MB during the drain, VmHWM ${col((r) => r.ours.hwmRssMb, 0)} MB ` +
      `(start-up included); start-up ${col((r) => r.ours.startupSeconds, 1)} s; forwarded before the first ` +
      `poll ${col((r) => r.ours.forwardedAtListen, 0)}.`,
    '',
    '### Each run',
    '',
    '| run | import s | HTTP s | ours s | ours server CPU s | ours peak RSS MB | ours waiting on writes s | checks |',
    '|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  runs.forEach(({ importRun, http, ours }, i) => {
    out.push(
      `| ${i + 1} | ${importRun.seconds.toFixed(2)} | ${http.seconds.toFixed(2)} | ${ours.seconds.toFixed(2)} ` +
        `| ${ours.serverCpuSeconds.toFixed(1)} | ${ours.peakRssMb.toFixed(0)} | ${ours.writeSeconds.toFixed(1)} ` +
        `| import ${importRun.check}; HTTP ${http.check}; ours ${ours.check} |`,
    )
  })
  return out.join('\n')
}

/** The chart's figures: drain readings/s, ours beside InfluxDB's own ingest of the same lines. */
export function influxFigures(
  o: InfluxBenchOptions,
  runs: readonly Run[],
  influxdVersion: string,
): BenchFigures {
  const perS = (s: number): number => o.readings / s
  const rate = (f: (r: Run) => number): number => median(runs.map((r) => perS(f(r))))
  const ours = rate((r) => r.ours.seconds)
  const ceiling = Math.max(
    rate((r) => r.importRun.seconds),
    rate((r) => r.http.seconds),
  )
  return {
    bench: 'influx',
    title: 'InfluxDB forwarding (bench:influx)',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    code: codeVersion(),
    runs: runs.length,
    panels: [
      {
        scenario: `backlog of ${fmt(o.readings)} readings into InfluxDB ${influxdVersion}`,
        measure: 'readings/s',
        unit: 'readings/s',
        better: 'higher',
        bars: [
          { label: 'app, forwarder', value: ours, ours: true },
          { label: '`influx -import`', value: rate((r) => r.importRun.seconds), ours: false },
          { label: 'HTTP, 20,000 lines a POST', value: rate((r) => r.http.seconds), ours: false },
        ],
        target: { value: ceiling * TARGET, met: ours >= ceiling * TARGET },
      },
    ],
  }
}
