/** The broker alone on an ephemeral port, for tests of its limits: publishes are accepted at once, closures counted. */

import { pino } from 'pino'
import { type BrokerLimits, type DisconnectReason, TelemetryBroker } from '../../broker/index.js'

export async function startBroker(t: { teardown(fn: () => unknown): void }, limits: Partial<BrokerLimits>) {
  const reasons: DisconnectReason[] = []
  const broker = await TelemetryBroker.start({
    host: '127.0.0.1',
    port: 0,
    maxPacketBytes: 64 * 1024,
    connectTimeoutMs: 5000,
    ...limits,
    onPublish: async () => undefined,
    onDisconnectForViolation: (reason) => reasons.push(reason),
    log: pino({ level: 'silent' }),
  })
  t.teardown(() => broker.close())
  return { broker, reasons }
}
