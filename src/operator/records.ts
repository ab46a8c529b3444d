import type { QueueItem } from "../protocol/queue";
import { queueItemFromJson, type QueueItemJson } from "../l1/queue";
import type { StateHeader } from "../protocol/state";
import { keyNum } from "../common/store";

/*
 * What the operator keeps on disk, and the keys it keeps it under. Values are
 * JSON; bigints are written as decimal strings and bytes as 0x hex.
 *
 *   meta                  StoreMeta: which deployment this data directory belongs to
 *   q/<index>             StoredQueueItem: an L1 queue item seen by the follower
 *   f/cursor              FollowerCursor: the next L1 block the follower reads
 *   t/<seq>               TxRecord: an accepted transaction, in sequencing order
 *   h/<hash>              DroppedRecord: a waiting transaction skipped when its turn came
 *                         (accepted ones are found by hash through an index rebuilt from t/ on load)
 *   m/<from>/<nonce>      TxRecord: a transaction waiting for an earlier nonce
 *   o                     OpenBatchRecord: the batch being filled
 *   b/<index>             BatchRecord: a closed batch
 *   l1tx/<nonce>          L1TxRecord (see l1-sender.ts)
 */

export const KEY_META = "meta";
export const KEY_CURSOR = "f/cursor";
export const KEY_OPEN = "o";
export const PREFIX_QUEUE = "q/";
export const PREFIX_TX = "t/";
export const PREFIX_HASH = "h/";
export const PREFIX_WAITING = "m/";
export const PREFIX_BATCH = "b/";

export const queueKey = (index: number): string => PREFIX_QUEUE + keyNum(index);
export const txKey = (seq: number): string => PREFIX_TX + keyNum(seq);
export const hashKey = (hash: string): string => PREFIX_HASH + hash;
export const waitingKey = (from: number, nonce: number): string =>
  `${PREFIX_WAITING}${keyNum(from, 8)}/${keyNum(nonce, 8)}`;
export const batchKey = (index: number): string => PREFIX_BATCH + keyNum(index, 8);

/** Identifies the deployment a data directory belongs to; the operator refuses a directory of another. */
export interface StoreMeta {
  version: 1;
  chainId: string;
  inbox: string;
  domainSeparator: string;
}

export interface FollowerCursor {
  /** Next L1 block to read queue events from. */
  nextBlock: number;
}

/** A queue item as the follower stored it. */
export interface StoredQueueItem extends QueueItemJson {
  index: number;
  /** Queue accumulator after this item, as the bridge emitted it. */
  accumulator: string;
  blockNumber: number;
}

/** An accepted (or waiting) L2 transaction as stored: compact JSON (see {@link StoredTx} for its fields). */
export interface TxRecord {
  s?: number;
  h: string;
  b: string;
  f: number;
  n: number;
  at: number;
  w?: number;
  a?: number;
  o?: number;
}

/** An accepted (or waiting) L2 transaction, as the sequencer reads and writes it. */
export interface StoredTx {
  /** Sequence number (accepted transactions only). */
  seq?: number;
  /** Transaction id: keccak of the packed bytes. */
  hash: string;
  /** Packed bytes, 0x hex. */
  bytes: string;
  /** Sender account. */
  from: number;
  /** Nonce it was signed over. */
  nonce: number;
  /** Accepted at (ms since the epoch). */
  acceptedAt: number;
  /** A withdrawal's index in the withdrawal tree. */
  withdrawalIndex?: number;
  /** The account a transfer to a new address created. */
  createdAccount?: number;
  /** Outcome code when not `Applied` (only in a batch adopted from L1, which may carry skipped transactions). */
  outcome?: number;
}

export function encodeTx(t: StoredTx): string {
  // Key order as the records written before this module (s first), so stored bytes do not change.
  const r: TxRecord = {
    ...(t.seq !== undefined ? { s: t.seq } : {}),
    h: t.hash,
    b: t.bytes,
    f: t.from,
    n: t.nonce,
    at: t.acceptedAt,
  };
  if (t.withdrawalIndex !== undefined) r.w = t.withdrawalIndex;
  if (t.createdAccount !== undefined) r.a = t.createdAccount;
  if (t.outcome !== undefined) r.o = t.outcome;
  return JSON.stringify(r);
}

export function decodeTx(text: string): StoredTx {
  const r = JSON.parse(text) as TxRecord;
  const t: StoredTx = { hash: r.h, bytes: r.b, from: r.f, nonce: r.n, acceptedAt: r.at };
  if (r.s !== undefined) t.seq = r.s;
  if (r.w !== undefined) t.withdrawalIndex = r.w;
  if (r.a !== undefined) t.createdAccount = r.a;
  if (r.o !== undefined) t.outcome = r.o;
  return t;
}

/** A waiting transaction skipped when its nonce came up, as stored: compact JSON (see {@link DroppedTx}). */
export interface DroppedRecord {
  h: string;
  f: number;
  n: number;
  at: number;
  code: number;
  reason: string;
}

/** A waiting transaction that the STF would have skipped when its nonce came up. */
export interface DroppedTx {
  hash: string;
  from: number;
  nonce: number;
  /** When it was received (ms since the epoch). */
  receivedAt: number;
  /** Outcome code (PROTOCOL.md §5.3). */
  code: number;
  reason: string;
}

export function encodeDropped(d: DroppedTx): string {
  const r: DroppedRecord = { h: d.hash, f: d.from, n: d.nonce, at: d.receivedAt, code: d.code, reason: d.reason };
  return JSON.stringify(r);
}

export function decodeDropped(text: string): DroppedTx {
  const r = JSON.parse(text) as DroppedRecord;
  return { hash: r.h, from: r.f, nonce: r.n, receivedAt: r.at, code: r.code, reason: r.reason };
}

/** The batch being filled: fixed when it opens, so a restart re-applies the same queue range first. */
export interface OpenBatchRecord {
  index: number;
  queueStart: number;
  queueEnd: number;
  firstSeq: number;
  openedAt: number;
}

/** Header of a state, JSON-friendly. */
export interface HeaderJson {
  accountsRoot: string;
  accountCount: number;
  withdrawalsRoot: string;
  withdrawalCount: string;
}

export function headerToJson(h: StateHeader): HeaderJson {
  return {
    accountsRoot: h.accountsRoot,
    accountCount: h.accountCount,
    withdrawalsRoot: h.withdrawalsRoot,
    withdrawalCount: h.withdrawalCount.toString(),
  };
}

/** A closed batch: its queue range, its transactions (by sequence number) split into chunks, and its roots. */
export interface BatchRecord {
  index: number;
  queueStart: number;
  queueEnd: number;
  /** Sequence numbers `[firstSeq, endSeq)` are the batch's transactions. */
  firstSeq: number;
  endSeq: number;
  /** `chunkEnds[i]` is one past the last sequence number of chunk `i`. */
  chunkEnds: number[];
  /** The root after each step: queue steps first, then chunks. */
  stepRoots: string[];
  /** The state after the batch. */
  header: HeaderJson;
  feeRecipient: number;
  /** Total chunk bytes. */
  bytes: number;
  chunksRoot: string;
  commitment: string;
  openedAt: number;
  closedAt: number;
  /** Its BLS chunks' aggregates and index widths, which their transfers' records do not hold (absent: none). */
  bls?: BlsChunkRecord[];
}

/** A BLS chunk of a closed batch: what, with its transfers' records, rebuilds its bytes. */
export interface BlsChunkRecord {
  /** Its position among the batch's chunks. */
  chunk: number;
  /** Its 100-byte header (marker, index width, fee, aggregate signature), 0x hex. */
  header: string;
}

/** The protocol's queue item of a stored one. */
export const queueItemOf: (s: StoredQueueItem) => QueueItem = queueItemFromJson;
