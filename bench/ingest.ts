/**
 * `npm run bench:ingest`: how many readings per second does our system
 * acknowledge durably at QoS 1, next to Mosquitto acknowledging QoS 1 (and
 * storing nothing) in the same run, with the same publishers? And with a
 * password file and an ACL file, every publisher its own user (issue #22)?
 * Flat out and paced, each server fresh, the app's every acknowledged
 * reading read back; the method in words is bench/sections/ingest.md. A
 * missed saturation or auth target adds one flat-out run of that app under
 * `node --cpu-prof` to the results.
 *
 * Flags: --runs 3 --readings 200000 --publishers 10 --window 500
 *        --paced-rate 10000 --paced-seconds 10 --write true|false
 */

import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { resolveSimulationOptions, runSimulation, type SimulationInput } from '../simulators/index.js'
import { type DeviceUsers, deviceIds, writeDeviceUsers } from '../test/helpers/device-users.js'
import { UsageSampler } from '../test/helpers/probes.js'
import { tempDir } from '../test/helpers/process.js'
import { AckLedger, checkStored, scrapeCounters } from '../test/helpers/stored.js'
import { profiled } from './cpu-profile.js'
import { begin, benchMain, fmt, parseFlags, type Row, runLine } from './doc.js'
import { type ServerKind, startTarget } from './fleet-run.js'
import { authMissed, saturationMissed, scenarioLabel } from './ingest-report.js'
import { mosquittoVersion } from './probes.js'
import { publish } from './render.js'

const FLAGS = {
  runs: [3, 1, 20],
  readings: [200_000, 1000, 10_000_000],
  publishers: [10, 1, 1000],
  window: [500, 1, 65_535],
  'paced-rate': [10_000, 1, 1_000_000],
  'paced-seconds': [10, 1, 600],
} as const
const multiple = (f: { readings: number; publishers: number }): string[] =>
  f.readings % f.publishers === 0 ? [] : ['--readings must be a multiple of --publishers']
/** Every scenario is bounded in time as well as in count. */
const [FLAT_OUT_LIMIT_MS, DRAIN_LIMIT_MS, WARMUP_MS] = [120_000, 30_000, 2000]
const LINE = 'ackedPerSecond p50Ms p99Ms serverUs'
type Options = ReturnType<typeof parseFlags<typeof FLAGS>>
/**
 * Ten publishers stand for a whole fleet here, each far above what one
 * device may publish (`--publishes-per-second-per-client`, 5,000/s): the
 * bench measures what the app can store, not that limit (tested in
 * test/integration/publish-rate.test.ts).
 */
const CAPACITY = ['--publishes-per-second-per-client', '0']

/**
 * One scenario against a fresh server: the load first for a moment on other
 * device ids (JIT, connections, the store's first field columns are not what
 * is measured), then measured, with the server's, our own and the machine's
 * CPU time around it; then checked: every acknowledged reading read back from
 * the app over HTTP (unless profiling), or counted by Mosquitto's subscriber.
 */
async function scenario(
  o: Options,
  kind: ServerKind,
  paced: boolean,
  users: DeviceUsers,
  nodeArgs: readonly string[] = [],
): Promise<Row> {
  const target = await startTarget(kind, { nodeArgs, users, args: CAPACITY })
  try {
    const rate = paced ? o['paced-rate'] / o.publishers : Number.POSITIVE_INFINITY
    const input: SimulationInput = {
      ...{ devices: o.publishers, maxInFlight: o.window, drainTimeoutMs: DRAIN_LIMIT_MS, qos: 1, wrap: true },
      ...target.login,
      ...{ url: target.mqttUrl, idPrefix: 'bench-', tags: { site: 'bench' }, ratePerSecond: rate },
      durationMs: paced ? o['paced-seconds'] * 1000 : FLAT_OUT_LIMIT_MS,
      ...(paced ? {} : { readingsPerDevice: o.readings / o.publishers }),
    }
    const warmup = await runSimulation({ ...input, idPrefix: 'warmup-', durationMs: WARMUP_MS })
    const sub = target.subscriber
    if (sub !== null) await sub.waitFor(warmup.acknowledged)
    sub?.mark()
    const app = target.app
    const ledger = new AckLedger(o.publishers, resolveSimulationOptions(input).readingsPerDevice)
    const before = app === null ? null : await scrapeCounters(app.httpUrl)
    const [sampler, t0, startMs] = [new UsageSampler(target.pid), performance.now(), Date.now()]
    const s = await runSimulation({ ...input, onAck: (d, seq) => ledger.ack(d, seq) })
    sampler.stop()
    const use = sampler.stretch(t0, performance.now())
    const row = {
      ...{ ackedPerSecond: s.ackedPerSecond, p50Ms: s.latency.p50Ms, p99Ms: s.latency.p99Ms },
      ...{
        serverUs: (use.cpuS * 1e6) / s.acknowledged,
        serverCores: use.cores,
        publisherCores: use.ownCores,
      },
      ...{ machineCores: use.machineCores, sent: s.sent, acked: s.acknowledged, heldBack: s.heldBack },
      ...{ errors: s.errors + s.unacknowledged, payloadBytes: s.meanPayloadBytes, deliveredPerSecond: null },
    }
    const clean = row.errors === 0 && warmup.errors === 0
    if (sub !== null) {
      const [got, perSecond] = [await sub.waitFor(s.acknowledged), sub.since().perSecond]
      const check = `${got}/${s.acknowledged} acked delivered to the QoS 1 subscriber, ${fmt(perSecond)}/s first to last`
      return { ...row, deliveredPerSecond: perSecond, ok: clean && got >= s.acknowledged, check }
    }
    if (nodeArgs.length > 0 || app === null || before === null)
      return { ...row, ok: clean, check: 'not checked' }
    const stored = await checkStored(app.httpUrl, before, ledger, 'bench-', startMs - 60_000)
    const check =
      `${ledger.count - stored.missing}/${ledger.count} acked stored` +
      (stored.missing > 0 ? `, ${stored.missing} MISSING` : '') +
      (stored.duplicates > 0 ? `, ${stored.duplicates} duplicate rows` : '') +
      `; counter ${stored.acceptedCounter}; ${stored.commits}`
    return { ...row, ok: clean && stored.ok, check }
  } finally {
    await target.stop()
  }
}

benchMain(45, async () => {
  const [o, done] = [parseFlags(FLAGS, multiple), begin('ingest')]
  // Every publisher, and its warm-up, its own user with a $7$ entry, as a site would have them.
  const ids = [...deviceIds('bench-', o.publishers), ...deviceIds('warmup-', o.publishers)]
  const users = await writeDeviceUsers(tempDir('tlm-bench-auth-'), ids, randomUUID())
  const runs: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    process.stdout.write(`run ${run}/${o.runs}\n`)
    // Open and auth + ACL side by side, each first in every other run: a drifting machine favours neither.
    const kinds =
      run % 2 === 1 ? (['app', 'auth', 'mosquitto'] as const) : (['auth', 'app', 'mosquitto'] as const)
    for (const paced of [false, true])
      for (const kind of kinds) {
        const name = `${kind}${paced ? 'Paced' : 'Flat'}`
        runs.push({ run, scenario: name, ...(await scenario(o, kind, paced, users)) })
        process.stdout.write(`${runLine(scenarioLabel(name, o['paced-rate']), runs.at(-1)!, LINE)}\n`)
      }
  }
  // Where a saturation or the auth target is missed, the results say where the time went (issues 6, 22).
  const profiles: string[] = []
  const missed = (['app', 'auth'] as const).filter((k) => (k === 'app' ? saturationMissed : authMissed)(runs))
  for (const kind of missed) {
    const label = scenarioLabel(`${kind}Flat`, o['paced-rate'])
    const once = async (args: readonly string[]) =>
      runLine(label, await scenario(o, kind, false, users, args), LINE)
    profiles.push(`${label}, under --cpu-prof:\n${await profiled(once)}`)
  }
  const options = {
    ...{ runs: o.runs, readings: o.readings, publishers: o.publishers, window: o.window },
    ...{ pacedRate: o['paced-rate'], pacedSeconds: o['paced-seconds'] },
  }
  if (o.write)
    publish(done({ versions: { mosquitto: mosquittoVersion() }, options, context: {}, runs, profiles }))
  return runs.every((r) => r.ok === true)
})
