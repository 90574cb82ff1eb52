export {
  Bridge,
  type BridgeOptions,
  DEFAULT_BRIDGE_OPTIONS,
  type IngestOutcome,
} from './bridge.js'
export { CLOCK_CORRECTIONS, type ClockCorrection, type ClockOptions, DEFAULT_CLOCK_OPTIONS } from './clock.js'
export { DEFAULT_DEAD_LETTER_LIMITS, type DeadLetterLimits } from './dead-letter-budget.js'
export { decodePayload } from './decode.js'
export type { BridgeMetrics } from './metrics.js'
