/**
 * Safe defaults (issue #22, item 1): a listener on an address other hosts
 * reach needs authentication, or an explicit `--allow-anonymous true`. On
 * loopback (`npm start` as it comes) nothing is needed, as before.
 */

import { isIP } from 'node:net'

/** Whether an address is reached from this machine only: `localhost`, 127.0.0.0/8, ::1. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1' || host === '[::1]'
}

interface Exposure {
  readonly host: string
  readonly passwordFile: string | null
  readonly tokensFile: string | null
  readonly allowAnonymous: boolean | null
}

/** What anyone who reaches `host` may use without a credential: empty on loopback, or when each port asks for one. */
export function openToAnyone(c: Exposure): string[] {
  if (isLoopback(c.host)) return []
  const open: string[] = []
  // A client certificate guards the TLS port only: the TCP port still needs the password file.
  if (c.passwordFile === null) open.push('MQTT (no --password-file)')
  if (c.tokensFile === null) open.push('the HTTP API (no --tokens-file)')
  return open
}

/** Why the configuration may not start: an exposed port without authentication, unless allowed explicitly. */
export function exposureProblems(c: Exposure): string[] {
  const open = openToAnyone(c)
  if (open.length === 0 || c.allowAnonymous === true) return []
  return [
    `--host ${c.host} is reached by other machines, and ${open.join(' and ')} would serve anyone: ` +
      'configure authentication (docs/security.md), or bind 127.0.0.1, or accept it with --allow-anonymous true',
  ]
}
