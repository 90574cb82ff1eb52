/**
 * FeatureEngine, table-driven from test/fixtures/features/engine.json: each
 * scenario feeds readings, partial calls and evictions, and names every event
 * each step must emit (hand-computed), then the counters.
 */

import t from 'tap'
import { ConfigError } from '../../../src/core/errors.js'
import type { Field } from '../../../src/core/telemetry.js'
import {
  FeatureEngine,
  type FeatureEngineOptions,
  type FeatureEvent,
  parseFeatureDefinitions,
} from '../../../src/features/index.js'
import { loadFixture } from '../../helpers/fixtures.js'

type FixtureValue = number | boolean | { int: string }

type Step =
  | { add: [string, number, number, Record<string, FixtureValue>]; events: unknown[] }
  | { partials: true; events: unknown[] }
  | { evictIdle: [number, number]; evicted: number; events: unknown[] }

interface Scenario {
  name: string
  options?: FeatureEngineOptions
  features: unknown[]
  steps: Step[]
  stats: unknown
}

const { scenarios } = loadFixture<{ scenarios: Scenario[] }>('features/engine.json')

const MS = 1_000_000n

function fields(values: Record<string, FixtureValue>): Field[] {
  return Object.entries(values).map(([name, value]): Field => {
    if (typeof value === 'boolean') return { name, kind: 'bool', value }
    if (typeof value === 'number') return { name, kind: 'float', value }
    return { name, kind: 'int', value: BigInt(value.int) }
  })
}

function ms(ns: bigint): number {
  if (ns % MS !== 0n) throw new Error(`${ns} ns is not a whole number of ms`)
  return Number(ns / MS)
}

/** An event in the fixture's shape: times in ms, the field left out (checked apart). */
function simplify(event: FeatureEvent): Record<string, unknown> {
  if (event.kind === 'late')
    return {
      kind: 'late',
      device: event.device,
      feature: event.feature,
      ts: ms(event.tsNs),
      watermark: ms(event.watermarkNs),
    }
  return {
    kind: event.kind,
    device: event.device,
    feature: event.feature,
    start: ms(event.windowStartNs),
    end: ms(event.windowEndNs),
    count: event.count,
    values: event.values,
    watermark: ms(event.watermarkNs),
    newestRecv: ms(event.newestRecvNs),
    ...(event.kind === 'window' ? { closedBy: event.closedBy } : {}),
  }
}

/** Floats in values within 1e-12 relative, everything else exactly. */
function sameEvent(actual: Record<string, unknown>, expected: Record<string, unknown>): boolean {
  const { values: a, ...restA } = actual
  const { values: e, ...restE } = expected
  if (JSON.stringify(restA) !== JSON.stringify(restE)) return false
  if (a === undefined || e === undefined) return a === e
  const av = a as Record<string, number | null>
  const ev = e as Record<string, number | null>
  if (JSON.stringify(Object.keys(av)) !== JSON.stringify(Object.keys(ev))) return false
  return Object.keys(ev).every((k) => {
    const x = av[k]
    const y = ev[k]
    if (x === null || y === null || x === undefined || y === undefined) return x === y
    return Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y))
  })
}

function run(
  scenario: Scenario,
  check?: (step: number, events: FeatureEvent[], evicted: number | null) => void,
) {
  const { features } = parseFeatureDefinitions({ features: scenario.features })
  const all: FeatureEvent[] = []
  let events: FeatureEvent[] = []
  const engine = new FeatureEngine(features, (event) => events.push(event), scenario.options ?? {})
  scenario.steps.forEach((step, i) => {
    events = []
    let evicted: number | null = null
    if ('add' in step) {
      const [device, tsMs, recvMs, values] = step.add
      engine.add({ device, tsNs: BigInt(tsMs) * MS, recvTsNs: BigInt(recvMs) * MS, fields: fields(values) })
    } else if ('partials' in step) engine.partials()
    else evicted = engine.evictIdle(BigInt(step.evictIdle[0]) * MS, BigInt(step.evictIdle[1]) * MS)
    check?.(i, events, evicted)
    all.push(...events)
  })
  return { engine, features, events: all }
}

for (const scenario of scenarios) {
  t.test(`features - ${scenario.name}`, async (t) => {
    const fieldOf = new Map(
      (scenario.features as Array<{ name: string; field: string }>).map((f) => [f.name, f.field]),
    )
    const { engine } = run(scenario, (i, events, evicted) => {
      const step = scenario.steps[i]!
      const label = `step ${i} ${JSON.stringify('add' in step ? step.add : 'partials' in step ? 'partials' : step.evictIdle)}`
      const actual = events.map(simplify)
      const expected = step.events as Array<Record<string, unknown>>
      const same = actual.length === expected.length && actual.every((a, k) => sameEvent(a, expected[k]!))
      t.ok(same, label, same ? {} : { found: actual, wanted: expected })
      if ('evicted' in step) t.equal(evicted, step.evicted, `${label}: devices evicted`)
      for (const event of events)
        if (event.kind !== 'late') t.equal(event.field, fieldOf.get(event.feature), `${label}: field`)
    })
    t.strictSame(engine.stats(), scenario.stats, 'stats')
  })
}

t.test(
  'features - the engine gives bit-identical events for the same readings in the same order',
  async (t) => {
    for (const scenario of scenarios) {
      const a = run(scenario).events
      const b = run(scenario).events
      t.equal(a.length, b.length, scenario.name)
      const identical = a.every((e, i) => {
        const f = b[i]!
        if (e.kind === 'late' || f.kind === 'late')
          return JSON.stringify(simplify(e)) === JSON.stringify(simplify(f))
        return Object.entries(e.values).every(([k, v]) => Object.is(v, f.values[k as keyof typeof f.values]))
      })
      t.ok(identical, scenario.name)
    }
  },
)

t.test('features - the engine refuses a bound smaller than the windows one reading lies in', async (t) => {
  const { features } = parseFeatureDefinitions({
    features: [{ name: 's', field: 'temp', window: { size: '60s', hop: '10s' }, aggregations: ['mean'] }],
  })
  const err = t.throws(
    () => new FeatureEngine(features, () => {}, { maxOpenWindowsPerDevice: 5 }),
  ) as ConfigError
  t.ok(err instanceof ConfigError)
  t.strictSame(err.problems, [
    'maxOpenWindowsPerDevice: 5 is less than the 6 windows a reading of feature s lies in',
  ])
  t.doesNotThrow(() => new FeatureEngine(features, () => {}, { maxOpenWindowsPerDevice: 6 }))
  const zero = t.throws(() => new FeatureEngine([], () => {}, { maxOpenWindowsPerDevice: 0 })) as ConfigError
  t.strictSame(zero.problems, ['maxOpenWindowsPerDevice: 0 must be a positive integer'])
})

t.test('features - the engine ignores fields no feature uses and emits nothing for them', async (t) => {
  const { features } = parseFeatureDefinitions({
    features: [{ name: 't', field: 'temp', window: { size: '10s' }, aggregations: ['count'] }],
  })
  const events: FeatureEvent[] = []
  const engine = new FeatureEngine(features, (e) => events.push(e))
  for (let i = 0n; i < 5n; i++)
    engine.add({
      device: 'd',
      tsNs: i * 10_000n * MS,
      recvTsNs: 0n,
      fields: [{ name: 'humidity', kind: 'float', value: 1 }],
    })
  engine.partials()
  t.equal(engine.evictIdle(0n, 0n), 1)
  t.strictSame(events, [])
})

t.test('features - the engine holds window state only for open windows', async (t) => {
  const { features } = parseFeatureDefinitions({
    features: [
      { name: 'tumbling', field: 'temp', window: { size: '10s' }, aggregations: ['mean'], grace: '2s' },
      {
        name: 'sliding',
        field: 'temp',
        window: { size: '60s', hop: '10s' },
        aggregations: ['mean'],
        grace: '2s',
      },
    ],
  })
  let windows = 0
  const engine = new FeatureEngine(features, (e) => {
    if (e.kind === 'window') windows++
  })
  // Every 50 readings a jump of 10 minutes closes every open window at once:
  // each must give its slot back.
  let tsMs = 0n
  let most = 0
  for (let i = 0; i < 2000; i++) {
    tsMs += i % 50 === 0 ? 600_000n : 1000n
    for (const device of ['a', 'b'])
      engine.add({
        device,
        tsNs: tsMs * MS,
        recvTsNs: tsMs * MS,
        fields: [{ name: 'temp', kind: 'float', value: i }],
      })
    const slots = engine.windowSlots.used
    most = Math.max(most, slots)
    if (slots > engine.stats().openWindows) {
      t.fail(`after reading ${i}: ${slots} slots for ${engine.stats().openWindows} open windows`)
      break
    }
  }
  t.ok(windows > 1000, `${windows} windows closed`)
  t.ok(most <= 2 * (2 + 7), `at most ${most} slots held`)
  t.equal(engine.evictIdle(tsMs * MS + 3_600_000n * MS, 60_000n * MS), 2, 'both devices evicted')
  t.equal(engine.windowSlots.used, 0, 'an evicted device holds no window state')
})

t.test(
  'features - the engine gives back the room of a fleet that has gone, and keeps what stays',
  async (t) => {
    const { features } = parseFeatureDefinitions({
      features: [
        { name: 't', field: 'temp', window: { size: '10s' }, aggregations: ['count', 'mean', 'max'] },
      ],
    })
    const seen: FeatureEvent[] = []
    const engine = new FeatureEngine(features, (e) => seen.push(e))
    const alone: FeatureEvent[] = []
    const reference = new FeatureEngine(features, (e) => alone.push(e))
    const reading = (device: string, tsMs: number, field: string, value: number) => ({
      device,
      tsNs: BigInt(tsMs) * MS,
      recvTsNs: BigInt(tsMs) * MS,
      fields: [{ name: field, kind: 'float' as const, value }],
    })
    const both = (device: string, tsMs: number, field: string, value: number) => {
      engine.add(reading(device, tsMs, field, value))
      reference.add(reading(device, tsMs, field, value))
    }
    // 2,000 devices open a window each at t = 1 s. Every 200th stays, so the
    // windows that stay are spread through the slab: s0 to s4 with a window
    // still open (a reading at 8 s), s5 to s9 with none (a humidity reading at
    // 12 s closed their temp window, and opened none).
    const staying: string[] = []
    for (let d = 0; d < 2000; d++) {
      if (d % 200 !== 0) engine.add(reading(`gone${d}`, 1000, 'temp', d))
      else {
        const device = `s${staying.length}`
        staying.push(device)
        both(device, 1000, 'temp', d)
      }
    }
    t.ok(engine.windowSlots.capacity >= 2000, `grew to ${engine.windowSlots.capacity} slots`)
    for (const [k, device] of staying.entries())
      both(device, k < 5 ? 8000 : 12_000, k < 5 ? 'temp' : 'humidity', 100 + k)
    t.equal(engine.evictIdle(12_000n * MS, 5000n * MS), 1990, 'the devices gone idle are evicted')
    const shrunk = engine.windowSlots
    t.equal(shrunk.used, 5, 'the five with an open window hold a slot each')
    t.ok(shrunk.capacity <= 64, `and the slab shrank to ${shrunk.capacity} slots`)
    seen.length = 0
    alone.length = 0
    for (const [k, device] of staying.entries()) both(device, 13_000, 'temp', 200 + k)
    for (const [k, device] of staying.entries()) both(device, 25_000, 'temp', 300 + k)
    t.equal(seen.length, 15, 'each window closes once: two of s0 to s4, one of s5 to s9')
    t.strictSame(seen, alone, 'with the values of an engine that never moved them, to the bit')
  },
)
