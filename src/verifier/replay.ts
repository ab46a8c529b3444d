/**
 * The replay of L1: the verifier's copy of the rollup rebuilt from the
 * bridge's queue, the inbox's batches and the state commitment chain's
 * proposals, one block range at a time, each range one atomic checkpoint in
 * the store. Batches are re-executed on the replica as they are appended;
 * a batch is settled (its undo records, chunks and queue items dropped) once
 * its right proposal is final.
 */
import { L1Reader, type BatchEvent, type RollupEvent } from "../l1/events";
import { BilayerError } from "../protocol/errors";
import { toHex } from "../protocol/hash";
import type { QueueItem } from "../protocol/queue";
import { GENESIS_STATE_ROOT } from "../protocol/state";
import { VerifierHaltedError, type VerifierContext } from "./context";
import { ProposalBook } from "./proposal-book";
import { Replica, type BatchData, type ReplayedBatch } from "./replica";
import {
  accountFromJson,
  accountKey,
  accountToJson,
  batchKey,
  KEY_CURSOR,
  proposalKey,
  queueItemFromJson,
  queueItemToJson,
  queueKey,
  undoFromJson,
  undoKey,
  undoToJson,
  withdrawalFromJson,
  withdrawalKey,
  withdrawalToJson,
  WriteBatch,
  type AccountJson,
  type BatchJson,
  type Cursor,
  type QueueItemJson,
  type UndoJson,
  type WithdrawalJson,
} from "./store";

/** An unsettled batch: its input and the roots computed for it. */
export interface BatchState {
  data: BatchData;
  stepCount: number;
  forced: boolean;
  blockNumber: number;
  transactionHash: string;
  stepRoots: string[];
  transactions: number;
}

/**
 * Told of every rollup event as the replay applies it (a batch with what its replay gave), and of each block
 * range once it is checkpointed: how an explorer builds its index on the verifier's replay. It must not throw.
 */
export interface ReplayObserver {
  onEvent(event: RollupEvent, replayed?: ReplayedBatch): void;
  onRange?(toBlock: number, timestamp: number): void;
}

export class L1Replay {
  private readonly reader: L1Reader;
  /** Told of each event applied (see {@link ReplayObserver}). */
  observer: ReplayObserver | undefined;
  replica: Replica;
  cursor: Cursor;
  /** The queue items of unsettled and future batches. */
  readonly queue = new Map<number, QueueItem>();
  /** The unsettled batches replayed. */
  readonly batches = new Map<number, BatchState>();
  readonly proposals: ProposalBook;
  /** The batch that appended each withdrawal of the tip (-1: not recorded, a store from before this was kept). */
  withdrawalBatch: number[] = [];
  /** First block this process read (for tests of the resume). */
  firstBlockRead: number | undefined;

  constructor(private readonly c: VerifierContext) {
    this.reader = new L1Reader(c.provider, c.deployment.contracts);
    this.proposals = new ProposalBook(c);
    this.replica = Replica.genesis();
    this.cursor = {
      block: c.deployment.startBlock - 1,
      queueLength: 0,
      batches: 0,
      settled: 0,
      stateRoot: GENESIS_STATE_ROOT,
      transactions: 0,
      settledRoot: GENESIS_STATE_ROOT,
    };
  }

  /** Tells the observer, if any; what it throws is logged, never the replay's failure. */
  private tell(f: (o: ReplayObserver) => void): void {
    if (!this.observer) return;
    try {
      f(this.observer);
    } catch (err) {
      this.c.logger.error({ err }, "the replay's observer failed on an event");
    }
  }

  /** Restores the state of the last checkpoint from the store; false when the store holds none. */
  async restore(): Promise<boolean> {
    const cursor = await this.c.store.get<Cursor>(KEY_CURSOR);
    if (cursor === undefined) return false;
    const started = performance.now();
    const accounts = (await this.c.store.values<AccountJson>("a/")).map(accountFromJson);
    const withdrawalRecords = await this.c.store.values<WithdrawalJson>("w/");
    const withdrawals = withdrawalRecords.map(withdrawalFromJson);
    this.withdrawalBatch = withdrawalRecords.map((w) => w.b ?? -1);
    const undos = (await this.c.store.values<UndoJson>("u/")).map(undoFromJson);
    const replica = Replica.restore(accounts, withdrawals, cursor.batches, undos);
    if (replica.stateRoot() !== cursor.stateRoot) {
      throw new BilayerError("STORE_CORRUPT", "the stored state does not hash to the root of the last checkpoint", {
        context: { stored: cursor.stateRoot, computed: replica.stateRoot() },
      });
    }
    const queueKeys = await this.c.store.keys("q/");
    const queueValues = await this.c.store.values<QueueItemJson>("q/");
    queueKeys.forEach((key, i) => this.queue.set(Number(key.slice(2)), queueItemFromJson(queueValues[i])));
    for (const b of await this.c.store.values<BatchJson>("b/")) {
      const queueItems = this.queueItems(b.queueStart, b.queueEnd);
      this.batches.set(b.index, {
        data: {
          index: b.index,
          queueStart: b.queueStart,
          queueEnd: b.queueEnd,
          feeRecipient: b.feeRecipient,
          chunks: b.chunks.map((h) => Buffer.from(h.slice(2), "hex")),
          queueItems,
        },
        stepCount: b.stepCount,
        forced: b.forced,
        blockNumber: b.blockNumber,
        transactionHash: b.transactionHash,
        stepRoots: b.stepRoots,
        transactions: b.transactions,
      });
    }
    await this.proposals.restore();
    this.replica = replica;
    this.cursor = cursor;
    this.c.logger.info(
      {
        block: cursor.block,
        batches: cursor.batches,
        settled: cursor.settled,
        accounts: accounts.length,
        stateRoot: cursor.stateRoot,
        ms: Math.round(performance.now() - started),
      },
      "verifier state restored from the store; resuming after the last checkpoint",
    );
    return true;
  }

  /** Queue items `start..end − 1` (a batch's), each of which this verifier must hold. */
  private queueItems(start: number, end: number): QueueItem[] {
    const items: QueueItem[] = [];
    for (let q = start; q < end; q++) {
      const item = this.queue.get(q);
      if (item === undefined) throw new VerifierHaltedError(`queue item ${q} is missing`, { index: q });
      items.push(item);
    }
    return items;
  }

  /** Reads and applies blocks `from..to` (L1's head is `head`), then checkpoints them in one write. */
  async processRange(from: number, to: number, head: number): Promise<void> {
    const started = performance.now();
    this.firstBlockRead ??= from;
    const [events, block] = await Promise.all([this.reader.read(from, to), this.c.provider.getBlock(to)]);
    if (block === null) throw new BilayerError("L1_NO_BLOCK", `the L1 node has no block ${to}`);
    const wb = new WriteBatch();
    let transactions = 0;
    for (const event of events) {
      transactions += await this.apply(event, wb);
      if (event.kind !== "batch") this.tell((o) => o.onEvent(event));
    }
    this.settle(block.timestamp, wb);
    const cursor: Cursor = {
      ...this.cursor,
      block: to,
      batches: this.replica.replayed,
      stateRoot: this.replica.stateRoot(),
      transactions: this.cursor.transactions + transactions,
    };
    wb.put(KEY_CURSOR, cursor);
    await this.c.store.write(wb.toOps());
    this.cursor = cursor;
    this.tell((o) => o.onRange?.(to, block.timestamp));
    this.c.metrics.blocksRead.inc(to - from + 1);
    this.c.metrics.l1Processed.set(to);
    this.c.metrics.syncLag.set(Math.max(0, head - this.c.config.confirmations + 1 - to));
    const seconds = (performance.now() - started) / 1000;
    if (transactions > 0) this.c.metrics.replayRate.set(Math.round(transactions / Math.max(seconds, 1e-6)));
  }

  /** Applies one event to the in-memory state and the checkpoint; returns the L2 transactions replayed. */
  private async apply(event: RollupEvent, wb: WriteBatch): Promise<number> {
    switch (event.kind) {
      case "queue": {
        if (event.index !== this.cursor.queueLength) {
          throw new VerifierHaltedError(`queue item ${event.index} follows ${this.cursor.queueLength - 1}`, {
            index: event.index,
          });
        }
        this.queue.set(event.index, event.item);
        this.cursor = { ...this.cursor, queueLength: event.index + 1 };
        wb.put(queueKey(event.index), queueItemToJson(event.item));
        this.c.metrics.queueItems.set(this.cursor.queueLength);
        return 0;
      }
      case "batch":
        return this.replayBatch(event, wb);
      case "proposal":
        this.proposals.onProposal(event, this.batches.get(event.batchIndex), this.cursor.settled, wb);
        return 0;
      case "rollback":
        this.proposals.onRollback(event, this.replica.replayed, wb);
        return 0;
      case "bondReturned":
        this.proposals.onBondReturned(event.proposalId, wb);
        return 0;
      case "fraudProven":
        this.c.logger.info(
          {
            batch: event.batchIndex,
            step: event.stepIndex,
            challenger: event.challenger,
            proposedRoot: event.proposedRoot,
            computedRoot: event.computedRoot,
            byUs: event.challenger === this.c.challengerAddress,
            tx: event.transactionHash,
          },
          "fraud proven on L1",
        );
        return 0;
    }
  }

  private async replayBatch(event: BatchEvent, wb: WriteBatch): Promise<number> {
    if (event.index !== this.replica.replayed) {
      throw new VerifierHaltedError(`batch ${event.index} follows ${this.replica.replayed - 1}`, {
        batch: event.index,
      });
    }
    const queueItems = this.queueItems(event.queueStart, event.queueEnd);
    const data: BatchData = {
      index: event.index,
      queueStart: event.queueStart,
      queueEnd: event.queueEnd,
      feeRecipient: event.feeRecipient,
      chunks: event.chunks,
      queueItems,
    };
    const started = performance.now();
    // BLS aggregates checked on the pool's threads while the batch replays (the result is the same either way).
    const pool = this.c.aggregates;
    const replayed = pool
      ? await this.replica.replayChecked(data, this.c.domain, (m, k, s) => pool.check(m, k, s))
      : this.replica.replay(data, this.c.domain);
    const seconds = (performance.now() - started) / 1000;
    if (replayed.stepRoots.length !== event.stepCount) {
      throw new VerifierHaltedError(
        `batch ${event.index} has ${event.stepCount} steps on L1, ${replayed.stepRoots.length} replayed`,
        { batch: event.index },
      );
    }
    const state: BatchState = {
      data,
      stepCount: event.stepCount,
      forced: event.forced,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
      stepRoots: replayed.stepRoots,
      transactions: replayed.transactions,
    };
    this.batches.set(event.index, state);
    this.tell((o) => o.onEvent(event, replayed));
    const json: BatchJson = {
      index: event.index,
      queueStart: event.queueStart,
      queueEnd: event.queueEnd,
      feeRecipient: event.feeRecipient,
      forced: event.forced,
      stepCount: event.stepCount,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
      chunks: event.chunks.map(toHex),
      stepRoots: replayed.stepRoots,
      transactions: replayed.transactions,
    };
    wb.put(batchKey(event.index), json);
    wb.put(undoKey(event.index), undoToJson(replayed.undo));
    for (const [index, account] of replayed.written) wb.put(accountKey(index), accountToJson(account));
    for (const [index, withdrawal] of replayed.withdrawals) {
      this.withdrawalBatch[index] = event.index;
      wb.put(withdrawalKey(index), { ...withdrawalToJson(withdrawal), b: event.index });
    }
    this.c.metrics.batchesReplayed.inc();
    this.c.metrics.transactionsReplayed.inc(replayed.transactions);
    this.c.metrics.batchReplaySeconds.observe(seconds);
    this.c.logger.debug(
      {
        batch: event.index,
        forced: event.forced,
        steps: event.stepCount,
        queueItems: replayed.queueItems,
        transactions: replayed.transactions,
        applied: replayed.applied,
        stateRoot: replayed.stepRoots[replayed.stepRoots.length - 1],
        ms: Math.round(seconds * 1000),
      },
      "batch replayed from L1",
    );
    return replayed.transactions;
  }

  /**
   * Settles batches in order while their live proposal is right and final as of
   * `blockTime` (no later block can roll it back): their undo records, chunks and
   * queue items are no longer needed.
   */
  private settle(blockTime: number, wb: WriteBatch): void {
    let settled = this.cursor.settled;
    let settledRoot = this.cursor.settledRoot;
    while (settled < this.replica.replayed) {
      const p = this.proposals.byBatch.get(settled);
      if (p === undefined || p.wrongStep >= 0 || blockTime < p.deadline) break;
      const batch = this.batches.get(settled) as BatchState;
      settledRoot = batch.stepRoots[batch.stepRoots.length - 1];
      this.batches.delete(settled);
      wb.del(batchKey(settled));
      wb.del(undoKey(settled));
      for (let q = batch.data.queueStart; q < batch.data.queueEnd; q++) {
        this.queue.delete(q);
        wb.del(queueKey(q));
      }
      this.proposals.byBatch.delete(settled);
      wb.del(proposalKey(settled));
      this.c.logger.info({ batch: settled, stateRoot: settledRoot }, "batch settled: its right proposal is final");
      settled++;
    }
    if (settled !== this.cursor.settled) {
      this.replica.settle(settled);
      this.cursor = { ...this.cursor, settled, settledRoot };
    }
  }

  /** The state root after batch `k` as computed here (genesis for −1). */
  computedRootAfter(k: number): string | undefined {
    if (k < 0) return GENESIS_STATE_ROOT;
    if (k === this.cursor.settled - 1) return this.cursor.settledRoot;
    const batch = this.batches.get(k);
    return batch?.stepRoots[batch.stepRoots.length - 1];
  }
}
