/**
 * The one renderer: from every bench's runs (bench/results/<bench>.json) it
 * builds bench/RESULTS.md, bench/results.svg and the figures block of
 * README.md, so no figure is ever typed by hand. A bench calls publish()
 * with its run; `node dist/bench/render.js` redraws all three from the
 * committed JSON alone.
 */

import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../test/helpers/process.js'
import { type ChartBench, type Panel, renderChart } from './chart.js'
import { BENCHES, type BenchDoc, type BenchName, fmt, med, type Row } from './doc.js'
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

const RENDERERS: Record<BenchName, (doc: BenchDoc) => Report> = {
  ingest: renderIngest,
  live: renderLive,
  windows: renderWindows,
  influx: renderInflux,
  fleet: renderFleet,
}

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')
const RESULTS_MD = join(REPO_ROOT, 'bench', 'RESULTS.md')
const CHART = join(REPO_ROOT, 'bench', 'results.svg')
const README = join(REPO_ROOT, 'README.md')
export const README_BEGIN = '<!-- bench figures: written by bench/render.ts from bench/results/*.json -->'
export const README_END = '<!-- end of bench figures -->'

/** Every bench's last run, in the order `npm run bench` runs them. */
export function readDocs(dir = RESULTS_DIR): BenchDoc[] {
  const files = new Set(readdirSync(dir))
  return BENCHES.filter((b) => files.has(`${b}.json`)).map(
    (b) => JSON.parse(readFileSync(join(dir, `${b}.json`), 'utf8')) as BenchDoc,
  )
}

/** Saves a bench's run, then redraws RESULTS.md, the chart and README's figures from every bench's. */
export function publish(doc: BenchDoc): void {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const path = join(RESULTS_DIR, `${doc.bench}.json`)
  // JSON has no NaN: a figure not measured is null. Four decimals keep the diffs readable.
  const round = (_: string, v: unknown): unknown =>
    typeof v !== 'number' ? v : Number.isNaN(v) ? null : Math.round(v * 1e4) / 1e4
  writeFileSync(path, `${JSON.stringify(doc, round, 2)}\n`)
  renderAll()
  process.stdout.write(`written to ${path}, bench/RESULTS.md, bench/results.svg and README.md\n`)
}

export function renderAll(): void {
  const docs = readDocs()
  writeFileSync(RESULTS_MD, renderResults(docs))
  writeFileSync(CHART, renderChart(chartOf(docs), missing(docs)))
  const readme = readFileSync(README, 'utf8')
  writeFileSync(README, replaceBlock(readme, readmeBlock(docs)))
  for (const path of [RESULTS_MD, RESULTS_DIR]) formatWithBiome(path)
}

export function renderResults(docs: readonly BenchDoc[]): string {
  const newest = [...docs].sort((a, b) => a.measuredAt.localeCompare(b.measuredAt)).at(-1)
  const m = newest?.machine
  const reports = docs.map((d) => RENDERERS[d.bench](d))
  const lines = [
    '# Benchmark results',
    '',
    'Rendered by bench/render.ts from each bench’s runs in `results/` (one JSON file a bench, rewritten by ' +
      'its script); README’s figures and [results.svg](results.svg) come from the same files. Do not edit by hand.',
    '',
    m === undefined
      ? '- No bench has run yet: `npm run bench`.'
      : `- Machine of the newest run: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB of memory, Linux ${m.kernel}; ` +
        `Node ${m.node}`,
  ]
  if (newest !== undefined)
    lines.push(
      `- Newest run: ${newest.measuredAt}, section “${RENDERERS[newest.bench](newest).title}”. Each section ` +
        'gives the date of its own run; sections from other days may have run on another machine, as their own lines say.',
    )
  for (const r of reports) lines.push('', `## ${r.title}`, '', r.section.trim())
  return `${lines.join('\n')}\n`
}

function chartOf(docs: readonly BenchDoc[]): ChartBench[] {
  return docs.map((d) => {
    const r = RENDERERS[d.bench](d)
    const runs = Math.max(...d.runs.map((x) => Number(x.run)))
    const m = d.machine
    const note = `${d.measuredAt.slice(0, 10)}, ${m.cores} cores, ${m.cpu}, Node ${m.node}, code ${d.code}, `
    return {
      title: r.title,
      note: note + (runs === 1 ? '1 run' : `medians of ${runs} runs`),
      panels: r.panels,
    }
  })
}

function missing(docs: readonly BenchDoc[]): string[] {
  return BENCHES.filter((b) => !docs.some((d) => d.bench === b))
}

/** README's headline figures, one paragraph, from the same runs as RESULTS.md. */
export function readmeBlock(docs: readonly BenchDoc[]): string {
  const doc = (b: BenchName): BenchDoc | undefined => docs.find((d) => d.bench === b)
  const where = (b: BenchName, match: Row): Row[] =>
    doc(b)?.runs.filter((r) => Object.entries(match).every(([k, v]) => r[k] === v)) ?? []
  const figure = (b: BenchName, match: Row, key: string): number => med(where(b, match), key)
  const round = (v: number, to: number): string => fmt(Math.round(v / to) * to)
  const parts = [
    `**Measured, not claimed.** On a shared ${doc('ingest')?.machine.cores ?? '?'}-core machine:`,
  ]
  const ingest = doc('ingest')
  if (ingest !== undefined)
    parts.push(
      `about ${round(figure('ingest', { scenario: 'appFlat' }, 'ackedPerSecond'), 1000)} readings/s acknowledged ` +
        `durably at QoS 1, and a publish-to-PUBACK p99 of ${fmt(figure('ingest', { scenario: 'appPaced' }, 'p99Ms'))} ms ` +
        `at ${fmt(Number(ingest.options.pacedRate))} readings/s ([bench/RESULTS.md](bench/RESULTS.md), with Mosquitto ` +
        'measured in the same run: it acknowledges faster, ' +
        `${round(figure('ingest', { scenario: 'mosquittoFlat' }, 'ackedPerSecond'), 1000)}/s, because it stores nothing).`,
    )
  const live = doc('live')
  if (live !== undefined)
    parts.push(
      `Live events reach their SSE subscribers with a p99 of ${fmt(figure('live', { scenario: 'partitioned' }, 'tP99'))} ` +
        `ms at ${fmt(Number(live.options.devices) * Number(live.options.rate))} readings/s.`,
    )
  if (doc('windows') !== undefined)
    parts.push(
      `Training windows come within ${(figure('windows', {}, 'ours.seconds') / figure('windows', {}, 'floor.seconds')).toFixed(2)}× of a ` +
        'hand-written DuckDB query;',
    )
  if (doc('influx') !== undefined) {
    const ceiling = Math.max(figure('influx', {}, 'import.perS'), figure('influx', {}, 'http.perS'))
    parts.push(
      `forwarding to InfluxDB reaches ${((figure('influx', {}, 'ours.perS') / ceiling) * 100).toFixed(0)}% of ` +
        "InfluxDB's own ingest of the same lines.",
    )
  }
  const fleet = doc('fleet')
  if (fleet !== undefined) {
    const o = fleet.options
    const burst = where('fleet', { scenario: 'burst', server: 'app' })
    const lost = burst.reduce((n, r) => n + Number(r.lost), 0)
    const app = { scenario: 'fleet', server: 'app' }
    const mosquitto = { scenario: 'fleet', server: 'mosquitto' }
    parts.push(
      `A burst of ${fmt(Number(o.burstRate))} readings/s ${lost === 0 ? 'loses nothing acknowledged' : `lost ${fmt(lost)} acknowledged readings`}, ` +
        `in about ${round(figure('fleet', { scenario: 'burst', server: 'app' }, 'hwmMb'), 10)} MB; ` +
        `${fmt(Number(o.stormDevices))} devices starting over ${o.stormSeconds} s are all connected after ` +
        `${figure('fleet', { scenario: 'storm', server: 'app' }, 'allConnectedS').toFixed(1)} s. At ${fmt(Number(o.fleetDevices))} connected devices the p99 is ` +
        `${fmt(figure('fleet', app, 'p99Ms'))} ms in ${fmt(figure('fleet', app, 'hwmMb'))} MB, against Mosquitto's ` +
        `${fmt(figure('fleet', mosquitto, 'p99Ms'))} ms and ${fmt(figure('fleet', mosquitto, 'hwmMb'))} MB; where we ` +
        'miss a target the results say so, with a profile, the seconds and garbage collections the p99 is made in, ' +
        "and runs with the store's commits taken out to show their share.",
    )
  }
  return wrap(`- ${parts.join(' ')}`, 76)
}

/** Greedy wrap at `width`, never between a number and its unit. */
function wrap(text: string, width: number): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.replace(/(\d) (s|ms|MB)\b/g, '$1\u00a0$2').split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = `  ${word}`
    } else line = line === '' ? word : `${line} ${word}`
  }
  return [...lines, line].join('\n').replaceAll('\u00a0', ' ')
}

/** README with its figures block replaced; README without the markers is an error, not a silent skip. */
export function replaceBlock(readme: string, block: string): string {
  const begin = readme.indexOf(README_BEGIN)
  const end = readme.indexOf(README_END)
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${README_BEGIN} … ${README_END} block`)
  return `${readme.slice(0, begin + README_BEGIN.length)}\n${block}\n${readme.slice(end)}`
}

/** Runs the project's formatter over what the renderer wrote, so `npm run lint` stays clean. */
function formatWithBiome(path: string): void {
  const biome = join(REPO_ROOT, 'node_modules', '.bin', 'biome')
  try {
    execFileSync(biome, ['format', '--write', path], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    const detail = String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim()
    process.stderr.write(`bench: could not format ${path} with Biome: ${detail}\n`)
  }
}

if (process.argv[1] === import.meta.filename) renderAll()
