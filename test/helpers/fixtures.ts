/** Table-driven test fixtures under test/fixtures. */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')

/** A JSON fixture, with an optional reviver for values JSON cannot hold (bigint, bytes, tags). */
export function loadFixture<T>(file: string, reviver?: (key: string, value: unknown) => unknown): T {
  return JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'), reviver) as T
}

/** Hex to bytes; spaces are for the reader. Throws on a typo rather than dropping the rest. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '')
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`fixture: not hex: ${text}`)
  return Uint8Array.from(Buffer.from(clean, 'hex'))
}
