/** `npm run docs:config`: regenerates the option table of docs/configuration.md. */

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { withOptionsTable } from './docs.js'
import { packageRoot } from './option-row.js'

const path = join(packageRoot(), 'docs', 'configuration.md')
writeFileSync(path, withOptionsTable(readFileSync(path, 'utf8')))
process.stdout.write(`wrote ${path}\n`)
