/**
 * GET /v1/dead-letters lists refused payloads with their reason; POST
 * /v1/dead-letters/replay runs them through the pipeline again once their
 * cause is fixed (docs/http-api.md).
 */

import type { FastifyInstance } from 'fastify'
import type { Bridge } from '../../bridge/index.js'
import { InvalidParameterError, REJECT_REASONS } from '../core/errors.js'
import { DEVICE_ID_PATTERN } from '../core/telemetry.js'
import { formatRfc3339Ns } from '../core/time.js'
import type { Store } from '../store/index.js'
import { choice, integer, list, one, type Query } from './params.js'

const MAX_LIST = 10_000
/**
 * Payload bytes one page of `include=payload` carries (base64 makes it 4/3 as
 * much JSON): a page is cut before the letter that would pass it, and `next`
 * goes on from there. The first letter of a page always comes whole.
 */
export const MAX_PAGE_PAYLOAD_BYTES = 8 * 1024 * 1024

export function registerDeadLetterRoutes(app: FastifyInstance, store: Store, bridge: Bridge): void {
  app.get('/v1/dead-letters', async (request) => {
    const query = request.query as Query
    const device = list(query, 'device', DEVICE_ID_PATTERN, 1)?.[0] ?? null
    const reason = choice(query, 'reason', REJECT_REASONS) ?? null
    const limit = integer(query, 'limit', 1, MAX_LIST) ?? 100
    const after = integer(query, 'after', 0, Number.MAX_SAFE_INTEGER) ?? 0
    const includeReplayed = choice(query, 'replayed', ['true', 'false'] as const) === 'true'
    const withPayload = choice(query, 'include', ['payload'] as const) === 'payload'
    const select = { device, reason, ids: null, includeReplayed }
    const rows = await store.deadLetters({
      ...select,
      limit,
      afterId: BigInt(after),
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

  app.post('/v1/dead-letters/replay', async (request) => {
    const body = (request.body ?? {}) as Record<string, unknown>
    let ids: bigint[]
    if (body.ids !== undefined) {
      if (!Array.isArray(body.ids) || body.ids.length === 0 || body.ids.length > MAX_LIST) {
        throw new InvalidParameterError('ids', `must be an array of 1 to ${MAX_LIST} dead-letter ids`)
      }
      ids = body.ids.map((id) => {
        if (!Number.isSafeInteger(id) || (id as number) < 1)
          throw new InvalidParameterError('ids', `${JSON.stringify(id)} is not an id`)
        return BigInt(id as number)
      })
    } else {
      const query: Query = {}
      for (const k of ['device', 'reason', 'limit'])
        if (typeof body[k] === 'string' || typeof body[k] === 'number') query[k] = String(body[k])
      const device = list(query, 'device', DEVICE_ID_PATTERN, 1)?.[0] ?? null
      const reason = choice(query, 'reason', REJECT_REASONS) ?? null
      if (device === null && reason === null && one(query, 'limit') === undefined) {
        throw new InvalidParameterError('ids', 'give ids, or a device or reason to select by')
      }
      const limit = integer(query, 'limit', 1, MAX_LIST) ?? MAX_LIST
      const rows = await store.deadLetters({
        device,
        reason,
        ids: null,
        includeReplayed: false,
        limit,
        afterId: 0n,
        payloadBytes: 0,
      })
      ids = rows.map((r) => r.id)
    }
    const results = await bridge.replay(ids)
    return { replayed: results.map((r) => ({ id: Number(r.id), result: r.result })) }
  })
}
