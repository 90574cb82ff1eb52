export { type BrokerOptions, DEFAULT_BROKER_OPTIONS, TelemetryBroker } from './broker.js'
export { type GuardViolation, PacketGuard } from './packet-guard.js'
