/**
 * Node flags the server runs with: `npm start` passes them (package.json),
 * and so do the benchmark and the tests that start the server as a process.
 *
 * --max-semi-space-size=64: readings wait in a group commit for a few
 * milliseconds, long enough for V8's default 16 MB young generation to copy
 * them once or twice before they die. A 64 MB semi-space lets them die young:
 * measured flat out, 40k -> 50k acknowledged readings/s and 26 -> 18.5 us of
 * server CPU per reading (bench/RESULTS.md).
 *
 * --max-old-space-size=2000: V8 lets the old generation grow to four times
 * what survived its last full collection when the heap may reach 2 GB or
 * more (this machine's default: 4 GB), and to about twice that just under
 * it. A fleet's per-device state is long-lived, so most of the growth is
 * garbage waiting for a full collection: with 10,000 devices at 1 reading/s
 * (~170 MB live) the server's peak RSS went from 770-820 MB (3 runs) to
 * 660-710 MB (4 runs) over 40 s. A cap of 1,024 MB saved ~40 MB more, but in
 * three of five runs the median acknowledgement went from 16-18 ms to 26-35
 * ms (a full collection every ~12 s). 2,000 MB holds the state of about
 * 100,000 devices; docs/configuration.md says how to give more.
 *
 * --initial-old-space-size=128: with the cap alone, V8 also started from a
 * small old generation, and flat out (10 publishers, little long-lived state
 * but many readings in flight) made 15 full collections in 10 s instead of
 * none, for ~10% fewer readings/s. Starting at 128 MB it made none again
 * (48,121 readings/s against 47,760 without either flag, one run each), and
 * the fleet's peak RSS stayed at 664 MB.
 */
export const SERVER_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=64',
  '--max-old-space-size=2000',
  '--initial-old-space-size=128',
]
