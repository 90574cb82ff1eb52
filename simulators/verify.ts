/**
 * `npm run verify -- --truth run.ndjson [--http http://127.0.0.1:8080]`
 *
 * Checks what the system stored against a simulated run's ground truth
 * (truth.ts), over the same HTTP API an ML job uses:
 *
 * - every reading the system should store, and acknowledged, is stored
 *   exactly once (GET /v1/telemetry), with the value the device sent (at
 *   QoS 0, at most once);
 * - its device time is what the device wrote, whatever the unit; and its
 *   event time is the device time, or the receive time when the device time
 *   lies more than 5 s past it: the server's default `--clock-correction
 *   future-only`, which never moves a plausible reading, skewed clocks and
 *   late or buffered readings included (docs/wire-format.md, Time);
 * - every refused reading is a dead letter with its documented reason and
 *   its bytes, and there is no other dead letter (GET /v1/dead-letters); a
 *   refused message the device sent again (its PUBACK lost in a dropped
 *   connection) is kept again, and counted as a resent copy;
 * - a reading the broker never saw (oversized) is stored nowhere;
 * - no row exists that the run did not make.
 *
 * Assumes the server's defaults (unwrapped payloads accepted) and, when the
 * run injected `foreign_topic`, `--device-auth client-id`; and that the
 * simulator and the server share one clock (the time checks compare them).
 * Exit status 0 when every check passes, 1 when one fails, 2 for bad usage.
 */

import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { crc32c } from './encode.js'
import { expectedDeviceTimeNs, FAULTS, type Fault } from './faults.js'
import { telemetryLines } from './telemetry-pages.js'
import { readTruth, type TruthEntry, type TruthHeader } from './truth.js'

const FUTURE_TOLERANCE_NS = 5_000_000_000n
const TAG1_TOLERANCE_NS = 1000n
const MAX_SAMPLES = 20
const DAY_MS = 86_400_000
const TIMEOUT_MS = 120_000
/** Readings per page of GET /v1/telemetry. */
const PAGE_ROWS = 100_000

export interface FaultRow {
  readonly fault: Fault | 'none'
  readonly readings: number
  readonly expected: string
  readonly ok: number
  readonly failed: number
}

export interface VerifyReport {
  readonly rows: readonly FaultRow[]
  readonly storedRows: number
  readonly unexpectedRows: number
  readonly deadLetters: {
    readonly expected: number
    readonly found: number
    /** Dead letters missing, or not of the run's refusals. */
    readonly mismatched: number
    /** More copies of a refused message than it was sent: resent by mqtt.js after a dropped connection. */
    readonly resent: number
  }
  /** Readings with a device time whose event time was checked, and how many were as the policy says. */
  readonly times: { readonly checked: number; readonly exact: number }
  readonly failures: readonly string[]
  readonly ok: boolean
}

interface StoredRow {
  readonly ts: bigint
  readonly deviceTs: bigint | null
  readonly recvTs: bigint
  readonly fields: Record<string, unknown>
}

const EXPECTED: Record<Fault | 'none', string> = {
  none: 'stored once',
  skew: 'stored once, at its device time (clamped when ahead)',
  drift: 'stored once, at its device time (clamped when ahead)',
  jump: 'stored once, at its device time (clamped when ahead)',
  units: 'stored once; device time converted',
  duplicate: 'stored once',
  redelivery: 'stored once',
  out_of_order: 'stored once',
  late: 'stored once, at its own time',
  bad_checksum: 'dead letter checksum_mismatch',
  malformed: 'dead letter with its reason',
  oversized: 'connection closed; stored nowhere',
  foreign_topic: 'dead letter device_not_authorized',
  offline: 'buffered, flushed, stored once',
  reconnect_storm: 'resent, stored once',
}

export async function verifyRun(
  httpUrl: string,
  truth: { header: TruthHeader; entries: readonly TruthEntry[] },
): Promise<VerifyReport> {
  const { header, entries } = truth
  const stored = await fetchStored(httpUrl, header)
  const deadLetters = await fetchDeadLetters(httpUrl, header)
  const failures: string[] = []
  const fail = (what: string): void => {
    if (failures.length < MAX_SAMPLES) failures.push(what)
  }

  const rows = new Map<Fault | 'none', { readings: number; ok: number; failed: number }>()
  for (const f of ['none', ...FAULTS] as const) rows.set(f, { readings: 0, ok: 0, failed: 0 })
  const expectedLetters = new Map<string, number>()
  const claimed = new Set<string>()
  const times = { checked: 0, exact: 0 }

  for (const e of entries) {
    const problems: string[] = []
    const key = `${e.d}/${e.s}`
    const copies = stored.get(key) ?? []
    if (e.x === 'stored') {
      claimed.add(key)
      if (copies.length > 1) problems.push(`stored ${copies.length} times`)
      // QoS 0 promises at most once: a reading written but not stored is allowed.
      else if (copies.length === 0 && e.a !== null && header.qos > 0)
        problems.push('acknowledged but not stored')
      const row = copies[0]
      if (row !== undefined) {
        if (row.fields[e.vf] !== e.v) problems.push(`${e.vf} is ${String(row.fields[e.vf])}, sent ${e.v}`)
        const deviceTs = expectedDeviceTimeNs(e.w)
        const tolerance = e.w.startsWith('tag1:') ? TAG1_TOLERANCE_NS : 0n
        if (row.deviceTs === null || abs(row.deviceTs - deviceTs) > tolerance)
          problems.push(`device_ts ${row.deviceTs} for ${e.w}, expected ${deviceTs}`)
        else {
          times.checked++
          const want = row.deviceTs > row.recvTs + FUTURE_TOLERANCE_NS ? row.recvTs : row.deviceTs
          if (row.ts === want) times.exact++
          else
            problems.push(
              `event time ${row.ts}, expected ${want} (device ${row.deviceTs}, received ${row.recvTs})`,
            )
        }
      }
    } else {
      if (copies.length > 0) problems.push(`stored, expected ${e.x}`)
      if (e.x !== 'dropped') {
        const letter = `${e.on ?? e.d}/${e.x}/${e.h}`
        expectedLetters.set(letter, (expectedLetters.get(letter) ?? 0) + 1)
      }
    }
    for (const p of problems) fail(`${key} (${e.f.join(',') || 'no fault'}): ${p}`)
    for (const f of e.f.length === 0 ? (['none'] as const) : e.f) {
      const row = rows.get(f)!
      row.readings++
      if (problems.length === 0) row.ok++
      else row.failed++
    }
  }

  let unexpectedRows = 0
  let storedRows = 0
  for (const [key, copies] of stored) {
    storedRows += copies.length
    if (!claimed.has(key)) {
      unexpectedRows += copies.length
      fail(`${key}: stored, but the run never sent it for storing`)
    }
  }
  let mismatched = 0
  let resent = 0
  let found = 0
  for (const n of deadLetters.values()) found += n
  for (const letter of new Set([...expectedLetters.keys(), ...deadLetters.keys()])) {
    const want = expectedLetters.get(letter) ?? 0
    const got = deadLetters.get(letter) ?? 0
    if (got < want || want === 0) {
      mismatched += want === 0 ? got : want - got
      fail(`dead letters ${letter} (device/reason/crc): ${got}, expected ${want}`)
    } else resent += got - want
  }
  const expectedCount = [...expectedLetters.values()].reduce((a, b) => a + b, 0)
  const table = [...rows].map(([fault, r]) => ({ fault, expected: EXPECTED[fault], ...r }))
  return {
    rows: table.filter((r) => r.readings > 0),
    storedRows,
    unexpectedRows,
    deadLetters: { expected: expectedCount, found, mismatched, resent },
    times,
    failures,
    ok: table.every((r) => r.failed === 0) && unexpectedRows === 0 && mismatched === 0,
  }
}

export function formatReport(r: VerifyReport): string {
  const header = ['fault', 'readings', 'expected', 'as expected', 'not']
  const cells = r.rows.map((row) => [row.fault, n(row.readings), row.expected, n(row.ok), n(row.failed)])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: string[]): string =>
    c.map((v, i) => (i === 1 || i >= 3 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ')
  const out = [line(header), ...cells.map(line)]
  out.push(
    '',
    `stored rows ${n(r.storedRows)}; rows the run never sent for storing: ${n(r.unexpectedRows)}`,
    `dead letters: ${n(r.deadLetters.found)} found, ${n(r.deadLetters.expected)} expected, ` +
      `${n(r.deadLetters.mismatched)} missing or unexpected, ${n(r.deadLetters.resent)} resent copies`,
    `event time at the device time (clamped when ahead): ${n(r.times.exact)} of ${n(r.times.checked)}`,
  )
  for (const f of r.failures) out.push(`FAIL ${f}`)
  out.push(r.ok ? 'verify: OK' : 'verify: FAILED')
  return out.join('\n')
}

async function fetchStored(httpUrl: string, header: TruthHeader): Promise<Map<string, StoredRow[]>> {
  const rows = new Map<string, StoredRow[]>()
  for (let i = 0; i < header.devices.length; i += 100) {
    const query = new URLSearchParams({
      device: header.devices.slice(i, i + 100).join(','),
      from: String(header.startedMs - DAY_MS),
      to: String(header.endedMs + DAY_MS),
      format: 'ndjson',
      limit: String(PAGE_ROWS),
    })
    // Every page: a run may hold more readings than one page.
    for await (const line of telemetryLines(`${httpUrl}/v1/telemetry?${query}`, TIMEOUT_MS)) {
      const r = JSON.parse(line) as {
        device: string
        boot: number
        seq: number
        ts: string
        device_ts: string | null
        recv_ts: string
        fields: Record<string, unknown>
      }
      if (r.boot !== header.boot) continue
      const key = `${r.device}/${r.seq}`
      const list = rows.get(key) ?? []
      list.push({
        ts: parseNs(r.ts),
        deviceTs: r.device_ts === null ? null : parseNs(r.device_ts),
        recvTs: parseNs(r.recv_ts),
        fields: r.fields,
      })
      rows.set(key, list)
    }
  }
  return rows
}

/** Dead letters of the run's devices received since it started, counted by `device/reason/crc`. */
async function fetchDeadLetters(httpUrl: string, header: TruthHeader): Promise<Map<string, number>> {
  const devices = new Set(header.devices)
  const since = BigInt(header.startedMs - 1000) * 1_000_000n
  const counts = new Map<string, number>()
  let after = 0
  for (let page = 0; page < 100_000; page++) {
    const body = (await (
      await get(`${httpUrl}/v1/dead-letters?limit=10000&include=payload&after=${after}`)
    ).json()) as {
      deadLetters: Array<{ device: string | null; reason: string; recv_ts: string; payload: string }>
      next: number | null
    }
    for (const l of body.deadLetters) {
      if (l.device === null || !devices.has(l.device) || parseNs(l.recv_ts) < since) continue
      const key = `${l.device}/${l.reason}/${crc32c(Buffer.from(l.payload, 'base64')).toString(16)}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    if (body.next === null) break
    after = body.next
  }
  return counts
}

/** A time of the API (RFC 3339 in UTC, nine fraction digits: docs/http-api.md) to epoch ns. */
function parseNs(text: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{9})Z$/.exec(text)
  const ms = m === null ? Number.NaN : Date.parse(`${m[1]}Z`)
  if (m === null || Number.isNaN(ms)) throw new Error(`not a time as the API writes it: ${text}`)
  return BigInt(ms) * 1_000_000n + BigInt(m[2]!)
}

function abs(v: bigint): bigint {
  return v < 0n ? -v : v
}

function n(v: number): string {
  return v.toLocaleString('en-US')
}

async function get(url: string): Promise<Response> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`)
  return response
}

const USAGE = `usage: npm run verify -- --truth FILE [--http URL]

  --truth FILE   the ground-truth log of a run (npm run simulate -- ... --truth FILE)
  --http URL     the server's HTTP API (default http://127.0.0.1:8080)`

async function main(): Promise<void> {
  let values: { truth?: string; http?: string; help?: boolean }
  try {
    values = parseArgs({
      options: { truth: { type: 'string' }, http: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values
  } catch (err) {
    process.stderr.write(`verify: ${(err as Error).message}\n\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (values.truth === undefined) {
    process.stderr.write(`verify: --truth is required\n\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  const report = await verifyRun(values.http ?? 'http://127.0.0.1:8080', await readTruth(values.truth))
  process.stdout.write(`${formatReport(report)}\n`)
  if (!report.ok) process.exitCode = 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`verify: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
