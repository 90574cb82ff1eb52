/**
 * One renderer for every figure (issue 20): README's benchmark block and
 * bench/RESULTS.md are what bench/render.ts makes of the committed runs in
 * bench/results/*.json, so a figure typed or edited by hand fails here.
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BENCHES } from '../../../bench/doc.js'
import { README_BEGIN, README_END, readDocs, readmeBlock, renderResults } from '../../../bench/render.js'
import { REPO_ROOT } from '../../helpers/process.js'

/** Table cells without Biome's padding and alignment widths: what the renderer writes before formatting. */
function unpadded(markdown: string): string {
  return markdown
    .split('\n')
    .map((line) =>
      line.startsWith('|')
        ? line
            .split('|')
            .map((cell) => cell.trim().replace(/^-+(:?)$/, '---$1'))
            .join('|')
        : line,
    )
    .join('\n')
    .replace(/\n{2,}/g, '\n\n')
    .trim()
}

t.test('bench - README figures are the renderer’s from the committed runs', async (t) => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
  const begin = readme.indexOf(README_BEGIN)
  const end = readme.indexOf(README_END)
  t.ok(begin >= 0 && end > begin, 'README has the figures block')
  const block = readme.slice(begin + README_BEGIN.length, end).trim()
  t.equal(block, readmeBlock(readDocs()), 'run node dist/bench/render.js after changing bench/results/')
  t.match(block, /about\s+[\d,]+\s+readings\/s\s+acknowledged\s+durably/)
})

t.test('bench - RESULTS.md is the renderer’s from the committed runs', async (t) => {
  const results = readFileSync(join(REPO_ROOT, 'bench', 'RESULTS.md'), 'utf8')
  const docs = readDocs()
  t.equal(docs.length, BENCHES.length, 'every bench has its runs committed')
  t.equal(unpadded(results), unpadded(renderResults(docs)), 'run node dist/bench/render.js')
})

t.test('bench - a figure edited in the JSON changes the README block', async (t) => {
  const docs = readDocs()
  const ingest = docs.find((d) => d.bench === 'ingest')!
  const edited = { ...ingest, runs: ingest.runs.map((r) => ({ ...r, ackedPerSecond: 1000 })) }
  const other = readmeBlock(docs.map((d) => (d === ingest ? edited : d)))
  t.not(other, readmeBlock(docs))
  t.match(other, /about\s+1,000\s+readings\/s/)
})
