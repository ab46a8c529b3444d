import secp256k1 from "secp256k1";
import { BilayerError } from "./errors";
import { fromHex, keccak256, toHex } from "./hash";

/*
 * Signature recovery with exactly the semantics of OpenZeppelin's
 * `ECDSA.tryRecover(hash, r, vs)` (PROTOCOL.md §3.1), on the native
 * libsecp256k1 binding: s = vs with its top bit cleared, recovery parity =
 * top bit of vs, s ≤ n/2, and the precompile's own rules (0 < r < n, 0 < s,
 * a point on the curve). Anything else recovers nothing.
 */

/** The order n of secp256k1. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** ⌊n / 2⌋: the largest `s` OpenZeppelin accepts. */
export const SECP256K1_HALF_N = SECP256K1_N >> 1n;

const N_BYTES = fromHex("0x" + SECP256K1_N.toString(16).padStart(64, "0"), 32);
const HALF_N_BYTES = fromHex("0x" + SECP256K1_HALF_N.toString(16).padStart(64, "0"), 32);

/** Big-endian comparison of two 32-byte words at the given offsets: <0, 0, >0. */
function compareWord(a: Uint8Array, aOffset: number, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = a[aOffset + i] - b[i];
    if (d !== 0) return d;
  }
  return 0;
}

function isZeroWord(a: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 32; i++) if (a[offset + i] !== 0) return false;
  return true;
}

const rsScratch = new Uint8Array(64);

/**
 * The address that signed `digest` with the compact signature `r ‖ vs` at
 * `sig[offset..offset+64]`, as 20 bytes, or `null` where OpenZeppelin's
 * `tryRecover` would report an error.
 */
export function recoverCompactBytes(digest: Uint8Array, sig: Uint8Array, offset = 0): Uint8Array | null {
  if (digest.length !== 32 || sig.length < offset + 64) return null;
  // r: 0 < r < n (the precompile's rule; libsecp256k1 would also reject r ≥ n, but say it here).
  if (isZeroWord(sig, offset) || compareWord(sig, offset, N_BYTES) >= 0) return null;
  rsScratch.set(sig.subarray(offset, offset + 64), 0);
  const parity = rsScratch[32] >> 7;
  rsScratch[32] &= 0x7f;
  // s: 0 < s ≤ n/2.
  if (isZeroWord(rsScratch, 32) || compareWord(rsScratch, 32, HALF_N_BYTES) > 0) return null;
  let publicKey: Uint8Array;
  try {
    publicKey = secp256k1.ecdsaRecover(rsScratch, parity, digest, false);
  } catch {
    return null; // no curve point with x = r, or the recovered point is at infinity
  }
  return keccak256(publicKey.subarray(1)).subarray(12);
}

/** The lowercase address that signed `digest` with the 64-byte compact signature, or `null`. */
export function recoverCompact(digest: Uint8Array, sig64: Uint8Array): string | null {
  if (sig64.length !== 64) return null;
  const address = recoverCompactBytes(digest, sig64);
  return address === null ? null : toHex(address);
}

/**
 * The EIP-2098 compact form `r ‖ vs` of a 65-byte `r ‖ s ‖ v` signature
 * (v ∈ {0, 1, 27, 28}). Throws `BilayerError` if the signature is malformed
 * or its `s` has the top bit set (a high-s signature has no compact form).
 */
export function toCompactSignature(sig65hex: string): string {
  const sig = fromHex(sig65hex, 65);
  const v = sig[64];
  const parity = v === 27 || v === 28 ? v - 27 : v === 0 || v === 1 ? v : -1;
  if (parity < 0) {
    throw new BilayerError("INVALID_SIGNATURE", `invalid recovery byte v = ${v}`, { context: { v } });
  }
  if (sig[32] & 0x80) {
    throw new BilayerError("INVALID_SIGNATURE", "s has its top bit set: no compact form", {
      context: { signature: sig65hex },
    });
  }
  const compact = sig.slice(0, 64);
  compact[32] |= parity << 7;
  return toHex(compact);
}

/** The 20-byte address of an uncompressed or compressed public key. */
export function publicKeyToAddress(publicKey: Uint8Array): string {
  const uncompressed = publicKey.length === 65 ? publicKey : secp256k1.publicKeyConvert(publicKey, false);
  return toHex(keccak256(uncompressed.subarray(1)).subarray(12));
}

/** The lowercase address of a 32-byte private key. */
export function privateKeyToAddress(privateKey: Uint8Array | string): string {
  const key = typeof privateKey === "string" ? fromHex(privateKey, 32) : privateKey;
  return publicKeyToAddress(secp256k1.publicKeyCreate(key, false));
}
