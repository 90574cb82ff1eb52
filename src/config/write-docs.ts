/** `npm run docs:config`: regenerates the option table of docs/configuration.md and the limits of docs/operations.md. */

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { withLimitsTable, withOptionsTable } from './docs.js'
import { packageRoot } from './option-row.js'

for (const [name, rewrite] of [
  ['configuration.md', withOptionsTable],
  ['operations.md', withLimitsTable],
] as const) {
  const path = join(packageRoot(), 'docs', name)
  writeFileSync(path, rewrite(readFileSync(path, 'utf8')))
  process.stdout.write(`wrote ${path}\n`)
}
