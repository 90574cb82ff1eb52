/**
 * `npm run token` as an operator runs it (its build, dist/src/token.js): the
 * token on the last line of `create`, a usage error with exit code 2, and a
 * token the server then accepts.
 */

import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { call, startSecured } from '../helpers/auth.js'
import { REPO_ROOT } from '../helpers/process.js'

const run = promisify(execFile)
const TOKEN_JS = join(REPO_ROOT, 'dist', 'src', 'token.js')

t.test(
  'e2e - npm run token: create prints the token last, the server takes it, list and the file never hold it',
  async (t) => {
    const { app, file } = await startSecured(t)
    const { stdout } = await run('node', [
      TOKEN_JS,
      'create',
      '--tokens-file',
      file,
      '--scope',
      'read',
      '--name',
      'job',
      '--expires',
      '1d',
    ])
    const token = stdout.trimEnd().split('\n').at(-1) ?? ''
    t.match(token, /^tlm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'the last line is the token')
    await app.reloadTokens()
    t.equal((await call(app.httpPort, '/v1/telemetry?device=job-1')).status, 401, 'without it, refused')
    const history = await call(app.httpPort, '/v1/telemetry?device=job-1', { token })
    t.equal(history.status, 200, 'the token reads history')
    const secret = token.slice(17)
    t.notMatch(readFileSync(file, 'utf8'), secret, 'the file holds no token')
    const list = await run('node', [TOKEN_JS, 'list'], { env: { ...process.env, TOKENS_FILE: file } })
    t.notMatch(list.stdout, secret)
    t.match(list.stdout, /\tjob\tread\t/)

    const wrong = await run('node', [TOKEN_JS, 'create', '--tokens-file', file, '--scope', 'write']).catch(
      (err: { code: number; stderr: string }) => err,
    )
    t.match(wrong, { code: 2, stderr: /--scope write: one of read, admin, metrics\nusage: / })
  },
)
