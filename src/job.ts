/**
 * `npm run job -- run NAME [--url URL] [--token TOKEN]`
 * `npm run job -- list [--url URL] [--token TOKEN]`
 *
 * Runs a maintenance job now on a running server (POST
 * /v1/admin/jobs/{name}/run) and prints its run as JSON once it ends, or
 * lists the jobs (GET /v1/admin/jobs). With a tokens file the server asks
 * for an admin token: --token, or the TELEMETRY_TOKEN variable. Exit status
 * 0 when the run succeeded, 1 when it failed or the server refused (409
 * while the job is running already), 2 for bad arguments.
 *
 * node:http rather than fetch: a run answers when it ends, and fetch gives
 * up waiting for response headers after 300 s.
 */

import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const USAGE = `usage: npm run job -- run NAME [options]    run a job now (retention) and print its run
       npm run job -- list [options]        each job, its schedule and its last run

  --url URL       the server (default http://127.0.0.1:8080)
  --token TOKEN   an admin token, when the server has a tokens file (or TELEMETRY_TOKEN)`

interface Answer {
  readonly status: number
  readonly body: string
}

function send(method: string, url: URL, token: string | undefined): Promise<Answer> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** The command; resolves to its exit status. `out` and `err` take whole lines. */
export async function runJobCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    out(USAGE)
    return 0
  }
  const [action, name] = positionals
  const ok =
    (action === 'run' && name !== undefined && positionals.length === 2) ||
    (action === 'list' && positionals.length === 1)
  if (!ok) {
    err(USAGE)
    return 2
  }
  const base = values.url ?? 'http://127.0.0.1:8080'
  const path = action === 'list' ? '/v1/admin/jobs' : `/v1/admin/jobs/${encodeURIComponent(name!)}/run`
  let answer: Answer
  try {
    answer = await send(
      action === 'list' ? 'GET' : 'POST',
      new URL(path, base),
      values.token ?? env.TELEMETRY_TOKEN,
    )
  } catch (e) {
    err(`${base}: ${(e as Error).message}`)
    return 1
  }
  let body: unknown
  try {
    body = JSON.parse(answer.body)
  } catch {
    body = answer.body
  }
  if (answer.status !== 200) {
    const { code, message } = (body ?? {}) as { code?: string; message?: string }
    err(`${answer.status} ${code ?? ''}: ${message ?? answer.body}`)
    return 1
  }
  out(JSON.stringify(body, null, 2))
  return action === 'list' || (body as { result?: string }).result === 'success' ? 0 : 1
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: { url: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  void runJobCommand(
    process.argv.slice(2),
    process.env,
    (line) => process.stdout.write(`${line}\n`),
    (line) => process.stderr.write(`${line}\n`),
  ).then((status) => {
    process.exitCode = status
  })
