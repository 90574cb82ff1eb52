export { TelemetryBroker } from './broker.js'
export {
  type BrokerLimits,
  type BrokerOptions,
  DEFAULT_BROKER_OPTIONS,
  type DisconnectReason,
} from './options.js'
export { type GuardViolation, PacketGuard } from './packet-guard.js'
