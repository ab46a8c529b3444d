import blst from "@chainsafe/blst";
import { getAddress, type Signer, type TypedDataDomain, type TypedDataField } from "ethers";
import { BilayerError } from "./errors";
import { fromHex, keccak256, toHex } from "./hash";

/*
 * BLS12-381 signatures (PROTOCOL.md §3.2): public keys in G1 (48 bytes
 * compressed), signatures in G2 (96 bytes compressed), hash to G2 by RFC 9380
 * under BLS_DST. Signing and verifying are `@chainsafe/blst` (native); this
 * module adds what the chain needs: the EIP-2537 layout of points (each Fp
 * coefficient in 64 bytes, Fp2 as c0 ‖ c1, where blst writes c1 ‖ c0) and the
 * key a wallet derives.
 */

/** The hash-to-curve tag: RFC 9380's `BLS12381G2_XMD:SHA-256_SSWU_RO_` suite, as blst signs with it. */
export const BLS_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/** The base field's modulus. */
export const BLS_P =
  0x1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaabn;
/** A compressed public key (G1). */
export const BLS_PUBLIC_KEY_BYTES = 48;
/** A compressed signature (G2). */
export const BLS_SIGNATURE_BYTES = 96;
/** A G1 point in the EIP-2537 layout. */
export const EIP2537_G1_BYTES = 128;
/** A G2 point in the EIP-2537 layout. */
export const EIP2537_G2_BYTES = 256;

const FP_BYTES = 48;
const FP_SLOT = 64;

/** A BLS key pair. */
export interface BlsKeyPair {
  secretKey: blst.SecretKey;
  /** The compressed public key (48 bytes). */
  publicKey: Uint8Array;
}

function keyPair(secretKey: blst.SecretKey): BlsKeyPair {
  return { secretKey, publicKey: secretKey.toPublicKey().toBytes(true) };
}

/** The key pair of a 32-byte (or longer) secret seed, by the KeyGen of the BLS signature draft (HKDF-SHA-256). */
export function blsKeyFromSeed(seed: Uint8Array): BlsKeyPair {
  if (seed.length < 32) throw new BilayerError("INVALID_BLS_KEY", "a BLS seed has at least 32 bytes");
  return keyPair(blst.SecretKey.fromKeygen(seed));
}

/** A BLS signature (96 bytes, compressed) of a 32-byte message. */
export function blsSign(key: BlsKeyPair, message: Uint8Array): Uint8Array {
  return key.secretKey.sign(message).toBytes(true);
}

/**
 * A public key from its compressed bytes, checked: on the curve, in the
 * subgroup, not infinity. Throws INVALID_BLS_KEY otherwise.
 */
export function blsPublicKey(bytes: Uint8Array): blst.PublicKey {
  if (bytes.length !== BLS_PUBLIC_KEY_BYTES)
    throw new BilayerError("INVALID_BLS_KEY", `a BLS public key is ${BLS_PUBLIC_KEY_BYTES} bytes compressed`);
  try {
    return blst.PublicKey.fromBytes(bytes, true);
  } catch (cause) {
    throw new BilayerError(
      "INVALID_BLS_KEY",
      "not a BLS public key (off the curve, outside the subgroup or infinity)",
      {
        cause,
      },
    );
  }
}

/** Whether `bytes` is a valid compressed public key (§3.2). */
export function isBlsPublicKey(bytes: Uint8Array): boolean {
  try {
    blsPublicKey(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A signature from its compressed bytes, checked (on the curve, in the subgroup); undefined if it is not one. */
function signatureOf(bytes: Uint8Array): blst.Signature | undefined {
  if (bytes.length !== BLS_SIGNATURE_BYTES) return undefined;
  try {
    return blst.Signature.fromBytes(bytes, true);
  } catch {
    return undefined;
  }
}

/**
 * The aggregate (96 bytes, compressed) of compressed signatures. Throws INVALID_BLS_SIGNATURE for one that is not.
 * With `checked`, the caller vouches each is a signature already verified (so a point of the subgroup), and the
 * subgroup check is not made again (a third of the cost).
 */
export function blsAggregate(signatures: readonly Uint8Array[], opts: { checked?: boolean } = {}): Uint8Array {
  if (signatures.length === 0) throw new BilayerError("INVALID_BLS_SIGNATURE", "nothing to aggregate");
  if (opts.checked === true) {
    try {
      return blst.aggregateSerializedSignatures([...signatures], false).toBytes(true);
    } catch (cause) {
      throw new BilayerError("INVALID_BLS_SIGNATURE", "a signature is not a G2 point", { cause });
    }
  }
  const parsed = signatures.map((s, i) => {
    const sig = signatureOf(s);
    if (sig === undefined) throw new BilayerError("INVALID_BLS_SIGNATURE", `signature ${i} is not a G2 point`);
    return sig;
  });
  return blst.aggregateSignatures(parsed).toBytes(true);
}

/**
 * Whether `signature` aggregates a signature by `publicKeys[i]` of
 * `messages[i]` for each i. False for anything malformed. The messages must
 * be distinct (the protocol's are: each binds its sender and nonce).
 */
export function blsVerifyAggregate(
  messages: readonly Uint8Array[],
  publicKeys: readonly Uint8Array[],
  signature: Uint8Array,
): boolean {
  if (messages.length === 0 || messages.length !== publicKeys.length) return false;
  const sig = signatureOf(signature);
  if (sig === undefined) return false;
  let keys: blst.PublicKey[];
  try {
    keys = publicKeys.map(blsPublicKey);
  } catch {
    return false;
  }
  return blst.aggregateVerify([...messages], keys, sig, false, false);
}

/**
 * Whether each of many single signatures holds (`signatures[i]` by
 * `publicKeys[i]` on `messages[i]`), in one randomized batch: one pairing per
 * signature and one final exponentiation, so a failure says only that at
 * least one is bad (bisect to find it).
 */
export function blsVerifyEach(
  messages: readonly Uint8Array[],
  publicKeys: readonly Uint8Array[],
  signatures: readonly Uint8Array[],
): boolean {
  return eachHolds(messages, publicKeys, signatures, blsPublicKey);
}

/** One signature to check, its key and signature decoded and validated once (see {@link blsCheckOf}). */
export type BlsCheck = blst.SignatureSet;

/**
 * `signature` (compressed) by the uncompressed `rawKey` (96 bytes, as the state holds keys: validated when
 * registered, so not checked again here) on `message`, ready for {@link blsVerifyChecks}; `undefined` when the
 * signature is not a point of its subgroup or the key's bytes do not decode (it cannot hold).
 */
export function blsCheckOf(message: Uint8Array, rawKey: Uint8Array, signature: Uint8Array): BlsCheck | undefined {
  const sig = signatureOf(signature);
  if (sig === undefined) return undefined;
  try {
    return { msg: message, pk: blst.PublicKey.fromBytes(rawKey, false), sig };
  } catch {
    return undefined;
  }
}

/** Whether every one of `checks` holds, in one randomized batch (see {@link blsVerifyEach}); false for none. */
export function blsVerifyChecks(checks: readonly BlsCheck[]): boolean {
  return checks.length > 0 && blst.verifyMultipleAggregateSignatures([...checks], false, false);
}

function eachHolds(
  messages: readonly Uint8Array[],
  keys: readonly Uint8Array[],
  signatures: readonly Uint8Array[],
  keyOf: (bytes: Uint8Array) => blst.PublicKey,
): boolean {
  const n = messages.length;
  if (n === 0 || keys.length !== n || signatures.length !== n) return false;
  const sets: BlsCheck[] = [];
  for (let i = 0; i < n; i++) {
    const sig = signatureOf(signatures[i]);
    if (sig === undefined) return false;
    try {
      sets.push({ msg: messages[i], pk: keyOf(keys[i]), sig });
    } catch {
      return false;
    }
  }
  return blsVerifyChecks(sets);
}

// EIP-2537 layout. blst serializes uncompressed G1 as x ‖ y (48 bytes each)
// and G2 as x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0; EIP-2537 pads each Fp to 64 bytes and
// orders Fp2 as c0 ‖ c1.

function padFp(out: Uint8Array, slot: number, fp: Uint8Array): void {
  out.set(fp, slot * FP_SLOT + (FP_SLOT - FP_BYTES));
}

/** A compressed public key as an EIP-2537 G1 point (128 bytes). Throws INVALID_BLS_KEY if it is not a key. */
export function g1ToEip2537(publicKey: Uint8Array): Uint8Array {
  const raw = blsPublicKey(publicKey).toBytes(false);
  const out = new Uint8Array(EIP2537_G1_BYTES);
  padFp(out, 0, raw.subarray(0, FP_BYTES));
  padFp(out, 1, raw.subarray(FP_BYTES, 2 * FP_BYTES));
  return out;
}

/** A compressed signature as an EIP-2537 G2 point (256 bytes). Throws INVALID_BLS_SIGNATURE if it is not a point. */
export function g2ToEip2537(signature: Uint8Array): Uint8Array {
  const sig = signatureOf(signature);
  if (sig === undefined) throw new BilayerError("INVALID_BLS_SIGNATURE", "not a G2 point in its subgroup");
  return g2RawToEip2537(sig.toBytes(false));
}

function g2RawToEip2537(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(EIP2537_G2_BYTES);
  const fp = (k: number) => raw.subarray(k * FP_BYTES, (k + 1) * FP_BYTES);
  padFp(out, 0, fp(1)); // x.c0
  padFp(out, 1, fp(0)); // x.c1
  padFp(out, 2, fp(3)); // y.c0
  padFp(out, 3, fp(2)); // y.c1
  return out;
}

/**
 * RFC 9380 `hash_to_curve` of a message to G2 under {@link BLS_DST}, as an
 * EIP-2537 point: a signature by the secret key 1 is the hash itself. For
 * tests and vectors (the chain computes it with `BLS.hashToG2`).
 */
export function blsHashToG2(message: Uint8Array): Uint8Array {
  const one = new Uint8Array(32);
  one[31] = 1;
  return g2RawToEip2537(blst.SecretKey.fromBytes(one).sign(message).toBytes(false));
}

// Keys from a wallet. The wallet signs a fixed EIP-712 message under the
// rollup's domain; its signature, hashed, is the seed. Wallets sign
// deterministically (RFC 6979), so the same wallet derives the same key again
// and the key is as recoverable as the wallet.

/** The EIP-712 type a wallet signs to derive its BLS key. */
export const BLS_KEY_DERIVATION_TYPES: Readonly<Record<"BlsKeyDerivation", TypedDataField[]>> = {
  BlsKeyDerivation: [
    { name: "purpose", type: "string" },
    { name: "owner", type: "address" },
  ],
};

/** What the derivation message says: a wallet shows it before signing. */
export const BLS_KEY_DERIVATION_PURPOSE =
  "Derive my bilayer BLS key. Sign this only for bilayer: whoever holds this signature can send BLS transfers from my accounts.";

/**
 * The BLS key of a wallet for one rollup (the domain of PROTOCOL.md §3.1):
 * the seed is keccak of the wallet's signature of the
 * {@link BLS_KEY_DERIVATION_TYPES} message. Throws INVALID_BLS_KEY if the
 * wallet does not sign the same way twice (a wallet that does not follow
 * RFC 6979 cannot recover its key).
 */
export async function deriveBlsKey(wallet: Signer, domain: TypedDataDomain): Promise<BlsKeyPair> {
  const owner = getAddress(await wallet.getAddress());
  const message = { purpose: BLS_KEY_DERIVATION_PURPOSE, owner };
  const first = await wallet.signTypedData(domain, BLS_KEY_DERIVATION_TYPES, message);
  const again = await wallet.signTypedData(domain, BLS_KEY_DERIVATION_TYPES, message);
  if (first !== again)
    throw new BilayerError(
      "INVALID_BLS_KEY",
      "the wallet signs non-deterministically: its BLS key could not be recovered",
    );
  return blsKeyFromSeed(keccak256(fromHex(first)));
}

/** Hex of a compressed public key, for logs and the API. */
export const blsPublicKeyHex = (key: BlsKeyPair): string => toHex(key.publicKey);

/**
 * Whether 96 bytes are a valid uncompressed BLS public key as the STF
 * requires of a RegisterKey (PROTOCOL.md §5.2): `x ‖ y` with both below p,
 * on the curve, in the prime-order subgroup, and not infinity (0, 0).
 */
export function isBlsKeyValid(raw: Uint8Array): boolean {
  if (raw.length !== 2 * FP_BYTES) return false;
  if (!belowP(raw.subarray(0, FP_BYTES)) || !belowP(raw.subarray(FP_BYTES))) return false;
  if (raw.every((b) => b === 0)) return false;
  try {
    blst.PublicKey.fromBytes(raw, true);
    return true;
  } catch {
    return false;
  }
}

function belowP(fp: Uint8Array): boolean {
  let v = 0n;
  for (const b of fp) v = (v << 8n) | BigInt(b);
  return v < BLS_P;
}

/** The uncompressed key (x ‖ y, 96 bytes) of a key pair: what a RegisterKey carries and an account stores. */
export function blsRawPublicKey(key: BlsKeyPair): Uint8Array {
  return key.secretKey.toPublicKey().toBytes(false);
}

/** An uncompressed key (96 bytes) in the EIP-2537 layout (128 bytes): each coordinate padded to 64 bytes. */
export function rawKeyToEip2537(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(EIP2537_G1_BYTES);
  padFp(out, 0, raw.subarray(0, FP_BYTES));
  padFp(out, 1, raw.subarray(FP_BYTES, 2 * FP_BYTES));
  return out;
}

// Decoding a chunk's aggregate signature (PROTOCOL.md §5.4), with what the
// chain needs to check it (§6): the point itself, or a certificate that the
// bytes name none.

/** What a compressed aggregate signature decodes to. */
export type DecodedBlsSignature =
  /** A point on the curve (EIP-2537 layout), and whether it is in the prime-order subgroup. */
  | { kind: "point"; point: Uint8Array; inSubgroup: boolean }
  /** Flags wrong (not compressed, or infinity) or a coordinate not below p: the chain sees it from the bytes. */
  | { kind: "malformed" }
  /** x names no point (x³ + 4(1 + u) is not a square): `certificate` is r with r² = −norm(x³ + 4(1 + u)). */
  | { kind: "noPoint"; certificate: Uint8Array };

const modP = (v: bigint): bigint => ((v % BLS_P) + BLS_P) % BLS_P;

function powP(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = modP(base);
  for (let e = exp; e > 0n; e >>= 1n, b = (b * b) % BLS_P) if (e & 1n) result = (result * b) % BLS_P;
  return result;
}

const bigOf = (bytes: Uint8Array): bigint => bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n);

/** The 64-byte EIP-2537 encoding of an Fp element. */
export function fpToEip2537(v: bigint): Uint8Array {
  const out = new Uint8Array(FP_SLOT);
  let x = v;
  for (let i = FP_SLOT - 1; i >= FP_SLOT - FP_BYTES; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}

/** `x³ + 4(1 + u)` for x = a + b·u in Fp2 (u² = −1): the right side of the twist's equation. */
export function g2CurveRhs(a: bigint, b: bigint): [bigint, bigint] {
  // (a + bu)³ = a³ − 3ab² + (3a²b − b³)u
  return [modP(a * a * a - 3n * a * b * b + 4n), modP(3n * a * a * b - b * b * b + 4n)];
}

/** Decodes a chunk's 96-byte compressed aggregate signature (never throws). */
export function decodeBlsSignature(bytes: Uint8Array): DecodedBlsSignature {
  if (bytes.length !== BLS_SIGNATURE_BYTES) return { kind: "malformed" };
  const flags = bytes[0] & 0xe0;
  if ((flags & 0x80) === 0 || (flags & 0x40) !== 0) return { kind: "malformed" };
  const x1Bytes = bytes.slice(0, FP_BYTES);
  x1Bytes[0] &= 0x1f;
  const x1 = bigOf(x1Bytes);
  const x0 = bigOf(bytes.subarray(FP_BYTES));
  if (x0 >= BLS_P || x1 >= BLS_P) return { kind: "malformed" };
  let sig: blst.Signature;
  try {
    sig = blst.Signature.fromBytes(bytes, false, false);
  } catch {
    const [z0, z1] = g2CurveRhs(x0, x1);
    const minusNorm = modP(-(z0 * z0 + z1 * z1));
    const r = powP(minusNorm, (BLS_P + 1n) / 4n);
    if ((r * r) % BLS_P !== minusNorm) {
      // x names a point after all: blst refused the bytes for another reason. Not reachable; kept total.
      return { kind: "malformed" };
    }
    return { kind: "noPoint", certificate: fpToEip2537(r) };
  }
  let inSubgroup = true;
  try {
    sig.sigValidate(false);
  } catch {
    inSubgroup = false;
  }
  return { kind: "point", point: g2RawToEip2537(sig.toBytes(false)), inSubgroup };
}

/**
 * Whether `signature` aggregates a signature by each uncompressed key
 * `rawKeys[i]` (96 bytes) of `messages[i]`: the STF's check of a BLS chunk.
 * False for a signature that is not a point of the subgroup.
 */
export function blsVerifyAggregateRaw(
  messages: readonly Uint8Array[],
  rawKeys: readonly Uint8Array[],
  signature: Uint8Array,
): boolean {
  if (messages.length === 0 || messages.length !== rawKeys.length) return false;
  const sig = signatureOf(signature);
  if (sig === undefined) return false;
  const keys: blst.PublicKey[] = [];
  for (const raw of rawKeys) {
    // The STF only passes registered keys, validated when they were registered.
    try {
      keys.push(blst.PublicKey.fromBytes(raw, false));
    } catch {
      return false;
    }
  }
  return blst.aggregateVerify([...messages], keys, sig, false, false);
}
