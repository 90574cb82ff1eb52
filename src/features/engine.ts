/**
 * The live feature engine (issue 3): readings in, window events out, in event
 * time, per device and feature. Pure logic: no timers and no I/O; the caller
 * passes the time in (`evictIdle(nowNs, …)`) and decides when to call
 * `partials()`.
 *
 *   add(reading) ──▶ device ──▶ watermark = newest tsNs − grace (per feature)
 *                      │
 *                      ├─ feature 0: open windows, oldest first
 *                      │    [s0, e0) [s1, e1) [s2, e2) …   ≤ maxOpenWindowsPerDevice
 *                      │     │
 *                      │     └─ e0 ≤ watermark ──▶ emit { kind: 'window', closedBy: 'watermark' }
 *                      └─ feature 1: …
 *
 * A device's event time is the newest tsNs the bridge has seen of it
 * (`reading.newestTsNs`, stored with every reading), so the engine and the
 * history API (src/store/window-sql.ts) judge lateness alike, across restarts too.
 *
 * Rules, in the order they apply:
 * - A window [start, end) closes once its feature's watermark reaches end
 *   (watermark ≥ end), and is emitted once. A window no reading fell in is
 *   never opened, so never emitted.
 * - A reading lying in a closed window is late for it: it is folded into none
 *   of the closed ones, counted once per feature, and reported as a `late`
 *   event. With a sliding window the same reading may still lie in newer
 *   windows that are open, and is folded into those: every emitted window holds
 *   exactly the readings that arrived before it closed.
 * - Over the bound, the oldest open window is closed early (`closedBy:
 *   'capacity'`) and counted; windows as old as it count as closed from then on.
 *   Open windows all end after the watermark and start at or before the
 *   newest reading, so there are never more than ceil((size + grace) / hop)
 *   of them: the bound only bites when the grace is long next to the hop.
 * - `evictIdle` emits an idle device's open windows (`closedBy: 'idle'`) and
 *   forgets the device. A reading from it afterwards starts afresh, so a window
 *   emitted on eviction can be emitted again with what came after.
 */

import { ConfigError } from '../core/errors.js'
import type { Reading } from '../core/telemetry.js'
import { AggregateSlab, type FeatureValues, fieldNumber } from './aggregate.js'
import type { FeatureDefinition } from './definitions.js'
import { hopIndex, newestClosedHop, windowEnd, windowsPerTime } from './windows.js'

export interface FeatureEngineOptions {
  /**
   * Open windows kept per device and feature; past it the oldest is closed
   * early. Must be at least size / hop for every feature. Default 64.
   */
  readonly maxOpenWindowsPerDevice?: number
}

export const DEFAULT_FEATURE_ENGINE_OPTIONS: Required<FeatureEngineOptions> = Object.freeze({
  maxOpenWindowsPerDevice: 64,
})

/**
 * What the engine needs of a reading. `newestTsNs` is the bridge's newest
 * event time of the device when the reading arrived; it is stored with the
 * reading, so the history API decides lateness from the same number. Without
 * it the engine keeps its own running maximum.
 */
export type FeatureInput = Pick<Reading, 'device' | 'tsNs' | 'recvTsNs' | 'fields'> &
  Partial<Pick<Reading, 'newestTsNs'>>

export type CloseReason = 'watermark' | 'capacity' | 'idle'

export interface WindowState {
  readonly device: string
  readonly feature: string
  readonly field: string
  readonly windowStartNs: bigint
  readonly windowEndNs: bigint
  readonly values: FeatureValues
  /** Readings folded in. */
  readonly count: number
  /** The feature's watermark for this device when the event was made. */
  readonly watermarkNs: bigint
  /** The latest receive time among the window's readings: staleness = now − newestRecvNs. */
  readonly newestRecvNs: bigint
}

/** A closed window, emitted once; `closedBy` says whether it may be incomplete. */
export interface WindowEvent extends WindowState {
  readonly kind: 'window'
  readonly closedBy: CloseReason
}

/** An open window's values so far. */
export interface PartialEvent extends WindowState {
  readonly kind: 'partial'
}

/** A reading that came after a window it lies in had closed. */
export interface LateEvent {
  readonly kind: 'late'
  readonly device: string
  readonly feature: string
  readonly tsNs: bigint
  readonly watermarkNs: bigint
}

export type FeatureEvent = WindowEvent | PartialEvent | LateEvent

export interface FeatureEngineStats {
  readonly devices: number
  readonly openWindows: number
  /** Late readings per feature name. */
  readonly late: Readonly<Record<string, number>>
  /** Windows closed early by the bound, per feature name. */
  readonly closedEarly: Readonly<Record<string, number>>
  readonly evictedDevices: number
}

/**
 * A device's feature. Windows are named by hop index (start / hop): numbers,
 * not bigints. What lives here lives as long as the device, so it changes
 * in place: a value that is replaced every few readings (a bigint, an array,
 * an object per window) outlives the young generation at one reading a
 * second, and every one of them ends as garbage in the old generation, which
 * only a full collection clears. With 10,000 devices a window object and an
 * array of starts per hop were nearly all that this engine promoted.
 */
interface FeatureState {
  /** The open windows' slots in the engine's AggregateSlab, oldest start first. */
  readonly slots: number[]
  /** Windows with a hop index below this were closed early by the bound; -Infinity when none was. */
  closedBeforeHop: number
  /**
   * The newest window containing the last reading: its hop index (NaN before
   * the first) and start. Readings mostly fall in the same hop as the one
   * before, and bigint division allocates.
   */
  newestHop: number
  newestStartNs: bigint
  /**
   * Windows with a hop index up to this are closed by the watermark, until
   * the watermark reaches closeNextAtNs (the end of the window after them).
   * The watermark only moves forward. NaN until the first reading.
   */
  closedThroughHop: number
  closeNextAtNs: bigint
}

interface DeviceState {
  newestTsNs: bigint
  newestRecvNs: bigint
  /** By feature index; created on the first reading with the feature's field. */
  readonly features: Array<FeatureState | undefined>
}

/** The slab's starting size, and the smallest it shrinks to. */
const SLAB_SLOTS = 64

export class FeatureEngine {
  readonly #definitions: readonly FeatureDefinition[]
  /** Each definition's hop as a number of ns. */
  readonly #hopNs: readonly number[]
  /** How many windows each definition's readings lie in: size / hop. */
  readonly #perTime: readonly number[]
  #slab = new AggregateSlab(SLAB_SLOTS)
  readonly #byField = new Map<string, number[]>()
  readonly #emit: (event: FeatureEvent) => void
  readonly #maxOpen: number
  readonly #devices = new Map<string, DeviceState>()
  readonly #late: number[]
  readonly #closedEarly: number[]
  #openWindows = 0
  #evictedDevices = 0

  constructor(
    definitions: readonly FeatureDefinition[],
    emit: (event: FeatureEvent) => void,
    options: FeatureEngineOptions = {},
  ) {
    this.#definitions = definitions
    this.#hopNs = definitions.map((d) => Number(d.hopNs))
    this.#perTime = definitions.map(windowsPerTime)
    this.#emit = emit
    this.#maxOpen = options.maxOpenWindowsPerDevice ?? DEFAULT_FEATURE_ENGINE_OPTIONS.maxOpenWindowsPerDevice
    const problems: string[] = []
    if (!Number.isSafeInteger(this.#maxOpen) || this.#maxOpen < 1)
      problems.push(`maxOpenWindowsPerDevice: ${this.#maxOpen} must be a positive integer`)
    definitions.forEach((definition, i) => {
      // A reading lies in size / hop windows; a smaller bound would close them as they open.
      if (windowsPerTime(definition) > this.#maxOpen)
        problems.push(
          `maxOpenWindowsPerDevice: ${this.#maxOpen} is less than the ${windowsPerTime(definition)} windows a reading of feature ${definition.name} lies in`,
        )
      const indices = this.#byField.get(definition.field) ?? []
      indices.push(i)
      this.#byField.set(definition.field, indices)
    })
    if (problems.length > 0) throw new ConfigError(problems)
    this.#late = definitions.map(() => 0)
    this.#closedEarly = definitions.map(() => 0)
  }

  /** Folds one reading in; closes and emits whatever its watermark completes. */
  add(reading: FeatureInput): void {
    const newestTsNs = reading.newestTsNs ?? reading.tsNs
    let device = this.#devices.get(reading.device)
    if (device === undefined) {
      device = { newestTsNs, newestRecvNs: reading.recvTsNs, features: [] }
      this.#devices.set(reading.device, device)
    } else {
      if (reading.recvTsNs > device.newestRecvNs) device.newestRecvNs = reading.recvTsNs
      if (newestTsNs > device.newestTsNs) {
        device.newestTsNs = newestTsNs
        // Every feature of the device moves on, whether or not this reading carries its field.
        for (const [i, state] of device.features.entries())
          if (state !== undefined) this.#closeReached(reading.device, device, i, state)
      }
    }
    for (const field of reading.fields) {
      const indices = this.#byField.get(field.name)
      if (indices === undefined) continue
      const value = fieldNumber(field)
      for (const i of indices) this.#fold(reading, device, i, value)
    }
  }

  /** Emits a partial event for every open window that changed since the last call. */
  partials(): void {
    for (const [name, device] of this.#devices)
      device.features.forEach((state, i) => {
        if (state === undefined) return
        for (const slot of state.slots)
          if (this.#slab.takeChanged(slot))
            this.#emit({ kind: 'partial', ...this.#state(name, device, i, slot) })
      })
  }

  /**
   * Emits the open windows of every device that has received nothing for
   * idleNs (by receive time: nowNs − newest recvTsNs ≥ idleNs) as closed, then
   * forgets the device. Returns how many devices were evicted.
   */
  evictIdle(nowNs: bigint, idleNs: bigint): number {
    let evicted = 0
    for (const [name, device] of this.#devices) {
      if (nowNs - device.newestRecvNs < idleNs) continue
      device.features.forEach((state, i) => {
        if (state === undefined) return
        while (state.slots.length > 0) this.#close(name, device, i, state, 'idle')
      })
      this.#devices.delete(name)
      evicted++
    }
    this.#evictedDevices += evicted
    // Freed slots are taken again first, but the slab keeps the size it grew
    // to: once most of a fleet has gone, what is left moves to a smaller one.
    if (evicted > 0 && this.#slab.capacity > SLAB_SLOTS && this.#slab.size < this.#slab.capacity / 4) {
      const slab = new AggregateSlab(Math.max(SLAB_SLOTS, 2 * this.#slab.size))
      for (const device of this.#devices.values())
        for (const state of device.features) {
          if (state === undefined) continue
          state.slots.forEach((slot, k) => {
            state.slots[k] = slab.copy(this.#slab, slot)
          })
        }
      this.#slab = slab
    }
    return evicted
  }

  /** Window states held (one per open window), and room for more. */
  get windowSlots(): { readonly used: number; readonly capacity: number } {
    return { used: this.#slab.size, capacity: this.#slab.capacity }
  }

  stats(): FeatureEngineStats {
    const perFeature = (counts: number[]) =>
      Object.fromEntries(this.#definitions.map((d, i) => [d.name, counts[i] ?? 0]))
    return {
      devices: this.#devices.size,
      openWindows: this.#openWindows,
      late: perFeature(this.#late),
      closedEarly: perFeature(this.#closedEarly),
      evictedDevices: this.#evictedDevices,
    }
  }

  #fold(reading: FeatureInput, device: DeviceState, i: number, value: number): void {
    const definition = this.#definitions[i]!
    const hopNs = this.#hopNs[i]!
    let state = device.features[i]
    if (state === undefined) {
      state = {
        slots: [],
        closedBeforeHop: Number.NEGATIVE_INFINITY,
        newestHop: Number.NaN,
        newestStartNs: 0n,
        closedThroughHop: Number.NaN,
        closeNextAtNs: 0n,
      }
      device.features[i] = state
      // Existing states follow the watermark in add(), whenever it moves.
      this.#advanceWatermark(device, i, state)
    }
    const tNs = reading.tsNs
    // A difference past 2^53 rounds, but stays far outside [0, hop).
    let tSinceHopNs = Number(tNs - state.newestStartNs)
    if (Number.isNaN(state.newestHop) || tSinceHopNs < 0 || tSinceHopNs >= hopNs) {
      const hop = hopIndex(tNs, definition)
      state.newestHop = Number(hop)
      state.newestStartNs = hop * definition.hopNs
      tSinceHopNs = Number(tNs - state.newestStartNs)
    }
    // Times as ns after each window's start (AggregateSlab): the newest
    // window starts at newestStartNs, and each one before it a hop earlier.
    const recvSinceHopNs = Number(reading.recvTsNs - state.newestStartNs)
    let late = false
    for (let back = this.#perTime[i]! - 1; back >= 0; back--) {
      const hop = state.newestHop - back
      if (hop <= state.closedThroughHop || hop < state.closedBeforeHop) {
        late = true
        continue
      }
      const slot = this.#openWindow(state, hop)
      const sinceStartNs = back * hopNs
      this.#slab.add(slot, value, tSinceHopNs + sinceStartNs, recvSinceHopNs + sinceStartNs)
    }
    if (late) {
      this.#late[i]!++
      this.#emit({
        kind: 'late',
        device: reading.device,
        feature: definition.name,
        tsNs: reading.tsNs,
        watermarkNs: device.newestTsNs - definition.graceNs,
      })
    }
    while (state.slots.length > this.#maxOpen) {
      this.#closedEarly[i]!++
      this.#close(reading.device, device, i, state, 'capacity')
    }
  }

  /** Brings closedThroughHop up to the device's watermark. */
  #advanceWatermark(device: DeviceState, i: number, state: FeatureState): void {
    const definition = this.#definitions[i]!
    const watermarkNs = device.newestTsNs - definition.graceNs
    if (!Number.isNaN(state.closedThroughHop) && watermarkNs < state.closeNextAtNs) return
    const hop = newestClosedHop(watermarkNs, definition)
    state.closedThroughHop = Number(hop)
    state.closeNextAtNs = windowEnd((hop + 1n) * definition.hopNs, definition)
  }

  /** The open window starting at hop index `hop`, opened if need be, kept in start order. */
  #openWindow(state: FeatureState, hop: number): number {
    const slots = state.slots
    let k = slots.length
    // Readings mostly arrive in order, so the window is usually the last or a new one after it.
    while (k > 0 && this.#slab.hop(slots[k - 1]!) > hop) k--
    const existing = slots[k - 1]
    if (existing !== undefined && this.#slab.hop(existing) === hop) return existing
    const slot = this.#slab.alloc(hop)
    if (k === slots.length) slots.push(slot)
    else slots.splice(k, 0, slot)
    this.#openWindows++
    return slot
  }

  #closeReached(name: string, device: DeviceState, i: number, state: FeatureState): void {
    this.#advanceWatermark(device, i, state)
    while (state.slots.length > 0 && this.#slab.hop(state.slots[0]!) <= state.closedThroughHop)
      this.#close(name, device, i, state, 'watermark')
  }

  /** Closes the oldest open window: out of the state first, so an emit that throws leaves no half-closed window. */
  #close(name: string, device: DeviceState, i: number, state: FeatureState, closedBy: CloseReason): void {
    const slot = state.slots.shift()!
    this.#openWindows--
    if (closedBy === 'capacity')
      state.closedBeforeHop = Math.max(state.closedBeforeHop, this.#slab.hop(slot) + 1)
    // The event holds copies of the window's figures, so its slot can be reused.
    const event: WindowEvent = { kind: 'window', ...this.#state(name, device, i, slot), closedBy }
    this.#slab.release(slot)
    this.#emit(event)
  }

  #state(name: string, device: DeviceState, i: number, slot: number): WindowState {
    const definition = this.#definitions[i]!
    const startNs = BigInt(this.#slab.hop(slot)) * definition.hopNs
    return {
      device: name,
      feature: definition.name,
      field: definition.field,
      windowStartNs: startNs,
      windowEndNs: windowEnd(startNs, definition),
      values: this.#slab.values(slot, definition.aggregations),
      count: this.#slab.count(slot),
      watermarkNs: device.newestTsNs - definition.graceNs,
      newestRecvNs: startNs + BigInt(this.#slab.newestRecvNs(slot)),
    }
  }
}
