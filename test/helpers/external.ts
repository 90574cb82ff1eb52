/**
 * Outside programs the tests drive (mosquitto_pub, curl, ...). On a
 * developer's machine a missing one skips its test with the reason; in CI
 * (.ci/run sets TLM_REQUIRE_EXTERNAL=1) it fails the test instead, so no
 * feature goes untested because a package was not installed.
 */

import { spawnSync } from 'node:child_process'

interface SkipOrFail {
  fail(message: string): unknown
  pass(message: string, extra: { skip: string }): unknown
}

export function haveProgram(t: SkipOrFail, program: string, debianPackage: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${program}`]).status === 0
  if (found) return true
  const why = `${program} not found (Debian package ${debianPackage})`
  if (process.env.TLM_REQUIRE_EXTERNAL === '1') t.fail(`${why}: required in CI`)
  else t.pass(`needs ${program}`, { skip: why })
  return false
}

/** Debian's Chromium, headless, for playwright-core: no sandbox (CI runs as root), no GPU, no traffic of its own. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
]
