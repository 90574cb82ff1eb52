/**
 * The one-way house (docs/architecture.md): biome.json's import rule, run by
 * `npm run lint` in `npm test`, refuses every import that points up or
 * across, and allows the ones that point down. Each example of
 * test/fixtures/house.json is linted at its path, with the project's own
 * biome.json, in a temporary tree.
 */

import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { loadFixture } from '../helpers/fixtures.js'

const ROOT = join(import.meta.dirname, '..', '..')
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome')

const { examples } = loadFixture<{ examples: Array<{ path: string; import: string; allowed: boolean }> }>(
  'house.json',
)

t.test('house - the import rule refuses imports that point up or across, and allows the rest', async (t) => {
  const dir = tempDir(t, 'tlm-house-')
  const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>
  // The temporary tree is no git checkout: the rule is all that is kept of the set-up.
  config.vcs = { enabled: false }
  delete config.$schema
  writeFileSync(join(dir, 'biome.json'), JSON.stringify(config))
  for (const [i, e] of examples.entries()) {
    const file = join(dir, e.path.replace(/\.ts$/, `-${i}.ts`))
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, `import { value } from '${e.import}'\n\nexport const example = value\n`)
    const lint = await promisify(execFile)(BIOME, ['lint', file], { cwd: dir }).then(
      () => ({ ok: true, out: '' }),
      (err: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${err.stdout}${err.stderr}` }),
    )
    const refusedByRule = !lint.ok && lint.out.includes('lint/style/noRestrictedImports')
    t.equal(lint.ok, e.allowed, `${e.path}: import '${e.import}' ${e.allowed ? 'allowed' : 'refused'}`)
    if (!e.allowed) t.ok(refusedByRule, 'by the import rule, with its message')
  }
})
