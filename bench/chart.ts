/**
 * bench/results.svg: the headline figures of every bench at a glance, ours
 * beside the peer measured in the same run, as horizontal bars, with the
 * issue's target as a dashed line. Plain SVG 1.1 text, no dependencies;
 * render.ts draws it from every bench's JSON.
 */

import { fmt } from './doc.js'

export interface Panel {
  /** The scenario, e.g. `fleet: 10,000 devices × 1/s`. */
  readonly scenario: string
  /** What is measured, e.g. `publish→PUBACK p99`. */
  readonly measure: string
  /** Unit after each value, e.g. `ms`, `readings/s`, `MB`. */
  readonly unit: string
  readonly better: 'higher' | 'lower'
  /** Ours, or the peer (or floor, or ceiling) it is held against. */
  readonly bars: readonly { readonly label: string; readonly value: number; readonly ours: boolean }[]
  /** The issue's target, drawn as a dashed line. */
  readonly target?: { readonly value: number; readonly met: boolean }
}

/** A panel: bars as [label, value, ours]; higher is better for rates and ratios, lower for the rest. */
export function panel(
  scenario: string,
  measure: string,
  unit: string,
  bars: readonly (readonly [string, number, boolean])[],
  target?: { readonly value: number; readonly met: boolean },
): Panel {
  const better: Panel['better'] = unit === 'readings/s' || unit === '×' ? 'higher' : 'lower'
  const all = {
    scenario,
    measure,
    unit,
    better,
    bars: bars.map(([label, value, ours]) => ({ label, value, ours })),
  }
  return target === undefined ? all : { ...all, target }
}

/** One bench's part of the chart: its section title, when and where it ran, its panels. */
export interface ChartBench {
  readonly title: string
  readonly note: string
  readonly panels: readonly Panel[]
}

// Layout, px: labels left of LABEL_X, bars from BAR_X, the longest bar BAR_MAX wide; then colours.
const [WIDTH, LABEL_X, BAR_X, BAR_MAX, ROW, BAR_HEIGHT] = [960, 330, 340, 430, 20, 14]
const [OURS, PEER, TARGET, MET] = ['#2563eb', '#9ca3af', '#b91c1c', '#15803d']
const STYLE = `<style>
text { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 12px; fill: #111827; }
.title { font-size: 17px; font-weight: 700; }
.bench { font-size: 14px; font-weight: 700; }
.panel { font-weight: 600; }
.note { fill: #4b5563; font-size: 11px; }
.rule { stroke: #e5e7eb; stroke-width: 1; }
</style>`

export function renderChart(benches: readonly ChartBench[], missing: readonly string[]): string {
  const body: string[] = []
  let y = 28
  const text = (x: number, yy: number, s: string, attrs = ''): void => {
    body.push(`<text x="${x}" y="${yy}"${attrs === '' ? '' : ` ${attrs}`}>${xml(s)}</text>`)
  }
  text(16, y, 'Benchmark results: ours against the peer measured in the same run', 'class="title"')
  y += 20
  text(16, y, 'Medians of each bench’s runs. Dashed line: the issue’s target. Details: bench/RESULTS.md.')
  y += 8
  body.push(`<rect x="${BAR_X}" y="${y}" width="12" height="10" fill="${OURS}"/>`)
  text(BAR_X + 16, y + 9, 'ours')
  body.push(`<rect x="${BAR_X + 70}" y="${y}" width="12" height="10" fill="${PEER}"/>`)
  text(BAR_X + 86, y + 9, 'peer (Mosquitto, DuckDB’s own query, influxd’s own ingest)')
  y += 24
  if (benches.length === 0) {
    text(16, y + 14, 'No figures yet: run npm run bench.')
    y += 30
  }
  for (const b of benches) {
    y += 14
    body.push(`<line x1="16" y1="${y - 12}" x2="${WIDTH - 16}" y2="${y - 12}" class="rule"/>`)
    text(16, y + 4, b.title, 'class="bench"')
    y += 18
    text(16, y + 2, b.note, 'class="note"')
    y += 10
    for (const p of b.panels) y = drawPanel(body, p, y + 14)
  }
  if (missing.length > 0) {
    y += 10
    text(16, y + 12, `Not run yet: ${missing.map((m) => `bench:${m}`).join(', ')}.`, 'class="note"')
    y += 14
  }
  const height = y + 20
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="Benchmark results">`,
    STYLE,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n')
}

/** One scenario's measure: a heading line, then a bar per system. Returns the next free y. */
function drawPanel(body: string[], p: Panel, top: number): number {
  let y = top
  const hint = p.better === 'lower' ? 'lower is better' : 'higher is better'
  body.push(
    `<text x="16" y="${y}" class="panel">${xml(`${p.scenario}: ${p.measure}`)}` +
      `<tspan class="note" dx="8">${xml(hint)}</tspan></text>`,
  )
  if (p.target !== undefined) {
    const t = p.target
    const word = t.met ? 'met' : 'missed'
    body.push(
      // A style, not a fill attribute: the stylesheet's text fill would win over an attribute.
      `<text x="${WIDTH - 16}" y="${y}" text-anchor="end" class="panel" style="fill: ${t.met ? MET : TARGET}">` +
        `${xml(`target ${p.better === 'lower' ? '<' : '≥'} ${value(t.value, p.unit)}: ${word}`)}</text>`,
    )
  }
  y += 8
  const finite = p.bars.map((b) => b.value).filter((v) => Number.isFinite(v))
  const top2 = Math.max(0, ...finite, p.target?.value ?? 0)
  const scale = top2 > 0 ? BAR_MAX / top2 : 0
  const barsTop = y
  for (const b of p.bars) {
    const mid = y + BAR_HEIGHT / 2 + 4
    body.push(
      `<text x="${LABEL_X}" y="${mid}" text-anchor="end"${b.ours ? ' class="panel"' : ''}>${xml(b.label)}</text>`,
    )
    if (Number.isFinite(b.value)) {
      const w = Math.max(1, b.value * scale)
      body.push(
        `<rect x="${BAR_X}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${b.ours ? OURS : PEER}"/>`,
      )
      body.push(`<text x="${(BAR_X + w + 6).toFixed(1)}" y="${mid}">${xml(value(b.value, p.unit))}</text>`)
    } else {
      body.push(`<text x="${BAR_X + 2}" y="${mid}" class="note">not measured</text>`)
    }
    y += ROW
  }
  if (p.target !== undefined && scale > 0) {
    const x = (BAR_X + p.target.value * scale).toFixed(1)
    body.push(
      `<line x1="${x}" y1="${barsTop - 3}" x2="${x}" y2="${y - ROW + BAR_HEIGHT + 3}" ` +
        `stroke="${TARGET}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    )
  }
  return y + 6
}

function value(v: number, unit: string): string {
  if (!Number.isFinite(v)) return '-'
  const n = Math.abs(v) >= 100 ? fmt(v) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)
  return unit === '×' ? `${n}×` : `${n} ${unit}`
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
