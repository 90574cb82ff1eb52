/** The command line of the built main.js, as `npm start -- …` runs it: --print-config, --help, a busy port, the start-up line. */

import { execFile, spawn } from 'node:child_process'
import { statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import t from 'tap'
import { variableOf } from '../../src/config/option-row.js'
import { ROWS } from '../../src/config/options.js'
import { tempDir } from '../helpers/app.js'
import { MAIN_JS, REPO_ROOT, spawnApp } from '../helpers/process.js'

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

t.test('help - every flag of the table with its variable, before anything is checked', async (t) => {
  // A wrong variable would stop a run; --help still answers.
  for (const args of [['--help'], ['-h'], ['--mqtt-port', 'x', '--help']]) {
    const run = await main(args, { HTTP_PORT: 'not a port' })
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /^Usage: npm start -- \[options\]/)
    for (const [flag] of ROWS) t.match(run.stdout, `  --${flag} <`, `--${flag} listed`)
    for (const [flag] of ROWS)
      t.match(run.stdout, `      ${variableOf(flag)}; default `, `${variableOf(flag)} listed`)
  }
  t.match((await main(['--help'])).stdout, /--mqtt-port <0 to 65535>\n {6}MQTT_PORT; default 1883\n/)
})

t.test('busy port - the message names the flag and variable to change, exit 2, no stack', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const port = String((taken.address() as { port: number }).port)
  const dir = tempDir(t, 'tlm-busy-')
  for (const [flag, other, variable] of [
    ['--mqtt-port', '--http-port', 'MQTT_PORT'],
    ['--http-port', '--mqtt-port', 'HTTP_PORT'],
  ] as const) {
    const run = await main([flag, port, other, '0', '--data-dir', dir])
    t.equal(run.code, 2, `${flag}: exit 2`)
    t.equal(
      run.stderr,
      `127.0.0.1:${port} is already in use by another program: stop it, or choose another port with ${flag} (${variable})\n`,
    )
  }
})

t.test(
  'build - npm start does not rebuild a current dist/ (tsc -b checks, it does not compile)',
  async (t) => {
    // npm test built dist/ just before; an up-to-date build must leave it alone.
    const before = statSync(MAIN_JS).mtimeMs
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    await promisify(execFile)(npm, ['run', 'build', '--silent'], { cwd: REPO_ROOT, timeout: 120_000 })
    t.equal(statSync(MAIN_JS).mtimeMs, before, 'dist/src/main.js not written again')
  },
)

t.test(
  'exposed host - refused without credentials, and with --allow-anonymous true a warning on /readyz',
  async (t) => {
    const dir = tempDir(t, 'tlm-exposed-')
    const refused = await main([
      '--host',
      '0.0.0.0',
      '--mqtt-port',
      '0',
      '--http-port',
      '0',
      '--data-dir',
      dir,
    ])
    t.equal(refused.code, 2)
    t.match(
      refused.stderr,
      /--host 0\.0\.0\.0 is reached by other machines, and MQTT \(no --password-file\) and the HTTP API \(no --tokens-file\) would serve anyone/,
    )
    const app = await spawnApp({ args: ['--host', '0.0.0.0', '--allow-anonymous', 'true'] })
    t.teardown(() => app.stop())
    const ready = (await (await fetch(`http://127.0.0.1:${app.httpPort}/readyz`)).json()) as {
      warnings?: string[]
    }
    t.match(ready, {
      status: 'ready',
      warnings: [
        'MQTT (no --password-file) serves anyone on 0.0.0.0',
        'the HTTP API (no --tokens-file) serves anyone on 0.0.0.0',
      ],
    })
    const loopback = await spawnApp()
    t.teardown(() => loopback.stop())
    t.same(
      await (await fetch(`${loopback.httpUrl}/readyz`)).json(),
      { status: 'ready' },
      'no warning on loopback',
    )
  },
)

t.test('start-up - one line names what is served; Fastify adds no http:// line of its own', async (t) => {
  const dir = tempDir(t, 'tlm-startup-')
  const child = spawn(
    process.execPath,
    [MAIN_JS, '--mqtt-port', '0', '--http-port', '0', '--data-dir', dir],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  t.teardown(() => child.kill('SIGKILL'))
  const messages: string[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no start-up line in 30 s: ${messages.join(' | ')}`)),
      30_000,
    )
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = (JSON.parse(line) as { msg: string }).msg
      messages.push(msg)
      if (msg === 'telemetry bridge listening') {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  t.same(
    messages.filter((m) => m.includes('listening')),
    ['telemetry bridge listening'],
    `one line says where it listens (of: ${messages.join(' | ')})`,
  )
})
