export { AggregateSlab, type FeatureValues, fieldNumber } from './aggregate.js'
export {
  AGGREGATIONS,
  type Aggregation,
  columnName,
  FEATURE_NAME_PATTERN,
  type FeatureDefinition,
  type FeatureDefinitions,
  formatDuration,
  loadFeatureDefinitions,
  MAX_FEATURES,
  MAX_WINDOW_NS,
  parseDuration,
  parseFeatureDefinitions,
} from './definitions.js'
export {
  type CloseReason,
  DEFAULT_FEATURE_ENGINE_OPTIONS,
  FeatureEngine,
  type FeatureEngineOptions,
  type FeatureEngineStats,
  type FeatureEvent,
  type FeatureInput,
  type LateEvent,
  type PartialEvent,
  type WindowEvent,
  type WindowState,
} from './engine.js'
export {
  floorDiv,
  hopIndex,
  newestClosedHop,
  type WindowSpec,
  windowEnd,
  windowsPerTime,
} from './windows.js'
