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

export async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.split(' ').pop())
  }
  return total
}
