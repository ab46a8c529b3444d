import { decodeTx } from "../protocol/codec";
import { txDigest } from "../protocol/eip712";
import { recoverCompactBytes } from "../protocol/signature";

/*
 * Signature recovery ahead of the sequencer. Recovering a transaction's
 * signer (native secp256k1, ~90 µs) is most of the CPU the sequencer spends
 * on it. The HTTP thread, which parses every request anyway, recovers the
 * signer of each `l2_sendTransaction` for the digest the transaction will
 * most likely be checked against — the sender's token and the nonce the
 * request names, or else the sender's nonce as the sequencer last reported
 * it — and hands the recovery to the sequencer with the call.
 *
 * The sequencer trusts it only through {@link recoverPresigned}: when the
 * STF asks for the signer of exactly the digest and the signature bytes the
 * recovery was made for, the answer is the recovery's (the same function of
 * the same bytes); for anything else — a stale nonce, an account rebuilt
 * differently, a token the HTTP thread did not know — it recovers natively.
 * The STF's outcomes cannot differ from a run without it.
 */

/** A signer recovered ahead of time: `signer = recoverCompactBytes(digest, signature)`. */
export interface Presigned {
  /** The EIP-712 digest the signer was recovered for (32 bytes). */
  digest: Uint8Array;
  /** The compact signature `r ‖ vs` (64 bytes). */
  signature: Uint8Array;
  /** The 20-byte address recovered, or `null` where the recovery fails. */
  signer: Uint8Array | null;
}

/**
 * What the sequencer tells the HTTP thread about senders: each listed
 * account's token (fixed for the account's life) and current nonce.
 */
export interface SenderHints {
  /** Forget every account known before (the pending state was rebuilt). */
  reset: boolean;
  /** `[index, tokenId, nonce]` triples. */
  entries: Uint32Array;
}

function sameBytes(a: Uint8Array, b: Uint8Array, bOffset: number, length: number): boolean {
  if (a.length !== length || b.length < bOffset + length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[bOffset + i]) return false;
  return true;
}

/** Whether `p` is for exactly this digest and the 64 signature bytes at `bytes[sigOffset..]`. */
export function presignedFor(
  p: Presigned | undefined,
  digest: Uint8Array,
  bytes: Uint8Array,
  sigOffset: number,
): p is Presigned {
  return (
    p !== undefined &&
    (p.signer === null || (p.signer instanceof Uint8Array && p.signer.length === 20)) &&
    p.digest instanceof Uint8Array &&
    p.signature instanceof Uint8Array &&
    sameBytes(p.digest, digest, 0, 32) &&
    sameBytes(p.signature, bytes, sigOffset, 64)
  );
}

/**
 * `recoverCompactBytes(digest, bytes, sigOffset)`, answered from `p` when it
 * was recovered for this very digest and these signature bytes (see
 * {@link presignedFor}), natively otherwise. `onAnswer` learns which.
 */
export function recoverPresigned(
  p: Presigned | undefined,
  digest: Uint8Array,
  bytes: Uint8Array,
  sigOffset: number,
  onAnswer?: (presigned: boolean) => void,
): Uint8Array | null {
  if (presignedFor(p, digest, bytes, sigOffset)) {
    onAnswer?.(true);
    return p.signer;
  }
  onAnswer?.(false);
  return recoverCompactBytes(digest, bytes, sigOffset);
}

/** A recovery to do: the digest and the signature bytes (`signer` still unknown). */
export type PresignJob = Omit<Presigned, "signer">;

/*
 * Recoveries travel between threads packed, one record per transaction:
 * digest (32 bytes) ‖ signature (64) ‖ state (1: 0 not recovered, 1 an
 * address, 2 null) ‖ signer (20).
 */

/** Bytes of one packed record. */
export const RECORD_BYTES = 117;
const STATE = 96;
const RECOVERED = 1;
const RECOVERED_NULL = 2;

/** The jobs as packed records, not yet recovered. */
export function packJobs(jobs: readonly PresignJob[]): Uint8Array {
  const out = new Uint8Array(jobs.length * RECORD_BYTES);
  jobs.forEach((j, i) => {
    out.set(j.digest, i * RECORD_BYTES);
    out.set(j.signature, i * RECORD_BYTES + 32);
  });
  return out;
}

/** Recovers every packed record in place: its signer is `recoverCompactBytes(digest, signature)`. */
export function recoverRecords(records: Uint8Array): void {
  const n = Math.floor(records.length / RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    const at = i * RECORD_BYTES;
    const signer = recoverCompactBytes(records.subarray(at, at + 32), records, at + 32);
    if (signer === null) records[at + STATE] = RECOVERED_NULL;
    else {
      records[at + STATE] = RECOVERED;
      records.set(signer, at + STATE + 1);
    }
  }
}

/** Record `i` of packed records, as views into them; `undefined` if it is missing or was not recovered. */
export function presignedAt(records: Uint8Array, i: number): Presigned | undefined {
  const at = i * RECORD_BYTES;
  if (!Number.isInteger(i) || i < 0 || at + RECORD_BYTES > records.length) return undefined;
  const state = records[at + STATE];
  if (state !== RECOVERED && state !== RECOVERED_NULL) return undefined;
  return {
    digest: records.subarray(at, at + 32),
    signature: records.subarray(at + 32, at + 96),
    signer: state === RECOVERED ? records.subarray(at + STATE + 1, at + RECORD_BYTES) : null,
  };
}

/** A copy of `p` that holds no view into a larger buffer (for keeping it a while). */
export function copyPresigned(p: Presigned): Presigned {
  return { digest: p.digest.slice(), signature: p.signature.slice(), signer: p.signer && p.signer.slice() };
}

/**
 * The HTTP thread's side: a read-only copy of each sender's token and last
 * reported nonce, fed by {@link SenderHints}, from which it tells the digest
 * a transaction will most likely be checked against.
 */
export class Presigner {
  private tokenIds: number[] = [];
  private nonces: number[] = [];

  constructor(private readonly domainSeparator: string) {}

  /** Applies an update from the sequencer. */
  update(hints: SenderHints): void {
    if (hints.reset) {
      this.tokenIds = [];
      this.nonces = [];
    }
    const e = hints.entries;
    for (let i = 0; i + 2 < e.length; i += 3) {
      this.tokenIds[e[i]] = e[i + 1];
      this.nonces[e[i]] = e[i + 2];
    }
  }

  /** The token and nonce last reported for account `index`, if any. */
  sender(index: number): { tokenId: number; nonce: number } | undefined {
    const tokenId = this.tokenIds[index];
    return tokenId === undefined ? undefined : { tokenId, nonce: this.nonces[index] };
  }

  /**
   * The recovery to do for the packed transaction `bytes` signed over
   * `nonce` (default: `guess(from)`, else the sender's last reported nonce),
   * with its sender and the nonce used. `undefined` when the bytes are not
   * one whole transaction or the sender is not known here.
   */
  job(
    bytes: Uint8Array,
    nonce?: number,
    guess?: (from: number) => number | undefined,
  ): { job: PresignJob; from: number; nonce: number } | undefined {
    const decoded = decodeTx(bytes, 0);
    if (!decoded.ok || decoded.size !== bytes.length) return undefined;
    const from = decoded.tx.from;
    const sender = this.sender(from);
    if (sender === undefined) return undefined;
    const used = nonce ?? guess?.(from) ?? sender.nonce;
    const digest = txDigest(this.domainSeparator, decoded.tx, sender.tokenId, used);
    // The signature is the last 64 bytes of every transaction type.
    return { job: { digest, signature: bytes.slice(bytes.length - 64) }, from, nonce: used };
  }

  /** {@link job} and its recovery, on this thread. */
  presign(bytes: Uint8Array, nonce?: number): Presigned | undefined {
    const j = this.job(bytes, nonce)?.job;
    return j && { ...j, signer: recoverCompactBytes(j.digest, j.signature, 0) };
  }
}
