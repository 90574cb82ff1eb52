/**
 * The one renderer: from every bench's runs (bench/results/<bench>.json) it
 * builds bench/RESULTS.md, bench/results.svg and the figures block of
 * README.md, so no figure is ever typed by hand. A bench calls publish()
 * with its run; `npm run bench:render` redraws all three from the committed
 * JSON alone.
 */

import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../test/helpers/process.js'
import { type Panel, renderChart } from './chart.js'
import type { BenchDoc, BenchName, Figure, Row } from './doc.js'
import { BENCHES, fmt, med, num, section } from './doc.js'
import { renderFleet } from './fleet-report.js'
import { renderInflux } from './influx-report.js'
import { renderIngest } from './ingest-report.js'
import { renderLive } from './live-report.js'
import { renderSoak } from './soak.js'
import { renderWindows } from './windows-report.js'

/** A bench's section of RESULTS.md and its panels of the chart. */
export interface Report {
  readonly title: string
  readonly section: string
  readonly panels: readonly Panel[]
}

const RENDERERS = {
  ingest: renderIngest,
  live: renderLive,
  windows: renderWindows,
  influx: renderInflux,
  fleet: renderFleet,
  soak: renderSoak,
}
const [RESULTS_DIR, RESULTS_MD] = [
  join(REPO_ROOT, 'bench', 'results'),
  join(REPO_ROOT, 'bench', 'RESULTS.md'),
]
export const README_BEGIN = '<!-- bench figures: written by bench/render.ts from bench/results/*.json -->'
export const README_END = '<!-- end of bench figures -->'

/** Every bench's last run, in the order `npm run bench` runs them. */
export function readDocs(): BenchDoc[] {
  const files = new Set(readdirSync(RESULTS_DIR))
  const read = (b: BenchName): BenchDoc => JSON.parse(readFileSync(join(RESULTS_DIR, `${b}.json`), 'utf8'))
  return BENCHES.filter((b) => files.has(`${b}.json`)).map(read)
}

/** Saves a bench's run, then redraws RESULTS.md, the chart and README's figures from every bench's. */
export function publish(doc: BenchDoc): void {
  mkdirSync(RESULTS_DIR, { recursive: true })
  // JSON has no NaN: a figure not measured is null. Four decimals keep the diffs readable.
  const round = (_: string, v: unknown): unknown =>
    typeof v !== 'number' ? v : Number.isNaN(v) ? null : Math.round(v * 1e4) / 1e4
  writeFileSync(join(RESULTS_DIR, `${doc.bench}.json`), `${JSON.stringify(doc, round, 2)}\n`)
  renderAll()
  process.stdout.write(`written to bench/results/${doc.bench}.json, RESULTS.md, results.svg, README.md\n`)
}

export function renderAll(): void {
  const docs = readDocs()
  const reports = docs.map((d) => RENDERERS[d.bench](d))
  writeFileSync(RESULTS_MD, renderResults(docs))
  const chart = docs.map((d, i) => {
    const runs = Math.max(...d.runs.map((x) => num(x.run)))
    const { cores, cpu, node } = d.machine
    const note = `${d.measuredAt.slice(0, 10)}, ${cores} cores, ${cpu}, Node ${node}, code ${d.code}, `
    return { ...reports[i]!, note: note + (runs === 1 ? '1 run' : `medians of ${runs} runs`) }
  })
  const missing = BENCHES.filter((b) => !docs.some((d) => d.bench === b))
  writeFileSync(join(REPO_ROOT, 'bench', 'results.svg'), renderChart(chart, missing))
  const readme = join(REPO_ROOT, 'README.md')
  writeFileSync(readme, replaceBlock(readFileSync(readme, 'utf8'), readmeBlock(docs)))
  // The project's formatter over what was written, so `npm run lint` stays clean.
  const biome = join(REPO_ROOT, 'node_modules', '.bin', 'biome')
  execFileSync(biome, ['format', '--write', RESULTS_MD, RESULTS_DIR], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

export function renderResults(docs: readonly BenchDoc[]): string {
  const newest = [...docs].sort((a, b) => a.measuredAt.localeCompare(b.measuredAt)).at(-1)
  const lines = [
    '# Benchmark results',
    '',
    'Rendered by bench/render.ts from each bench’s runs in `results/` (one JSON file a bench, rewritten by its script); README’s figures and [results.svg](results.svg) come from the same files. Do not edit by hand.',
    '',
  ]
  if (newest === undefined) lines.push('- No bench has run yet: `npm run bench`.')
  else {
    const m = newest.machine
    lines.push(
      `- Machine of the newest run: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB of memory, Linux ${m.kernel}; Node ${m.node}`,
      `- Newest run: ${newest.measuredAt}, section “${RENDERERS[newest.bench](newest).title}”. Each section gives the date of its own run; sections from other days may have run on another machine, as their own lines say.`,
    )
  }
  for (const r of docs.map((d) => RENDERERS[d.bench](d)))
    lines.push('', `## ${r.title}`, '', r.section.trim())
  return `${lines.join('\n')}\n`
}

/** README's headline figures, one paragraph (bench/sections/readme.md), from the same runs as RESULTS.md. */
export function readmeBlock(docs: readonly BenchDoc[]): string {
  const runs = (b: BenchName): readonly Row[] => docs.find((d) => d.bench === b)?.runs ?? []
  const o = (b: BenchName): Readonly<Record<string, Figure>> => docs.find((d) => d.bench === b)?.options ?? {}
  const of = (b: BenchName, scenario?: string, server?: string): Row[] =>
    runs(b).filter((r) => (scenario ?? r.scenario) === r.scenario && (server ?? r.server) === r.server)
  const [round, fleet] = [(v: number, to: number): number => Math.round(v / to) * to, o('fleet')]
  const [app, mosquitto] = [of('fleet', 'fleet', 'app'), of('fleet', 'fleet', 'mosquitto')]
  const lost = of('fleet', 'burst', 'app').reduce((n, r) => n + num(r.lost), 0)
  const ceiling = Math.max(med(runs('influx'), 'import.perS'), med(runs('influx'), 'http.perS'))
  const text = section('readme.md', {
    ...{
      cores: docs[0]?.machine.cores ?? '?',
      stored: round(med(of('ingest', 'appFlat'), 'ackedPerSecond'), 1000),
    },
    ...{ pacedP99: med(of('ingest', 'appPaced'), 'p99Ms'), pacedRate: o('ingest').pacedRate ?? null },
    ...{ mosquitto: round(med(of('ingest', 'mosquittoFlat'), 'ackedPerSecond'), 1000) },
    ...{
      liveP99: med(of('live', 'partitioned'), 'tP99'),
      liveRate: num(o('live').devices) * num(o('live').rate),
    },
    windows: med(runs('windows'), 'ours.seconds') / med(runs('windows'), 'floor.seconds'),
    influx: (med(runs('influx'), 'ours.perS') / ceiling) * 100,
    ...{ burstRate: fleet.burstRate ?? null, burstMb: round(med(of('fleet', 'burst', 'app'), 'hwmMb'), 10) },
    burstLoss: lost === 0 ? 'loses nothing acknowledged' : `lost ${fmt(lost)} acknowledged readings`,
    ...{ stormDevices: fleet.stormDevices ?? null, stormSeconds: fleet.stormSeconds ?? null },
    ...{
      stormS: med(of('fleet', 'storm', 'app'), 'allConnectedS'),
      fleetDevices: fleet.fleetDevices ?? null,
    },
    ...{ fleetP99: med(app, 'p99Ms'), fleetMb: med(app, 'hwmMb'), mosquittoP99: med(mosquitto, 'p99Ms') },
    mosquittoMb: med(mosquitto, 'hwmMb'),
  })
  // Wrapped at 76 columns, never between a number and its unit.
  const lines = ['']
  for (const word of text.replace(/(\d) (s|ms|MB)\b/g, '$1\u00a0$2').split(' ')) {
    if (lines.at(-1)!.length + 1 + word.length > 76) lines.push(`  ${word}`)
    else lines[lines.length - 1] = lines.at(-1) === '' ? word : `${lines.at(-1)} ${word}`
  }
  return lines.join('\n').replaceAll('\u00a0', ' ')
}

/** README with its figures block replaced; README without the markers is an error, not a silent skip. */
export function replaceBlock(readme: string, block: string): string {
  const [begin, end] = [readme.indexOf(README_BEGIN), readme.indexOf(README_END)]
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${README_BEGIN} … ${README_END} block`)
  return `${readme.slice(0, begin + README_BEGIN.length)}\n${block}\n${readme.slice(end)}`
}

if (process.argv[1] === import.meta.filename) renderAll()
