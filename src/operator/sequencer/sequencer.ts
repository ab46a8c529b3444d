import type { Account, L2State } from "../../protocol/state";
import type { BatchData } from "../../verifier/replica";
import type { Prechecked, SenderHints } from "../presign";
import type { BatchRecord, StoredQueueItem } from "../records";
import type { SubmitResult } from "./admission";
import type { BatchLimits } from "./batch-policy";
import type { L1Heads, TxReceipt, WithdrawalProof } from "./l2-index";
import { SequencerParts, type SequencerOptions } from "./parts";
import { rebase, type AdoptedBatch } from "./rebase";
import { replayStore } from "./replay";

/**
 * The sequencer: orders L2 transactions, applies each to the pending L2 state
 * with the STF's own chunk executor (so its outcome is exactly the one the
 * batch will have), stores it durably before acknowledging it, and cuts the
 * sequence into chunks and batches whose step roots the proposer posts.
 *
 * A façade over its parts (./parts.ts): admission (./admission.ts), the
 * journal (./journal.ts, replayed by ./replay.ts), the batch builder and its
 * policy (./batch-builder.ts, ./batch-policy.ts), the closed batches and the
 * snapshot (./history.ts), reconciliation with L1 (./rebase.ts) and the read
 * model the API serves (./l2-index.ts).
 */
export class Sequencer {
  private readonly p: SequencerParts;
  readonly limits: BatchLimits;
  private recovering: Promise<void> | undefined;

  constructor(opts: SequencerOptions) {
    this.p = new SequencerParts(opts);
    this.limits = this.p.limits;
    this.p.onStoreFailure = (err) => this.recover(err);
  }

  /** Called after a batch is closed and durably stored. */
  get onBatchDurable(): ((batch: BatchRecord) => void) | undefined {
    return this.p.journal.onBatchDurable;
  }

  set onBatchDurable(fn: ((batch: BatchRecord) => void) | undefined) {
    this.p.journal.onBatchDurable = fn;
  }

  // ---------------------------------------------------------------------------
  // start-up and recovery

  /**
   * Rebuilds the pending state from the store (./replay.ts). `queue` is every
   * queue item the follower has stored, in order.
   */
  async load(queue: StoredQueueItem[], opts: { stayUnavailable?: boolean } = {}): Promise<void> {
    await this.p.history.lock.run(() => replayStore(this.p, queue, opts));
  }

  /** Stops accepting and rebuilds from the store after a failed write. */
  private recover(err: unknown): void {
    if (this.recovering) return;
    const { gate, opts } = this.p;
    gate.available = false;
    gate.unavailableReason = `recovering from a failed store write: ${(err as Error).message}`;
    opts.logger.error({ err }, "store write failed; rebuilding the pending state from the store");
    this.recovering = (async () => {
      for (let attempt = 1; ; attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
        try {
          // A new handle, so that what is written next lands after what a later open reads back (store.ts).
          await opts.store.reopen();
          await this.load(this.p.history.knownQueue);
          gate.unavailableReason = undefined;
          opts.logger.warn({ attempt }, "sequencer recovered from a store failure");
          return;
        } catch (e) {
          opts.logger.error({ err: e, attempt }, "recovery from the store failed; retrying");
        }
      }
    })().finally(() => {
      this.recovering = undefined;
    });
  }

  /** Test hook: raises if the store is failed or recovery is running. */
  async whenRecovered(): Promise<void> {
    if (this.recovering) await this.recovering;
  }

  // ---------------------------------------------------------------------------
  // sequencing

  /**
   * Accepts one packed transaction. Without `nonce`, it is signed over the
   * sender's current nonce; with `nonce` ahead of it, it waits in the
   * mempool. Resolves once the transaction is durably stored; throws
   * `RefusedError` for anything the STF would skip, with the outcome and the reason.
   * `presigned`: the signer recovered ahead of time by the HTTP thread; used
   * only if it is for the very digest and signature checked (../presign.ts).
   */
  submit(bytes: Uint8Array, nonce?: number, presigned?: Prechecked): Promise<SubmitResult> {
    return this.p.admission.submit(bytes, nonce, presigned);
  }

  /**
   * Called periodically: closes the open batch once it is `maxAgeMs` old,
   * and opens (or extends) a batch for queue items waiting to be applied.
   */
  tick(now = Date.now()): void {
    if (!this.p.gate.available) return;
    this.p.builder.tick(now);
    this.p.journal.commitInBackground();
    this.p.updateGauges();
  }

  /**
   * Settles once every write issued so far has (and its callers have their answers in hand): what stopping
   * waits for before it stops serving.
   */
  async settled(): Promise<void> {
    await this.p.journal.written();
    // The callers of the last write resume in the microtasks after it; one more turn and their answers are out.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Closes the open batch now, whatever its age, and waits until it is on disk. */
  async flush(): Promise<void> {
    this.p.builder.closeBatch();
    if (this.p.journal.pending) await this.p.journal.commit();
  }

  /** Adds queue items the follower stored (contiguous, in order). */
  addQueueItems(items: StoredQueueItem[]): void {
    this.p.history.addQueueItems(items);
    this.p.updateGauges();
  }

  /** Follows L1's batches from `fromBatch` on, sequencing ours again after them (./rebase.ts). */
  rebase(fromBatch: number, adopted: AdoptedBatch[]): Promise<{ resequenced: number; dropped: number }> {
    return rebase(this.p, (queue, opts) => this.load(queue, opts), fromBatch, adopted);
  }

  /** Moves the snapshot over the closed batches before `upTo` (./history.ts). */
  checkpoint(upTo: number, finalCount: number, opts: { pruneHistory?: boolean } = {}): Promise<number> {
    return this.p.history.checkpoint(upTo, finalCount, opts);
  }

  // ---------------------------------------------------------------------------
  // reads

  /** Account `index` in the pending state, with the nonces of its transactions waiting for a gap to fill. */
  getAccount(index: number): (Account & { index: number; waitingNonces: number[] }) | undefined {
    return this.p.index.getAccount(index);
  }

  /** What changed for senders since the last call, for the HTTP thread's pre-recovery (../presign.ts). */
  senderHints(): SenderHints | undefined {
    return this.p.index.senderHints();
  }

  /** The indices of the accounts owned by `owner` (lower-case address). */
  accountsOf(owner: string): number[] {
    return this.p.index.accountsOf(owner);
  }

  /** The receipt of a transaction, or `undefined` if the operator never accepted it. */
  receipt(hash: string): Promise<TxReceipt | undefined> {
    return this.p.index.receipt(hash);
  }

  /** Closed batch `index`, if it is after the snapshot (in memory); see {@link closedBatch} for any. */
  batch(index: number): BatchRecord | undefined {
    return this.p.history.batch(index);
  }

  /** Closed batch `index`, from memory or (for one in the snapshot) from the store. */
  closedBatch(index: number): Promise<BatchRecord | undefined> {
    return this.p.history.closedBatch(index);
  }

  /** Number of closed batches. */
  get batchCount(): number {
    return this.p.history.batchCount;
  }

  /** Closed batches in the snapshot (see ../snapshot.ts): batches below are answered from the store. */
  get snapshotBatches(): number {
    return this.p.history.base.batches;
  }

  /** Number of closed batches whose record is on disk (the batcher appends only those). */
  get durableBatchCount(): number {
    return this.p.journal.durableBatches;
  }

  /** The chunks of closed batch `index`. */
  chunksOf(index: number): Promise<Uint8Array[]> {
    return this.p.history.chunksOf(index);
  }

  /** Closed batch `index` as a step-by-step input (what a replay or a fraud proof of it needs). */
  batchData(index: number): Promise<BatchData> {
    return this.p.history.batchData(index);
  }

  /** The L2 state before closed batch `batchIndex`, for a fraud proof of it. */
  preStateOf(batchIndex: number): Promise<L2State> {
    return this.p.history.preStateOf(batchIndex);
  }

  /** Forgets the cached chunks of a batch that is appended and confirmed. */
  releaseChunks(index: number): void {
    this.p.history.releaseChunks(index);
  }

  /** The queue items `[start, end)` as stored (those after the snapshot, which are in memory). */
  queueItems(start: number, end: number): StoredQueueItem[] {
    return this.p.history.queueItems(start, end);
  }

  /** Number of queue items known from L1. */
  get queueLength(): number {
    return this.p.history.queueLength;
  }

  /** Updates what the driver saw on L1. */
  setL1Heads(heads: L1Heads): void {
    this.p.index.l1Heads = heads;
    const m = this.p.opts.metrics;
    m.heads.set({ stage: "appended" }, heads.appended - 1);
    m.heads.set({ stage: "proposed" }, heads.proposed - 1);
    m.heads.set({ stage: "final" }, heads.final - 1);
    this.p.updateGauges();
  }

  get l1Heads(): L1Heads {
    return this.p.index.l1Heads;
  }

  /** A withdrawal with its proof against the header of a closed batch that holds it (./l2-index.ts). */
  withdrawalProof(index: number, batchIndex?: number): Promise<WithdrawalProof> {
    return this.p.index.withdrawalProof(index, batchIndex);
  }

  /** The withdrawals paying `recipient` (lower-case address), each with the first closed batch that holds it. */
  withdrawalsTo(
    recipient: string,
  ): { withdrawalIndex: number; tokenId: number; amount: bigint; batchIndex: number | undefined }[] {
    return this.p.index.withdrawalsTo(recipient);
  }

  /** Queue items consumed by the batches on L1 (as the driver last saw them). */
  queueConsumedOnL1(): number {
    return this.p.queueConsumedOnL1();
  }

  /** A summary for `l2_getStatus`. */
  status(): {
    available: boolean;
    nextSeq: number;
    stateRoot: string;
    accountCount: number;
    withdrawalCount: number;
    mempool: { pending: number; queued: number };
    batches: {
      closed: number;
      durable: number;
      open?: { index: number; txs: number; queueItems: number; ageMs: number };
    };
    queue: { known: number; sequenced: number };
  } {
    const { state, builder, history, admission } = this.p;
    const open = builder.open;
    return {
      available: this.p.gate.available,
      nextSeq: builder.nextSeq,
      stateRoot: state.stateRoot(),
      accountCount: state.accountCount,
      withdrawalCount: Number(state.withdrawalCount),
      mempool: { pending: open?.txCount ?? 0, queued: admission.mempool.size },
      batches: {
        closed: history.batchCount,
        durable: this.p.journal.durableBatches,
        ...(open
          ? {
              open: {
                index: open.index,
                txs: open.txCount,
                queueItems: open.queueEnd - open.queueStart,
                ageMs: Date.now() - open.openedAt,
              },
            }
          : {}),
      },
      queue: { known: history.queueLength, sequenced: builder.queueSequenced() },
    };
  }

  // ---------------------------------------------------------------------------
  // availability

  /** Whether the store failed and the sequencer is rebuilding. */
  get isAvailable(): boolean {
    return this.p.gate.available;
  }

  /** Why the store is not usable right now, if it is not. */
  get unavailable(): string | undefined {
    return this.p.gate.unavailable;
  }

  /**
   * Refuses new transactions (-32011 with `reason`) while any source refuses, though the store works: nothing
   * they need could reach L1 (source "l1": a wrong chain, contracts missing, the sequencer role revoked), or the
   * operator is stopping. Reads go on; `undefined` lifts the source's refusal.
   */
  setRefusal(source: "l1" | "stopping", reason: string | undefined): void {
    this.p.gate.setRefusal(source, reason);
  }

  /** Why new transactions are refused right now, if they are. */
  get refusing(): string | undefined {
    return this.p.gate.refusing;
  }
}
