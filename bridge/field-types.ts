/**
 * Pinned field types. A field takes the type it is first stored with, or the
 * one configured for it, and keeps it: an integer field stays integer, a float
 * field stays float, so no sink ever sees a type conflict (InfluxDB refuses a
 * whole batch over one). An integer sent for a float field is widened, since
 * encoders write 20.0 as the integer 20; anything else is a conflict.
 */

import { type Rejection, reject } from '../src/core/errors.js'
import type { Field, FieldKind } from '../src/core/telemetry.js'

export interface PinnedField {
  readonly name: string
  readonly kind: FieldKind
  /** Whether the store holds it (a row of its `fields` table); false until the commit that adds it succeeds. */
  stored: boolean
}

export const FIELD_KINDS: readonly FieldKind[] = ['int', 'float', 'bool']

export class FieldRegistry {
  /**
   * Keyed by lower-case name: names that differ only in case are refused
   * (docs/wire-format.md). They were one column of the wide layout, and
   * files migrated from it hold no such pair.
   */
  readonly #fields = new Map<string, PinnedField>()
  readonly #maxFields: number
  readonly #maxPerDevice: number
  /** How many fields each device has added: one junk device cannot use up the store's places. */
  readonly #addedBy = new Map<string, number>()

  constructor(maxFields: number, maxPerDevice: number) {
    this.#maxFields = maxFields
    this.#maxPerDevice = maxPerDevice
  }

  /** Registers a field the store already holds or the configuration declares. */
  pin(name: string, kind: FieldKind, stored: boolean): void {
    this.#fields.set(name.toLowerCase(), { name, kind, stored })
  }

  get(name: string): PinnedField | undefined {
    const pinned = this.#fields.get(name.toLowerCase())
    return pinned !== undefined && pinned.name === name ? pinned : undefined
  }

  all(): PinnedField[] {
    return [...this.#fields.values()]
  }

  /**
   * Checks a message's samples against the pinned types. New fields are pinned
   * only if the whole message passes, so a refused message leaves no trace.
   * Returns each sample's fields as they are to be stored (ints widened to
   * float where the field is pinned float).
   */
  resolve(device: string, samples: readonly (readonly Field[])[]): Field[][] | Rejection {
    const fresh = new Map<string, PinnedField>()
    const out: Field[][] = []
    for (const fields of samples) {
      let resolved: Field[] | null = null
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i]!
        const key = field.name.toLowerCase()
        let pinned = this.#fields.get(key) ?? fresh.get(key)
        if (pinned === undefined) {
          if (this.#fields.size + fresh.size >= this.#maxFields) {
            return reject(
              'too_many_fields',
              `the store holds ${this.#maxFields} fields already (--max-fields)`,
            )
          }
          const added = this.#addedBy.get(device) ?? 0
          if (added + fresh.size >= this.#maxPerDevice) {
            return reject(
              'too_many_fields',
              `device ${device} has added ${added} fields already (--max-fields-per-device ${this.#maxPerDevice})`,
            )
          }
          pinned = { name: field.name, kind: field.kind, stored: false }
          fresh.set(key, pinned)
        } else if (pinned.name !== field.name) {
          return reject('invalid_field_name', `${field.name} differs only in case from field ${pinned.name}`)
        }
        if (pinned.kind === field.kind) continue
        if (pinned.kind === 'float' && field.kind === 'int') {
          resolved ??= fields.slice()
          resolved[i] = { name: field.name, kind: 'float', value: Number(field.value) }
          continue
        }
        return reject('field_type_conflict', `${field.name} is pinned as ${pinned.kind}, got ${field.kind}`)
      }
      out.push(resolved ?? fields.slice())
    }
    for (const [key, pinned] of fresh) this.#fields.set(key, pinned)
    if (fresh.size > 0) this.#addedBy.set(device, (this.#addedBy.get(device) ?? 0) + fresh.size)
    return out
  }
}
