/** What the rest of the process uses of the HTTP API's security (docs/security.md). */

export { AUDIT_WINDOW_MS } from './audit.js'
export { type HttpSecurity, OPEN_HTTP, registerHttpSecurity, type SecurityCounters } from './guard.js'
export { REDACTED, redactUrl, serializeRequest } from './redact.js'
export { type Access, ROUTE_RULES, type RouteRule, ruleOf } from './routes.js'
export { TOKENS_POLL_MS, TokenStore } from './token-store.js'
export {
  formatTokens,
  newToken,
  parseTokens,
  type Refusal,
  SCOPES,
  type Scope,
  sha256Hex,
  type TokenRecord,
  TokenSet,
} from './tokens.js'
