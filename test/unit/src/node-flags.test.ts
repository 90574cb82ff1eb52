/**
 * `npm start` and the harnesses that start the server as a process must run
 * Node alike: package.json cannot import SERVER_NODE_FLAGS, so this holds them
 * together.
 */

import { readFileSync } from 'node:fs'
import t from 'tap'
import { SERVER_NODE_FLAGS } from '../../../src/node-flags.js'

t.test('node-flags - npm start runs the server with exactly SERVER_NODE_FLAGS', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    scripts: Record<string, string>
  }
  const run = / node ((?:--\S+ )*)dist\/src\/main\.js$/.exec(pkg.scripts.start ?? '')
  t.ok(run, `start script runs dist/src/main.js: ${pkg.scripts.start}`)
  t.strictSame(run?.[1]?.trim().split(' ') ?? [], SERVER_NODE_FLAGS)
})
