import { createKeccak, type IHasher } from "hash-wasm";
import createKeccakHash from "keccak";
import { BilayerError } from "./errors";

/*
 * Keccak-256 and byte helpers. `keccak256` is synchronous: it uses one reused
 * hash-wasm hasher once `initHashing()` has resolved (about ten times faster
 * for the short inputs of Merkle trees) and the native `keccak` binding
 * before that. Both give the same digest.
 */

let wasmHasher: IHasher | undefined;
let initPromise: Promise<void> | undefined;

/** Loads the WebAssembly Keccak. Idempotent; hashing works (more slowly) before it resolves. */
export function initHashing(): Promise<void> {
  initPromise ??= createKeccak(256).then((hasher) => {
    wasmHasher = hasher;
  });
  return initPromise;
}

/** Whether the fast WebAssembly hasher is in use. */
export function isHashingInitialised(): boolean {
  return wasmHasher !== undefined;
}

/** Keccak-256 of `data` (a fresh 32-byte array). */
export function keccak256(data: Uint8Array): Uint8Array {
  if (wasmHasher !== undefined) {
    wasmHasher.init();
    wasmHasher.update(data);
    return wasmHasher.digest("binary");
  }
  return nativeKeccak256(data);
}

/** Keccak-256 through the native `keccak` binding, whatever the state of `initHashing`. */
export function nativeKeccak256(data: Uint8Array): Uint8Array {
  const digest = createKeccakHash("keccak256")
    .update(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    .digest();
  return new Uint8Array(digest);
}

const pairScratch = new Uint8Array(64);

/** `keccak256(left ‖ right)` for two 32-byte values: a Merkle node. */
export function hashPair(left: Uint8Array, right: Uint8Array): Uint8Array {
  pairScratch.set(left, 0);
  pairScratch.set(right, 32);
  return keccak256(pairScratch);
}

/** Keccak-256 of a UTF-8 string. */
export function keccakUtf8(text: string): Uint8Array {
  return keccak256(new TextEncoder().encode(text));
}

// ---------------------------------------------------------------------------
// hex and bytes

const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}

/** `0x`-prefixed lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "0x";
  for (let i = 0; i < bytes.length; i++) out += HEX_BYTE[bytes[i]];
  return out;
}

/**
 * Bytes of a `0x`-prefixed hex string (either case). With `length`, the
 * string must encode exactly that many bytes. Throws `BilayerError`
 * (`INVALID_HEX`) on anything else.
 */
export function fromHex(hex: string, length?: number): Uint8Array {
  if (typeof hex !== "string" || !hex.startsWith("0x") || hex.length % 2 !== 0) {
    throw new BilayerError("INVALID_HEX", `not a 0x-prefixed hex string of whole bytes: ${String(hex)}`, {
      context: { value: String(hex) },
    });
  }
  const n = (hex.length - 2) / 2;
  if (length !== undefined && n !== length) {
    throw new BilayerError("INVALID_HEX", `expected ${length} bytes of hex, got ${n}`, {
      context: { value: hex, expected: length, actual: n },
    });
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const hi = hexDigit(hex.charCodeAt(2 + 2 * i));
    const lo = hexDigit(hex.charCodeAt(3 + 2 * i));
    if (hi < 0 || lo < 0) {
      throw new BilayerError("INVALID_HEX", `invalid hex digit in ${hex}`, { context: { value: hex } });
    }
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexDigit(c: number): number {
  return c < 128 ? HEX_VALUE[c] : -1;
}

/** Concatenation of byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `bytes` equals the bytes of the `0x` hex string `hex` (either case), without allocating. */
export function bytesEqualHex(bytes: Uint8Array, hex: string): boolean {
  if (hex.length !== 2 + 2 * bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) {
    const hi = hexDigit(hex.charCodeAt(2 + 2 * i));
    const lo = hexDigit(hex.charCodeAt(3 + 2 * i));
    if (hi < 0 || lo < 0 || ((hi << 4) | lo) !== bytes[i]) return false;
  }
  return true;
}

/** Whether `value` is a `0x`-prefixed hex string of exactly `length` bytes. */
export function isHexOfLength(value: unknown, length: number): value is string {
  return typeof value === "string" && value.length === 2 + 2 * length && /^0x[0-9a-fA-F]*$/.test(value);
}

/** A 20-byte address as lowercase `0x` hex; throws `BilayerError` (`INVALID_ADDRESS`) otherwise. */
export function normalizeAddress(address: string): string {
  if (!isHexOfLength(address, 20)) {
    throw new BilayerError("INVALID_ADDRESS", `not a 20-byte hex address: ${String(address)}`, {
      context: { value: String(address) },
    });
  }
  return address.toLowerCase();
}

/** The zero `bytes32` as hex. */
export const ZERO_BYTES32 = "0x" + "00".repeat(32);
/** The zero address as lowercase hex. */
export const ZERO_ADDRESS = "0x" + "00".repeat(20);

// ---------------------------------------------------------------------------
// ABI words (big-endian, 32 bytes): used to hand-build `abi.encode` on hot paths

const MASK64 = (1n << 64n) - 1n;

/** Writes `value` (0 ≤ value < 2^256) as a 32-byte big-endian word at `offset`. */
export function writeUint256(view: DataView, offset: number, value: bigint): void {
  view.setBigUint64(offset + 24, value & MASK64);
  if (value > MASK64) {
    view.setBigUint64(offset + 16, (value >> 64n) & MASK64);
    view.setBigUint64(offset + 8, (value >> 128n) & MASK64);
    view.setBigUint64(offset, (value >> 192n) & MASK64);
  } else {
    view.setBigUint64(offset + 16, 0n);
    view.setBigUint64(offset + 8, 0n);
    view.setBigUint64(offset, 0n);
  }
}

/** Writes a u32 as a 32-byte word at `offset` (the 28 high bytes are zeroed). */
export function writeUint32Word(bytes: Uint8Array, view: DataView, offset: number, value: number): void {
  bytes.fill(0, offset, offset + 28);
  view.setUint32(offset + 28, value);
}

/** Reads a 32-byte big-endian word as a bigint. */
export function readUint256(view: DataView, offset: number): bigint {
  return (
    (view.getBigUint64(offset) << 192n) |
    (view.getBigUint64(offset + 8) << 128n) |
    (view.getBigUint64(offset + 16) << 64n) |
    view.getBigUint64(offset + 24)
  );
}

/** Writes the 20 bytes of a `0x` address (already validated) as a 32-byte word at `offset`. */
export function writeAddressWord(bytes: Uint8Array, offset: number, address: string): void {
  bytes.fill(0, offset, offset + 12);
  for (let i = 0; i < 20; i++) {
    bytes[offset + 12 + i] = (hexDigit(address.charCodeAt(2 + 2 * i)) << 4) | hexDigit(address.charCodeAt(3 + 2 * i));
  }
}
