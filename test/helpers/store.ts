/** Readings as the bridge hands them to the store, for tests that drive a store directly. */

import type { Reading } from '../../src/core/telemetry.js'

/** Reading `seq` of a fleet of `devices`, 1 ms apart from 2023-11-14, with a float and an int field. */
export function storeReading(seq: number, devices: number): Reading {
  const tsNs = 1_700_000_000_000_000_000n + BigInt(seq) * 1_000_000n
  return {
    device: `dev-${seq % devices}`,
    boot: 0,
    seq,
    idx: 0,
    tsNs,
    newestTsNs: tsNs,
    deviceTsNs: tsNs,
    recvTsNs: tsNs,
    offsetNs: 0n,
    crc: seq,
    tags: '{"site":"a"}',
    fields: [
      { name: 'temp', kind: 'float', value: 20 + Math.sin(seq) },
      { name: 'count', kind: 'int', value: BigInt(seq) },
    ],
  }
}

/** Whether `bytes` is a limit of `mb` MB as DuckDB prints its setting back: to 0.1 of a unit, truncated ("953.6 MiB" for 1000 MB). */
export function isDuckDBLimit(bytes: number, mb: number): boolean {
  return bytes <= mb * 1e6 && mb * 1e6 - bytes < 0.1 * 2 ** 20
}
