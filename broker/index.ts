export { type AclFile, AclFileError, type AclRule, parseAclFile } from './auth-acl.js'
export type { DeniedAction } from './auth-connections.js'
export { PacketCheck, type PacketRefusal } from './auth-packet-check.js'
export {
  DEFAULT_PBKDF2_ITERATIONS,
  hashPassword,
  PasswordFileError,
  type PasswordHash,
  parseHash,
  parsePasswordFile,
  verifyPassword,
} from './auth-passwords.js'
export { type Credentials, DeviceSecurity, type Principal, type SecurityFiles } from './auth-security.js'
export { TelemetryBroker } from './broker.js'
export { certificateIdentity } from './listeners.js'
export {
  type BrokerLimits,
  type BrokerOptions,
  DEFAULT_BROKER_OPTIONS,
  type DisconnectReason,
  type MqttsOptions,
} from './options.js'
export { type GuardViolation, PacketGuard } from './packet-guard.js'
export { DEFAULT_TLS_POLL_MS, TlsFiles, type TlsPaths } from './tls-files.js'
export type { UpgradeHandler } from './ws-listener.js'
