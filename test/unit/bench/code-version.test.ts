/**
 * The commit a bench reports measuring: "with uncommitted changes" only when
 * the code differs, not when the benches' own outputs do (npm run bench
 * writes RESULTS.md after its first bench; the later ones used to say the
 * code had changed).
 */

import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { codeVersion } from '../../../bench/doc.js'

const DIRTY = ' with uncommitted changes'

t.test('bench - codeVersion ignores the benches own outputs, not the code', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'code-version-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const git = (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
      cwd: dir,
      encoding: 'utf8',
    }).trim()
  const write = (path: string, text: string): void => writeFileSync(join(dir, path), text)

  t.equal(codeVersion(dir), 'unknown (not a git checkout)', 'outside a checkout')

  git('init', '--quiet')
  mkdirSync(join(dir, 'bench', 'results'), { recursive: true })
  write('main.ts', 'v1')
  write('bench/RESULTS.md', 'old')
  write('bench/results.svg', '<svg/>')
  write('bench/results/fleet.json', '{}')
  git('add', '.')
  git('commit', '--quiet', '-m', 'one')
  const head = git('rev-parse', '--short', 'HEAD')
  t.equal(codeVersion(dir), head, 'a clean checkout')

  write('bench/RESULTS.md', 'new')
  write('bench/results.svg', '<svg></svg>')
  write('bench/results/fleet.json', '{"a":1}')
  t.equal(codeVersion(dir), head, 'the benches rewrote their outputs: still the commit')

  write('main.ts', 'v2')
  t.equal(codeVersion(dir), `${head}${DIRTY}`, 'the code changed')
})
