/** Small HTTP helpers over Node's fetch (undici), for API tests. */

export async function getJson<T = Record<string, unknown>>(
  port: number,
  path: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: (await res.json()) as T }
}

export async function postJson<T = Record<string, unknown>>(
  port: number,
  path: string,
  body: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as T }
}

export interface ApiReading {
  device: string
  ts: string
  boot: number
  seq: number
  idx: number
  device_ts: string | null
  recv_ts: string
  offset_ns: number
  fields: Record<string, number | boolean | string>
  tags: Record<string, string>
}

export async function readings(port: number, device: string, extra = ''): Promise<ApiReading[]> {
  const res = await getJson<{ readings: ApiReading[] }>(
    port,
    `/v1/telemetry?device=${device}&from=0&to=4102444800000${extra}`,
  )
  if (res.status !== 200) throw new Error(`GET /v1/telemetry: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.readings
}

/** A metric of the app on this port, summed over its labels; 0 when absent. */
export async function metric(port: number, name: string): Promise<number> {
  const value = metricIn(await scrape(`http://127.0.0.1:${port}`), name)
  return Number.isNaN(value) ? 0 : value
}

/** A metric's value from prom-client's text, summed over its labels; NaN when absent. */
export function metricIn(text: string, name: string): number {
  let total = Number.NaN
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')))
    total = (Number.isNaN(total) ? 0 : total) + Number(m[1])
  return total
}

/** The app's /metrics text. */
export async function scrape(httpUrl: string, timeoutMs = 10_000): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text()
}
