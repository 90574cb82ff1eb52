/**
 * The simulator's faults and profiles, against the bridge's own decoding:
 * each fault payload is refused with the reason the ground truth records,
 * and each time unit comes back as the device time the truth expects.
 */

import t from 'tap'
import { decodePayload } from '../../../bridge/decode.js'
import { validateMessage } from '../../../bridge/validate.js'
import { encodeReading, float } from '../../../simulators/encode.js'
import {
  badChecksumPayload,
  deviceClock,
  expectedDeviceTimeNs,
  FaultyClock,
  MALFORMED_KINDS,
  malformedPayload,
  oversizedPayload,
  parseFaults,
  WRONG_UNITS,
  writeTime,
} from '../../../simulators/faults.js'
import { loadProfile, parseProfile, typeOf } from '../../../simulators/profile.js'
import { parseSimulateArgs } from '../../../simulators/simulate.js'
import { Rejection } from '../../../src/core/errors.js'

const OPTIONS = { acceptUnwrapped: true }

/** The reason the bridge refuses `payload` with, or its first sample's device time. */
function bridgeSees(payload: Uint8Array): string | bigint | null {
  const decoded = decodePayload(payload, OPTIONS)
  if (decoded instanceof Rejection) return decoded.reason
  const message = validateMessage(decoded.body, decoded.floatPaths)
  if (message instanceof Rejection) return message.reason
  return message.samples[0]!.time?.ns ?? null
}

t.test('faults - rates parse, all sets every one, bad entries are named', async (t) => {
  t.same(parseFaults('skew=0.1, late=0.01'), { skew: 0.1, late: 0.01 })
  const all = parseFaults('all=0.02,late=0.5') as Record<string, number>
  t.equal(all.late, 0.5, 'later entries override all')
  t.equal(all.reconnect_storm, 0.02)
  t.same(parseFaults(''), {})
  t.match(parseFaults('lag=0.1'), { problems: [/unknown fault "lag"/] })
  t.match(parseFaults('late=2'), { problems: [/from 0 to 1/] })
  t.match(parseFaults('late'), { problems: [/from 0 to 1/] })
})

t.test('faults - every time unit decodes to the device time the truth expects', async (t) => {
  const ms = 1764115200123
  for (const unit of ['ms', ...WRONG_UNITS] as const) {
    const { ts, text } = writeTime(ms, unit)
    const seen = bridgeSees(encodeReading({ seq: 1, ts, fields: { temp: float(1) } }))
    const expected = expectedDeviceTimeNs(text)
    t.ok(typeof seen === 'bigint', `${unit}: accepted`)
    const off = (seen as bigint) - expected
    t.ok(off >= -1000n && off <= 1000n, `${unit} (${text}): ${seen} vs ${expected}`)
  }
  t.equal(expectedDeviceTimeNs('s:1764115200'), 1764115200n * 1_000_000_000n, 'seconds lose the milliseconds')
  t.throws(() => expectedDeviceTimeNs('h:5'), /unknown time unit/)
})

t.test('faults - each bad payload is refused with the reason the truth records', async (t) => {
  const good = encodeReading({ seq: 7, ts: 1764115200000, fields: { temp: float(21.5) } })
  for (const reason of MALFORMED_KINDS) t.equal(bridgeSees(malformedPayload(reason, good)), reason, reason)
  t.equal(bridgeSees(badChecksumPayload(good)), 'checksum_mismatch')
  const big = oversizedPayload(1, 256 * 1024)
  t.ok(big.length > 256 * 1024, 'oversized is over the packet limit')
})

t.test('faults - clocks: skewed, drifting and jumping as asked', async (t) => {
  const c = new FaultyClock(-30_000, 10, 1000)
  t.equal(c.read(1000), -29_000)
  t.equal(c.offsetAt(2000), -29_990, 'drift of 10 ms per second')
  c.jump(3_600_000)
  t.equal(c.epoch, 1)
  t.equal(c.offsetAt(1000), 3_570_000)
  const none = deviceClock({}, Math.random, 0)
  t.equal(none.kind, null)
  t.equal(none.offsetAt(123), 0)
  const skewed = deviceClock({ skew: 1 }, Math.random, 0)
  t.equal(skewed.kind, 'skew')
  t.ok(Math.abs(skewed.offsetAt(0)) >= 10_000, 'a skew is at least 10 s')
  t.equal(deviceClock({ drift: 1 }, Math.random, 0).kind, 'drift')
})

t.test('profile - the default ships, validates, and splits the fleet by shares', async (t) => {
  const profile = loadProfile()
  const types = Array.from({ length: 10 }, (_, i) => typeOf(profile, i, 10).name)
  t.same(types, [...Array(8).fill('thermostat'), 'meter', 'meter'])
  t.match(parseProfile({}), { problems: [/non-empty array/] })
  t.match(
    parseProfile({
      types: [
        { name: 'a', share: 1, fields: { x: { kind: 'counter', incrementRate: 0.5 } } },
        { name: 'b', share: 1, fields: { x: { kind: 'sine', base: 0, amplitude: 1, periodS: 1 } } },
      ],
    }),
    { problems: [/fields.x: is float here but int in another type/] },
  )
  t.match(parseProfile({ types: [{ name: 'a', share: 0, fields: { x: { kind: 'wave' } } }] }), {
    problems: [/share must be above 0/, /kind must be sine, step, counter or bool/],
  })
})

t.test('simulate - flags: faults, profile, ramp-up and sessions, with every problem named', async (t) => {
  const ok = parseSimulateArgs([
    '--devices',
    '3',
    '--rate',
    '2',
    '--faults',
    'late=0.1',
    '--ramp-up',
    '1.5',
    '--clean',
    'false',
    '--truth',
    '/tmp/x',
  ])
  t.match(ok, {
    devices: 3,
    faults: { late: 0.1 },
    rampUpMs: 1500,
    clean: false,
    truthPath: '/tmp/x',
    keepTruth: true,
  })
  t.match(parseSimulateArgs(['--devices', '3', '--rate', '2', '--faults', 'lag=1', '--clean', 'maybe']), {
    problems: [/--clean must be true or false/, /--faults: unknown fault "lag"/],
  })
  t.match(parseSimulateArgs(['--devices', '3', '--rate', '2', '--profile', '/nonexistent.json']), {
    problems: [/--profile: profile \/nonexistent.json/],
  })
})
