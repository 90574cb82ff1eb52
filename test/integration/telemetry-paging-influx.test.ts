/**
 * GET /v1/telemetry a page at a time with `--history-source influx` (issue
 * 23): InfluxDB returns points by point time (the event time's millisecond,
 * then a tie-breaker: src/store/line-sql.ts), not in the API's order, so
 * history sorts each millisecond. Pages read over HTTP give every reading
 * once, in the local store's order; points written after the first page are
 * in none of them.
 */

import t, { type Test } from 'tap'
import { nextPage } from '../../simulators/index.js'
import { startTestApp } from '../helpers/app.js'
import { haveProgram } from '../helpers/external.js'
import { type Influxd, influxConfig, startInfluxd } from '../helpers/influxd.js'

const TS = 1_764_115_200_000_000_000n
const MS = 1_000_000n

/** A point as the forwarder writes it (line-sql.ts), at point time `pointNs`. */
function line(device: string, seq: number, tsNs: bigint, storedNs: bigint, pointNs: bigint): string {
  return `telemetry,device=${device} v=${seq}i,@boot=0i,@seq=${seq}i,@idx=0i,@ts=${tsNs}i,@recv=${tsNs}i,@stored=${storedNs}i,@newest=${tsNs}i,@offset=0i ${pointNs}`
}

async function write(t: Test, influx: Influxd, lines: string[]): Promise<void> {
  const res = await fetch(`${influx.url}/write?db=${influx.db}&precision=ns`, {
    method: 'POST',
    body: lines.join('\n'),
  })
  t.equal(res.status, 204, `${lines.length} points written`)
}

t.test(
  'paging - InfluxDB history: every reading once, in the store’s order, later points in no page',
  async (t) => {
    if (!haveProgram(t, 'influxd', 'influxdb')) return
    const influx = await startInfluxd(t)
    // 12 devices at one event time, their tie-breakers in the reverse of the
    // API's device order; then 12 more a millisecond later; in each
    // millisecond one more reading of d3 a few ns later than the rest.
    const points: string[] = []
    const expected: string[] = []
    for (const [k, ts] of [TS, TS + MS].entries()) {
      const devices = Array.from({ length: 12 }, (_, i) => `d${i}`)
      devices.forEach((d, i) => {
        points.push(line(d, k + 1, ts, ts + BigInt(k * 100 + i), ts + BigInt(12 - i)))
      })
      points.push(line('d3', k + 10, ts + 5n, ts + BigInt(k * 100 + 50), ts + 50n))
      expected.push(...[...devices].sort().map((d) => `${d}/${k + 1}`), `d3/${k + 10}`)
    }
    await write(t, influx, points)
    const app = await startTestApp(t, { historySource: 'influx', ...influxConfig(influx, { tags: [] }) })
    const range = `from=${new Date(Number((TS - MS) / MS)).toISOString()}&to=${new Date(Number((TS + 10n * MS) / MS)).toISOString()}`
    const seen: string[] = []
    const flags: Array<string | null> = []
    let url: string | null = `http://127.0.0.1:${app.httpPort}/v1/telemetry?device=*&${range}&limit=7`
    for (let page = 0; url !== null && page < 20; page++) {
      const res = await fetch(url)
      t.equal(res.status, 200)
      for (const r of ((await res.json()) as { readings: Array<{ device: string; seq: number }> }).readings)
        seen.push(`${r.device}/${r.seq}`)
      flags.push(res.headers.get('telemetry-truncated'))
      // Written after the first page: stored later (@stored past the snapshot), one in each millisecond.
      if (page === 0)
        await write(t, influx, [
          line('d0', 99, TS, TS + 10n * MS, TS + 999n),
          line('d11', 98, TS + MS, TS + 10n * MS + 1n, TS + MS + 999n),
        ])
      url = nextPage(res.headers.get('link'), url)
    }
    t.same(flags, ['true', 'true', 'true', 'false'], 'four pages of 7, 7, 7 and 5')
    t.same(seen, expected, 'every reading once, in the order of the local store')
  },
)
