/** Tokens and requests for the HTTP security tests: tokens made by the project's command, requests over HTTP/1.1. */

import { runTokenCommand } from '../../src/token.js'

/** A new token in `file`, as `npm run token -- create` makes it; returns the token (its last line). */
export function makeToken(file: string, scope: string, ...extra: string[]): string {
  const token = runTokenCommand(['create', '--tokens-file', file, '--scope', scope, ...extra], {}).at(-1)
  if (token === undefined) throw new Error('npm run token printed nothing')
  return token
}

export const idOf = (token: string): string => token.slice(4, 16)

export interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** One request; `token` is sent as `Authorization: Bearer`. The body read as JSON (an empty one as {}). */
export async function call(
  port: number,
  path: string,
  options: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: options.method ?? 'GET',
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text === '' ? {} : JSON.parse(text) }
}
