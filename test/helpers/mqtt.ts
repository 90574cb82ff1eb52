/** Raw MQTT 3.1.1 bytes and socket helpers for broker tests that mqtt.js would refuse to send. */

import { connect, type Socket } from 'node:net'
import { encode } from 'cbor-x'

function remainingLength(n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}

function str(bytes: Uint8Array | string): number[] {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes
  return [b.length >> 8, b.length & 0xff, ...b]
}

/** CONNECT [MQTT-3.1] with protocol level 4. */
export function connectPacket(clientId: string, clean = true, keepaliveS = 60): Buffer {
  const body = [...str('MQTT'), 4, clean ? 0x02 : 0x00, keepaliveS >> 8, keepaliveS & 0xff, ...str(clientId)]
  return Buffer.from([0x10, ...remainingLength(body.length), ...body])
}

/** PUBLISH [MQTT-3.3] with raw topic bytes, so tests can send what clients must not. */
export function publishPacket(
  topic: Uint8Array | string,
  payload: Uint8Array,
  qos: 0 | 1 | 2 = 0,
  packetId = 1,
): Buffer {
  const body = [...str(topic), ...(qos > 0 ? [packetId >> 8, packetId & 0xff] : []), ...payload]
  return Buffer.from([0x30 | (qos << 1), ...remainingLength(body.length), ...body])
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Collects everything the server sends until it closes the connection, or the bound passes. */
export function untilClosed(socket: Socket, boundMs: number): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => undefined)
    const timer = setTimeout(() => resolve({ closed: false, received: Buffer.concat(chunks) }), boundMs)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve({ closed: true, received: Buffer.concat(chunks) })
    })
  })
}

/** A valid unwrapped wire-format v1 reading. */
export function reading(
  seq: number,
  fields: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Buffer {
  return Buffer.from(encode({ v: 1, seq, m: fields, ...extra }))
}
