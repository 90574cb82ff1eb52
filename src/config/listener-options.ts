/**
 * The rows of the option table (options.ts) for the listeners' TLS: HTTPS,
 * MQTT over TLS and client certificates (docs/security.md, "Listeners and
 * TLS"). MQTT over WebSocket needs no option: it is `/mqtt` on the HTTP port.
 */

import { type Option, TEXT } from './option-row.js'

export const LISTENER_OPTIONS = {
  'tls-cert': {
    key: 'tlsCert',
    schema: TEXT,
    readable: true,
    description:
      'PEM certificate (with its chain): serve HTTPS (HTTP/2 by ALPN, and HTTP/1.1) instead of cleartext, `wss` at `/mqtt`, and MQTT over TLS on `--mqtts-port`; with `--tls-key`. Read again on SIGHUP and when the file changes',
  },
  'tls-key': { key: 'tlsKey', schema: TEXT, readable: true, description: 'PEM private key of `--tls-cert`' },
  'mqtts-port': {
    key: 'mqttsPort',
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: 8883,
    description:
      'MQTT over TLS, served only with `--tls-cert` (without it this option is unused); `0` picks a free port',
  },
  'tls-ca': {
    key: 'tlsCa',
    schema: TEXT,
    readable: true,
    description:
      "PEM CA bundle: MQTT over TLS asks each client for a certificate and verifies it against these; a verified certificate's CN is the client's identity. Needs `--tls-cert`",
  },
  'tls-crl': {
    key: 'tlsCrl',
    schema: TEXT,
    readable: true,
    description:
      'PEM certificate revocation lists, one from each CA of `--tls-ca` that signs client certificates: a revoked certificate is refused. Needs `--tls-ca`',
  },
  'require-client-cert': {
    key: 'requireClientCert',
    schema: { type: 'boolean' },
    default: false,
    description:
      'refuse, at the TLS handshake, an MQTT client without a certificate that `--tls-ca` verifies (unknown CA, expired, revoked). Needs `--tls-ca`',
  },
} as const satisfies Record<string, Option>

/** What holds between these options: `given` holds the flags someone gave, `settings` every value by flag. */
export function listenerRelations(
  given: { has(flag: string): boolean },
  settings: Readonly<Record<string, unknown>>,
): string[] {
  const problems: string[] = []
  const needs = (flag: string, other: string): void => {
    if (given.has(flag) && !given.has(other)) problems.push(`--${flag} needs --${other}`)
  }
  needs('tls-ca', 'tls-cert')
  needs('tls-crl', 'tls-ca')
  if (settings['require-client-cert'] === true && !given.has('tls-ca'))
    problems.push('--require-client-cert needs --tls-ca')
  return problems
}
