export { TelemetryBroker } from './broker.js'
export { certificateIdentity, type UpgradeHandler } from './listeners.js'
export {
  type BrokerLimits,
  type BrokerOptions,
  DEFAULT_BROKER_OPTIONS,
  type DisconnectReason,
  type MqttsOptions,
} from './options.js'
export { type GuardViolation, PacketGuard } from './packet-guard.js'
export { DEFAULT_TLS_POLL_MS, TlsFiles, type TlsPaths } from './tls-files.js'
