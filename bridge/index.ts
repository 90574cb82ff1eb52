export {
  Bridge,
  type BridgeOptions,
  DEFAULT_BRIDGE_OPTIONS,
  type IngestOutcome,
} from './bridge.js'
export { CLOCK_CORRECTIONS, type ClockCorrection, type ClockOptions, DEFAULT_CLOCK_OPTIONS } from './clock.js'
export { decodePayload } from './decode.js'
export type { BridgeMetrics } from './metrics.js'
