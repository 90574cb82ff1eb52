/** `--print-config` from the built main.js, as `npm start -- --print-config` runs it. */

import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { MAIN_JS } from '../helpers/process.js'

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** main.js with only the given variables, so the test's own environment cannot leak in. */
async function main(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return promisify(execFile)(process.execPath, [MAIN_JS, ...args], { env, timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  )
}

t.test('print-config - prints the file form and exits 0; the file read back prints the same', async (t) => {
  const dir = tempDir(t, 'tlm-print-')
  const env = { INFLUX_URL: 'http://127.0.0.1:9', INFLUX_DB: 'tlm', INFLUX_TOKEN: 's3cret' }
  const first = await main(
    ['--print-config', '--mqtt-port', '0', '--field-types', 't=float', '--data-dir', dir],
    env,
  )
  t.equal(first.code, 0, first.stderr)
  t.notMatch(first.stdout, /s3cret/, 'no secret printed')
  t.match(first.stderr, /--influx-token is a secret, left out/)
  const printed = JSON.parse(first.stdout) as Record<string, unknown>
  t.match(printed, { 'mqtt-port': 0, 'field-types': { t: 'float' }, 'influx-url': 'http://127.0.0.1:9' })

  const file = join(dir, 'site.json')
  writeFileSync(file, first.stdout)
  const second = await main(['--config', file, '--print-config'], { INFLUX_TOKEN: 's3cret' })
  t.equal(second.code, 0, second.stderr)
  t.equal(second.stdout, first.stdout, 'the same configuration')

  writeFileSync(file, JSON.stringify({ ...printed, 'mqtt-prot': 1 }))
  const refused = await main(['--config', file, '--print-config'])
  t.equal(refused.code, 2)
  t.match(refused.stderr, `${file}: unknown key "mqtt-prot"`)
  t.equal(refused.stdout, '')
})
