import secp256k1 from "secp256k1";
import { blsKeyFromSeed, blsRawPublicKey, type BlsKeyPair } from "../bls";
import type { UnsignedTx } from "../codec";
import { encodeTx } from "../codec";
import { TxType } from "../constants";
import { domainSeparator, txDigest } from "../eip712";
import { BilayerError } from "../errors";
import { concatBytes, fromHex, keccak256, nativeKeccak256, toHex } from "../hash";
import { packAmount } from "../packing";
import type { QueueItem } from "../queue";
import { privateKeyToAddress, publicKeyToAddress, SECP256K1_HALF_N, SECP256K1_N } from "../signature";
import { EMPTY_ACCOUNT, type L2State, type StateHeader } from "../state";
import { applyChunk, applyQueueStep, ChunkExecutor, type StepResult, type StepWitness } from "../stf";

/*
 * Building blocks for test vectors and tests: deterministic keys, signature
 * mutations, a chunk builder that signs each transaction over the sender's
 * nonce at that point of the chunk, and the step-vector format that the
 * Solidity agreement test replays.
 */

/** One step with its pre-state header, input, witness and expected result. */
export interface StepVector {
  name: string;
  pre: StateHeader;
  kind: "chunk" | "queue";
  /** Chunk bytes as `0x` hex (chunk steps). */
  chunk?: string;
  /** Queue items (queue steps). */
  items?: QueueItem[];
  domainSeparator: string;
  feeRecipient: number;
  witness: StepWitness;
  post: StateHeader;
  postRoot: string;
  /** Outcome code of every transaction or item, in order (PROTOCOL.md §5.3). */
  outcomes: number[];
}

/** Chain id of the default vector domain. */
export const VECTOR_CHAIN_ID = 31337n;
/** Inbox address of the default vector domain (the first contract a Hardhat deployer creates). */
export const VECTOR_INBOX = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
/** `domainSeparator(31337n, VECTOR_INBOX)`. */
export const VECTOR_DOMAIN_SEPARATOR = domainSeparator(VECTOR_CHAIN_ID, VECTOR_INBOX);

/** Six deterministic private keys: `keccak("bilayer/test-vectors/key/<i>")`. */
export const VECTOR_KEYS: readonly Uint8Array[] = Array.from({ length: 6 }, (_, i) =>
  nativeKeccak256(new TextEncoder().encode(`bilayer/test-vectors/key/${i}`)),
);
/** Lowercase addresses of `VECTOR_KEYS`. */
export const VECTOR_ADDRESSES: readonly string[] = VECTOR_KEYS.map((k) => privateKeyToAddress(k));
const KEY_OF_ADDRESS = new Map(VECTOR_ADDRESSES.map((a, i) => [a, i]));

/** A deterministic BLS key pair for vectors, and its uncompressed key (what a RegisterKey carries). */
export interface VectorBlsKey {
  pair: BlsKeyPair;
  raw: Uint8Array;
}
const vectorBlsKeys = new Map<number, VectorBlsKey>();

/** BLS key `i` of the vectors: from the seed `keccak("bilayer/test-vectors/bls-key/<i>")`. */
export function vectorBlsKey(i: number): VectorBlsKey {
  let key = vectorBlsKeys.get(i);
  if (key === undefined) {
    const pair = blsKeyFromSeed(nativeKeccak256(new TextEncoder().encode(`bilayer/test-vectors/bls-key/${i}`)));
    key = { pair, raw: blsRawPublicKey(pair) };
    vectorBlsKeys.set(i, key);
  }
  return key;
}

/** How a test signature is made: valid, or broken in one specific way. */
export type SigMode =
  | "valid"
  | "otherKey"
  | "wrongNonce"
  | "otherDomain"
  | "otherAmount"
  | "otherToken"
  | "flippedParity"
  | "highS"
  | "zeroR"
  | "rAtLeastN"
  | "zeroS"
  | "notOnCurve"
  | "garbage";

/** Every `SigMode` that must make the STF answer `BadSignature`. */
export const BAD_SIG_MODES: readonly SigMode[] = [
  "otherKey",
  "wrongNonce",
  "otherDomain",
  "otherAmount",
  "otherToken",
  "flippedParity",
  "highS",
  "zeroR",
  "rAtLeastN",
  "zeroS",
  "notOnCurve",
  "garbage",
];

const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** The smallest x > 0 with no curve point (x³ + 7 is not a square mod p): an `r` that recovers nothing. */
export const NOT_ON_CURVE_X: bigint = (() => {
  for (let x = 1n; ; x++) {
    if (modPow((x * x * x + 7n) % P, (P - 1n) / 2n, P) !== 1n) return x;
  }
})();

/** x of the generator: a valid `r`. */
const GENERATOR_X = 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n;

function word(value: bigint): Uint8Array {
  return fromHex("0x" + value.toString(16).padStart(64, "0"), 32);
}

function wordValue(bytes: Uint8Array): bigint {
  return BigInt(toHex(bytes));
}

/** A compact signature `r ‖ (s | parity << 255)` (requires s < 2^255). */
export function compactSignature(r: bigint, s: bigint, parity: number): Uint8Array {
  const out = concatBytes(word(r), word(s));
  out[32] |= parity << 7;
  return out;
}

/**
 * A signature `(r = Gx, s)` on `digest` that ecrecover (which has no low-s
 * rule) maps to `owner`: lets a test give an account to the "signer" of a
 * high-s or boundary-s signature, whose private key nobody knows.
 */
export function craftSigner(digest: Uint8Array, s: bigint): { signature: string; owner: string } {
  const compact = compactSignature(GENERATOR_X, s, 0);
  const rs = compact.slice();
  rs[32] &= 0x7f;
  const publicKey = secp256k1.ecdsaRecover(rs, 0, digest, false);
  return { signature: toHex(compact), owner: publicKeyToAddress(publicKey) };
}

/** Signs without the packability check (mutated messages may carry any value). */
function signDigest(key: Uint8Array, digest: Uint8Array): Uint8Array {
  const { signature, recid } = secp256k1.ecdsaSign(digest, key);
  signature[32] |= recid << 7;
  return signature;
}

/** The signature `mode` makes for `tx` from `keyIndex`, over the given token and nonce. */
export function makeSignature(
  mode: SigMode,
  keyIndex: number,
  domainSep: string,
  tx: UnsignedTx,
  tokenId: number,
  nonce: number,
): string {
  const key = VECTOR_KEYS[keyIndex];
  const digest = txDigest(domainSep, tx, tokenId, nonce);
  const valid = (): Uint8Array => signDigest(key, digest);
  const sign = (k: Uint8Array, sep: string, t: UnsignedTx, token: number, n: number): string =>
    toHex(signDigest(k, txDigest(sep, t, token, n)));
  switch (mode) {
    case "valid":
      return toHex(valid());
    case "otherKey":
      return sign(VECTOR_KEYS[(keyIndex + 1) % VECTOR_KEYS.length], domainSep, tx, tokenId, nonce);
    case "wrongNonce":
      return sign(key, domainSep, tx, tokenId, (nonce + 1) % 2 ** 32);
    case "otherDomain":
      return sign(key, domainSeparator(1n, "0x" + "ab".repeat(20)), tx, tokenId, nonce);
    case "otherAmount":
      return tx.type === TxType.RegisterKey
        ? sign(key, domainSep, { ...tx, fee: tx.fee + 1n }, tokenId, nonce)
        : sign(key, domainSep, { ...tx, amount: tx.amount + 1n }, tokenId, nonce);
    case "otherToken":
      return sign(key, domainSep, tx, (tokenId + 1) % 2 ** 32, nonce);
    case "flippedParity": {
      const sig = valid();
      sig[32] ^= 0x80;
      return toHex(sig);
    }
    case "highS": {
      // s in (n/2, 2^255): the largest s values, which the compact form can still express.
      const s = SECP256K1_HALF_N + 1n + (wordValue(digest) % 2n ** 64n);
      return toHex(compactSignature(wordValue(valid().subarray(0, 32)), s, digest[0] & 1));
    }
    case "zeroR": {
      const sig = valid();
      sig.fill(0, 0, 32);
      return toHex(sig);
    }
    case "rAtLeastN": {
      const sig = valid();
      sig.set(word(SECP256K1_N + BigInt(digest[0])), 0);
      return toHex(sig);
    }
    case "zeroS": {
      const sig = valid();
      sig.fill(0, 33, 64);
      sig[32] &= 0x80;
      return toHex(sig);
    }
    case "notOnCurve": {
      const sig = valid();
      sig.set(word(NOT_ON_CURVE_X), 0);
      return toHex(sig);
    }
    case "garbage": {
      const first = keccak256(digest);
      return toHex(concatBytes(first, keccak256(first)));
    }
  }
}

/** Byte offset of the packed amount in each transaction type that has one (-1: none). */
export const AMOUNT_OFFSET: Readonly<Record<TxType, number>> = {
  [TxType.Transfer]: 9,
  [TxType.Withdraw]: 5,
  [TxType.TransferToNew]: 25,
  [TxType.RegisterKey]: -1,
};

/**
 * Rewrites the amount of an encoded transaction with a non-canonical
 * encoding of the same value (mantissa / 10, exponent + 1), when one exists.
 */
export function withNonCanonicalAmount(encoded: Uint8Array, amount: bigint): Uint8Array {
  const canonical = packAmount(amount);
  const mantissa = canonical >> 5n;
  const exponent = canonical & 31n;
  if (mantissa === 0n || mantissa % 10n !== 0n || exponent === 31n) return encoded;
  const packed = ((mantissa / 10n) << 5n) | (exponent + 1n);
  const out = encoded.slice();
  const offset = AMOUNT_OFFSET[out[0] as TxType];
  if (offset < 0) return encoded;
  for (let i = 0; i < 5; i++) out[offset + i] = Number((packed >> BigInt(8 * (4 - i))) & 0xffn);
  return out;
}

/**
 * Builds a chunk transaction by transaction, signing each over the sender's
 * token and nonce at that point of the chunk (it runs the STF on a scratch
 * copy of the pre-state as it goes).
 */
export class ChunkBuilder {
  readonly scratch: L2State;
  private readonly executor: ChunkExecutor;
  private readonly parts: Uint8Array[] = [];

  constructor(
    pre: L2State,
    readonly domainSep: string,
    readonly feeRecipient: number,
  ) {
    this.scratch = pre.clone();
    this.executor = new ChunkExecutor(this.scratch, { domainSeparator: domainSep, feeRecipient });
  }

  /**
   * Signs (per `mode`) and appends `tx`; returns its bytes. A sender whose
   * owner is not one of `VECTOR_KEYS` gets key 0's signature (so, unless
   * `opts.signature` is given, `BadSignature`).
   */
  add(tx: UnsignedTx, mode: SigMode = "valid", opts: { nonCanonical?: boolean; signature?: string } = {}): Uint8Array {
    const sender = this.scratch.getAccount(tx.from) ?? EMPTY_ACCOUNT;
    const keyIndex = KEY_OF_ADDRESS.get(sender.owner) ?? 0;
    const signature = opts.signature ?? makeSignature(mode, keyIndex, this.domainSep, tx, sender.tokenId, sender.nonce);
    let bytes = encodeTx({ ...tx, signature });
    if (opts.nonCanonical === true && tx.type !== TxType.RegisterKey) bytes = withNonCanonicalAmount(bytes, tx.amount);
    if (!this.executor.isEnded) this.executor.next(bytes);
    this.parts.push(bytes);
    return bytes;
  }

  /** Appends raw bytes (a malformed tail). */
  raw(bytes: Uint8Array): void {
    this.parts.push(bytes);
  }

  /** Number of transactions added. */
  get length(): number {
    return this.parts.length;
  }

  /** The chunk. */
  bytes(): Uint8Array {
    return concatBytes(...this.parts);
  }

  /** Ends the scratch run (credits its fees) and returns its result. */
  finish(): StepResult {
    return this.executor.finish();
  }
}

/** Runs a chunk step on a copy of `pre` with witnesses and packages it as a vector. */
export function chunkVector(
  name: string,
  pre: L2State,
  chunk: Uint8Array,
  feeRecipient: number,
  domainSep: string,
): StepVector {
  const post = pre.clone();
  const result = applyChunk(post, chunk, { domainSeparator: domainSep, feeRecipient }, { witness: true });
  return {
    name,
    pre: pre.header(),
    kind: "chunk",
    chunk: toHex(chunk),
    domainSeparator: domainSep,
    feeRecipient,
    witness: result.witness as StepWitness,
    post: result.header,
    postRoot: result.postRoot,
    outcomes: result.outcomes.map((o) => o.code),
  };
}

/** `chunkVector` for a `ChunkBuilder`, checking that its incremental run agrees with `applyChunk`. */
export function builtChunkVector(name: string, pre: L2State, builder: ChunkBuilder): StepVector {
  const vector = chunkVector(name, pre, builder.bytes(), builder.feeRecipient, builder.domainSep);
  const incremental = builder.finish();
  if (incremental.postRoot !== vector.postRoot) {
    throw new BilayerError("VECTOR_MISMATCH", `vector ${name}: incremental and whole-chunk execution disagree`, {
      context: { name, incremental: incremental.postRoot, whole: vector.postRoot },
    });
  }
  return vector;
}

/** Runs a queue step on a copy of `pre` with witnesses and packages it as a vector. */
export function queueVector(name: string, pre: L2State, items: QueueItem[], domainSep: string): StepVector {
  const post = pre.clone();
  const result = applyQueueStep(post, items, { witness: true });
  return {
    name,
    pre: pre.header(),
    kind: "queue",
    items: items.map((i) => ({ ...i })),
    domainSeparator: domainSep,
    feeRecipient: 0,
    witness: result.witness as StepWitness,
    post: result.header,
    postRoot: result.postRoot,
    outcomes: result.outcomes.map((o) => o.code),
  };
}
