/**
 * The rows of the option table (options.ts) for the HTTP API's tokens,
 * CORS and per-token limits (issue 22; docs/security.md, "HTTP API").
 */

import type { Option } from './option-row.js'

const count = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const

export const HTTP_SECURITY_OPTIONS = {
  'tokens-file': {
    key: 'tokensFile',
    schema: { type: 'string', minLength: 1 },
    readable: true,
    description:
      'API tokens (made by `npm run token`): with it every route but `/healthz` and `/readyz` needs a token of its scope; read again when it changes and on SIGHUP. None: the API is open. See [security.md](security.md#http-api)',
  },
  'metrics-open': {
    key: 'metricsOpen',
    schema: { type: 'boolean' },
    default: false,
    description: 'with `--tokens-file`, `GET /metrics` needs no token (a Prometheus that cannot send one)',
  },
  'cors-origin': {
    key: 'corsOrigin',
    schema: { type: 'array', items: { type: 'string', pattern: '^(\\*|https?://[^/?#\\s]+)$' } },
    default: [],
    accepted: 'comma-separated origins (`https://dash.example:8443`), or `*`',
    description:
      'origins whose pages may call the API (CORS, with the Authorization header); none: CORS off, only same-origin pages',
  },
  'http-requests-per-second-per-token': {
    key: 'httpRequestsPerSecondPerToken',
    schema: count(0, 1_000_000),
    default: 100,
    description:
      'HTTP requests one token (without tokens: one remote address other than loopback) may make per second; an SSE stream counts once. `0`: no limit',
    limit: {
      metric: '`http_requests_rate_limited_total`',
      sees: '429 `TLM_ERR_RATE_LIMITED` with `Retry-After`; other tokens are still served',
    },
  },
  'sse-clients-per-token': {
    key: 'sseClientsPerToken',
    schema: count(0, 1_000_000),
    default: 16,
    description:
      'SSE streams one token (without tokens: one remote address other than loopback) may hold open at once. `0`: no cap',
    limit: {
      metric: '`sse_clients_refused_total`',
      sees: '429 `TLM_ERR_TOO_MANY_STREAMS` for the next stream, until one of its streams closes',
    },
  },
} as const satisfies Record<string, Option>
