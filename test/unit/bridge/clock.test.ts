/**
 * Event time and lateness, scenario by scenario from test/fixtures/clock.json:
 * ClockTracker and Watermarks run in the order the bridge runs them, for each
 * policy a scenario names.
 */

import t from 'tap'
import {
  type ClockCorrection,
  type ClockOptions,
  ClockTracker,
  DEFAULT_CLOCK_OPTIONS,
} from '../../../bridge/clock.js'
import { DEFAULT_WATERMARK_OPTIONS, Watermarks } from '../../../bridge/watermark.js'
import { loadFixture } from '../../helpers/fixtures.js'

interface Segment {
  count: number
  deviceMs: [number, number] | null
  absoluteDevice?: boolean
  sentMs: [number, number]
  delayMs?: [number, number]
  gatewayMs?: number
}

interface Scenario {
  name: string
  about?: string
  modes: ClockCorrection[]
  options?: Partial<ClockOptions>
  segments: Segment[]
  moved: Array<[number, number, number | 'receive']>
  late: Array<[number, number]>
  receiveTime?: Array<[number, number]>
}

const { scenarios } = loadFixture<{ scenarios: Scenario[] }>('clock.json')

/** 2025-11-26T00:00:00Z: the fixture's times are ms relative to it. */
const BASE_MS = 1_764_115_200_000
const MS = 1_000_000n
const ns = (relativeMs: number): bigint => BigInt(BASE_MS + relativeMs) * MS

interface Arrival {
  deviceNs: bigint | null
  recvNs: bigint
}

/** The scenario's readings as they arrive: in order, each no earlier than the one before. */
function arrivals(segments: readonly Segment[]): Arrival[] {
  const out: Arrival[] = []
  let lastRecvMs = Number.NEGATIVE_INFINITY
  for (const s of segments) {
    // A fixed-seed LCG, so that a failure is reproducible.
    let state = s.delayMs?.[1] ?? 1
    const random = (): number => {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
      return state / 2_147_483_648
    }
    for (let i = 0; i < s.count; i++) {
      const sentMs = s.sentMs[0] + i * s.sentMs[1]
      let recvMs = sentMs + (s.delayMs === undefined ? 0 : Math.round(random() * s.delayMs[0]))
      if (s.gatewayMs !== undefined) recvMs = Math.ceil(recvMs / s.gatewayMs) * s.gatewayMs
      recvMs = Math.max(recvMs, lastRecvMs)
      lastRecvMs = recvMs
      const deviceMs = s.deviceMs === null ? null : s.deviceMs[0] + i * s.deviceMs[1]
      out.push({
        deviceNs: deviceMs === null ? null : s.absoluteDevice === true ? BigInt(deviceMs) * MS : ns(deviceMs),
        recvNs: ns(recvMs),
      })
    }
  }
  return out
}

function inRanges<R extends readonly [number, number, ...unknown[]]>(
  i: number,
  ranges: readonly R[],
): R | undefined {
  return ranges.find(([first, last]) => i >= first && i <= last)
}

for (const scenario of scenarios) {
  for (const mode of scenario.modes) {
    t.test(`clock - ${mode}: ${scenario.name}`, async (t) => {
      const options = { ...DEFAULT_CLOCK_OPTIONS, ...scenario.options, mode }
      const clock = new ClockTracker(options)
      const watermarks = new Watermarks()
      const readings = arrivals(scenario.segments)
      const wrong: string[] = []
      let lastWatermark: bigint | null = null
      readings.forEach(({ deviceNs, recvNs }, i) => {
        const got = clock.normalize('d', deviceNs, recvNs)
        const before = watermarks.current('d')
        const late = before !== null && got.tsNs < before
        const watermark = watermarks.advance('d', got.tsNs, recvNs)
        const where = `reading ${i}`
        const moved = inRanges(i, scenario.moved)
        const noClock = inRanges(i, scenario.receiveTime ?? [])
        let want: bigint
        if (noClock !== undefined || deviceNs === null) want = recvNs
        else if (moved === undefined) want = deviceNs
        else want = moved[2] === 'receive' ? recvNs : deviceNs + BigInt(moved[2]) * MS
        if (got.tsNs !== want) wrong.push(`${where}: event time ${got.tsNs}, expected ${want}`)
        if (noClock === undefined && deviceNs !== null && got.tsNs !== deviceNs + got.offsetNs)
          wrong.push(`${where}: event time is not device time + offset`)
        if ((got.reason === null) !== (got.tsNs === (noClock === undefined ? deviceNs : recvNs)))
          wrong.push(
            `${where}: reason ${got.reason} for a time ${got.tsNs === want ? 'as expected' : 'wrong'}`,
          )
        if (late !== (inRanges(i, scenario.late) !== undefined))
          wrong.push(`${where}: ${late ? 'late' : 'not late'}, expected otherwise`)
        if (mode !== 'off' && got.tsNs > recvNs + BigInt(options.futureToleranceMs) * MS)
          wrong.push(`${where}: in the future beyond the tolerance`)
        if (lastWatermark !== null && watermark < lastWatermark)
          wrong.push(`${where}: the watermark moved back`)
        lastWatermark = watermark
      })
      t.strictSame(wrong.slice(0, 10), [], `${readings.length} readings as expected`)
    })
  }
}

t.test('clock - keeps the nanoseconds of the device time when correcting', async (t) => {
  const clock = new ClockTracker({
    ...DEFAULT_CLOCK_OPTIONS,
    mode: 'auto',
    stableSpanMs: 3000,
    stableReadings: 4,
  })
  let last = { tsNs: 0n, offsetNs: 0n }
  let device = 0n
  for (let i = 0; i < 4; i++) {
    const recv = ns(i * 1000)
    device = recv - 60_000_000_000n - 123_457n
    last = clock.normalize('a', device, recv)
  }
  t.equal(last.offsetNs, 60_000_123_457n, 'offset to the nanosecond')
  t.equal(last.tsNs, device + 60_000_123_457n)
})

t.test('clock - a per-device policy wins over the default', async (t) => {
  const clock = new ClockTracker({ ...DEFAULT_CLOCK_OPTIONS, devices: { lab: 'off', field: 'future-only' } })
  const recv = ns(0)
  const ahead = recv + 60_000n * MS
  t.equal(clock.normalize('lab', ahead, recv).tsNs, ahead, 'off: stored as sent')
  t.equal(clock.normalize('field', ahead, recv).tsNs, recv, 'future-only: clamped')
  t.equal(clock.normalize('other', ahead, recv).reason, 'future', 'the default policy: clamped')
})

t.test('clock - forget() drops what auto had proven', async (t) => {
  const clock = new ClockTracker({
    ...DEFAULT_CLOCK_OPTIONS,
    mode: 'auto',
    stableSpanMs: 2000,
    stableReadings: 3,
  })
  const step = (i: number) => clock.normalize('a', ns(i * 1000 - 60_000), ns(i * 1000))
  for (let i = 0; i < 3; i++) step(i)
  t.equal(step(3).offsetNs, 60_000n * MS, 'proven')
  clock.forget('a')
  t.equal(step(4).offsetNs, 0n, 'afresh after forget')
})

t.test('clock - the default options are the documented ones', async (t) => {
  t.strictSame(
    { ...DEFAULT_CLOCK_OPTIONS },
    {
      mode: 'future-only',
      devices: {},
      futureToleranceMs: 5000,
      toleranceMs: 2000,
      maxSpreadMs: 1000,
      stableSpanMs: 300_000,
      stableReadings: 30,
    },
  )
  t.strictSame({ ...DEFAULT_WATERMARK_OPTIONS }, { confirmations: 3, slackMs: 1000 })
  t.ok(Object.isFrozen(DEFAULT_CLOCK_OPTIONS), 'frozen')
})

t.test('watermark - a restored device moves on from its stored watermark', async (t) => {
  const marks = new Watermarks()
  marks.restore('a', ns(10_000), ns(19_000))
  t.equal(marks.current('a'), ns(10_000))
  t.equal(marks.advance('a', ns(5_000), ns(20_000)), ns(10_000), 'an older reading leaves it')
  t.equal(marks.advance('a', ns(70_000), ns(20_100)), ns(10_000), 'a minute ahead in 100 ms: not yet')
  t.equal(marks.advance('a', ns(11_000), ns(20_200)), ns(11_000), 'the receive pace: at once')
  marks.forget('a')
  t.equal(marks.current('a'), null, 'forgotten')
  t.throws(() => new Watermarks({ confirmations: 0, slackMs: 0 }), RangeError)
})

t.test(
  'watermark - idleSince names the devices with no reading since a time, restored ones included',
  async (t) => {
    const marks = new Watermarks()
    marks.restore('restored', ns(0), ns(1_000))
    marks.advance('quiet', ns(500), ns(2_000))
    marks.advance('busy', ns(500), ns(2_000))
    marks.advance('busy', ns(9_000), ns(9_000))
    t.same([...marks.idleSince(ns(5_000))].sort(), ['quiet', 'restored'])
    t.same([...marks.idleSince(ns(1_000))], [], 'none before its own last reading')
  },
)
