import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ROWS } from '../../../src/config/options.js'
import { configFile, DEFAULT_CONFIG, loadConfig, readCommandLine } from '../../../src/config.js'
import type { ConfigError } from '../../../src/core/errors.js'
import { tempDir } from '../../helpers/app.js'

const problems = (argv: string[], env: NodeJS.ProcessEnv = {}): readonly string[] => {
  try {
    loadConfig(argv, env)
    return []
  } catch (err) {
    return (err as ConfigError).problems
  }
}

t.test(
  'config - a flag wins over its variable, the variable over the file, the file over the default',
  async (t) => {
    const file = join(tempDir(t, 'tlm-config-'), 'site.json')
    for (const [flag, key, byFile, byVariable, byFlag] of [
      ['mqtt-port', 'mqttPort', 2001, ['2002', 2002], ['2003', 2003]],
      ['log-level', 'logLevel', 'warn', ['error', 'error'], ['debug', 'debug']],
      ['field-types', 'fieldTypes', { a: 'int' }, ['b=bool', { b: 'bool' }], ['c=float', { c: 'float' }]],
      [
        'clock-correction-devices',
        'clockCorrectionDevices',
        { m: 'off' },
        ['n=auto, o=off', { n: 'auto', o: 'off' }],
        ['p=future-only', { p: 'future-only' }],
      ],
    ] as const) {
      const variable = flag.toUpperCase().replaceAll('-', '_')
      writeFileSync(file, JSON.stringify({ [flag]: byFile }))
      t.same(loadConfig([], {})[key], DEFAULT_CONFIG[key], `${flag}: the default`)
      t.same(loadConfig(['--config', file], {})[key], byFile, `${flag}: the file over the default`)
      const env = { [variable]: byVariable[0] }
      t.same(loadConfig(['--config', file], env)[key], byVariable[1], `${flag}: the variable over the file`)
      t.same(
        loadConfig(['--config', file, `--${flag}`, byFlag[0]], env)[key],
        byFlag[1],
        `${flag}: the flag over the variable`,
      )
      t.same(
        loadConfig(['--config', file], { [variable]: '' })[key],
        byFile,
        `${flag}: an empty variable is unset`,
      )
    }
  },
)

t.test('config - the file: unknown keys refused, and every problem reported at once', async (t) => {
  const file = join(tempDir(t, 'tlm-config-'), 'site.json')
  writeFileSync(
    file,
    JSON.stringify({
      mqtt_port: 1,
      'http-port': '8080',
      'clock-correction-devices': { m: 'never' },
      'store-memory-mb': 64,
      extra: true,
    }),
  )
  t.same(problems(['--config', file, '--log-level', 'loud']), [
    `${file}: http-port: "8080" must be 0 to 65535`,
    '--log-level: "loud" must be fatal, error, warn, info, debug, trace, silent',
    `${file}: clock-correction-devices.m must be one of off, future-only, auto`,
    `${file}: unknown key "mqtt_port"`,
    `${file}: unknown key "extra"`,
  ])
  writeFileSync(file, '{"__proto__": {"mqtt-port": 1}}')
  t.same(problems(['--config', file]), [`${file}: unknown key "__proto__"`], 'a __proto__ key is a key')
  writeFileSync(file, '[]')
  t.same(problems(['--config', file]), [`--config: ${file} must hold a JSON object`])
  writeFileSync(file, JSON.stringify({ 'influx-tags': ['site'], 'tls-cert': file }))
  t.same(problems(['--config', file]), [
    `${file}: influx-tags needs --influx-url (INFLUX_URL)`,
    '--tls-cert and --tls-key go together: give both or neither',
  ])
})

t.test('config - lists and maps: comma-separated from flags and variables, JSON in the file', async (t) => {
  const c = loadConfig(['--clock-correction-devices', 'meter-7=auto, lab.bench=off'], {
    INFLUX_URL: 'http://i:8086',
    INFLUX_DB: 'x',
    INFLUX_TAGS: 'site,,line ',
  })
  t.same(c.clockCorrectionDevices, { 'meter-7': 'auto', 'lab.bench': 'off' })
  t.same(c.influx?.tags, ['site', 'line'])
  t.ok(Object.isFrozen(c.clockCorrectionDevices) && Object.isFrozen(c.influx?.tags), 'frozen')
  t.match(problems(['--clock-correction-devices', 'meter-7']), [
    /^--clock-correction-devices: "meter-7" must be device=policy/,
  ])
  t.match(problems(['--clock-correction-devices', 'bad/id=off']), [
    /^--clock-correction-devices: "bad\/id=off"/,
  ])
  t.match(problems(['--field-types', '__proto__=int']), [/^--field-types: "__proto__=int"/])
})

t.test('config - --print-config: the file form reads back to the same configuration', async (t) => {
  const dir = tempDir(t, 'tlm-config-')
  const env = {
    INFLUX_URL: 'http://influx:8086/',
    INFLUX_TOKEN: 's3cret',
    INFLUX_ORG: 'acme',
    INFLUX_BUCKET: 'b',
  }
  const { config, printConfig } = readCommandLine(
    [
      '--print-config',
      '--mqtt-port',
      '0',
      '--field-types',
      'temp=float,n=int',
      '--clock-correction-devices',
      'meter-7=off',
      '--influx-tags',
      'site',
      '--influx-version',
      '2',
      '--history-source',
      'influx',
      '--accept-unwrapped',
      'false',
    ],
    env,
  )
  t.equal(printConfig, true)
  t.equal(readCommandLine([], {}).printConfig, false)
  const { file, redacted } = configFile(config)
  t.same(redacted, ['influx-token'])
  t.notMatch(JSON.stringify(file), /s3cret/, 'no secret printed')
  const VALUELESS = [
    'influx-token',
    'tls-cert',
    'tls-key',
    'tls-ca',
    'tls-crl',
    'influx-db',
    'influx-rp',
    'tokens-file',
    'password-file',
    'acl-file',
    'allow-anonymous',
  ]
  t.same(
    Object.keys(file).sort(),
    ROWS.map(([flag]) => flag)
      .filter((flag) => !VALUELESS.includes(flag))
      .sort(),
    'every option with a value',
  )
  const path = join(dir, 'printed.json')
  writeFileSync(path, JSON.stringify(file))
  t.same(
    loadConfig(['--config', path], { INFLUX_TOKEN: 's3cret' }),
    config,
    'the same, the secret given again',
  )
  t.equal(loadConfig(['--config', path], {}).influx?.token, null, 'without it, no token')

  writeFileSync(path, JSON.stringify(configFile(DEFAULT_CONFIG).file))
  t.same(loadConfig(['--config', path], {}), DEFAULT_CONFIG, 'the defaults too')
})
