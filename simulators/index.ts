export {
  type DeviceReading,
  encodeMessage,
  encodeReading,
  type FieldValue,
  Float64,
  float,
  wrapEnvelope,
} from './encode.js'
export { FAULTS, type Fault, type FaultRates, parseFaults } from './faults.js'
export {
  checkSimulationOptions,
  DEFAULT_SIMULATION_OPTIONS,
  type Progress,
  resolveSimulationOptions,
  runSimulation,
  SIMULATION_LIMITS,
  type SimulationInput,
  type SimulationOptions,
  type SimulationSummary,
} from './fleet.js'
export { LatencyHistogram, type LatencySummary } from './latency.js'
export { DEFAULT_PROFILE_PATH, DeviceSignals, loadProfile, type Profile, parseProfile } from './profile.js'
export { nextPage, telemetryLines } from './telemetry-pages.js'
export { readTruth, type TruthEntry, type TruthHeader, writeTruth } from './truth.js'
