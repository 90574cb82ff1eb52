/**
 * Who may connect, and with which certificate (docs/security.md): the TLS
 * files of both ports, the devices' password and ACL files, the HTTP API's
 * tokens. All are read and checked before anything opens (a bad file is a
 * ConfigError, exit 2); each is read again when its files change, and all
 * of them on one SIGHUP.
 */

import type { Logger } from 'pino'
import { DeviceSecurity, type TelemetryBroker, TlsFiles } from '../broker/index.js'
import { type HttpSecurity, TokenStore } from './api/auth/index.js'
import type { DualServer } from './api/dual-server.js'
import type { Config } from './config.js'
import { ConfigError } from './core/errors.js'
import type { Metrics } from './metrics.js'

export interface Credentials {
  /** The certificate files; null without `--tls-cert`. */
  readonly tls: TlsFiles | null
  /** Device identities and ACLs; null with neither `--password-file` nor `--acl-file`. */
  readonly devices: DeviceSecurity | null
  /** HTTP API tokens; null without `--tokens-file` (the API is open). */
  readonly tokens: TokenStore | null
}

export function openCredentials(config: Config, log: Logger, metrics: Metrics): Credentials {
  let tls: TlsFiles | null = null
  if (config.tlsCert !== null && config.tlsKey !== null) {
    const paths = { cert: config.tlsCert, key: config.tlsKey, ca: config.tlsCa, crl: config.tlsCrl }
    try {
      tls = new TlsFiles(paths, log.child({ module: 'tls' }))
    } catch (err) {
      throw new ConfigError([`--tls-cert, --tls-key, --tls-ca, --tls-crl: ${(err as Error).message}`], {
        cause: err,
      })
    }
  }
  const devices = DeviceSecurity.load(
    { passwordFile: config.passwordFile, aclFile: config.aclFile, allowAnonymous: config.allowAnonymous },
    log.child({ module: 'mqtt-auth' }),
  )
  const tokens =
    config.tokensFile === null
      ? null
      : TokenStore.open(config.tokensFile, log.child({ module: 'tokens' }), (ok) =>
          metrics.httpTokensReloads.inc({ result: ok ? 'ok' : 'failed' }),
        )
  return { tls, devices, tokens }
}

/** What HTTPS serves: the certificate and key (client certificates are for MQTT only). */
export function keyPair(files: TlsFiles | null): { cert: Buffer; key: Buffer } | null {
  if (files === null) return null
  const { cert, key } = files.options
  return { cert: cert as Buffer, key: key as Buffer }
}

/** The HTTP API's guard: tokens, CORS and per-token limits, counted in `metrics`. */
export function httpSecurity(config: Config, tokens: TokenStore | null, metrics: Metrics): HttpSecurity {
  return {
    tokens,
    metricsOpen: config.metricsOpen,
    corsOrigins: config.corsOrigin,
    requestsPerSecondPerToken: config.httpRequestsPerSecondPerToken,
    sseClientsPerToken: config.sseClientsPerToken,
    counters: {
      refused: (reason) => metrics.httpAuthRefused.inc({ reason }),
      rateLimited: () => metrics.httpRateLimited.inc(),
      streamsRefused: () => metrics.sseClientsRefused.inc(),
    },
  }
}

/**
 * Once the app listens: new certificates go to the next connections of both
 * ports, password and ACL files are watched, and SIGHUP reloads everything.
 * Without any credentials SIGHUP keeps its default (the process ends), as
 * before. Returns what stops it all.
 */
export function watchCredentials(c: Credentials, broker: TelemetryBroker, http: DualServer): () => void {
  c.tls?.onChange((options) => {
    broker.setSecureContext(options)
    http.setSecureContext(keyPair(c.tls)!)
  })
  c.devices?.watch()
  const onHangUp = (): void => {
    void c.tls?.reload()
    void c.devices?.reload()
    void c.tokens?.reload()
  }
  const any = c.tls !== null || c.devices !== null || c.tokens !== null
  if (any) process.on('SIGHUP', onHangUp)
  return () => {
    process.off('SIGHUP', onHangUp)
    c.tls?.close()
    c.devices?.close()
    c.tokens?.close()
  }
}
