/**
 * The one place that wires everything together: store, bridge, broker and
 * HTTP API in one process. main.ts runs it; tests start it in-process.
 */

import { type Logger, pino } from 'pino'
import { Bridge, DEFAULT_BRIDGE_OPTIONS } from '../bridge/index.js'
import { DEFAULT_BROKER_OPTIONS, TelemetryBroker } from '../broker/index.js'
import { registerCatalogRoutes } from './api/catalog.js'
import { registerDeadLetterRoutes } from './api/dead-letters.js'
import type { DualServer } from './api/dual-server.js'
import { registerHealthRoutes } from './api/health.js'
import { registerJobRoutes } from './api/jobs.js'
import { DevicePresence } from './api/presence.js'
import { createHttpServer, listenQuietly } from './api/server.js'
import { DEFAULT_HUB_OPTIONS, SseHub } from './api/sse.js'
import { SseBudget } from './api/sse-budget.js'
import { featureEvent, reviveTelemetry, telemetryEvent } from './api/stream-events.js'
import { registerStreamRoutes } from './api/streams.js'
import { registerTelemetryRoutes } from './api/telemetry.js'
import { registerWindowRoutes } from './api/windows.js'
import { openToAnyone } from './config/exposure.js'
import type { Config } from './config.js'
import { QueryTimeoutError, StoreBusyError } from './core/errors.js'
import { nowNs } from './core/telemetry.js'
import { httpSecurity, keyPair, openCredentials, watchCredentials } from './credentials.js'
import { FeatureEngine, loadFeatureDefinitions } from './features/index.js'
import { Forwarder } from './influx/forwarder.js'
import { InfluxHistory } from './influx/history.js'
import { createJobs } from './jobs/index.js'
import { createMetrics, type Metrics, watchSseBuffers, watchStoreMemory } from './metrics.js'
import { type HistoryReader, type Store, type StoreOptions, WorkerStore } from './store/index.js'

export interface App {
  readonly mqttPort: number
  /** MQTT over TLS; null without a certificate. */
  readonly mqttsPort: number | null
  readonly httpPort: number
  readonly metrics: Metrics
  readonly bridge: Bridge
  /** Reads --tokens-file again (SIGHUP does); a file that does not read keeps the tokens before. */
  reloadTokens(): Promise<void>
  /** Stops accepting, finishes commits in flight, closes the store. */
  close(): Promise<void>
}

/** The store as the app uses it: WorkerStore, or one standing in for it (bench/no-commit.ts). */
export type AppStore = Store & Pick<WorkerStore, 'problem' | 'onProblem' | 'deleteOlderThan'>
export type OpenStore = (dataDir: string, options: StoreOptions) => Promise<AppStore>

export async function startApp(
  config: Config,
  log: Logger = pino({ level: config.logLevel }),
  openStore: OpenStore = (dataDir, options) => WorkerStore.open(dataDir, options),
): Promise<App> {
  // Everything that can be wrong in configuration files is checked before anything opens.
  const definitions = loadFeatureDefinitions(config.featuresPath)
  const metrics = createMetrics()
  const credentials = openCredentials(config, log, metrics)
  const store = await openStore(config.dataDir, {
    memoryMb: config.storeMemoryMb,
    queries: {
      maxRunning: config.maxQueries,
      maxQueued: config.maxQueuedQueries,
      timeoutMs: config.queryTimeoutMs,
    },
  })
  watchStoreMemory(metrics, () => store.memory())
  metrics.storeUp.set(1)
  store.onProblem((problem) => {
    metrics.storeUp.set(problem === null ? 1 : 0)
    if (problem === null) return log.warn('store reopened: commits and acknowledgements resume')
    metrics.storeFailures.inc()
    log.error({ problem }, 'store failed: commits are refused (not acknowledged) while it is reopened')
  })
  let bridge: Bridge
  try {
    bridge = await Bridge.open(
      store,
      {
        ...DEFAULT_BRIDGE_OPTIONS,
        acceptUnwrapped: config.acceptUnwrapped,
        ownTopicOnly: config.deviceAuth === 'client-id',
        fieldTypes: config.fieldTypes,
        maxFields: config.maxFields,
        maxFieldsPerDevice: config.maxFieldsPerDevice,
        deadLetters: {
          perDevicePerMinute: config.deadLettersPerDeviceMinute,
          maxBytesPerSecond: config.deadLetterMaxBytesPerSecond,
          maxTotalBytes: config.deadLetterMaxMb * 1e6,
        },
        clock: {
          ...DEFAULT_BRIDGE_OPTIONS.clock,
          mode: config.clockCorrection,
          devices: config.clockCorrectionDevices,
          stableSpanMs: config.clockStableMs,
          stableReadings: config.clockStableReadings,
        },
      },
      metrics,
    )
  } catch (err) {
    await store.close()
    throw err
  }

  let closing = false
  const hubCounters = (stream: 'telemetry' | 'features') => ({
    eventsSent: (n: number) => metrics.sseEventsSent.inc({ stream }, n),
    eventsDropped: (n: number) => metrics.sseEventsDropped.inc({ stream }, n),
    clients: (delta: number) => metrics.sseClients.inc({ stream }, delta),
    clientsCut: (n: number) => metrics.sseClientsCut.inc({ stream }, n),
  })
  // One byte budget for the clients of both streams.
  const sseBudget = new SseBudget({
    clientBytes: config.sseClientBufferBytes,
    totalBytes: config.sseTotalBufferBytes,
  })
  watchSseBuffers(metrics, () => sseBudget.held)
  const hubOptions = {
    ...DEFAULT_HUB_OPTIONS,
    slowClient: config.sseSlowClient,
    heartbeatMs: config.sseHeartbeatMs,
    budget: sseBudget,
  }
  const telemetryHub = new SseHub(hubOptions, hubCounters('telemetry'), reviveTelemetry)
  const featureHub = new SseHub(hubOptions, hubCounters('features'))
  const engine = new FeatureEngine(definitions.features, (event) => {
    const now = nowNs()
    if (event.kind === 'late') metrics.lateReadings.inc({ feature: event.feature })
    else if (event.kind === 'window') metrics.featureStaleness.observe(Number(now - event.newestRecvNs) / 1e9)
    featureHub.publish(featureEvent(event, now))
  })
  // Forwarding to InfluxDB starts from its durable checkpoint, whether or not InfluxDB answers yet.
  const forwarder =
    config.influx === null
      ? null
      : await Forwarder.start(store, config.influx, metrics, log.child({ module: 'influx' }))
  if (forwarder !== null) bridge.admitWith(() => forwarder.admit())
  bridge.onReadings((readings) => {
    forwarder?.stored(readings.length)
    for (const r of readings) {
      telemetryHub.publish(telemetryEvent(r))
      engine.add(r)
    }
  })
  // Which devices' publishers are connected (GET /v1/devices): told by onPublish, asked of the broker.
  const presence = new DevicePresence((clientId) => broker.isConnected(clientId))
  // Partial updates for low-latency consumers, and idle devices' windows closed and forgotten.
  const idleNs = BigInt(config.deviceIdleMs) * 1_000_000n
  let notStoredLogged = 0
  const timers = [
    setInterval(() => {
      const now = nowNs()
      engine.evictIdle(now, idleNs)
      bridge.forgetIdle(now, idleNs)
      presence.prune()
      // One line a minute at most, not one per refused message.
      void metrics.deadLettersNotStored.get().then(({ values }) => {
        const notStored = values.reduce((sum, v) => sum + v.value, 0)
        if (notStored > notStoredLogged)
          log.warn(
            { notStored: notStored - notStoredLogged },
            'refused messages acknowledged but not kept as dead letters: over --dead-letters-per-device-minute, --dead-letter-max-bytes-per-second or --dead-letter-max-mb',
          )
        notStoredLogged = notStored
      })
    }, 60_000),
    ...(config.partialMs > 0 ? [setInterval(() => engine.partials(), config.partialMs)] : []),
  ]

  // The broker opens only now, so no reading can arrive before its listeners are attached.
  const broker = await TelemetryBroker.start({
    ...DEFAULT_BROKER_OPTIONS,
    host: config.host,
    port: config.mqttPort,
    mqtts:
      credentials.tls === null
        ? null
        : {
            port: config.mqttsPort,
            secureContext: credentials.tls.options,
            requireClientCert: config.requireClientCert,
          },
    maxPacketBytes: config.maxPacketBytes,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    maxConnectsPerSecondPerAddress: config.maxConnectsPerSecondPerAddress,
    maxIncompletePacketBytes: config.maxIncompletePacketBytes,
    keepaliveZeroIdleMs: config.keepaliveZeroIdleMs,
    slowClientTimeoutMs: config.slowClientTimeoutMs,
    maxQueuedBytesPerClient: config.maxQueuedBytesPerClient,
    publishesPerSecondPerClient: config.publishesPerSecondPerClient,
    onPublishDelayed: () => metrics.publishesDelayed.inc(),
    log: log.child({ module: 'broker' }),
    async onPublish(topic, payload, clientId) {
      if (closing) throw new Error('shutting down')
      const outcome = await bridge.ingest(topic, payload, undefined, clientId)
      if ((outcome.kind === 'accepted' || outcome.kind === 'duplicate') && clientId !== '')
        presence.published(topic.split('/')[1]!, clientId)
    },
    onDisconnectForViolation: (reason) => metrics.brokerDisconnects.inc({ reason }),
    onClientCountChange: (n) => metrics.connectedDevices.set(n),
    security: credentials.devices,
    onAuthDenied: (action) => metrics.authDenied.inc({ action }),
  })

  // Started with --allow-anonymous true on an address others reach: said at start and on /readyz.
  const anonymous = openToAnyone(config).map((what) => `${what} serves anyone on ${config.host}`)
  for (const warning of anonymous) log.warn({ host: config.host }, `--allow-anonymous: ${warning}`)
  if (anonymous.length === 0 && config.passwordFile === null)
    log.info({ host: config.host }, 'MQTT clients are anonymous (no --password-file): loopback only')
  const tls = keyPair(credentials.tls)
  const http = await createHttpServer(log, tls, httpSecurity(config, credentials.tokens, metrics), {
    '/mqtt': broker.upgrade,
  })
  registerHealthRoutes(
    http,
    {
      async check() {
        if (closing) return 'shutting down'
        const problem = store.problem()
        if (problem !== null) return `store: ${problem}`
        await store.ping()
        return forwarder?.problem() ?? null
      },
      warnings: anonymous,
    },
    metrics.registry,
  )
  http.addHook('onError', (_request, _reply, err, done) => {
    if (err instanceof StoreBusyError) metrics.queriesRefused.inc({ cause: 'busy' })
    else if (err instanceof QueryTimeoutError) metrics.queriesRefused.inc({ cause: 'timeout' })
    done()
  })
  const history: HistoryReader =
    config.historySource === 'influx' && config.influx !== null
      ? new InfluxHistory(config.influx, () => store.storedFields(), config.dataDir)
      : store
  registerTelemetryRoutes(http, history)
  registerWindowRoutes(http, {
    store: history,
    catalog: store,
    features: definitions.features,
    knowsDevice: (device) => bridge.knowsDevice(device),
  })
  registerCatalogRoutes(http, { catalog: store, connected: (device) => presence.connected(device) })
  registerDeadLetterRoutes(http, store, bridge)
  const jobs = createJobs(config, store, metrics.registry, log.child({ module: 'jobs' }))
  registerJobRoutes(http, jobs)
  registerStreamRoutes(http, {
    telemetry: telemetryHub,
    features: featureHub,
    featureNames: new Set(definitions.features.map((f) => f.name)),
  })
  const httpPort = await listenQuietly(http, config.host, config.httpPort)
  jobs.start()
  const stopWatching = watchCredentials(credentials, broker, http.server as unknown as DualServer)

  log.info(
    {
      mqtt: `mqtt://${config.host}:${broker.port}`,
      ...(broker.mqttsPort === null ? {} : { mqtts: `mqtts://${config.host}:${broker.mqttsPort}` }),
      http: `${tls === null ? 'http' : 'https'}://${config.host}:${httpPort}`,
      ws: `${tls === null ? 'ws' : 'wss'}://${config.host}:${httpPort}/mqtt`,
      dataDir: config.dataDir,
    },
    'telemetry bridge listening',
  )

  return {
    mqttPort: broker.port,
    mqttsPort: broker.mqttsPort,
    httpPort,
    metrics,
    bridge,
    reloadTokens: async () => credentials.tokens?.reload(),
    async close() {
      if (closing) return
      // New connections and publishes are refused (unacknowledged, so devices
      // resend them later); commits in flight finish and their acknowledgements
      // go out on the still-open sockets; then everything closes.
      closing = true
      stopWatching()
      await jobs.close()
      broker.stopAccepting()
      await bridge.flush()
      await broker.close()
      await forwarder?.stop()
      for (const timer of timers) clearInterval(timer)
      telemetryHub.close()
      featureHub.close()
      await http.close()
      await store.close()
    },
  }
}
