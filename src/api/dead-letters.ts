/**
 * GET /v1/dead-letters lists refused payloads with their reason, streamed as
 * JSON or NDJSON and admitted like a history query (503 when the store's
 * query gate is full; interrupted when the client goes away); POST
 * /v1/dead-letters/replay runs them through the pipeline again once their
 * cause is fixed (docs/http-api.md).
 */

import { Readable } from 'node:stream'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { Bridge } from '../../bridge/index.js'
import { InvalidParameterError, REJECT_REASONS } from '../core/errors.js'
import { DEVICE_ID_PATTERN } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import type { DeadLetterRow, Store } from '../store/index.js'
import { abortOnClose } from './params.js'
import { CONTENT_TYPE, started } from './text-formats.js'

const MAX_LIST = 10_000
/**
 * Payload bytes one page of `include=payload` carries (base64 makes it 4/3 as
 * much JSON): a page is cut before the letter that would pass it, and `next`
 * goes on from there. The first letter of a page always comes whole. A page
 * streams in chunks (src/store/dead-letter-sql.ts): what a listing holds in
 * memory is a chunk, not a page.
 */
export const MAX_PAGE_PAYLOAD_BYTES = 8 * 1024 * 1024

const device = Type.String({ pattern: DEVICE_ID_PATTERN.source, description: 'one device id' })
const reason = Type.Enum(REJECT_REASONS)
const limit = Type.Integer({ minimum: 1, maximum: MAX_LIST })

const ListQuery = Type.Object({
  device: Type.Optional(device),
  reason: Type.Optional(reason),
  limit: Type.Optional(limit),
  after: Type.Optional(
    Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "the previous page's next" }),
  ),
  replayed: Type.Optional(Type.Enum(['true', 'false'])),
  include: Type.Optional(Type.Enum(['payload'])),
  format: Type.Optional(Type.Enum(['json', 'ndjson'])),
})

/** `{"ids": [3, 4]}`, or a selection `{"reason": ..., "device": ..., "limit": ...}`. */
const ReplayBody = Type.Object({
  ids: Type.Optional(
    Type.Array(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), {
      minItems: 1,
      maxItems: MAX_LIST,
      description: `1 to ${MAX_LIST} dead-letter ids`,
    }),
  ),
  device: Type.Optional(device),
  reason: Type.Optional(reason),
  limit: Type.Optional(limit),
})

export function registerDeadLetterRoutes(app: FastifyInstance, store: Store, bridge: Bridge): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get('/v1/dead-letters', { schema: { querystring: ListQuery } }, async (request, reply) => {
    const query = request.query
    const format = query.format ?? 'json'
    const page = { limit: query.limit ?? 100, withPayload: query.include === 'payload' }
    const q = {
      device: query.device ?? null,
      reason: query.reason ?? null,
      ids: null,
      includeReplayed: query.replayed === 'true',
      limit: page.limit,
      afterId: BigInt(query.after ?? 0),
      payloadBytes: page.withPayload ? MAX_PAGE_PAYLOAD_BYTES : 0,
    }
    const chunks = await started(store.deadLetterRows(q, abortOnClose(reply)))
    reply.type(CONTENT_TYPE[format])
    // One chunk in the stream's buffer at a time, not Readable.from's 16.
    return reply.send(Readable.from(listing(chunks, page, format), { highWaterMark: 1 }))
  })

  api.post('/v1/dead-letters/replay', { schema: { body: ReplayBody } }, async (request) => {
    const body = request.body
    let ids: bigint[]
    if (body.ids !== undefined) ids = body.ids.map(BigInt)
    else {
      if (body.device === undefined && body.reason === undefined && body.limit === undefined) {
        throw new InvalidParameterError('ids', 'give ids, or a device or reason to select by')
      }
      const rows = await store.deadLetters({
        device: body.device ?? null,
        reason: body.reason ?? null,
        ids: null,
        includeReplayed: false,
        limit: body.limit ?? MAX_LIST,
        afterId: 0n,
        payloadBytes: 0,
      })
      ids = rows.map((r) => r.id)
    }
    // Nothing selected: the store cannot look up an empty list of ids.
    if (ids.length === 0) return { replayed: [] }
    const results = await bridge.replay(ids)
    return { replayed: results.map((r) => ({ id: Number(r.id), result: r.result })) }
  })
}

/**
 * The page as JSON (`{"deadLetters": [...], "next": ...}`) or NDJSON (a
 * letter a line, then `{"next": ...}`), written chunk by chunk. The store's
 * last row is a marker when the page was cut: it is not shown, and `next`
 * says where the next page starts.
 */
async function* listing(
  chunks: AsyncIterable<DeadLetterRow[]>,
  page: { readonly limit: number; readonly withPayload: boolean },
  format: 'json' | 'ndjson',
): AsyncGenerator<string> {
  if (format === 'json') yield '{"deadLetters":['
  let [count, last] = [0, 0]
  let more = false
  for await (const rows of chunks) {
    let out = ''
    for (const row of rows) {
      if (count === page.limit || (page.withPayload && row.payload === null)) {
        more = true
        continue
      }
      const json = JSON.stringify(letterJson(row))
      out += format === 'ndjson' ? `${json}\n` : count === 0 ? json : `,${json}`
      count++
      last = Number(row.id)
    }
    if (out !== '') yield out
  }
  // Keyset paging: pass as `after` for the next page.
  const next = more ? last : null
  yield format === 'json' ? `],"next":${next}}\n` : `${JSON.stringify({ next })}\n`
}

function letterJson(r: DeadLetterRow) {
  return {
    id: Number(r.id),
    reason: r.reason,
    detail: r.detail,
    device: r.device,
    topic: r.topic,
    recv_ts: formatRfc3339Ns(r.recvTsNs),
    payload_bytes: r.payloadSize,
    ...(r.payload === null
      ? {}
      : {
          payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength).toString(
            'base64',
          ),
        }),
    replayed_at: r.replayedAtNs === null ? null : formatRfc3339Ns(r.replayedAtNs),
    replay_result: r.replayResult,
  }
}
