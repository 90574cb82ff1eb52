/** The telemetry types every part of the system shares. */

export type FieldKind = 'int' | 'float' | 'bool'

/**
 * Field and tag names: they become store column names and InfluxDB keys.
 * A leading `__` is reserved: it would let `__proto__` in, which JSON and
 * CBOR decoders each treat their own way (cbor-x renames it `__proto_`).
 */
export const NAME_PATTERN = /^(?!__)[A-Za-z_][A-Za-z0-9_.-]{0,63}$/

/** `devices/{deviceId}/telemetry` [wire format v1]. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

export interface Field {
  readonly name: string
  readonly kind: FieldKind
  readonly value: number | bigint | boolean
}

/** One stored reading: what ARCHITECTURE §2 says the bridge keeps. */
export interface Reading {
  readonly device: string
  readonly boot: number
  readonly seq: number
  /** Position of the sample within its message (0 unless batched with `s`). */
  readonly idx: number
  /** Corrected event time, epoch ns. */
  readonly tsNs: bigint
  /**
   * The newest event time of the device once this reading arrived (the
   * maximum tsNs of it and every reading of the device before it). Lateness
   * is judged against it, live and in history alike.
   */
  readonly newestTsNs: bigint
  /** The device's own time, epoch ns; null when it sent none. */
  readonly deviceTsNs: bigint | null
  /** When the broker received the message, epoch ns. */
  readonly recvTsNs: bigint
  /** Added to the device's time to get tsNs. */
  readonly offsetNs: bigint
  /** CRC-32C of the message's reading bytes: tells a redelivery from a conflicting reuse of seq. */
  readonly crc: number
  /** Tags as sorted JSON, or null. */
  readonly tags: string | null
  readonly fields: readonly Field[]
}

/** A payload the bridge refused, kept durably with why. */
export interface DeadLetter {
  readonly recvTsNs: bigint
  readonly device: string | null
  readonly topic: string
  readonly reason: string
  readonly detail: string
  readonly payload: Uint8Array
}

/** Epoch ns of now, from the wall clock. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n
}
