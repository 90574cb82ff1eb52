/**
 * The ground-truth log of a simulated run: NDJSON, a header line, then one
 * line per reading a device made, in the order each device sent them.
 *
 *   {"truth":1,"boot":…,"startedMs":…,"endedMs":…,"devices":[…],"faults":{…},"qos":1}
 *   {"d":"sim-3","s":17,"t":1764115200123,"w":"ms:1764115200123","o":0,"e":0,
 *    "f":["late"],"x":"stored","a":4.2,"v":21.375}
 *
 * `verify` reads it back and checks the stored data against it.
 */

import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Fault, FaultRates, Outcome } from './faults.js'

export interface TruthHeader {
  readonly truth: 1
  readonly boot: number
  readonly startedMs: number
  readonly endedMs: number
  /** Every device id of the run. */
  readonly devices: readonly string[]
  readonly faults: FaultRates
  readonly qos: 0 | 1 | 2
}

export interface TruthEntry {
  /** The device that made the reading. */
  readonly d: string
  readonly s: number
  /** True time of the reading, epoch ms. */
  readonly t: number
  /** The device time as written on the wire: `unit:value` (see faults.ts writeTime). */
  readonly w: string
  /** Device clock minus true time, ms, and the clock's epoch (changes at each jump). */
  readonly o: number
  readonly e: number
  readonly f: readonly Fault[]
  readonly x: Outcome
  /** Published on this device's topic instead of its own. */
  readonly on?: string
  /** A refused payload's CRC-32C, hex: its dead letter must hold these bytes. */
  readonly h?: string
  /** Made to acknowledged (waiting in the device's buffer included), ms; null when never acknowledged. */
  a: number | null
  /** The first field's value: stored content must match it. */
  readonly v: number | boolean
  readonly vf: string
  /** Fields carrying a spike (anomaly) in this reading. */
  readonly an?: readonly string[]
}

export async function writeTruth(
  path: string,
  header: TruthHeader,
  entries: Iterable<TruthEntry>,
): Promise<void> {
  const out = createWriteStream(path)
  const write = async (line: string): Promise<void> => {
    if (!out.write(line)) await once(out, 'drain')
  }
  await write(`${JSON.stringify(header)}\n`)
  let chunk = ''
  for (const e of entries) {
    chunk += `${JSON.stringify(e)}\n`
    if (chunk.length > 65_536) {
      await write(chunk)
      chunk = ''
    }
  }
  await write(chunk)
  out.end()
  await once(out, 'close')
}

export async function readTruth(path: string): Promise<{ header: TruthHeader; entries: TruthEntry[] }> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY })
  let header: TruthHeader | undefined
  const entries: TruthEntry[] = []
  for await (const line of lines) {
    if (line === '') continue
    if (header === undefined) {
      header = JSON.parse(line) as TruthHeader
      if (header.truth !== 1) throw new Error(`${path}: not a ground-truth log (no "truth": 1 header)`)
    } else entries.push(JSON.parse(line) as TruthEntry)
  }
  if (header === undefined) throw new Error(`${path}: empty`)
  return { header, entries }
}
