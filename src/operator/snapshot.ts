/**
 * The operator's checkpoint of the L2 state, so that a restart replays only
 * the batches after it (docs/OPERATOR.md, "Bounded restart").
 *
 * The snapshot is the state after the first `batches` closed batches, taken
 * only at batches that are appended on L1 and `confirmations` deep (the
 * operator never re-sequences those: a reorg deeper than that is outside what
 * it follows). It moves forward in one atomic write per checkpoint: the
 * accounts the new batches wrote (their values after the last of them), the
 * withdrawals they appended, the undo records of the batches that are not
 * final yet (so the pre-state of any batch that can still be challenged can be
 * rebuilt, for a fraud proof), and a receipt per transaction, so that the
 * batches before the snapshot need not be in memory at all.
 *
 *   s/meta            SnapshotMeta
 *   s/a/<index>       AccountJson: account `index` after the snapshot's last batch
 *   s/w/<index>       SnapshotWithdrawal: withdrawal `index` and the first batch holding it
 *   s/u/<batch>       UndoJson: what batch `batch` changed, while it is not final
 *   x/<hash>          ReceiptRecord: a transaction of a batch in the snapshot
 */
import { BilayerError } from "../protocol/errors";
import { L2State, type Account, type Withdrawal } from "../protocol/state";
import { JournaledState, Replica, type BatchUndo } from "../verifier/replica";
import {
  accountFromJson,
  accountToJson,
  undoFromJson,
  undoToJson,
  withdrawalFromJson,
  withdrawalToJson,
  type AccountJson,
  type UndoJson,
  type WithdrawalJson,
} from "../verifier/store";
import { keyNum, type KeyValueStore, type StoreOp } from "../common/store";

export const KEY_SNAPSHOT = "s/meta";
export const PREFIX_SNAPSHOT_ACCOUNT = "s/a/";
export const PREFIX_SNAPSHOT_WITHDRAWAL = "s/w/";
export const PREFIX_SNAPSHOT_UNDO = "s/u/";
export const PREFIX_RECEIPT = "x/";
export const snapshotAccountKey = (index: number): string => PREFIX_SNAPSHOT_ACCOUNT + keyNum(index, 8);
export const snapshotWithdrawalKey = (index: number): string => PREFIX_SNAPSHOT_WITHDRAWAL + keyNum(index, 10);
export const snapshotUndoKey = (batch: number): string => PREFIX_SNAPSHOT_UNDO + keyNum(batch, 8);
export const receiptKey = (hash: string): string => PREFIX_RECEIPT + hash;

/** Where the snapshot stands: after the first `batches` closed batches. */
export interface SnapshotMeta {
  version: 1;
  /** Closed batches the snapshot reflects (`0 .. batches − 1`). */
  batches: number;
  /** Sequence number of the first transaction after it. */
  endSeq: number;
  /** Queue items its batches consumed. */
  queueEnd: number;
  accountCount: number;
  withdrawalCount: number;
  /** State root after batch `batches − 1` (checked when the snapshot is read). */
  stateRoot: string;
  /** Batches whose transaction records were pruned (`--prune-history`): their receipts remain. */
  prunedBatches: number;
}

/** The snapshot of a store that has none: genesis. */
export const GENESIS_SNAPSHOT: Readonly<SnapshotMeta> = Object.freeze({
  version: 1,
  batches: 0,
  endSeq: 0,
  queueEnd: 0,
  accountCount: 0,
  withdrawalCount: 0,
  stateRoot: "",
  prunedBatches: 0,
});

export interface SnapshotWithdrawal {
  w: WithdrawalJson;
  /** The first closed batch holding it. */
  b: number;
}

/** A transaction of a batch in the snapshot as stored: compact JSON (see {@link StoredReceipt}). */
interface ReceiptRecord {
  s: number;
  f: number;
  n: number;
  at: number;
  b: number;
  st: number;
  p: number;
  w?: number;
  a?: number;
  o?: number;
}

/** A transaction of a batch in the snapshot, with everything its receipt needs. */
export interface StoredReceipt {
  seq: number;
  from: number;
  nonce: number;
  acceptedAt: number;
  /** Its batch, its step in the batch, its position in its chunk. */
  batch: number;
  step: number;
  position: number;
  withdrawalIndex?: number;
  createdAccount?: number;
  /** Outcome code when not `Applied`. */
  outcome?: number;
}

export function encodeReceipt(r: StoredReceipt): string {
  const rec: ReceiptRecord = {
    s: r.seq,
    f: r.from,
    n: r.nonce,
    at: r.acceptedAt,
    b: r.batch,
    st: r.step,
    p: r.position,
  };
  if (r.withdrawalIndex !== undefined) rec.w = r.withdrawalIndex;
  if (r.createdAccount !== undefined) rec.a = r.createdAccount;
  if (r.outcome !== undefined) rec.o = r.outcome;
  return JSON.stringify(rec);
}

export function decodeReceipt(text: string): StoredReceipt {
  const rec = JSON.parse(text) as ReceiptRecord;
  const r: StoredReceipt = {
    seq: rec.s,
    from: rec.f,
    nonce: rec.n,
    acceptedAt: rec.at,
    batch: rec.b,
    step: rec.st,
    position: rec.p,
  };
  if (rec.w !== undefined) r.withdrawalIndex = rec.w;
  if (rec.a !== undefined) r.createdAccount = rec.a;
  if (rec.o !== undefined) r.outcome = rec.o;
  return r;
}

/** What one closed batch changed, kept until the snapshot moves past it. */
export interface BatchDelta {
  /** The accounts before the batch (null: created by it), and both counts before it. */
  undo: BatchUndo;
  /** The accounts the batch wrote, with their values after it. */
  after: [number, Account][];
}

/** The snapshot read back: the state after its batches, and the undo records of those not final. */
export interface LoadedSnapshot {
  meta: SnapshotMeta;
  state: JournaledState;
  /** First closed batch of each withdrawal, by index. */
  withdrawalBatches: number[];
  undos: BatchUndo[];
}

function corrupt(message: string): BilayerError {
  return new BilayerError("STORE_CORRUPT", `the operator's snapshot does not read back: ${message}`);
}

/** Where the store's snapshot stands (genesis when it has none), without reading the state. */
export async function readSnapshotMeta(store: KeyValueStore): Promise<SnapshotMeta> {
  const text = await store.get(KEY_SNAPSHOT);
  if (text === undefined) return GENESIS_SNAPSHOT;
  const meta = JSON.parse(text) as SnapshotMeta;
  return { ...meta, prunedBatches: meta.prunedBatches ?? 0 };
}

/** Reads the snapshot (undefined when the store has none) and checks it against its state root. */
export async function readSnapshot(store: KeyValueStore): Promise<LoadedSnapshot | undefined> {
  const text = await store.get(KEY_SNAPSHOT);
  if (text === undefined) return undefined;
  const meta = JSON.parse(text) as SnapshotMeta;
  const state = new JournaledState();
  for await (const [key, value] of store.entries(PREFIX_SNAPSHOT_ACCOUNT)) {
    const index = Number.parseInt(key.slice(PREFIX_SNAPSHOT_ACCOUNT.length), 16);
    if (index !== state.accountCount + 1) throw corrupt(`account ${state.accountCount + 1} is missing`);
    state.pushAccount(accountFromJson(JSON.parse(value) as AccountJson));
  }
  const withdrawalBatches: number[] = [];
  for await (const [, value] of store.entries(PREFIX_SNAPSHOT_WITHDRAWAL)) {
    const w = JSON.parse(value) as SnapshotWithdrawal;
    state.pushWithdrawal(withdrawalFromJson(w.w));
    withdrawalBatches.push(w.b);
  }
  if (state.accountCount !== meta.accountCount || Number(state.withdrawalCount) !== meta.withdrawalCount) {
    throw corrupt(
      `it holds ${state.accountCount} accounts and ${state.withdrawalCount} withdrawals, not the counts of its meta`,
    );
  }
  if (state.stateRoot() !== meta.stateRoot) throw corrupt("its accounts and withdrawals hash to another state root");
  meta.prunedBatches ??= 0;
  const undos: BatchUndo[] = [];
  for await (const [, value] of store.entries(PREFIX_SNAPSHOT_UNDO))
    undos.push(undoFromJson(JSON.parse(value) as UndoJson));
  return { meta, state, withdrawalBatches, undos };
}

/** What a checkpoint needs to know of each batch it takes in. */
export interface CheckpointBatch {
  index: number;
  endSeq: number;
  queueEnd: number;
  /** Both counts and the state root after the batch. */
  accountCount: number;
  withdrawalCount: number;
  stateRoot: string;
  delta: BatchDelta;
  /** Receipts of its transactions, by hash. */
  receipts: [string, StoredReceipt][];
}

/**
 * The operations that move the snapshot from `meta` over `batches` (the next
 * closed batches, in order): the accounts they wrote, the withdrawals they
 * appended (`withdrawal(i)` and `withdrawalBatch(i)` give each), their undo
 * records while not final (`finalCount` batches are), the deletion of the undo
 * records that became final, their receipts, and the new meta.
 */
export function checkpointOps(
  meta: SnapshotMeta,
  batches: readonly CheckpointBatch[],
  finalCount: number,
  withdrawal: (index: number) => Withdrawal,
  withdrawalBatch: (index: number) => number,
): { ops: StoreOp[]; meta: SnapshotMeta } {
  const ops: StoreOp[] = [];
  const accounts = new Map<number, Account>();
  let next = meta;
  for (const b of batches) {
    if (b.index !== next.batches) throw corrupt(`batch ${b.index} checkpointed after ${next.batches - 1}`);
    for (const [index, account] of b.delta.after) accounts.set(index, account);
    for (let w = next.withdrawalCount; w < b.withdrawalCount; w++) {
      const value: SnapshotWithdrawal = { w: withdrawalToJson(withdrawal(w)), b: withdrawalBatch(w) };
      ops.push({ type: "put", key: snapshotWithdrawalKey(w), value: JSON.stringify(value) });
    }
    if (b.index >= finalCount) {
      ops.push({ type: "put", key: snapshotUndoKey(b.index), value: JSON.stringify(undoToJson(b.delta.undo)) });
    }
    for (const [hash, receipt] of b.receipts)
      ops.push({ type: "put", key: receiptKey(hash), value: encodeReceipt(receipt) });
    next = {
      ...next,
      batches: b.index + 1,
      endSeq: b.endSeq,
      queueEnd: b.queueEnd,
      accountCount: b.accountCount,
      withdrawalCount: b.withdrawalCount,
      stateRoot: b.stateRoot,
    };
  }
  for (const [index, account] of accounts) {
    ops.push({ type: "put", key: snapshotAccountKey(index), value: JSON.stringify(accountToJson(account)) });
  }
  ops.push({ type: "put", key: KEY_SNAPSHOT, value: JSON.stringify(next) });
  return { ops, meta: next };
}

/** Deletes the undo records of batches `from .. to − 1` (they became final). */
export function dropUndoOps(from: number, to: number): StoreOp[] {
  const ops: StoreOp[] = [];
  for (let k = from; k < to; k++) ops.push({ type: "del", key: snapshotUndoKey(k) });
  return ops;
}

/**
 * The L2 state before batch `batchIndex`, for a fraud proof: from the snapshot
 * read back, with the undo records of the batches from `batchIndex` on when it
 * is inside the snapshot (it must not be final), or by applying the closed
 * batches after the snapshot up to it (`replay`).
 */
export async function preStateFromSnapshot(
  snapshot: LoadedSnapshot | undefined,
  batchIndex: number,
  replay: (state: L2State, from: number, to: number) => Promise<void>,
): Promise<L2State> {
  const base = snapshot?.meta.batches ?? 0;
  const state: L2State = snapshot?.state ?? new L2State();
  if (batchIndex >= base) {
    await replay(state, base, batchIndex);
    return state;
  }
  const accounts: Account[] = [];
  for (let i = 1; i <= state.accountCount; i++) accounts.push(state.getAccount(i) as Account);
  const withdrawals: Withdrawal[] = [];
  for (let w = 0n; w < state.withdrawalCount; w++) withdrawals.push(state.withdrawal(w) as Withdrawal);
  return Replica.restore(accounts, withdrawals, base, snapshot?.undos ?? []).preStateOf(batchIndex);
}

/** A lock for work that must not interleave (moving the snapshot, reading it back). */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(work: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await before;
    try {
      return await work();
    } finally {
      release();
    }
  }
}
