import type { StoreOp } from "../../common/store";
import { BilayerError } from "../../protocol/errors";
import { fromHex } from "../../protocol/hash";
import type { Account, L2State } from "../../protocol/state";
import { applyStep, stepInputs, type BatchData, type BatchUndo } from "../../verifier/replica";
import {
  batchKey,
  decodeTx,
  PREFIX_QUEUE,
  PREFIX_TX,
  queueItemOf,
  queueKey,
  txKey,
  type BatchRecord,
  type StoredQueueItem,
} from "../records";
import {
  checkpointOps,
  dropUndoOps,
  GENESIS_SNAPSHOT,
  KEY_SNAPSHOT,
  Mutex,
  preStateFromSnapshot,
  readSnapshot,
  type BatchDelta,
  type CheckpointBatch,
  type LoadedSnapshot,
  type SnapshotMeta,
  type StoredReceipt,
} from "../snapshot";
import { chunkOfRecords } from "./chunks";
import type { SequencerParts } from "./parts";

/** The counts before a batch, while its journal of changed accounts is open. */
export interface DeltaStart {
  accountCount: number;
  withdrawalCount: bigint;
}

/** Where transaction `seq` of closed batch `b` is: its batch, its step, its position in its chunk. */
export function placeOf(seq: number, b: BatchRecord): { batch: number; step: number; position: number } {
  const chunk = b.chunkEnds.findIndex((end) => seq < end);
  const chunkStart = chunk === 0 ? b.firstSeq : b.chunkEnds[chunk - 1];
  return { batch: b.index, step: b.stepRoots.length - b.chunkEnds.length + chunk, position: seq - chunkStart };
}

/**
 * What has been sequenced and closed: the snapshot the state was rebuilt from (./snapshot.ts), the queue items
 * after it, and the closed batches after it with what each changed and its chunks. Batches and queue items in the
 * snapshot are in the store only; moving the snapshot (`checkpoint`) is how memory stays bounded.
 */
export class BatchHistory {
  /**
   * The snapshot the state was rebuilt from: the closed batches before `base.batches` are in the store only, their
   * transactions answered from their receipt records.
   */
  base: SnapshotMeta = GENESIS_SNAPSHOT;
  /** Queue items from `base.queueEnd` on (`queue[i]` is item `base.queueEnd + i`). */
  private queue: StoredQueueItem[] = [];
  /** Closed batches from `base.batches` on (`batches[i]` is batch `base.batches + i`). */
  private batches: BatchRecord[] = [];
  /** What each closed batch in `batches` changed, until a checkpoint takes it into the snapshot. */
  private deltas = new Map<number, BatchDelta>();
  /** The first closed batch holding each withdrawal (for the withdrawals in a closed batch). */
  private withdrawalBatch: number[] = [];
  /** The lowest batch that may still have an undo record in the store. */
  private undoFloor = 0;
  private chunkCache = new Map<number, Uint8Array[]>();
  /** Moving the snapshot and reading it back (for a fraud proof) do not interleave; nor does a reload. */
  readonly lock = new Mutex();

  constructor(private readonly p: SequencerParts) {}

  /** Starts again from `snapshot` (genesis when undefined) with the queue items the follower stored. */
  reset(snapshot: LoadedSnapshot | undefined, queue: StoredQueueItem[]): void {
    this.base = snapshot?.meta ?? GENESIS_SNAPSHOT;
    this.withdrawalBatch = snapshot?.withdrawalBatches ?? [];
    this.undoFloor = Math.min(this.base.batches, ...(snapshot?.undos.map((u) => u.batch) ?? []));
    this.queue = queue.filter((q) => q.index >= this.base.queueEnd);
    if (this.queue.length > 0 && this.queue[0].index !== this.base.queueEnd)
      throw this.p.corrupt(`queue item ${this.base.queueEnd} is missing`);
    this.batches = [];
    this.deltas = new Map();
    this.chunkCache = new Map();
  }

  // ---------------------------------------------------------------------------
  // the queue

  /** Number of queue items known from L1. */
  get queueLength(): number {
    return this.base.queueEnd + this.queue.length;
  }

  /** The queue items known after the snapshot (what a rebuild starts from). */
  get knownQueue(): StoredQueueItem[] {
    return this.queue;
  }

  /** Adds queue items the follower stored (contiguous, in order). */
  addQueueItems(items: StoredQueueItem[]): void {
    for (const it of items) {
      if (it.index < this.queueLength) continue; // the snapshot already holds it
      if (it.index !== this.queueLength)
        throw this.p.corrupt(`queue item ${it.index} arrives after ${this.queueLength - 1}`);
      this.queue.push(it);
    }
  }

  /** The queue items `[start, end)`, which must be after the snapshot. */
  queueSlice(start: number, end: number): StoredQueueItem[] {
    const base = this.base.queueEnd;
    if (start < base) throw this.p.corrupt(`queue item ${start} is in the snapshot, not in memory`);
    return this.queue.slice(start - base, end - base);
  }

  /** The queue items `[start, end)` as stored (those after the snapshot, which are in memory). */
  queueItems(start: number, end: number): StoredQueueItem[] {
    return this.queueSlice(Math.max(start, this.base.queueEnd), end);
  }

  // ---------------------------------------------------------------------------
  // closed batches

  /** Number of closed batches. */
  get batchCount(): number {
    return this.base.batches + this.batches.length;
  }

  /** The queue end of the last closed batch (the snapshot's if none is after it). */
  get lastQueueEnd(): number {
    const last = this.batches[this.batches.length - 1];
    return last ? last.queueEnd : this.base.queueEnd;
  }

  /** Closed batch `index`, if it is after the snapshot (in memory); see {@link closedBatch} for any. */
  batch(index: number): BatchRecord | undefined {
    return index >= this.base.batches ? this.batches[index - this.base.batches] : undefined;
  }

  /** Closed batch `index`, from memory or (for one in the snapshot) from the store. */
  async closedBatch(index: number): Promise<BatchRecord | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.batchCount) return undefined;
    const recent = this.batch(index);
    if (recent) return recent;
    const text = await this.p.opts.store.get(batchKey(index));
    if (text === undefined) throw this.p.corrupt(`batch ${index} is missing`);
    return JSON.parse(text) as BatchRecord;
  }

  /** The closed batch after the snapshot that holds transaction `seq`. */
  batchOfSeq(seq: number): BatchRecord | undefined {
    let lo = 0;
    let hi = this.batches.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = this.batches[mid];
      if (seq < b.firstSeq) hi = mid - 1;
      else if (seq >= b.endSeq) lo = mid + 1;
      else return b;
    }
    return undefined;
  }

  /** The first closed batch holding withdrawal `index` (undefined while it is in the open one). */
  withdrawalBatchOf(index: number): number | undefined {
    return this.withdrawalBatch[index];
  }

  /** Opens the journal of a batch: what it changes is recorded from here. */
  beginDelta(): DeltaStart {
    const state = this.p.state;
    state.journal = new Map();
    return { accountCount: state.accountCount, withdrawalCount: state.withdrawalCount };
  }

  /** Takes closed batch `rec` (its chunks and, from its journal, what it changed) in. */
  add(rec: BatchRecord, chunks: Uint8Array[], before: DeltaStart): void {
    const state = this.p.state;
    const journal = state.journal ?? new Map<number, Account | undefined>();
    state.journal = undefined;
    const undo: BatchUndo = {
      batch: rec.index,
      accountCount: before.accountCount,
      withdrawalCount: before.withdrawalCount,
      accounts: [...journal].map(([i, a]) => [i, a ?? null]),
    };
    const after: [number, Account][] = [...journal.keys()].map((i) => [i, state.getAccount(i) as Account]);
    this.deltas.set(rec.index, { undo, after });
    for (let w = Number(before.withdrawalCount); w < Number(state.withdrawalCount); w++)
      this.withdrawalBatch[w] = rec.index;
    this.batches.push(rec);
    this.chunkCache.set(rec.index, chunks);
  }

  /** The chunks of closed batch `index`. */
  async chunksOf(index: number): Promise<Uint8Array[]> {
    const cached = this.chunkCache.get(index);
    if (cached) return cached;
    const b = await this.closedBatch(index);
    if (!b) throw new BilayerError("UNKNOWN_BATCH", `no closed batch ${index}`, { context: { index } });
    const store = this.p.opts.store;
    const chunks: Uint8Array[] = [];
    let seq = b.firstSeq;
    for (const [i, end] of b.chunkEnds.entries()) {
      const parts: Uint8Array[] = [];
      for (; seq < end; seq++) {
        const text = await store.get(txKey(seq));
        if (text === undefined) throw this.p.corrupt(`transaction ${seq} is missing`);
        parts.push(fromHex(decodeTx(text).bytes));
      }
      chunks.push(chunkOfRecords(b, i, parts));
    }
    return chunks;
  }

  /** Forgets the cached chunks of a batch that is appended and confirmed. */
  releaseChunks(index: number): void {
    this.chunkCache.delete(index);
  }

  /** Closed batch `index` as a step-by-step input (what a replay or a fraud proof of it needs). */
  async batchData(index: number): Promise<BatchData> {
    const b = await this.closedBatch(index);
    if (!b) throw new BilayerError("UNKNOWN_BATCH", `no closed batch ${index}`, { context: { index } });
    let items: StoredQueueItem[];
    if (b.queueStart >= this.base.queueEnd) items = this.queueSlice(b.queueStart, b.queueEnd);
    else {
      items = [];
      for await (const [, v] of this.p.opts.store.entries(PREFIX_QUEUE, queueKey(b.queueStart))) {
        const item = JSON.parse(v) as StoredQueueItem;
        if (item.index >= b.queueEnd) break;
        items.push(item);
      }
      if (items.length !== b.queueEnd - b.queueStart) throw this.p.corrupt(`queue items of batch ${index} are missing`);
    }
    return {
      index,
      queueStart: b.queueStart,
      queueEnd: b.queueEnd,
      feeRecipient: b.feeRecipient,
      chunks: await this.chunksOf(index),
      queueItems: items.map(queueItemOf),
    };
  }

  // ---------------------------------------------------------------------------
  // the snapshot

  /**
   * Moves the snapshot over the closed batches before `upTo` — the caller vouches they are appended on L1 and
   * confirmed, so they are never sequenced again — and keeps the undo records of those not final (`finalCount`
   * are final; the undo records of final batches are dropped). With `pruneHistory`, the transaction records of
   * final batches in the snapshot are deleted (their receipts stay). Returns the number of batches taken in.
   */
  async checkpoint(upTo: number, finalCount: number, opts: { pruneHistory?: boolean } = {}): Promise<number> {
    return this.lock.run(async () => {
      const store = this.p.opts.store;
      const from = this.base.batches;
      const target = Math.max(from, Math.min(upTo, this.p.journal.durableBatches));
      const taken: CheckpointBatch[] = [];
      for (let k = from; k < target; k++) {
        const b = this.batch(k) as BatchRecord;
        const delta = this.deltas.get(k);
        if (!delta) throw this.p.corrupt(`batch ${k} has no record of what it changed`);
        const receipts: [string, StoredReceipt][] = [];
        for await (const [, v] of store.entries(PREFIX_TX, txKey(b.firstSeq))) {
          const t = decodeTx(v);
          const seq = t.seq ?? -1;
          if (seq >= b.endSeq) break;
          const r: StoredReceipt = { seq, from: t.from, nonce: t.nonce, acceptedAt: t.acceptedAt, ...placeOf(seq, b) };
          if (t.withdrawalIndex !== undefined) r.withdrawalIndex = t.withdrawalIndex;
          if (t.createdAccount !== undefined) r.createdAccount = t.createdAccount;
          if (t.outcome !== undefined) r.outcome = t.outcome;
          receipts.push([t.hash, r]);
        }
        if (receipts.length !== b.endSeq - b.firstSeq) throw this.p.corrupt(`transactions of batch ${k} are missing`);
        taken.push({
          index: k,
          endSeq: b.endSeq,
          queueEnd: b.queueEnd,
          accountCount: b.header.accountCount,
          withdrawalCount: Number(b.header.withdrawalCount),
          stateRoot: b.stepRoots[b.stepRoots.length - 1],
          delta,
          receipts,
        });
      }
      let ops: StoreOp[] = [];
      let meta = this.base;
      if (taken.length > 0) {
        ({ ops, meta } = checkpointOps(
          this.base,
          taken,
          finalCount,
          (w) => this.p.index.withdrawal(w),
          (w) => this.withdrawalBatch[w],
        ));
      }
      const settled = Math.min(finalCount, meta.batches);
      if (settled > this.undoFloor) ops.push(...dropUndoOps(this.undoFloor, settled));
      if (opts.pruneHistory && settled > meta.prunedBatches) {
        for (let k = meta.prunedBatches; k < settled; k++) {
          const b = (await this.closedBatch(k)) as BatchRecord;
          for (let seq = b.firstSeq; seq < b.endSeq; seq++) ops.push({ type: "del", key: txKey(seq) });
        }
        meta = { ...meta, prunedBatches: settled };
        ops.push({ type: "put", key: KEY_SNAPSHOT, value: JSON.stringify(meta) });
      }
      if (ops.length === 0) return 0;
      await store.write(ops);
      // What the snapshot now holds is answered from the store.
      this.base = meta;
      this.undoFloor = Math.max(this.undoFloor, settled);
      this.batches.splice(0, taken.length);
      for (const b of taken) {
        this.deltas.delete(b.index);
        this.chunkCache.delete(b.index);
        this.p.index.forget(b.receipts.map(([hash]) => hash));
      }
      this.queue.splice(0, Math.max(0, meta.queueEnd - (this.queue[0]?.index ?? meta.queueEnd)));
      if (taken.length > 0) {
        this.p.opts.logger.info(
          { batches: meta.batches, transactions: meta.endSeq, settled, pruned: meta.prunedBatches },
          "snapshot moved: a restart replays only the batches after it",
        );
      }
      return taken.length;
    });
  }

  /**
   * The L2 state before closed batch `batchIndex`, for a fraud proof of it: read back from the snapshot, with its
   * undo records when the batch is inside it (it must not be final), else with the batches after it replayed.
   */
  async preStateOf(batchIndex: number): Promise<L2State> {
    return this.lock.run(async () =>
      preStateFromSnapshot(await readSnapshot(this.p.opts.store), batchIndex, async (state, from, to) => {
        for (let k = from; k < to; k++) {
          const batch = await this.batchData(k);
          for (const input of stepInputs(batch)) applyStep(state, batch, input, this.p.ctx.domainSeparator);
          const roots = ((await this.closedBatch(k)) as BatchRecord).stepRoots;
          if (state.stateRoot() !== roots[roots.length - 1])
            throw this.p.corrupt(`batch ${k} replays to another state root than it was closed with`);
          // Between batches the API gets its turn.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }),
    );
  }
}
