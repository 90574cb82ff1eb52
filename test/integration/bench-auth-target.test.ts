/**
 * The benches' "auth + ACL" server (issue 22) is the app as `npm start`
 * runs it with the password and ACL files of test/helpers/device-users.ts:
 * it refuses a device without credentials or not in the file, and takes
 * every listed device logged in as itself. The open app takes anyone.
 */

import t from 'tap'
import { startTarget } from '../../bench/fleet-run.js'
import { runSimulation } from '../../simulators/index.js'
import { tempDir } from '../helpers/app.js'
import { connectAs } from '../helpers/broker-auth.js'
import { deviceIds, writeDeviceUsers } from '../helpers/device-users.js'

t.test(
  'bench - the auth variant refuses strangers and takes each listed device as its own user',
  async (t) => {
    const users = await writeDeviceUsers(tempDir(t), deviceIds('bench-', 2), 'bench-secret')
    t.match(users.login, { username: '{device}', password: 'bench-secret' })
    const auth = await startTarget('auth', { users })
    t.teardown(() => auth.stop())
    const port = Number(new URL(auth.mqttUrl).port)
    t.equal(await connectAs(port, {}), 5, 'anonymous: CONNACK 5')
    t.equal(await connectAs(port, { username: 'bench-0', password: 'wrong' }), 5, 'a wrong password')
    const load = { devices: 2, ratePerSecond: 10, durationMs: 500, url: auth.mqttUrl, ...auth.login }
    const listed = await runSimulation({ ...load, idPrefix: 'bench-' })
    t.same([listed.devices, listed.errors], [2, 0], listed.errorSamples.join('; '))
    t.ok(listed.acknowledged > 0 && listed.acknowledged === listed.sent, 'every reading acknowledged')
    const strangers = await runSimulation({ ...load, idPrefix: 'other-' })
    t.same([strangers.devices, strangers.errors], [0, 2], 'devices not in the file are refused')
  },
)

t.test('bench - the open app takes devices without credentials', async (t) => {
  const open = await startTarget('app', {})
  t.teardown(() => open.stop())
  t.same(open.login, {})
  const s = await runSimulation({ devices: 1, ratePerSecond: 10, durationMs: 300, url: open.mqttUrl })
  t.same([s.devices, s.errors], [1, 0])
})
