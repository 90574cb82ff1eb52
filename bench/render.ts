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
import { BENCHES, type BenchDoc, type BenchName, fmt, med, num, type Row } from './doc.js'
import { renderFleet } from './fleet-report.js'
import { renderInflux } from './influx-report.js'
import { renderIngest } from './ingest-report.js'
import { renderLive } from './live-report.js'
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
  process.stdout.write(
    `written to bench/results/${doc.bench}.json, bench/RESULTS.md, bench/results.svg, README.md\n`,
  )
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
  writeFileSync(
    join(REPO_ROOT, 'bench', 'results.svg'),
    renderChart(
      chart,
      BENCHES.filter((b) => !docs.some((d) => d.bench === b)),
    ),
  )
  const readme = join(REPO_ROOT, 'README.md')
  writeFileSync(readme, replaceBlock(readFileSync(readme, 'utf8'), readmeBlock(docs)))
  // The project's formatter over what was written, so `npm run lint` stays clean.
  execFileSync(
    join(REPO_ROOT, 'node_modules', '.bin', 'biome'),
    ['format', '--write', RESULTS_MD, RESULTS_DIR],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
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

/** README's headline figures, one paragraph, from the same runs as RESULTS.md. */
export function readmeBlock(docs: readonly BenchDoc[]): string {
  const doc = (b: BenchName): BenchDoc | undefined => docs.find((d) => d.bench === b)
  const fig = (b: BenchName, key: string, scenario?: string, server?: string): number =>
    med(
      doc(b)?.runs.filter(
        (r: Row) => (scenario ?? r.scenario) === r.scenario && (server ?? r.server) === r.server,
      ) ?? [],
      key,
    )
  const [round, o] = [
    (v: number, to: number): string => fmt(Math.round(v / to) * to),
    (b: BenchName) => doc(b)?.options ?? {},
  ]
  const parts = [
    `**Measured, not claimed.** On a shared ${doc('ingest')?.machine.cores ?? '?'}-core machine:`,
  ]
  if (doc('ingest') !== undefined)
    parts.push(
      `about ${round(fig('ingest', 'ackedPerSecond', 'appFlat'), 1000)} readings/s acknowledged durably at QoS 1, and a publish-to-PUBACK p99 of ` +
        `${fmt(fig('ingest', 'p99Ms', 'appPaced'))} ms at ${fmt(num(o('ingest').pacedRate))} readings/s ([bench/RESULTS.md](bench/RESULTS.md), ` +
        `with Mosquitto measured in the same run: it acknowledges faster, ${round(fig('ingest', 'ackedPerSecond', 'mosquittoFlat'), 1000)}/s, because it stores nothing).`,
    )
  if (doc('live') !== undefined)
    parts.push(
      `Live events reach their SSE subscribers with a p99 of ${fmt(fig('live', 'tP99', 'partitioned'))} ms at ${fmt(num(o('live').devices) * num(o('live').rate))} readings/s.`,
    )
  if (doc('windows') !== undefined)
    parts.push(
      `Training windows come within ${(fig('windows', 'ours.seconds') / fig('windows', 'floor.seconds')).toFixed(2)}× of a hand-written DuckDB query;`,
    )
  const ceiling = Math.max(fig('influx', 'import.perS'), fig('influx', 'http.perS'))
  if (doc('influx') !== undefined)
    parts.push(
      `forwarding to InfluxDB reaches ${((fig('influx', 'ours.perS') / ceiling) * 100).toFixed(0)}% of InfluxDB's own ingest of the same lines.`,
    )
  const f = o('fleet')
  const lost = (doc('fleet')?.runs ?? [])
    .filter((r) => r.scenario === 'burst' && r.server === 'app')
    .reduce((n, r) => n + num(r.lost), 0)
  if (doc('fleet') !== undefined)
    parts.push(
      `A burst of ${fmt(num(f.burstRate))} readings/s ${lost === 0 ? 'loses nothing acknowledged' : `lost ${fmt(lost)} acknowledged readings`}, ` +
        `in about ${round(fig('fleet', 'hwmMb', 'burst', 'app'), 10)} MB; ${fmt(num(f.stormDevices))} devices starting over ${f.stormSeconds} s are all connected after ` +
        `${fig('fleet', 'allConnectedS', 'storm', 'app').toFixed(1)} s. At ${fmt(num(f.fleetDevices))} connected devices the p99 is ${fmt(fig('fleet', 'p99Ms', 'fleet', 'app'))} ms ` +
        `in ${fmt(fig('fleet', 'hwmMb', 'fleet', 'app'))} MB, against Mosquitto's ${fmt(fig('fleet', 'p99Ms', 'fleet', 'mosquitto'))} ms and ` +
        `${fmt(fig('fleet', 'hwmMb', 'fleet', 'mosquitto'))} MB; where we miss a target the results say so, with a profile, the seconds and garbage collections ` +
        "the p99 is made in, and runs with the store's commits taken out to show their share.",
    )
  // Wrapped at 76 columns, never between a number and its unit.
  const lines = ['']
  for (const word of `- ${parts.join(' ')}`.replace(/(\d) (s|ms|MB)\b/g, '$1\u00a0$2').split(' ')) {
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
