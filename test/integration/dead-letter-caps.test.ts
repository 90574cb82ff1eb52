/**
 * What dead letters may cost (issue 21, reproduction 2): 100,000 refused
 * messages of 1 KB took 115 MB in 15 s, 2,000 of 200 KB up to 793 MB, and
 * afterwards listings and replays failed for memory. Now each device keeps
 * at most --dead-letters-per-device-minute a minute and all together at most
 * --dead-letter-max-mb of payload; the rest are acknowledged, counted and not
 * kept, and other devices are still served.
 */

import mqtt from 'mqtt'
import t from 'tap'
import { startTestApp } from '../helpers/app.js'
import { getJson } from '../helpers/http.js'

/** Not CBOR: refused as payload_malformed. */
const junk = (bytes: number) => Buffer.alloc(bytes, 0xff)

async function deadLetters(httpPort: number, device: string): Promise<Array<{ payload_bytes: number }>> {
  const { body } = await getJson<{ deadLetters: Array<{ payload_bytes: number }> }>(
    httpPort,
    `/v1/dead-letters?device=${device}&limit=1000`,
  )
  return body.deadLetters
}

async function notStored(httpPort: number, cap: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`telemetry_dead_letters_not_stored_total{cap="${cap}"}`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

t.test(
  'dead letters - a device over its rate is acknowledged and counted, not kept; others are kept',
  async (t) => {
    const app = await startTestApp(t, { deadLettersPerDeviceMinute: 5 })
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 })
    t.teardown(() => c.endAsync(true))
    // Every publishAsync resolves on its PUBACK: all 40 are acknowledged.
    for (let i = 0; i < 40; i++) await c.publishAsync('devices/junk-1/telemetry', junk(100), { qos: 1 })
    await c.publishAsync('devices/junk-2/telemetry', junk(100), { qos: 1 })
    const kept = (await deadLetters(app.httpPort, 'junk-1')).length
    // 5 a minute: the burst, and at most one more refilled while the test ran.
    t.ok(kept >= 5 && kept <= 6, `junk-1 kept ${kept} of 40`)
    t.equal(await notStored(app.httpPort, 'rate'), 40 - kept, 'the rest counted as cap="rate"')
    t.equal((await deadLetters(app.httpPort, 'junk-2')).length, 1, 'another device is kept')
  },
)

t.test('dead letters - past the total size nothing more is kept, across a restart', async (t) => {
  // 1.5 MB at once: over the byte rate of all devices too, which is not what this tests.
  const first = await startTestApp(t, { deadLetterMaxMb: 1, deadLetterMaxBytesPerSecond: 0 })
  const publishAll = async (mqttPort: number, devices: number, from: number) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 })
    for (let d = from; d < from + devices; d++)
      await c.publishAsync(`devices/big-${d}/telemetry`, junk(100_000), { qos: 1 })
    await c.endAsync(true)
  }
  await publishAll(first.mqttPort, 15, 0)
  let keptBytes = 0
  for (let d = 0; d < 15; d++)
    for (const l of await deadLetters(first.httpPort, `big-${d}`)) keptBytes += l.payload_bytes
  t.equal(keptBytes, 1_000_000, 'ten of 100 KB kept: 1 MB')
  t.equal(await notStored(first.httpPort, 'size'), 5, 'five counted as cap="size"')
  await first.close()

  // The store says what it holds at start: the cap still applies.
  const second = await startTestApp(t, {
    deadLetterMaxMb: 1,
    deadLetterMaxBytesPerSecond: 0,
    dataDir: first.dataDir,
  })
  await publishAll(second.mqttPort, 2, 100)
  t.equal((await deadLetters(second.httpPort, 'big-100')).length, 0, 'none kept after the restart')
  t.equal(await notStored(second.httpPort, 'size'), 2, 'both counted')
})
