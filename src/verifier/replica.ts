/**
 * The verifier's copy of the L2 state, rebuilt batch by batch from what L1
 * stores, with the undo information that lets it go back to the pre-state of
 * any batch that can still be challenged and build the fraud proof of one of
 * its steps (PROTOCOL.md §5, §6). Pure: no I/O.
 */
import { chunkProof } from "../l1/batch";
import { MAX_QUEUE_ITEMS_PER_STEP, Outcome } from "../protocol/constants";
import { BilayerError } from "../protocol/errors";
import { toHex } from "../protocol/hash";
import type { QueueItem } from "../protocol/queue";
import { L2State, type Account, type StateHeader, type Withdrawal } from "../protocol/state";
import {
  applyChunk,
  applyQueueStep,
  type AggregateCheck,
  type StepOutcome,
  type StepResult,
  type StepWitness,
} from "../protocol/stf";

/** Everything needed to re-execute a batch: what the inbox recorded, its chunks and its queue items. */
export interface BatchData {
  index: number;
  queueStart: number;
  queueEnd: number;
  feeRecipient: number;
  /** The chunks, from the calldata of the transaction that appended the batch (none for a forced batch). */
  chunks: Uint8Array[];
  /** Queue items `[queueStart, queueEnd)`. */
  queueItems: QueueItem[];
}

/** The input of one step of a batch. */
export type StepInput =
  { kind: "queue"; items: QueueItem[]; firstItem: number } | { kind: "chunk"; chunk: Uint8Array; chunkIndex: number };

/** The inputs of a batch's steps: its queue items in steps of 32, then one step per chunk. */
export function stepInputs(batch: BatchData): StepInput[] {
  const inputs: StepInput[] = [];
  for (let i = 0; i < batch.queueItems.length; i += MAX_QUEUE_ITEMS_PER_STEP) {
    inputs.push({
      kind: "queue",
      items: batch.queueItems.slice(i, i + MAX_QUEUE_ITEMS_PER_STEP),
      firstItem: batch.queueStart + i,
    });
  }
  batch.chunks.forEach((chunk, chunkIndex) => inputs.push({ kind: "chunk", chunk, chunkIndex }));
  return inputs;
}

/** Applies one step of `batch` to `state` (mutated), honestly (`verifyAggregate`: see `StepOptions`). */
export function applyStep(
  state: L2State,
  batch: BatchData,
  input: StepInput,
  domainSeparator: string,
  witness = false,
  verifyAggregate?: AggregateCheck,
): StepResult {
  if (input.kind === "queue") return applyQueueStep(state, input.items, { witness });
  const opts = verifyAggregate === undefined ? { witness } : { witness, verifyAggregate };
  return applyChunk(state, input.chunk, { domainSeparator, feeRecipient: batch.feeRecipient }, opts);
}

/** Whether a BLS chunk's aggregate holds, answered elsewhere (another thread): the STF's check, asynchronously. */
export type AsyncAggregateCheck = (
  messages: readonly Uint8Array[],
  keys: readonly Uint8Array[],
  signature: Uint8Array,
) => Promise<boolean>;

/** What a batch changed, so that it can be undone: every account it wrote, as it was before, and both counts. */
export interface BatchUndo {
  batch: number;
  accountCount: number;
  withdrawalCount: bigint;
  /** `[index, account before the batch]`; `null` for a slot the batch created. */
  accounts: [number, Account | null][];
}

/** The result of replaying a batch. */
export interface ReplayedBatch {
  index: number;
  stepRoots: string[];
  /** Transactions read from the chunks (applied or skipped). */
  transactions: number;
  /** Of which applied. */
  applied: number;
  queueItems: number;
  undo: BatchUndo;
  /** The accounts written, with their new values (what a checkpoint stores). */
  written: [number, Account][];
  /** The withdrawals appended, with their indices. */
  withdrawals: [number, Withdrawal][];
  /** Each chunk's outcomes, one per transaction read, in chunk order (what an explorer shows). */
  chunkOutcomes: StepOutcome[][];
}

/** An L2 state that remembers the previous value of every account written while a journal is open. */
export class JournaledState extends L2State {
  journal: Map<number, Account | undefined> | undefined;

  override writeAccount(index: number, account: Account): void {
    const journal = this.journal;
    if (journal !== undefined && !journal.has(index)) journal.set(index, this.getAccount(index));
    super.writeAccount(index, account);
  }
}

/** The arguments of a fraud proof of one step, ready for `FraudVerifier.proveQueueStep` / `proveChunkStep`. */
export type FraudProof =
  | {
      kind: "queue";
      batchIndex: number;
      stepIndex: number;
      pre: StateHeader;
      items: QueueItem[];
      witness: StepWitness;
      /** The root the step really yields. */
      computedRoot: string;
    }
  | {
      kind: "chunk";
      batchIndex: number;
      stepIndex: number;
      pre: StateHeader;
      chunk: Uint8Array;
      chunkIndex: number;
      chunkProof: string[];
      witness: StepWitness;
      computedRoot: string;
    };

/** Index of the first root where `proposed` differs from `computed`, or -1 when they agree. */
export function firstWrongStep(proposed: readonly string[], computed: readonly string[]): number {
  const n = Math.max(proposed.length, computed.length);
  for (let i = 0; i < n; i++) {
    if (proposed[i]?.toLowerCase() !== computed[i]?.toLowerCase()) return i;
  }
  return -1;
}

/**
 * The fraud proof of step `stepIndex` of `batch`, from the batch's pre-state
 * `pre` (not mutated): the steps before it are applied honestly, then the step
 * itself with its witness recorded.
 */
export function buildFraudProof(
  pre: L2State,
  batch: BatchData,
  stepIndex: number,
  domainSeparator: string,
): FraudProof {
  const inputs = stepInputs(batch);
  const input = inputs[stepIndex];
  if (input === undefined) {
    throw new BilayerError("INVALID_STEP", `batch ${batch.index} has no step ${stepIndex}`, {
      context: { batch: batch.index, stepIndex, steps: inputs.length },
    });
  }
  const state = pre.clone();
  for (let i = 0; i < stepIndex; i++) applyStep(state, batch, inputs[i], domainSeparator);
  const header = state.header();
  const result = applyStep(state, batch, input, domainSeparator, true);
  const witness = result.witness as StepWitness;
  if (input.kind === "queue") {
    return {
      kind: "queue",
      batchIndex: batch.index,
      stepIndex,
      pre: header,
      items: input.items,
      witness,
      computedRoot: result.postRoot,
    };
  }
  return {
    kind: "chunk",
    batchIndex: batch.index,
    stepIndex,
    pre: header,
    chunk: input.chunk,
    chunkIndex: input.chunkIndex,
    chunkProof: chunkProof(batch.chunks, input.chunkIndex),
    witness,
    computedRoot: result.postRoot,
  };
}

/**
 * The L2 state after the last batch replayed (the tip), and the undo record of
 * every batch not yet settled, from which the pre-state of any such batch is
 * rebuilt on demand.
 */
export class Replica {
  private readonly state: JournaledState;
  private readonly undos = new Map<number, BatchUndo>();
  private replayedCount: number;

  private constructor(state: JournaledState, replayed: number) {
    this.state = state;
    this.replayedCount = replayed;
  }

  /** The genesis replica: no batch replayed. */
  static genesis(): Replica {
    return new Replica(new JournaledState(), 0);
  }

  /**
   * A replica restored from a checkpoint: the tip's accounts (indices 1..n, in
   * order), its withdrawals (indices 0..m−1, in order), the number of batches
   * it reflects, and the undo records of the unsettled batches.
   */
  static restore(
    accounts: Iterable<Account>,
    withdrawals: Iterable<Withdrawal>,
    replayed: number,
    undos: Iterable<BatchUndo>,
  ): Replica {
    const state = new JournaledState();
    for (const account of accounts) state.createAccount(account);
    for (const withdrawal of withdrawals) state.appendWithdrawal(withdrawal);
    const replica = new Replica(state, replayed);
    for (const undo of undos) replica.undos.set(undo.batch, undo);
    return replica;
  }

  /** Number of batches replayed: the next batch to replay. */
  get replayed(): number {
    return this.replayedCount;
  }

  /** The state after the last batch replayed. Read only: mutate a clone. */
  get tip(): L2State {
    return this.state;
  }

  /** The batches whose undo record is kept (unsettled), in order. */
  undoBatches(): number[] {
    return [...this.undos.keys()].sort((a, b) => a - b);
  }

  /** The undo record of an unsettled batch. */
  undoOf(batch: number): BatchUndo | undefined {
    return this.undos.get(batch);
  }

  /**
   * {@link replay} with the batch's BLS aggregates checked by `check` (on other threads) while the batch replays:
   * each is taken to hold when it is met, and once every answer is in, the replay stands if they all hold; if one
   * does not, the batch is undone and replayed again with every aggregate checked here, in turn. Either way the
   * result is exactly the one {@link replay} gives. Until it resolves the tip holds the batch as first replayed.
   */
  async replayChecked(batch: BatchData, domainSeparator: string, check: AsyncAggregateCheck): Promise<ReplayedBatch> {
    const verdicts: Promise<boolean>[] = [];
    const result = this.replay(batch, domainSeparator, (messages, keys, signature) => {
      verdicts.push(check(messages, keys, signature));
      return true;
    });
    if ((await Promise.all(verdicts)).every(Boolean)) return result;
    this.undoLast(result.undo);
    return this.replay(batch, domainSeparator);
  }

  /** Takes the last batch replayed back off the tip (its undo record `undo`). */
  private undoLast(undo: BatchUndo): void {
    for (const [index, before] of undo.accounts) this.state.restoreAccount(index, before ?? undefined);
    this.state.truncate(undo.accountCount, undo.withdrawalCount);
    this.undos.delete(undo.batch);
    this.replayedCount--;
  }

  /**
   * Replays the next batch on the tip and returns its step roots and what it changed (`verifyAggregate`: how a BLS
   * chunk's aggregate is checked, see `StepOptions`).
   */
  replay(batch: BatchData, domainSeparator: string, verifyAggregate?: AggregateCheck): ReplayedBatch {
    if (batch.index !== this.replayedCount) {
      throw new BilayerError("REPLAY_OUT_OF_ORDER", `batch ${batch.index} replayed after ${this.replayedCount - 1}`, {
        context: { batch: batch.index, expected: this.replayedCount },
      });
    }
    if (batch.queueItems.length !== batch.queueEnd - batch.queueStart) {
      throw new BilayerError("REPLAY_MISSING_QUEUE", `batch ${batch.index} lacks queue items`, {
        context: { batch: batch.index, queueStart: batch.queueStart, queueEnd: batch.queueEnd },
      });
    }
    const state = this.state;
    const accountCount = state.accountCount;
    const withdrawalCount = state.withdrawalCount;
    const journal = new Map<number, Account | undefined>();
    state.journal = journal;
    const stepRoots: string[] = [];
    let transactions = 0;
    let applied = 0;
    const chunkOutcomes: StepOutcome[][] = [];
    try {
      for (const input of stepInputs(batch)) {
        const result = applyStep(state, batch, input, domainSeparator, false, verifyAggregate);
        stepRoots.push(result.postRoot);
        if (input.kind === "chunk") {
          chunkOutcomes.push(result.outcomes);
          for (const outcome of result.outcomes) {
            if (outcome.code === Outcome.UnknownType || outcome.code === Outcome.Truncated) continue;
            if (outcome.code === Outcome.Trailing) continue;
            transactions++;
            if (outcome.code === Outcome.Applied) applied++;
          }
        }
      }
    } finally {
      state.journal = undefined;
    }
    const undo: BatchUndo = { batch: batch.index, accountCount, withdrawalCount, accounts: [] };
    const written: [number, Account][] = [];
    for (const [index, before] of journal) {
      undo.accounts.push([index, before ?? null]);
      written.push([index, state.getAccount(index) as Account]);
    }
    const withdrawals: [number, Withdrawal][] = [];
    for (let w = withdrawalCount; w < state.withdrawalCount; w++) {
      withdrawals.push([Number(w), state.withdrawal(w) as Withdrawal]);
    }
    this.undos.set(batch.index, undo);
    this.replayedCount++;
    return {
      index: batch.index,
      stepRoots,
      transactions,
      applied,
      queueItems: batch.queueItems.length,
      undo,
      written,
      withdrawals,
      chunkOutcomes,
    };
  }

  /** Forgets the undo records of batches below `batch` (settled: final, with the roots this replica computed). */
  settle(batch: number): number[] {
    const dropped: number[] = [];
    for (const k of this.undos.keys()) {
      if (k < batch) {
        this.undos.delete(k);
        dropped.push(k);
      }
    }
    return dropped;
  }

  /**
   * The state before batch `batch` (a fresh object), rebuilt from the tip and
   * the undo records of batches `batch .. replayed − 1`, which must all be kept.
   */
  preStateOf(batch: number): L2State {
    if (batch === this.replayedCount) return this.state.clone();
    if (batch > this.replayedCount || batch < 0) {
      throw new BilayerError("NO_PRE_STATE", `batch ${batch} is not replayed (replayed: ${this.replayedCount})`, {
        context: { batch, replayed: this.replayedCount },
      });
    }
    const before = new Map<number, Account | null>();
    for (let k = this.replayedCount - 1; k >= batch; k--) {
      const undo = this.undos.get(k);
      if (undo === undefined) {
        throw new BilayerError("NO_PRE_STATE", `the undo record of batch ${k} is gone (settled)`, {
          context: { batch, missing: k },
        });
      }
      // Older batches are visited last, so each index ends with its value before `batch`.
      for (const [index, account] of undo.accounts) before.set(index, account);
    }
    const first = this.undos.get(batch) as BatchUndo;
    const accounts: Account[] = [];
    for (let i = 1; i <= first.accountCount; i++) {
      const account = before.has(i) ? before.get(i) : this.state.getAccount(i);
      if (account === null || account === undefined) {
        throw new BilayerError("NO_PRE_STATE", `account ${i} missing before batch ${batch}`, {
          context: { batch, account: i },
        });
      }
      accounts.push(account);
    }
    const withdrawals: Withdrawal[] = [];
    for (let w = 0n; w < first.withdrawalCount; w++) withdrawals.push(this.state.withdrawal(w) as Withdrawal);
    return L2State.fromAccounts(accounts, withdrawals);
  }

  /** The tip's state root (hex). */
  stateRoot(): string {
    return this.state.stateRoot();
  }
}

/** `0x` hex of a chunk, for storage. */
export function chunkHex(chunk: Uint8Array): string {
  return toHex(chunk);
}
