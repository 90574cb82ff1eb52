import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BEGIN, END, withOptionsTable } from '../../../src/config/docs.js'
import { ROWS } from '../../../src/config/options.js'

const DOC = join(import.meta.dirname, '..', '..', '..', 'docs', 'configuration.md')

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
