/**
 * Feature definitions, table-driven from test/fixtures/features/definitions.json:
 * durations, labels, valid files with their column names, and every
 * validation problem named by its JSON path.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../../src/core/errors.js'
import {
  columnName,
  formatDuration,
  loadFeatureDefinitions,
  MAX_FEATURES,
  parseDuration,
  parseFeatureDefinitions,
} from '../../../src/features/index.js'
import { loadFixture } from '../../helpers/fixtures.js'

interface ExpectedFeature {
  name: string
  field: string
  sizeNs: string
  hopNs: string
  graceNs: string
  sizeLabel: string
  aggregations: string[]
  columns: string[]
}

const fixture = loadFixture<{
  durations: Array<[string, string | null]>
  labels: Array<[string, string]>
  valid: Array<{ name: string; input: unknown; features: ExpectedFeature[] }>
  invalid: Array<{ name: string; input: unknown; problems: string[] }>
}>('features/definitions.json')

function problemsOf(input: unknown): readonly string[] | null {
  try {
    parseFeatureDefinitions(input)
    return null
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

t.test('features - parseDuration reads an integer and a unit ms, s, m or h', async (t) => {
  for (const [text, ns] of fixture.durations)
    t.equal(parseDuration(text), ns === null ? null : BigInt(ns), JSON.stringify(text))
})

t.test('features - formatDuration picks the largest unit that divides exactly', async (t) => {
  for (const [ns, label] of fixture.labels) t.equal(formatDuration(BigInt(ns)), label, ns)
})

for (const c of fixture.valid) {
  t.test(`features - definitions accept ${c.name}`, async (t) => {
    const parsed = parseFeatureDefinitions(c.input)
    t.strictSame(
      parsed.features.map((f) => ({
        name: f.name,
        field: f.field,
        sizeNs: f.sizeNs.toString(),
        hopNs: f.hopNs.toString(),
        graceNs: f.graceNs.toString(),
        sizeLabel: f.sizeLabel,
        aggregations: [...f.aggregations],
        columns: f.aggregations.map((a) => columnName(f, a)),
      })),
      c.features,
    )
    t.ok(Object.isFrozen(parsed) && Object.isFrozen(parsed.features), 'frozen')
    for (const f of parsed.features) t.ok(Object.isFrozen(f) && Object.isFrozen(f.aggregations), 'frozen')
  })
}

for (const c of fixture.invalid) {
  t.test(`features - definitions refuse ${c.name}`, async (t) => {
    t.strictSame(problemsOf(c.input), c.problems)
  })
}

const feature = (i: number) => ({
  name: `f${i}`,
  field: 'temp',
  window: { size: `${i + 1}s` },
  aggregations: ['mean'],
})

t.test('features - definitions take at most 256 features', async (t) => {
  t.equal(
    parseFeatureDefinitions({ features: Array.from({ length: MAX_FEATURES }, (_, i) => feature(i)) }).features
      .length,
    256,
  )
  t.strictSame(problemsOf({ features: Array.from({ length: MAX_FEATURES + 1 }, (_, i) => feature(i)) }), [
    'features: at most 256 features, got 257',
  ])
})

t.test('features - the shipped features.default.json is valid', async (t) => {
  const parsed = loadFeatureDefinitions(join(import.meta.dirname, '..', '..', '..', 'features.default.json'))
  t.ok(parsed.features.length > 0)
  t.strictSame(
    [...new Set(parsed.features.map((f) => f.field))].sort(),
    ['count', 'door_open', 'humidity', 'temp'],
    'covers every field of the simulator',
  )
})

t.test('features - loadFeatureDefinitions prefixes every problem with the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'features-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, JSON.stringify({ features: [{ ...feature(0), window: { size: '10s', hop: '3s' } }] }))
  const err = t.throws(() => loadFeatureDefinitions(bad)) as ConfigError
  t.ok(err instanceof ConfigError)
  t.strictSame(err.problems, [
    `${bad}: features[0].window.hop: the size 10s must be a multiple of the hop 3s`,
  ])

  const broken = join(dir, 'broken.json')
  writeFileSync(broken, '{"features": [')
  const parseErr = t.throws(() => loadFeatureDefinitions(broken)) as ConfigError
  t.ok(parseErr instanceof ConfigError)
  t.ok(parseErr.problems[0]?.startsWith(`${broken}: `), 'names the file')

  const missing = join(dir, 'missing.json')
  const readErr = t.throws(() => loadFeatureDefinitions(missing)) as ConfigError
  t.ok(readErr instanceof ConfigError && readErr.problems[0]?.startsWith(`${missing}: `), 'names the file')
})
