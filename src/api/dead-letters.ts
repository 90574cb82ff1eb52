/**
 * GET /v1/dead-letters lists refused payloads with their reason; POST
 * /v1/dead-letters/replay runs them through the pipeline again once their
 * cause is fixed (docs/http-api.md).
 */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { Bridge } from '../../bridge/index.js'
import { InvalidParameterError, REJECT_REASONS } from '../core/errors.js'
import { DEVICE_ID_PATTERN } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import type { Store } from '../store/index.js'

const MAX_LIST = 10_000
/**
 * Payload bytes one page of `include=payload` carries (base64 makes it 4/3 as
 * much JSON): a page is cut before the letter that would pass it, and `next`
 * goes on from there. The first letter of a page always comes whole.
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
  api.get('/v1/dead-letters', { schema: { querystring: ListQuery } }, async (request) => {
    const query = request.query
    const limit = query.limit ?? 100
    const withPayload = query.include === 'payload'
    const select = {
      device: query.device ?? null,
      reason: query.reason ?? null,
      ids: null,
      includeReplayed: query.replayed === 'true',
    }
    const rows = await store.deadLetters({
      ...select,
      limit,
      afterId: BigInt(query.after ?? 0),
      payloadBytes: withPayload ? MAX_PAGE_PAYLOAD_BYTES : 0,
    })
    const last = rows.at(-1)?.id
    // Keyset paging: pass as `after` for the next page. A page cut by the byte budget has more after it.
    const more =
      last !== undefined &&
      (rows.length === limit ||
        (withPayload &&
          (await store.deadLetters({ ...select, limit: 1, afterId: last, payloadBytes: 0 })).length > 0))
    return {
      deadLetters: rows.map((r) => ({
        id: Number(r.id),
        reason: r.reason,
        detail: r.detail,
        device: r.device,
        topic: r.topic,
        recv_ts: formatRfc3339Ns(r.recvTsNs),
        payload_bytes: r.payloadSize,
        ...(r.payload === null ? {} : { payload: Buffer.from(r.payload).toString('base64') }),
        replayed_at: r.replayedAtNs === null ? null : formatRfc3339Ns(r.replayedAtNs),
        replay_result: r.replayResult,
      })),
      next: more ? Number(last) : null,
    }
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
