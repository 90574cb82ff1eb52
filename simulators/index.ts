export {
  type DeviceReading,
  encodeMessage,
  encodeReading,
  type FieldValue,
  Float64,
  float,
  wrapEnvelope,
} from './encode.js'
export {
  checkSimulationOptions,
  DEFAULT_SIMULATION_OPTIONS,
  resolveSimulationOptions,
  runSimulation,
  SIMULATION_LIMITS,
  type SimulationInput,
  type SimulationOptions,
  type SimulationSummary,
} from './fleet.js'
export { LatencyHistogram, type LatencySummary } from './latency.js'
export { type DeviceSignalOptions, DeviceSignals } from './signals.js'
