import { blsCheckOf, blsVerifyAggregateRaw, blsVerifyChecks, type BlsCheck } from "../protocol/bls";
import { decodeBlsEnvelope, isBlsEnvelope, type BlsTransferEnvelope } from "../protocol/bls-chunk";
import { decodeTx } from "../protocol/codec";
import { blsTransferDigestFields, txDigest } from "../protocol/eip712";
import { fromHex } from "../protocol/hash";
import { recoverCompactBytes } from "../protocol/signature";
import type { Account } from "../protocol/state";

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
 * A BLS transfer's signature checked ahead of time: whether `signature`
 * (compressed) by the uncompressed `key` holds on `message`.
 */
export interface BlsPrechecked {
  message: Uint8Array;
  key: Uint8Array;
  signature: Uint8Array;
  holds: boolean;
}

/** What a call may bring along checked ahead: an ECDSA recovery, or a BLS signature's verdict. */
export type Prechecked = Presigned | BlsPrechecked;

function isBlsPrechecked(p: Prechecked | undefined): p is BlsPrechecked {
  return p !== undefined && "holds" in p;
}

/** The message of BLS transfer `e` from `sender` at its current nonce (§3.2). */
export function blsMessageOf(
  domainSeparator: string,
  e: BlsTransferEnvelope,
  tokenId: number,
  nonce: number,
): Uint8Array {
  return blsTransferDigestFields(fromHex(domainSeparator, 32), e.from, e.to, tokenId, e.amount, e.fee, nonce);
}

/**
 * What `p` says of BLS transfer `e` by key `blsKey` over token `tokenId` and `nonce`: `true` or `false` when it answers — it checked
 * this very message, key and signature (the same function of the same bytes), or found the same key's same
 * signature to hold on another message (then `false`: `sk·H(m)` holds on one message of a key's, but for a hash
 * collision) — `"stale"` when it found that signature to fail on another message (the HTTP thread's nonce guess is
 * not the account's now), `undefined` when it is about something else; with the message and key it judged by.
 */
function blsVerdict(
  p: Prechecked | undefined,
  domainSeparator: string,
  e: BlsTransferEnvelope,
  tokenId: number,
  blsKey: string,
  nonce: number,
): { verdict: boolean | "stale" | undefined; message: Uint8Array; key: Uint8Array } {
  const message = blsMessageOf(domainSeparator, e, tokenId, nonce);
  const key = fromHex(blsKey, 96);
  if (!isBlsPrechecked(p) || !sameBytes(p.key, key, 0, 96) || !sameBytes(p.signature, e.signature, 0, 96)) {
    return { verdict: undefined, message, key };
  }
  const sameMessage = sameBytes(p.message, message, 0, 32);
  const verdict = sameMessage || p.holds ? sameMessage && p.holds : "stale";
  return { verdict, message, key };
}

/**
 * Whether the BLS transfer `e` is signed by `sender`'s key over its token and current nonce: answered from `p`
 * where it answers (see {@link blsVerdict}), natively otherwise. `onAnswer` learns whether `p` answered.
 */
export function blsSignatureHolds(
  p: Prechecked | undefined,
  domainSeparator: string,
  e: BlsTransferEnvelope,
  sender: Readonly<Account>,
  onAnswer?: (prechecked: boolean) => void,
  nonce = sender.nonce,
): boolean {
  if (sender.blsKey === undefined) return false;
  const { verdict, message, key } = blsVerdict(p, domainSeparator, e, sender.tokenId, sender.blsKey, nonce);
  if (typeof verdict === "boolean") {
    onAnswer?.(true);
    return verdict;
  }
  onAnswer?.(false);
  return blsVerifyAggregateRaw([message], [key], e.signature);
}

/**
 * Whether {@link blsSignatureHolds} would check `e` natively although `p` came with it: `p` found the same key's
 * same signature to fail over another message (the HTTP thread's nonce guess is not the account's now).
 */
export function blsNeedsRecheck(
  p: Prechecked | undefined,
  domainSeparator: string,
  e: BlsTransferEnvelope,
  sender: Readonly<Account>,
): boolean {
  if (sender.blsKey === undefined) return false;
  return blsVerdict(p, domainSeparator, e, sender.tokenId, sender.blsKey, sender.nonce).verdict === "stale";
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
  /** The BLS keys (uncompressed, 96 bytes) of accounts that registered one or changed it since the last hints. */
  keys?: [number, Uint8Array][];
}

function sameBytes(a: Uint8Array, b: Uint8Array, bOffset: number, length: number): boolean {
  if (a.length !== length || b.length < bOffset + length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[bOffset + i]) return false;
  return true;
}

/** Whether `p` is for exactly this digest and the 64 signature bytes at `bytes[sigOffset..]`. */
export function presignedFor(
  p: Prechecked | undefined,
  digest: Uint8Array,
  bytes: Uint8Array,
  sigOffset: number,
): p is Presigned {
  return (
    p !== undefined &&
    !isBlsPrechecked(p) &&
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
  p: Prechecked | undefined,
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

/** A check to do: a recovery (its digest and signature bytes), or a BLS signature (its message, key, signature). */
export type PresignJob = Omit<Presigned, "signer"> | Omit<BlsPrechecked, "holds">;

/*
 * Checks travel between threads packed, one record of RECORD_BYTES per
 * transaction, its kind in the last byte:
 *   recovery (0):  digest (32) ‖ signature (64) ‖ state (1: 0 not recovered,
 *                  1 an address, 2 null) ‖ signer (20)
 *   BLS (1):       message (32) ‖ signature (96) ‖ key (96) ‖ state (1: 0 not
 *                  checked, 1 holds, 2 fails)
 */

/** Bytes of one packed record. */
export const RECORD_BYTES = 226;
const KIND = 225;
const KIND_BLS = 1;
const STATE = 96;
const BLS_STATE = 224;
const RECOVERED = 1;
const RECOVERED_NULL = 2;
const HOLDS = 1;
const FAILS = 2;

/** The jobs as packed records, not yet checked. */
export function packJobs(jobs: readonly PresignJob[]): Uint8Array {
  const out = new Uint8Array(jobs.length * RECORD_BYTES);
  jobs.forEach((j, i) => {
    const at = i * RECORD_BYTES;
    if ("key" in j) {
      out.set(j.message, at);
      out.set(j.signature, at + 32);
      out.set(j.key, at + 128);
      out[at + KIND] = KIND_BLS;
    } else {
      out.set(j.digest, at);
      out.set(j.signature, at + 32);
    }
  });
  return out;
}

/**
 * Checks every packed record in place: a recovery's signer is `recoverCompactBytes(digest, signature)`; the BLS
 * signatures are checked in one randomized batch, halved to find the bad ones when the batch fails.
 */
export function recoverRecords(records: Uint8Array): void {
  const n = Math.floor(records.length / RECORD_BYTES);
  const bls: number[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * RECORD_BYTES;
    if (records[at + KIND] === KIND_BLS) {
      bls.push(at);
      continue;
    }
    const signer = recoverCompactBytes(records.subarray(at, at + 32), records, at + 32);
    if (signer === null) records[at + STATE] = RECOVERED_NULL;
    else {
      records[at + STATE] = RECOVERED;
      records.set(signer, at + STATE + 1);
    }
  }
  if (bls.length > 0) checkBlsRecords(records, bls);
}

/**
 * Checks the BLS records at offsets `ats`: one that cannot hold (its key or signature not a point of the subgroup)
 * fails at once; the rest are checked in one batch, and a batch that fails is halved to find the bad ones. Where
 * both halves of a failing batch fail, the bad ones are dense there and its records are checked one by one, so
 * even a turn of bad signatures costs a few checks' worth each, not one per halving.
 */
function checkBlsRecords(records: Uint8Array, ats: readonly number[]): void {
  const checks: { at: number; check: BlsCheck }[] = [];
  for (const at of ats) {
    const check = blsCheckOf(
      records.subarray(at, at + 32),
      records.subarray(at + 128, at + 224),
      records.subarray(at + 32, at + 128),
    );
    if (check === undefined) records[at + BLS_STATE] = FAILS;
    else checks.push({ at, check });
  }
  const mark = (part: readonly { at: number }[], holds: boolean): void => {
    for (const { at } of part) records[at + BLS_STATE] = holds ? HOLDS : FAILS;
  };
  const oneByOne = (part: readonly { at: number; check: BlsCheck }[]): void => {
    for (const c of part) mark([c], blsVerifyChecks([c.check]));
  };
  // `part` is known to fail (and holds more than one).
  const bisect = (part: readonly { at: number; check: BlsCheck }[]): void => {
    const halves = [part.slice(0, part.length >> 1), part.slice(part.length >> 1)];
    const fails = halves.map((h) => h.length > 1 && !blsVerifyChecks(h.map((c) => c.check)));
    if (fails[0] && fails[1]) return halves.forEach(oneByOne);
    halves.forEach((h, i) => {
      if (h.length === 1) oneByOne(h);
      else if (fails[i]) bisect(h);
      else mark(h, true);
    });
  };
  if (checks.length === 0) return;
  if (blsVerifyChecks(checks.map((c) => c.check))) mark(checks, true);
  else if (checks.length === 1) mark(checks, false);
  else bisect(checks);
}

/** Record `i` of packed records, as views into them; `undefined` if it is missing or was not checked. */
export function presignedAt(records: Uint8Array, i: number): Prechecked | undefined {
  const at = i * RECORD_BYTES;
  if (!Number.isInteger(i) || i < 0 || at + RECORD_BYTES > records.length) return undefined;
  if (records[at + KIND] === KIND_BLS) {
    const state = records[at + BLS_STATE];
    if (state !== HOLDS && state !== FAILS) return undefined;
    return {
      message: records.subarray(at, at + 32),
      signature: records.subarray(at + 32, at + 128),
      key: records.subarray(at + 128, at + 224),
      holds: state === HOLDS,
    };
  }
  const state = records[at + STATE];
  if (state !== RECOVERED && state !== RECOVERED_NULL) return undefined;
  return {
    digest: records.subarray(at, at + 32),
    signature: records.subarray(at + 32, at + 96),
    signer: state === RECOVERED ? records.subarray(at + STATE + 1, at + STATE + 21) : null,
  };
}

/** A copy of `p` that holds no view into a larger buffer (for keeping it a while). */
export function copyPresigned<T extends Prechecked>(p: T): T {
  if (isBlsPrechecked(p))
    return { message: p.message.slice(), key: p.key.slice(), signature: p.signature.slice(), holds: p.holds } as T;
  return { digest: p.digest.slice(), signature: p.signature.slice(), signer: p.signer && p.signer.slice() } as T;
}

/**
 * The HTTP thread's side: a read-only copy of each sender's token and last
 * reported nonce, fed by {@link SenderHints}, from which it tells the digest
 * a transaction will most likely be checked against.
 */
export class Presigner {
  private tokenIds: number[] = [];
  private nonces: number[] = [];
  private keys = new Map<number, Uint8Array>();

  constructor(private readonly domainSeparator: string) {}

  /** Applies an update from the sequencer. */
  update(hints: SenderHints): void {
    if (hints.reset) {
      this.tokenIds = [];
      this.nonces = [];
      this.keys = new Map();
    }
    for (const [index, key] of hints.keys ?? []) this.keys.set(index, key);
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
    if (isBlsEnvelope(bytes)) return this.blsJob(bytes, nonce, guess);
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

  /** {@link job} for a BLS transfer's envelope: its message over the sender's key, token and nonce. */
  private blsJob(
    bytes: Uint8Array,
    nonce: number | undefined,
    guess: ((from: number) => number | undefined) | undefined,
  ): { job: PresignJob; from: number; nonce: number } | undefined {
    const d = decodeBlsEnvelope(bytes);
    if (!d.ok) return undefined;
    const e = d.envelope;
    const sender = this.sender(e.from);
    const key = this.keys.get(e.from);
    if (sender === undefined || key === undefined) return undefined;
    const used = nonce ?? guess?.(e.from) ?? sender.nonce;
    const message = blsMessageOf(this.domainSeparator, e, sender.tokenId, used);
    return { job: { message, key, signature: e.signature }, from: e.from, nonce: used };
  }

  /** {@link job} and its check, on this thread. */
  presign(bytes: Uint8Array, nonce?: number): Prechecked | undefined {
    const j = this.job(bytes, nonce)?.job;
    if (!j) return undefined;
    const records = packJobs([j]);
    recoverRecords(records);
    return presignedAt(records, 0);
  }
}
