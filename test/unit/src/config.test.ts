import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DEFAULT_CONFIG, loadConfig } from '../../../src/config.js'
import { ConfigError } from '../../../src/core/errors.js'

t.test('config - defaults with no flags and no variables', async (t) => {
  t.same(loadConfig([], {}), DEFAULT_CONFIG)
})

t.test('config - each flag has a variable, and the flag wins', async (t) => {
  const env = {
    MQTT_PORT: '1999',
    HTTP_PORT: '0',
    DATA_DIR: '/tmp/x',
    HOST: '::1',
    FIELD_TYPES: 'temp=float, n=int',
  }
  const fromEnv = loadConfig([], env)
  t.equal(fromEnv.mqttPort, 1999)
  t.equal(fromEnv.httpPort, 0)
  t.equal(fromEnv.dataDir, '/tmp/x')
  t.equal(fromEnv.host, '::1')
  t.same(fromEnv.fieldTypes, { temp: 'float', n: 'int' })
  const fromFlags = loadConfig(
    ['--mqtt-port', '0', '--data-dir', '/tmp/y', '--accept-unwrapped', 'false'],
    env,
  )
  t.equal(fromFlags.mqttPort, 0)
  t.equal(fromFlags.dataDir, '/tmp/y')
  t.equal(fromFlags.acceptUnwrapped, false)
  t.ok(Object.isFrozen(fromFlags), 'frozen')
})

t.test('config - every wrong value is reported at once, by name', async (t) => {
  const err = t.throws(() =>
    loadConfig(
      ['--mqtt-port', '70000', '--http-port', 'x', '--field-types', 'temp=double', '--log-level', 'loud'],
      {
        MAX_PACKET_BYTES: '12',
      },
    ),
  ) as ConfigError
  t.ok(err instanceof ConfigError)
  t.equal(err.code, 'TLM_ERR_CONFIG')
  t.equal(err.problems.length, 5)
  for (const name of ['--mqtt-port', '--http-port', '--field-types', '--log-level', 'MAX_PACKET_BYTES']) {
    t.ok(
      err.problems.some((p) => p.includes(name)),
      `names ${name}`,
    )
  }
})

t.test('config - the store memory limit: MB from a flag or variable, bounded', async (t) => {
  t.equal(loadConfig([], {}).storeMemoryMb, 1000)
  t.equal(loadConfig([], { STORE_MEMORY_MB: '256' }).storeMemoryMb, 256)
  t.equal(loadConfig(['--store-memory-mb', '64'], { STORE_MEMORY_MB: '256' }).storeMemoryMb, 64)
  for (const bad of ['63', '0', '1.5', '256MB', '-100', '1000001']) {
    const err = t.throws(() => loadConfig([`--store-memory-mb=${bad}`], {})) as ConfigError
    t.match(err.problems, [/^--store-memory-mb: .* must be 64 to 1000000 MB$/], `refuses ${bad}`)
  }
})

t.test('config - an unknown or renamed flag fails loudly', async (t) => {
  t.throws(() => loadConfig(['--mqtt_port', '1'], {}), ConfigError)
  t.throws(() => loadConfig(['--port', '1'], {}), ConfigError)
})

t.test('config - InfluxDB forwarding: from variables, flags win, and every gap named', async (t) => {
  const c = loadConfig(['--influx-tags', 'site, line', '--max-backlog-bytes', '2048'], {
    INFLUX_URL: 'http://influx:8086/',
    INFLUX_ORG: 'acme',
    INFLUX_BUCKET: 'tlm',
    INFLUX_TOKEN: 'secret',
    HISTORY_SOURCE: 'influx',
  })
  t.same(c.influx, {
    url: 'http://influx:8086',
    version: 'auto',
    token: 'secret',
    org: 'acme',
    bucket: 'tlm',
    db: null,
    rp: null,
    measurement: 'telemetry',
    tags: ['site', 'line'],
    maxBacklogBytes: 2048,
  })
  t.equal(c.historySource, 'influx')
  t.equal(loadConfig(['--influx-url', 'http://i:8086', '--influx-db', 'x'], {}).influx?.version, 'auto')

  const problems = (argv: string[]) => {
    try {
      loadConfig(argv, {})
      return []
    } catch (err) {
      return (err as ConfigError).problems
    }
  }
  t.match(problems(['--influx-db', 'x']), [/--influx-db needs --influx-url/])
  t.match(problems(['--history-source', 'influx']), [/influx needs --influx-url/])
  t.match(problems(['--device-auth', 'password']), [/"password" must be none or client-id/])
  t.equal(loadConfig([], { DEVICE_AUTH: 'client-id' }).deviceAuth, 'client-id')
  t.equal(loadConfig([], {}).deviceAuth, 'none')
  t.match(problems(['--influx-url', 'http://i:8086']), [
    /needs --influx-db .* or --influx-org and --influx-bucket/,
  ])
  t.match(problems(['--influx-url', 'http://i:8086', '--influx-version', '2', '--influx-db', 'x']), [
    /--influx-version 2 needs --influx-org and --influx-bucket/,
  ])
  t.match(
    problems([
      '--influx-url',
      'ftp://i',
      '--influx-db',
      'x',
      '--influx-tags',
      'device',
      '--max-backlog-bytes',
      '10',
    ]),
    [/must be an http/, /--influx-tags: "device" must be .*, other than device/, /at least 1024/],
  )
})

t.test(
  'config - clock correction: a policy from flag, variable or file, per device from the file',
  async (t) => {
    t.equal(loadConfig([], {}).clockCorrection, 'future-only', 'default')
    t.equal(loadConfig([], { CLOCK_CORRECTION: 'off' }).clockCorrection, 'off')
    t.equal(loadConfig(['--clock-correction', 'auto'], { CLOCK_CORRECTION: 'off' }).clockCorrection, 'auto')
    const dir = mkdtempSync(join(tmpdir(), 'tlm-config-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'site.json')
    writeFileSync(
      file,
      JSON.stringify({
        'clock-correction': 'auto',
        'clock-stable-ms': 60000,
        'mqtt-port': 1999,
        'clock-correction-devices': { 'meter-7': 'off' },
      }),
    )
    const c = loadConfig(['--config', file], {})
    t.equal(c.clockCorrection, 'auto')
    t.equal(c.clockStableMs, 60_000)
    t.equal(c.mqttPort, 1999, 'any flag can be a key')
    t.same(c.clockCorrectionDevices, { 'meter-7': 'off' })
    t.equal(
      loadConfig(['--config', file], { MQTT_PORT: '2000' }).mqttPort,
      2000,
      'a variable wins over the file',
    )
    t.equal(loadConfig([], { CONFIG: file }).clockCorrection, 'auto', 'CONFIG names the file too')

    for (const [body, problem] of [
      [{ 'clock-correction': 'sometimes' }, /clock-correction: "sometimes" must be off, future-only, auto/],
      [
        { 'clock-correction-devices': { 'meter-7': 'later' } },
        /clock-correction-devices\.meter-7 must be one of/,
      ],
      [{ 'clock-correction-devices': { 'bad/id': 'off' } }, /clock-correction-devices .*must match pattern/],
      [{ clock_correction: 'off' }, /unknown key "clock_correction"/],
      [{ 'clock-stable-readings': 1 }, /clock-stable-readings: 1 must be 2 to 1000000$/],
      [{ 'mqtt-port': [1] }, /mqtt-port: \[1\] must be 0 to 65535$/],
    ] as const) {
      writeFileSync(file, JSON.stringify(body))
      const err = t.throws(() => loadConfig(['--config', file], {})) as ConfigError
      t.match(err.problems, [problem], JSON.stringify(body))
    }
    writeFileSync(file, '{ not json')
    const err = t.throws(() => loadConfig(['--config', file], {})) as ConfigError
    t.match(err.problems, [/--config: cannot read .* as JSON/])
    t.throws(() => loadConfig(['--clock-stable-ms', '10'], {}), ConfigError, 'bounded')
  },
)
