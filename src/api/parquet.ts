/**
 * Parquet responses: the store writes the file (DuckDB's own Parquet
 * writer, as the query runs), this streams it and deletes it once sent or
 * abandoned. A Parquet file is read from its footer, so it cannot be sent
 * before it is complete; memory stays bounded either way.
 */

import { createReadStream } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import type { FastifyReply } from 'fastify'
import type { HistoryReader, ParquetExport } from '../store/index.js'
import { abortOnClose } from './params.js'

export const PARQUET_TYPE = 'application/vnd.apache.parquet'

export async function sendParquet(
  reply: FastifyReply,
  store: Pick<HistoryReader, 'exportParquet'>,
  request: ParquetExport,
  filename: string,
  /** Set once the file is written: they describe it, not an error. */
  headers: Readonly<Record<string, string>> = {},
): Promise<FastifyReply> {
  const { path, rows } = await store.exportParquet(request, abortOnClose(reply))
  const remove = () => void rm(path, { force: true })
  try {
    const { size } = await stat(path)
    const stream = createReadStream(path)
    stream.once('close', remove)
    reply.type(PARQUET_TYPE)
    reply.header('content-length', size)
    reply.header('content-disposition', `attachment; filename="${filename}"`)
    reply.header('x-rows', rows)
    reply.headers(headers)
    return reply.send(stream)
  } catch (err) {
    remove()
    throw err
  }
}
