/**
 * The simulator's devices with credentials (issue #22) against the real
 * broker with a password file and the benches' ACL file: each device its own
 * user gets everything acknowledged through; a wrong password is refused,
 * and the run says so and ends instead of hanging.
 */

import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { runSimulation } from '../../simulators/index.js'
import { parseSimulateArgs } from '../../simulators/simulate.js'
import { startAuthBroker } from '../helpers/broker-auth.js'
import { DEVICE_ACL, deviceIds } from '../helpers/device-users.js'
import { REPO_ROOT } from '../helpers/process.js'

const IDS = deviceIds('simauth-', 3)
const USERS = Object.fromEntries(IDS.map((id) => [id, 'fleet-secret']))
const load = (port: number) =>
  ({
    devices: 3,
    ratePerSecond: 20,
    durationMs: 500,
    idPrefix: 'simauth-',
    url: `mqtt://127.0.0.1:${port}`,
  }) as const

t.test(
  'simulator - each device as its own user: every acknowledged reading reached the bridge',
  async (t) => {
    const { broker, published, denied } = await startAuthBroker(t, { users: USERS, acl: DEVICE_ACL })
    const s = await runSimulation({ ...load(broker.port), username: '{device}', password: 'fleet-secret' })
    t.same([s.devices, s.errors, s.unacknowledged], [3, 0, 0], `no errors: ${s.errorSamples.join('; ')}`)
    t.ok(s.acknowledged > 0 && s.acknowledged === s.sent, 'every reading acknowledged')
    t.equal(published.length, s.acknowledged, 'each acknowledged reading was handed to the bridge')
    t.same(new Set(published), new Set(IDS.map((id) => `devices/${id}/telemetry`)), 'each on its own topic')
    t.same(denied, [], 'nothing refused')
  },
)

t.test('simulator - a wrong password: every device refused, the run reports it and ends', async (t) => {
  const { broker, published, denied } = await startAuthBroker(t, { users: USERS, acl: DEVICE_ACL })
  const s = await runSimulation({ ...load(broker.port), username: '{device}', password: 'wrong' })
  t.same([s.devices, s.errors, s.sent, s.acknowledged], [0, 3, 0, 0], 'no device connected')
  t.match(s.errorSamples, [/^simauth-\d connect: Connection refused: Not authorized$/])
  t.equal(published.length, 0, 'nothing reached the bridge')
  t.equal(denied.filter((d) => d === 'connect').length, 3, 'the broker counted three refusals')
})

t.test('simulator - one user for every device: the ACL refuses the others’ topics', async (t) => {
  const { broker, published } = await startAuthBroker(t, { users: USERS, acl: DEVICE_ACL })
  const s = await runSimulation({ ...load(broker.port), username: 'simauth-0', password: 'fleet-secret' })
  t.equal(s.devices, 3, 'all connect: the password is right')
  t.ok(s.errors >= 2, `simauth-1 and -2 were disconnected on their first publish (${s.errors} errors)`)
  t.ok(
    published.length > 0 && published.every((topic) => topic === 'devices/simauth-0/telemetry'),
    'only simauth-0’s own topic got through',
  )
})

t.test(
  'simulate - the command line: --username and --password, a wrong one exits 1 with the refusal',
  async (t) => {
    t.match(
      parseSimulateArgs(['--devices', '2', '--rate', '1', '--username', '{device}', '--password', 'p']),
      {
        username: '{device}',
        password: 'p',
      },
    )
    t.match(parseSimulateArgs(['--devices', '2', '--rate', '1', '--password', 'p']), {
      problems: [/a password needs a username/],
    })
    const { broker } = await startAuthBroker(t, { users: USERS, acl: DEVICE_ACL })
    const simulate = join(REPO_ROOT, 'dist', 'simulators', 'simulate.js')
    const args = ['--devices', '3', '--rate', '10', '--duration', '1', '--id-prefix', 'simauth-']
    const run = (password: string) =>
      promisify(execFile)(
        process.execPath,
        [
          simulate,
          ...args,
          '--url',
          `mqtt://127.0.0.1:${broker.port}`,
          '--username',
          '{device}',
          '--password',
          password,
        ],
        { timeout: 60_000 },
      ).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (err: { code: number; stdout: string }) => err,
      )
    const right = await run('fleet-secret')
    t.equal(right.code, 0, right.stdout)
    t.match(right.stdout, /errors 0/)
    const wrong = await run('wrong')
    t.equal(wrong.code, 1, 'exit status 1')
    t.match(wrong.stdout, /devices 0,/)
    t.match(wrong.stdout, /error: simauth-\d connect: Connection refused: Not authorized/)
  },
)
