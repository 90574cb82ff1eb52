/**
 * Every Prometheus metric the process exports, in one registry per process
 * (never prom-client's global one, so tests can run several side by side).
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { StoreMemory } from './store/store.js'

/**
 * prom-client's default metrics that walk every open handle on each scrape:
 * the file descriptors in /proc/self/fd, and the process's active handles
 * and resources (one per socket and per timer). With 10,000 devices
 * connected a scrape spent ~28 ms in them, all on the event loop that runs
 * MQTT and ingest, so every Prometheus scrape stalled every device's
 * acknowledgement. `mqtt_connected_clients` counts the connections instead.
 */
const PER_HANDLE_DEFAULT_METRICS = Object.freeze([
  'process_open_fds',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
])

export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  for (const name of PER_HANDLE_DEFAULT_METRICS) registry.removeSingleMetric(name)
  const registers = [registry]
  return {
    registry,
    messagesReceived: new Counter({
      name: 'telemetry_messages_received_total',
      help: 'Telemetry messages received on devices/+/telemetry',
      registers,
    }),
    readingsAccepted: new Counter({
      name: 'telemetry_readings_accepted_total',
      help: 'Readings stored durably (a batched message yields several)',
      registers,
    }),
    messagesRejected: new Counter({
      name: 'telemetry_messages_rejected_total',
      help: 'Messages refused and kept as dead letters, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'telemetry_messages_duplicate_total',
      help: 'Redelivered messages acknowledged without storing them again',
      registers,
    }),
    unitsInferred: new Counter({
      name: 'telemetry_timestamp_unit_inferred_total',
      help: 'Integer device times read in a unit other than milliseconds, by unit',
      labelNames: ['unit'] as const,
      registers,
    }),
    clockOffset: new Histogram({
      name: 'telemetry_clock_offset_seconds',
      help: 'Absolute clock offset applied to readings with a device time',
      buckets: [0, 0.001, 0.01, 0.1, 1, 2, 5, 30, 300, 3600, 86400],
      registers,
    }),
    clockCorrections: new Counter({
      name: 'telemetry_clock_corrections_total',
      help: "Readings stored at another time than their device's, by reason: future (clamped to receive time) or offset (a clock proven wrong, --clock-correction auto)",
      labelNames: ['reason'] as const,
      registers,
    }),
    readingsLate: new Counter({
      name: 'telemetry_readings_late_total',
      help: "Readings whose event time was behind their device's watermark when they arrived (stored all the same)",
      registers,
    }),
    commitReadings: new Histogram({
      name: 'telemetry_group_commit_readings',
      help: 'Readings and dead letters carried by one group commit',
      buckets: [1, 4, 16, 64, 256, 1024, 4096, 16384],
      registers,
    }),
    commitSeconds: new Histogram({
      name: 'telemetry_group_commit_seconds',
      help: 'Time for one group commit, fsync included',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers,
    }),
    commitErrors: new Counter({
      name: 'telemetry_group_commit_errors_total',
      help: 'Group commits that failed; their messages were not acknowledged',
      registers,
    }),
    deadLettersNotStored: new Counter({
      name: 'telemetry_dead_letters_not_stored_total',
      help: 'Refused messages acknowledged but not kept as dead letters: over the per-device rate (cap="rate"), the byte rate of all devices (cap="byte_rate") or the total size (cap="size")',
      labelNames: ['cap'] as const,
      registers,
    }),
    queriesRefused: new Counter({
      name: 'telemetry_queries_refused_total',
      help: 'History queries refused because --max-queries and --max-queued-queries were full (cause="busy"), or stopped at --query-timeout-ms (cause="timeout")',
      labelNames: ['cause'] as const,
      registers,
    }),
    storeFailures: new Counter({
      name: 'telemetry_store_failures_total',
      help: 'Times the store database failed (a full disk, say) and was reopened; commits meanwhile were refused, not acknowledged',
      registers,
    }),
    storeUp: new Gauge({
      name: 'telemetry_store_up',
      help: '1 while the store commits, 0 while it has failed and is being reopened',
      registers,
    }),
    connectedDevices: new Gauge({
      name: 'mqtt_connected_clients',
      help: 'MQTT clients connected to the broker',
      registers,
    }),
    sseClients: new Gauge({
      name: 'sse_clients',
      help: 'Server-Sent Events clients connected, by stream',
      labelNames: ['stream'] as const,
      registers,
    }),
    sseEventsSent: new Counter({
      name: 'sse_events_sent_total',
      help: 'Events written or queued to SSE clients, by stream',
      labelNames: ['stream'] as const,
      registers,
    }),
    sseEventsDropped: new Counter({
      name: 'sse_events_dropped_total',
      help: 'Events dropped for SSE clients too slow to keep up, by stream',
      labelNames: ['stream'] as const,
      registers,
    }),
    sseClientsCut: new Counter({
      name: 'sse_clients_cut_total',
      help: 'Slow SSE clients closed: past their byte budget with --sse-slow-client disconnect, or past the total budget, by stream',
      labelNames: ['stream'] as const,
      registers,
    }),
    lateReadings: new Counter({
      name: 'feature_late_readings_total',
      help: 'Readings that arrived after a window they lie in had closed, by feature',
      labelNames: ['feature'] as const,
      registers,
    }),
    featureStaleness: new Histogram({
      name: 'feature_staleness_seconds',
      help: "Time from a closed window's newest reading arriving to the window's event",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    influxBacklogReadings: new Gauge({
      name: 'influx_backlog_readings',
      help: 'Stored readings not yet confirmed written to InfluxDB',
      registers,
    }),
    influxBacklogBytes: new Gauge({
      name: 'influx_backlog_bytes',
      help: 'The backlog in line-protocol bytes (estimated from the lines written so far)',
      registers,
    }),
    influxLag: new Gauge({
      name: 'influx_lag_seconds',
      help: 'Age of the oldest stored reading not yet in InfluxDB; 0 when none is waiting',
      registers,
    }),
    influxWriteSeconds: new Histogram({
      name: 'influx_write_seconds',
      help: 'Duration of successful InfluxDB write requests',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    influxRetries: new Counter({
      name: 'influx_write_retries_total',
      help: 'InfluxDB writes that failed and will be tried again, by cause',
      labelNames: ['cause'] as const,
      registers,
    }),
    influxLinesRejected: new Counter({
      name: 'influx_lines_rejected_total',
      help: 'Lines InfluxDB refused (400): their readings became dead letters',
      registers,
    }),
    influxForwarded: new Counter({
      name: 'influx_readings_forwarded_total',
      help: 'Readings confirmed written to InfluxDB',
      registers,
    }),
    httpAuthRefused: new Counter({
      name: 'http_auth_refused_total',
      help: 'HTTP requests refused for their token: 401 by reason (missing, malformed, unknown, expired, revoked), 403 as reason="scope"',
      labelNames: ['reason'] as const,
      registers,
    }),
    httpRateLimited: new Counter({
      name: 'http_requests_rate_limited_total',
      help: 'HTTP requests refused with 429 over --http-requests-per-second-per-token',
      registers,
    }),
    sseClientsRefused: new Counter({
      name: 'sse_clients_refused_total',
      help: 'SSE streams refused with 429 over --sse-clients-per-token',
      registers,
    }),
    httpTokensReloads: new Counter({
      name: 'http_tokens_reloads_total',
      help: 'Readings of --tokens-file after it changed or on SIGHUP, by result (ok; failed: the tokens before stay in force)',
      labelNames: ['result'] as const,
      registers,
    }),
    brokerDisconnects: new Counter({
      name: 'mqtt_protocol_disconnects_total',
      help: 'Connections closed for breaking the protocol or a broker limit, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    publishesDelayed: new Counter({
      name: 'mqtt_publishes_delayed_total',
      help: 'PUBLISH packets held back before their acknowledgement by --publishes-per-second-per-client',
      registers,
    }),
    authDenied: new Counter({
      name: 'mqtt_auth_denied_total',
      help: 'MQTT refusals by the password file or ACLs: CONNECT (CONNACK 0x05), PUBLISH (disconnected, not acknowledged), SUBSCRIBE (SUBACK 0x80), by action',
      labelNames: ['action'] as const,
      registers,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/**
 * The store's memory, read from the database at each scrape: its cache
 * fills up to the limit and then stays there (docs/configuration.md).
 */
export function watchStoreMemory(metrics: Metrics, memory: () => Promise<StoreMemory>): void {
  // prom-client collects every metric of a scrape in one pass: both gauges share one read.
  let reading: Promise<StoreMemory | null> | null = null
  const read = (): Promise<StoreMemory | null> =>
    (reading ??= memory()
      // A store that cannot answer leaves the figures out rather than failing the whole scrape.
      .catch(() => null)
      .finally(() => {
        reading = null
      }))
  const gauges = [
    [
      'store_memory_bytes',
      "Memory the store's database holds: its cache of the table's blocks and running queries",
      'usedBytes',
    ],
    [
      'store_memory_limit_bytes',
      "The store database's memory limit (--store-memory-mb): past it, the cache gives way and queries spill to disk",
      'limitBytes',
    ],
  ] as const
  for (const [name, help, figure] of gauges)
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      async collect() {
        const m = await read()
        // remove(): no sample this scrape, rather than the last one passed off as current.
        if (m === null) this.remove()
        else this.set(m[figure])
      },
    })
}

/** Bytes held for SSE clients (src/api/sse-budget.ts), read at each scrape. */
export function watchSseBuffers(metrics: Metrics, heldBytes: () => number): void {
  new Gauge({
    name: 'sse_buffered_bytes',
    help: 'Bytes queued for SSE clients or written but not yet taken by their sockets, all streams together',
    registers: [metrics.registry],
    collect() {
      this.set(heldBytes())
    },
  })
}
