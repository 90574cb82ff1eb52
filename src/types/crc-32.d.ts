// crc-32 ships types for its CRC-32 entry point only; its CRC-32C module has the same shape.
declare module 'crc-32/crc32c.js' {
  const CRC32C: {
    /** CRC-32C (Castagnoli) of a byte array, as a signed 32-bit integer. */
    buf(data: Uint8Array, seed?: number): number
  }
  export default CRC32C
}
