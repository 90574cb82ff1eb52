/** bench:fleet's figures for the chart (bench/results.svg): per scenario, the app beside Mosquitto. */

import type { BenchFigures, Panel } from './chart.js'
import { machine } from './chart.js'
import type { FleetBenchOptions } from './fleet.js'
import { type FleetResults, med, of, SECTION, TARGETS, type TargetRow, targetRows } from './fleet-report.js'
import type { ServerKind } from './fleet-run.js'
import { codeVersion, mosquittoVersion } from './processes.js'
import { fmt } from './results-doc.js'

export function fleetFigures(o: FleetBenchOptions, r: FleetResults, runs: number): BenchFigures {
  const panels: Panel[] = []
  const bars = <R extends { server: ServerKind }>(rs: readonly R[], f: (r: R) => number) => [
    { label: 'app', value: med(of(rs, 'app'), f), ours: true },
    { label: `Mosquitto ${mosquittoVersion()}`, value: med(of(rs, 'mosquitto'), f), ours: false },
  ]
  const targets = targetRows(o, r)
  const met = (scenario: TargetRow['scenario'], what: string): boolean =>
    targets.find((t) => t.scenario === scenario && t.text.includes(what))?.met ?? false
  if (r.fleet.length > 0) {
    const scenario = `fleet, ${fmt(o.fleetDevices)} devices × ${o.fleetRate}/s`
    panels.push(
      {
        scenario,
        measure: 'publish→PUBACK p99',
        unit: 'ms',
        better: 'lower',
        bars: bars(r.fleet, (x) => x.sim.latency.p99Ms),
        target: { value: TARGETS.fleetP99Ms, met: met('fleet', 'p99') },
      },
      {
        scenario,
        measure: 'server peak RSS',
        unit: 'MB',
        better: 'lower',
        bars: bars(r.fleet, (x) => x.usage.hwmMb),
        target: { value: TARGETS.fleetRssMb, met: met('fleet', 'RSS') },
      },
    )
  }
  if (r.burst.length > 0) {
    const scenario = `burst, ${fmt(o.burstRate)} readings/s offered`
    panels.push(
      {
        scenario,
        measure: 'acknowledged readings/s',
        unit: 'readings/s',
        better: 'higher',
        bars: bars(r.burst, (x) => x.sim.ackedPerSecond),
      },
      {
        scenario,
        measure: 'publish→PUBACK p99',
        unit: 'ms',
        better: 'lower',
        bars: bars(r.burst, (x) => x.sim.latency.p99Ms),
      },
      {
        scenario,
        measure: 'server peak RSS',
        unit: 'MB',
        better: 'lower',
        bars: bars(r.burst, (x) => x.usage.hwmMb),
        target: { value: TARGETS.burstRssMb, met: met('burst', 'RSS') },
      },
    )
  }
  if (r.storm.length > 0) {
    const scenario = `storm, ${fmt(o.stormDevices)} devices in ${o.stormSeconds} s`
    panels.push(
      {
        scenario,
        measure: 'all connected after',
        unit: 's',
        better: 'lower',
        bars: bars(r.storm, (x) => x.storm.allConnectedMs / 1000),
        target: { value: TARGETS.stormAllConnectedS, met: met('storm', 'connected in') },
      },
      {
        scenario,
        measure: 'CONNACK p99',
        unit: 'ms',
        better: 'lower',
        bars: bars(r.storm, (x) => x.storm.connack.p99Ms),
      },
    )
  }
  return {
    bench: 'fleet',
    title: SECTION,
    measuredAt: new Date().toISOString(),
    machine: machine(),
    code: codeVersion(),
    runs,
    panels,
  }
}
