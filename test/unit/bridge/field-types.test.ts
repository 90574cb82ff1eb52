/**
 * FieldRegistry, table-driven from test/fixtures/field-types.json.
 */

import t from 'tap'
import { FieldRegistry } from '../../../bridge/field-types.js'
import { Rejection } from '../../../src/core/errors.js'
import type { Field, FieldKind } from '../../../src/core/telemetry.js'
import { loadFixture } from '../../helpers/fixtures.js'

type FieldRow = [string, FieldKind, number | bigint | boolean]

interface FieldCase {
  name: string
  maxFields: number
  /** Default: maxFields. */
  maxFieldsPerDevice?: number
  pinned?: Array<[string, FieldKind, boolean]>
  /** device: who sends the step, default 'd'. */
  steps: Array<{ device?: string; fields: FieldRow[]; expect: { reason: string } | { fields: FieldRow[] } }>
  after?: Record<string, [string, FieldKind, boolean] | null>
}

function revive(_key: string, value: unknown): unknown {
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { $bigint?: unknown }).$bigint === 'string'
  )
    return BigInt((value as { $bigint: string }).$bigint)
  return value
}

const { cases } = loadFixture<{ cases: FieldCase[] }>('field-types.json', revive)

const toFields = (rows: FieldRow[]): Field[] => rows.map(([name, kind, value]) => ({ name, kind, value }))

for (const c of cases) {
  t.test(`field-types - ${c.name}`, async (t) => {
    const registry = new FieldRegistry(c.maxFields, c.maxFieldsPerDevice ?? c.maxFields)
    for (const [name, kind, stored] of c.pinned ?? []) registry.pin(name, kind, stored)
    c.steps.forEach((step, i) => {
      const input = toFields(step.fields)
      const before = structuredClone(input)
      const all = registry.resolve(step.device ?? 'd', [input])
      const result = all instanceof Rejection ? all : all[0]!
      t.strictSame(input, before, `step ${i}: the input is not modified`)
      if ('reason' in step.expect) {
        t.ok(result instanceof Rejection, `step ${i}: refused`)
        if (result instanceof Rejection) t.equal(result.reason, step.expect.reason, `step ${i}: reason`)
      } else {
        t.notOk(
          result instanceof Rejection,
          result instanceof Rejection
            ? `step ${i}: refused: ${result.reason} ${result.detail}`
            : `step ${i}: accepted`,
        )
        if (!(result instanceof Rejection))
          t.strictSame(result, toFields(step.expect.fields), `step ${i}: fields to store`)
      }
    })
    for (const [name, want] of Object.entries(c.after ?? {})) {
      const got = registry.get(name)
      t.strictSame(
        got === undefined ? null : [got.name, got.kind, got.stored],
        want,
        `get(${JSON.stringify(name)})`,
      )
    }
  })
}

t.test('field-types - all() lists every pinned field once, under its own spelling', async (t) => {
  const registry = new FieldRegistry(10, 10)
  registry.pin('Temp', 'float', true)
  registry.pin('count', 'int', false)
  const resolved = registry.resolve('d', [toFields([['on', 'bool', true]])])
  t.notOk(resolved instanceof Rejection)
  t.strictSame(
    registry
      .all()
      .map((f) => [f.name, f.kind, f.stored])
      .sort(),
    [
      ['Temp', 'float', true],
      ['count', 'int', false],
      ['on', 'bool', false],
    ],
  )
})
