/**
 * Every reading of a GET /v1/telemetry query in NDJSON, page after page, as
 * a client that must see them all reads it: each page's `Link: <…>;
 * rel="next"` is followed until a page has none (docs/http-api.md, Paging).
 * The link holds the first page's range and snapshot, so readings stored
 * meanwhile neither shift the pages nor appear in them.
 */

import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'

/** The URL of `rel="next"` in a Link header, resolved against the page's own URL; null when there is none. */
export function nextPage(link: string | null, pageUrl: string): string | null {
  const next = link === null ? null : /<([^>]*)>\s*;\s*rel="?next"?/.exec(link)
  return next === null ? null : new URL(next[1]!, pageUrl).href
}

/** The lines of every page of `url` (an NDJSON query), each page fetched within `timeoutMs`. */
export async function* telemetryLines(url: string, timeoutMs: number): AsyncGenerator<string> {
  for (let page: string | null = url; page !== null; ) {
    const response = await fetch(page, { signal: AbortSignal.timeout(timeoutMs) })
    if (!response.ok) throw new Error(`GET ${page}: ${response.status} ${await response.text()}`)
    const lines = createInterface({ input: Readable.fromWeb(response.body! as never) })
    for await (const line of lines) if (line !== '') yield line
    page = nextPage(response.headers.get('link'), page)
  }
}
