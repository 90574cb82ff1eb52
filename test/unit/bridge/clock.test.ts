/**
 * ClockTracker, scenario by scenario from test/fixtures/clock.json.
 */

import t from 'tap'
import { type ClockOptions, ClockTracker, DEFAULT_CLOCK_OPTIONS } from '../../../bridge/clock.js'
import { loadFixture } from '../../helpers/fixtures.js'

type Step = [device: string, recvMs: number, deviceMs: number | null, tsMs: number, offsetMs: number]

interface Scenario {
  name: string
  about?: string
  options?: Partial<ClockOptions>
  steps: Array<Step | { forget: string }>
}

const { scenarios } = loadFixture<{ scenarios: Scenario[] }>('clock.json')

/** 2025-11-26T00:00:00Z: the fixture's times are ms relative to it. */
const BASE_MS = 1_764_115_200_000
const ns = (relativeMs: number): bigint => BigInt(BASE_MS + relativeMs) * 1_000_000n

for (const scenario of scenarios) {
  t.test(`clock - ${scenario.name}`, async (t) => {
    const options = { ...DEFAULT_CLOCK_OPTIONS, ...scenario.options }
    const clock = new ClockTracker(options)
    scenario.steps.forEach((step, i) => {
      if (!Array.isArray(step)) {
        clock.forget(step.forget)
        return
      }
      const [device, recvMs, deviceMs, tsMs, offsetMs] = step
      const recvNs = ns(recvMs)
      const deviceNs = deviceMs === null ? null : ns(deviceMs)
      const got = clock.normalize(device, deviceNs, recvNs)
      const where = `step ${i} (${device}, recv ${recvMs}, device ${deviceMs})`
      t.equal(got.tsNs, ns(tsMs), `${where}: event time`)
      t.equal(got.offsetNs, BigInt(offsetMs) * 1_000_000n, `${where}: offset`)
      if (deviceNs !== null)
        t.equal(got.tsNs, deviceNs + got.offsetNs, `${where}: event time is device time + offset`)
      t.ok(
        got.tsNs <= recvNs + BigInt(options.futureToleranceMs) * 1_000_000n,
        `${where}: not in the future beyond the tolerance`,
      )
    })
  })
}

t.test('clock - keeps the nanoseconds of the device time when correcting', async (t) => {
  const clock = new ClockTracker()
  const recv = ns(0)
  let last = { tsNs: 0n, offsetNs: 0n }
  let device = 0n
  for (let i = 0; i < 4; i++) {
    device = recv + BigInt(i) * 1_000_000_000n - 60_000_000_000n - 123_457n
    last = clock.normalize('a', device, recv + BigInt(i) * 1_000_000_000n)
  }
  t.equal(last.offsetNs, 60_000_123_457n, 'offset to the nanosecond')
  t.equal(last.tsNs, device + 60_000_123_457n)
})

t.test('clock - the default options are the documented ones', async (t) => {
  t.strictSame(
    { ...DEFAULT_CLOCK_OPTIONS },
    { toleranceMs: 2000, futureToleranceMs: 5000, windowSize: 8, maxSpreadMs: 1000 },
  )
  t.ok(Object.isFrozen(DEFAULT_CLOCK_OPTIONS), 'frozen')
})
