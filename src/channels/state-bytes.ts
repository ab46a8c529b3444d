import { BilayerError } from "../protocol/errors";
import { keccak256 } from "../protocol/hash";

/*
 * The checked `abi.encode` words the channel hashes are built from: each
 * field of a state, withdrawal, top-up, funding consent or lock is checked
 * (its hex, its length, its range) as it is written, and a bad one throws
 * `INVALID_CHANNEL_DATA` naming the field. Internal to src/channels.
 */

export const U8_MAX = 0xffn;
export const U64_MAX = (1n << 64n) - 1n;
export const U256_MAX = (1n << 256n) - 1n;

/** Keccak-256 of `data`, as a `Buffer` over the digest (no copy). */
export function keccak(data: Uint8Array): Buffer {
  const digest = keccak256(data);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
}

const HEX_RE = /^0x[0-9a-fA-F]*$/;

/** The bytes of `value`, `length` bytes of `0x` hex; throws `INVALID_CHANNEL_DATA` naming `what` otherwise. */
export function bytesOf(value: string, length: number, what: string): Buffer {
  if (typeof value !== "string" || value.length !== 2 + 2 * length || !HEX_RE.test(value)) {
    throw new BilayerError("INVALID_CHANNEL_DATA", `${what} must be ${length} bytes of 0x hex, got ${String(value)}`, {
      context: { field: what, value: String(value) },
    });
  }
  return Buffer.from(value.slice(2), "hex");
}

/** `0x`-prefixed lowercase hex of `bytes`. */
export function hexOf(bytes: Uint8Array): string {
  return "0x" + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Writes an unsigned integer of at most `max` as a 32-byte big-endian word. */
export function putUint(out: Buffer, offset: number, value: bigint, max: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value > max) {
    throw new BilayerError("INVALID_CHANNEL_DATA", `${what} out of range: ${String(value)}`, {
      context: { field: what, value: String(value), max: max.toString() },
    });
  }
  out.writeBigUInt64BE(value >> 192n, offset);
  out.writeBigUInt64BE((value >> 128n) & U64_MAX, offset + 8);
  out.writeBigUInt64BE((value >> 64n) & U64_MAX, offset + 16);
  out.writeBigUInt64BE(value & U64_MAX, offset + 24);
}

/** Writes 32 bytes of `0x` hex as a word. */
export function putBytes32(out: Buffer, offset: number, value: string, what: string): void {
  bytesOf(value, 32, what).copy(out, offset);
}

/** Writes a 20-byte address as a word (left-padded with zeros). */
export function putAddress(out: Buffer, offset: number, value: string, what: string): void {
  out.fill(0, offset, offset + 12);
  bytesOf(value, 20, what).copy(out, offset + 12);
}
