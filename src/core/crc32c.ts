import CRC32C from 'crc-32/crc32c.js'

/** CRC-32C (Castagnoli) of the bytes, unsigned: the checksum of the wire format's envelope. */
export function crc32c(bytes: Uint8Array): number {
  return CRC32C.buf(bytes) >>> 0
}
