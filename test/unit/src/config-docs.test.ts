import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BEGIN, END, withLimitsTable, withOptionsTable } from '../../../src/config/docs.js'
import { ROWS } from '../../../src/config/options.js'

const DOC = join(import.meta.dirname, '..', '..', '..', 'docs', 'configuration.md')
const OPERATIONS = join(import.meta.dirname, '..', '..', '..', 'docs', 'operations.md')

t.test('config docs - the committed option table is the one the option table makes', async (t) => {
  const doc = readFileSync(DOC, 'utf8')
  t.equal(doc, withOptionsTable(doc), 'docs/configuration.md is stale: run npm run docs:config')
  for (const [flag] of ROWS) t.match(doc, `| \`--${flag}\` |`, `--${flag} has a row`)
})

t.test(
  'config docs - only the table between the markers is rewritten, and a hand edit in it is undone',
  async (t) => {
    const doc = readFileSync(DOC, 'utf8')
    const edited = doc.replace('| `1883` |', '| `1884` |').replace('# Configuration', '# Settings')
    t.not(edited, doc)
    t.equal(withOptionsTable(edited), doc.replace('# Configuration', '# Settings'))
    t.throws(() => withOptionsTable(doc.replace(END, '')), /lacks the markers/)
    t.throws(() => withOptionsTable(doc.replace(BEGIN, '')), /lacks the markers/)
  },
)

t.test(
  'config docs - docs/operations.md lists every limit the option table has, with its metric',
  async (t) => {
    const doc = readFileSync(OPERATIONS, 'utf8')
    t.equal(doc, withLimitsTable(doc), 'docs/operations.md is stale: run npm run docs:config')
    const limits = ROWS.filter(([, option]) => option.limit !== undefined)
    t.ok(limits.length >= 15, `${limits.length} limits`)
    for (const [flag] of limits) t.match(doc, `| \`--${flag}\` |`, `--${flag} has a row`)
    for (const [, option] of limits) t.ok(option.limit!.metric.length > 0 && option.limit!.sees.length > 0)
  },
)
