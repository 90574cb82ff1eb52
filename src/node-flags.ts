/**
 * Node flags the server runs with: `npm start` passes them (package.json),
 * and so do the benchmark and the tests that start the server as a process.
 *
 * --max-semi-space-size=64: readings wait in a group commit for a few
 * milliseconds, long enough for V8's default 16 MB young generation to copy
 * them once or twice before they die. A 64 MB semi-space lets them die young:
 * measured flat out, 40k -> 50k acknowledged readings/s and 26 -> 18.5 us of
 * server CPU per reading (bench/RESULTS.md).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64']
