import {
  batchCommitment,
  chunksRoot,
  MAX_BATCH_BYTES,
  MAX_CHUNKS_PER_BATCH,
  MAX_QUEUE_ITEMS_PER_BATCH,
} from "../l1/batch";
import { MAX_NONCE, MAX_QUEUE_ITEMS_PER_STEP, Outcome, outcomeName, TX_SIZE, TxType } from "../protocol/constants";
import { decodeChunk, decodeTx, readU32, txHash, type L2Tx } from "../protocol/codec";
import { txDigest } from "../protocol/eip712";
import { BilayerError, isBilayerError } from "../protocol/errors";
import { concatBytes, fromHex, toHex } from "../protocol/hash";
import { L2State, type Account, type Withdrawal } from "../protocol/state";
import { applyChunk, applyQueueStep, ChunkExecutor, type SignerRecovery, type StepContext } from "../protocol/stf";
import { batchIsDue, batchIsFull, chunkIsFull, type OpenBatchShape } from "./batch-policy";
import { isRefusal, RefusedError, type Refusal } from "./refusals";
import type { Logger } from "./log";
import { Mempool, MempoolFullError, type MempoolLimits, type WaitingTx } from "./mempool";
import type { OperatorMetrics } from "./metrics";
import { copyPresigned, recoverPresigned, type Presigned, type SenderHints } from "./presign";
import {
  batchKey,
  hashKey,
  headerToJson,
  KEY_OPEN,
  PREFIX_BATCH,
  PREFIX_HASH,
  PREFIX_QUEUE,
  PREFIX_TX,
  PREFIX_WAITING,
  queueItemOf,
  queueKey,
  txKey,
  waitingKey,
  type BatchRecord,
  type DroppedRecord,
  type OpenBatchRecord,
  type StoredQueueItem,
  type TxRecord,
} from "./records";
import type { KeyValueStore, StoreOp } from "../common/store";
import { WithdrawalHistory } from "./withdrawals";
import { applyStep, JournaledState, stepInputs, type BatchData, type BatchUndo } from "../verifier/replica";
import {
  checkpointOps,
  dropUndoOps,
  GENESIS_SNAPSHOT,
  KEY_SNAPSHOT,
  Mutex,
  preStateFromSnapshot,
  readSnapshot,
  receiptKey,
  type BatchDelta,
  type CheckpointBatch,
  type ReceiptRecord,
  type SnapshotMeta,
} from "./snapshot";

/**
 * Limits of a batch. The size limits default to the inbox's own (`src/l1/batch.ts`, twin of BatchLimits.sol) and
 * may only be lowered: every batch within them is an `appendBatch` a public mempool relays.
 */
export interface BatchLimits {
  /** Close the batch once it is this old (ms) and has anything in it. */
  maxAgeMs: number;
  /** Chunks per batch (at most `MAX_CHUNKS_PER_BATCH` = 113). */
  maxChunks: number;
  /** Chunk bytes per batch (at most `MAX_BATCH_BYTES` = 120,000). */
  maxBytes: number;
  /** Queue items per batch (at most `MAX_QUEUE_ITEMS_PER_BATCH` = 1024). */
  maxQueueItems: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = {
  maxAgeMs: 2_000,
  maxChunks: MAX_CHUNKS_PER_BATCH,
  maxBytes: MAX_BATCH_BYTES,
  maxQueueItems: MAX_QUEUE_ITEMS_PER_BATCH,
};

export interface SequencerOptions {
  store: KeyValueStore;
  domainSeparator: string;
  /** The account credited with fees (0: fees disabled, a fee > 0 is refused). */
  feeRecipient: number;
  limits?: Partial<BatchLimits>;
  mempool?: Partial<MempoolLimits>;
  logger: Logger;
  metrics: OperatorMetrics;
}

/** Where a transaction stands. */
export type TxStatus = "queued" | "pending" | "batched" | "appended" | "proposed" | "final" | "skipped";

/**
 * What `l2_sendTransaction` answers: for a new transaction `pending` (applied to the pending state) or `queued`
 * (waiting for an earlier nonce); for one sent before, wherever it stands now.
 */
export interface SubmitResult {
  hash: string;
  status: TxStatus;
  from: number;
  nonce: number;
  /** Why it was skipped (status `skipped`). */
  reason?: string;
  /** The batch that holds it, once it is in a closed one. */
  batchIndex?: number;
}

export interface TxReceipt {
  hash: string;
  status: TxStatus;
  from: number;
  nonce: number;
  /** Outcome name (`Applied`, or the skip reason's outcome). */
  outcome: string;
  reason?: string;
  acceptedAt: number;
  seq?: number;
  batchIndex?: number;
  /** Step index within the batch (queue steps come first). */
  stepIndex?: number;
  /** Position of the transaction in its chunk. */
  position?: number;
  /** For a withdrawal: its index in the withdrawal tree (what `l2_getWithdrawalProof` takes). */
  withdrawalIndex?: number;
  /** For a transfer to a new address: the account it created. */
  createdAccount?: number;
}

/** A batch as L1 holds it, for {@link Sequencer.rebase}. */
export interface AdoptedBatch {
  index: number;
  queueStart: number;
  queueEnd: number;
  chunks: Uint8Array[];
  feeRecipient: number;
  commitment: string;
}

/** L1 progress, as the driver last saw it. */
export interface L1Heads {
  /** Batches appended to the inbox (and matching ours). */
  appended: number;
  /** Batches with a live proposal. */
  proposed: number;
  /** Batches whose proposal is final. */
  final: number;
}

/** The batch being filled. */
interface OpenBatch {
  index: number;
  /** The batch's fee recipient: ours, or an adopted L1 batch's own. */
  feeRecipient: number;
  queueStart: number;
  queueEnd: number;
  firstSeq: number;
  openedAt: number;
  queueRoots: string[];
  chunkEnds: number[];
  chunkRoots: string[];
  chunks: Uint8Array[];
  bytes: number;
  /** The chunk being filled: its executor (created at its first transaction) and its transactions' bytes. */
  executor: ChunkExecutor | undefined;
  current: Uint8Array[];
  txCount: number;
  header: BatchRecord["header"] | undefined;
  /** The counts before the batch (its journal is open while it is). */
  before: { accountCount: number; withdrawalCount: bigint };
}

const U32 = 2 ** 32;
/** How many nonces on each side of the account's a refused signature is tried against, to tell a wrong nonce. */
const NONCE_PROBES = 3;

/** The open batch as the batch policy sees it. */
function shapeOf(open: OpenBatch): OpenBatchShape {
  return {
    bytes: open.bytes,
    closedChunks: open.chunks.length,
    chunkTxs: open.current.length,
    chunkReads: open.executor?.transactionCount,
    openedAt: open.openedAt,
  };
}

/** Where transaction `seq` of closed batch `b` is: its batch, its step, its position in its chunk. */
function placeOf(seq: number, b: BatchRecord): { b: number; st: number; p: number } {
  const chunk = b.chunkEnds.findIndex((end) => seq < end);
  const chunkStart = chunk === 0 ? b.firstSeq : b.chunkEnds[chunk - 1];
  return { b: b.index, st: b.stepRoots.length - b.chunkEnds.length + chunk, p: seq - chunkStart };
}

/** The protocol outcome behind a refusal, when only one can be. */
const OUTCOME_OF: Partial<Record<Refusal, Outcome>> = {
  BAD_SIGNATURE: Outcome.BadSignature,
  INSUFFICIENT_BALANCE: Outcome.InsufficientBalance,
};

function reject(refusal: Refusal, message: string, data?: Record<string, unknown>, outcome?: Outcome): never {
  throw new RefusedError(refusal, message, { data, outcome: outcome ?? OUTCOME_OF[refusal] });
}

/**
 * The sequencer: orders L2 transactions, applies each to the pending L2 state
 * with the STF's own chunk executor (so its outcome is exactly the one the
 * batch will have), stores it durably before acknowledging it, and cuts the
 * sequence into chunks and batches whose step roots the proposer posts.
 *
 * The order of events is the order of the store's group commit, so what is
 * on disk is always a prefix of what was applied; a restart replays it.
 */
export class Sequencer {
  private readonly o: SequencerOptions;
  readonly limits: BatchLimits;
  private readonly ctx: StepContext;
  private state = new JournaledState();
  /**
   * The snapshot the state was rebuilt from (./snapshot.ts): the closed batches before `base.batches` are in the
   * store only, their transactions answered from their receipt records.
   */
  private base: SnapshotMeta = GENESIS_SNAPSHOT;
  /** Queue items from `base.queueEnd` on (`queue[i]` is item `base.queueEnd + i`). */
  private queue: StoredQueueItem[] = [];
  /** Closed batches from `base.batches` on (`batches[i]` is batch `base.batches + i`). */
  private batches: BatchRecord[] = [];
  /** What each closed batch in `batches` changed, until a checkpoint takes it into the snapshot. */
  private deltas = new Map<number, BatchDelta>();
  /** The first closed batch holding each withdrawal (for the withdrawals in a closed batch). */
  private withdrawalBatch: number[] = [];
  /** Moving the snapshot and reading it back (for a fraud proof) do not interleave; nor does a reload. */
  private readonly snapshotLock = new Mutex();
  /** The lowest batch that may still have an undo record in the store. */
  private undoFloor = 0;
  /** Highest sequence number + 1 whose write resolved: what this process acknowledged. */
  private acknowledgedSeq = 0;
  private open: OpenBatch | undefined;
  private nextSeq = 0;
  private mempool: Mempool;
  private owners = new Map<string, number[]>();
  private withdrawals = new WithdrawalHistory();
  /** Withdrawal indices by recipient. */
  private withdrawalsOf = new Map<string, number[]>();
  private knownAccounts = 0;
  private chunkCache = new Map<number, Uint8Array[]>();
  /** Sequence number of every accepted transaction by hash (rebuilt from the store on load). */
  private txIndex = new Map<string, number>();
  /** Waiting transactions that were skipped when their turn came, by hash. */
  private dropped = new Map<string, DroppedRecord>();
  private durableBatches = 0;
  private l1: L1Heads = { appended: 0, proposed: 0, final: 0 };
  private available = false;
  /** Why the store is not usable right now (a failed write being recovered from). */
  private unavailableReason: string | undefined;
  /** Why the operator refuses transactions though the store works, by who says so (L1 checks, stopping). */
  private readonly refusals = new Map<string, string>();
  private recovering: Promise<void> | undefined;
  /** Store operations in the order the events happened, written by the next `commit()`. */
  private buffered: StoreOp[] = [];
  /** Settles once the latest write issued has (resolved or failed). */
  private lastCommit: Promise<void> = Promise.resolve();
  /** Batches closed since the last `commit()`: durable once it resolves. */
  private closedBuffered: BatchRecord[] = [];
  /** Called after a batch is closed and durably stored. */
  onBatchDurable: ((batch: BatchRecord) => void) | undefined;
  /** The recovery handed in with the transaction being executed, if any (see ./presign.ts). */
  private presigned: Presigned | undefined;
  private readonly countRecovery = (presigned: boolean): void => this.o.metrics.recovered(presigned);
  /** The chunk executors' signer recovery: the presigned one when it is for the same digest and signature. */
  private readonly recoverSigner: SignerRecovery = (digest, bytes, sigOffset) =>
    recoverPresigned(this.presigned, digest, bytes, sigOffset, this.countRecovery);
  /** Accounts whose nonce may have changed, or that are new, since {@link senderHints} last ran; undefined until it does. */
  private hintsDirty: Set<number> | undefined;
  private hintsReset = false;

  constructor(opts: SequencerOptions) {
    this.o = opts;
    this.limits = { ...DEFAULT_BATCH_LIMITS, ...opts.limits };
    this.ctx = { domainSeparator: opts.domainSeparator, feeRecipient: opts.feeRecipient };
    this.mempool = new Mempool(opts.mempool);
  }

  // ---------------------------------------------------------------------------
  // start-up and recovery

  /**
   * Rebuilds the pending state from the store: the closed batches (every
   * chunk re-executed and checked against its stored step roots), the open
   * batch, and the waiting transactions. `queue` is every queue item the
   * follower has stored, in order.
   */
  async load(queue: StoredQueueItem[], opts: { stayUnavailable?: boolean } = {}): Promise<void> {
    await this.snapshotLock.run(() => this.loadUnlocked(queue, opts));
  }

  private async loadUnlocked(queue: StoredQueueItem[], opts: { stayUnavailable?: boolean }): Promise<void> {
    this.available = false;
    const started = performance.now();
    const store = this.o.store;
    const snapshot = await readSnapshot(store);
    this.base = snapshot?.meta ?? GENESIS_SNAPSHOT;
    this.state = snapshot?.state ?? new JournaledState();
    this.withdrawalBatch = snapshot?.withdrawalBatches ?? [];
    this.undoFloor = Math.min(this.base.batches, ...(snapshot?.undos.map((u) => u.batch) ?? []));
    this.queue = queue.filter((q) => q.index >= this.base.queueEnd);
    if (this.queue.length > 0 && this.queue[0].index !== this.base.queueEnd)
      throw this.corrupt(`queue item ${this.base.queueEnd} is missing`);
    this.batches = [];
    this.deltas = new Map();
    this.open = undefined;
    this.nextSeq = this.base.endSeq;
    this.mempool = new Mempool(this.o.mempool);
    this.owners = new Map();
    this.withdrawals = new WithdrawalHistory();
    this.withdrawalsOf = new Map();
    this.knownAccounts = 0;
    this.chunkCache = new Map();
    this.txIndex = new Map();
    this.dropped = new Map();
    this.buffered = [];
    this.closedBuffered = [];
    // The snapshot's accounts and withdrawals, indexed once.
    this.indexNew();

    const batches: BatchRecord[] = [];
    for await (const [, v] of store.entries(PREFIX_BATCH, batchKey(this.base.batches)))
      batches.push(JSON.parse(v) as BatchRecord);
    const txs = store.entries(PREFIX_TX, txKey(this.base.endSeq))[Symbol.asyncIterator]();
    let pendingTx: TxRecord | undefined;
    const nextTx = async (): Promise<TxRecord | undefined> => {
      if (pendingTx) {
        const t = pendingTx;
        pendingTx = undefined;
        return t;
      }
      const r = await txs.next();
      if (r.done) return undefined;
      const t = JSON.parse(r.value[1]) as TxRecord;
      this.txIndex.set(t.h, this.seqOf(t));
      return t;
    };

    for (const b of batches) {
      if (b.index !== this.batchCount) throw this.corrupt(`batch ${b.index} follows ${this.batchCount - 1}`);
      const counts = this.beginDelta();
      const roots = this.applyQueueRange(b.queueStart, b.queueEnd);
      const chunks: Uint8Array[] = [];
      let seq = b.firstSeq;
      const ctx: StepContext = { domainSeparator: this.ctx.domainSeparator, feeRecipient: b.feeRecipient };
      for (const end of b.chunkEnds) {
        const parts: Uint8Array[] = [];
        const expected: number[] = [];
        for (; seq < end; seq++) {
          const t = await nextTx();
          if (!t || this.seqOf(t) !== seq) throw this.corrupt(`transaction ${seq} of batch ${b.index} is missing`);
          parts.push(fromHex(t.b));
          expected.push(t.o ?? Outcome.Applied);
        }
        const chunk = concatBytes(...parts);
        const result = applyChunk(this.state, chunk, ctx);
        const bad = result.outcomes.find((x, i) => x.code !== expected[i]);
        if (bad) throw this.corrupt(`batch ${b.index} replays with another outcome: ${bad.reason}`);
        roots.push(result.postRoot);
        chunks.push(chunk);
      }
      this.indexNew();
      if (roots.length !== b.stepRoots.length || roots.some((r, i) => r !== b.stepRoots[i])) {
        throw this.corrupt(`batch ${b.index} replays to other step roots than it was closed with`);
      }
      this.endDelta(b.index, counts);
      this.batches.push(b);
      this.chunkCache.set(b.index, chunks);
      this.nextSeq = b.endSeq;
    }
    this.durableBatches = this.batchCount;

    const openText = await store.get(KEY_OPEN);
    if (openText !== undefined) {
      const rec = JSON.parse(openText) as OpenBatchRecord;
      if (rec.index === this.batchCount) {
        this.startBatch(rec.index, rec.queueStart, rec.queueEnd, rec.firstSeq, rec.openedAt);
        for (let t = await nextTx(); t; t = await nextTx()) {
          const seq = this.seqOf(t);
          if (seq !== this.nextSeq) throw this.corrupt(`transaction ${seq} follows ${this.nextSeq - 1}`);
          const bytes = fromHex(t.b);
          const code = this.execute(bytes);
          if (code !== Outcome.Applied) {
            throw this.corrupt(`transaction ${seq} (${t.h}) replays as ${outcomeName(code)}`);
          }
          this.nextSeq++;
          this.afterApplied(bytes);
        }
      }
    }
    if (await nextTx()) throw this.corrupt("transactions after the last batch without an open batch");

    for await (const [, v] of store.entries(PREFIX_HASH)) {
      const d = JSON.parse(v) as DroppedRecord;
      this.dropped.set(d.h, d);
    }
    for await (const [, v] of store.entries(PREFIX_WAITING)) {
      const t = JSON.parse(v) as TxRecord;
      this.mempool.add({ hash: t.h, from: t.f, nonce: t.n, bytes: fromHex(t.b), receivedAt: t.at });
    }
    // Waiting transactions whose turn came (their predecessor was the last thing stored before a crash),
    // and a batch that was full but whose record did not reach the disk.
    for (const from of new Set(this.mempool.all().map((w) => w.from))) this.promote(from);
    this.closeIfFull();
    if (this.buffered.length > 0) await this.commit();

    // Everything read back is durable: this is what a later open reads too.
    if (this.nextSeq < this.acknowledgedSeq) {
      this.o.logger.fatal(
        { stored: this.nextSeq, acknowledged: this.acknowledgedSeq },
        "ACKNOWLEDGED TRANSACTIONS MISSING: the store holds fewer transactions than this process acknowledged",
      );
      throw this.corrupt(`it holds ${this.nextSeq} transactions, ${this.acknowledgedSeq} were acknowledged`);
    }
    this.acknowledgedSeq = this.nextSeq;
    this.updateGauges();
    if (this.hintsDirty) {
      // Rebuilt: every account's token and nonce are told afresh.
      this.hintsDirty.clear();
      this.hintsReset = true;
    }
    this.available = opts.stayUnavailable !== true;
    this.o.logger.info(
      {
        snapshotBatches: this.base.batches,
        batches: this.batchCount,
        replayedBatches: batches.length,
        transactions: this.nextSeq,
        replayedTransactions: this.nextSeq - this.base.endSeq,
        queueItems: this.queueLength,
        waiting: this.mempool.size,
        ms: Math.round(performance.now() - started),
      },
      "sequencer state rebuilt from the store",
    );
  }

  /** Opens the journal of a batch: what it changes is recorded from here. */
  private beginDelta(): { accountCount: number; withdrawalCount: bigint } {
    this.state.journal = new Map();
    return { accountCount: this.state.accountCount, withdrawalCount: this.state.withdrawalCount };
  }

  /** Closes the journal of batch `index` into its delta and indexes its withdrawals by batch. */
  private endDelta(index: number, before: { accountCount: number; withdrawalCount: bigint }): void {
    const journal = this.state.journal ?? new Map<number, Account | undefined>();
    this.state.journal = undefined;
    const undo: BatchUndo = {
      batch: index,
      accountCount: before.accountCount,
      withdrawalCount: before.withdrawalCount,
      accounts: [...journal].map(([i, a]) => [i, a ?? null]),
    };
    const after: [number, Account][] = [...journal.keys()].map((i) => [i, this.state.getAccount(i) as Account]);
    this.deltas.set(index, { undo, after });
    for (let w = Number(before.withdrawalCount); w < Number(this.state.withdrawalCount); w++)
      this.withdrawalBatch[w] = index;
  }

  private corrupt(message: string): BilayerError {
    return new BilayerError("STORE_CORRUPT", `the operator's store does not replay: ${message}`);
  }

  private seqOf(t: TxRecord): number {
    return t.s ?? -1;
  }

  /** Stops accepting and rebuilds from the store after a failed write. */
  private recover(err: unknown): void {
    if (this.recovering) return;
    this.available = false;
    this.unavailableReason = `recovering from a failed store write: ${(err as Error).message}`;
    this.o.logger.error({ err }, "store write failed; rebuilding the pending state from the store");
    this.recovering = (async () => {
      for (let attempt = 1; ; attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
        try {
          // A new handle, so that what is written next lands after what a later open reads back (store.ts).
          await this.o.store.reopen();
          await this.load(this.queue);
          this.unavailableReason = undefined;
          this.o.logger.warn({ attempt }, "sequencer recovered from a store failure");
          return;
        } catch (e) {
          this.o.logger.error({ err: e, attempt }, "recovery from the store failed; retrying");
        }
      }
    })().finally(() => {
      this.recovering = undefined;
    });
  }

  // ---------------------------------------------------------------------------
  // the hot path

  /**
   * Accepts one packed transaction. Without `nonce`, it is signed over the
   * sender's current nonce; with `nonce` ahead of it, it waits in the
   * mempool. Resolves once the transaction is durably stored; throws
   * {@link RefusedError} for anything the STF would skip, with the outcome and the reason.
   * `presigned`: the signer recovered ahead of time by the HTTP thread; used
   * only if it is for the very digest and signature checked (./presign.ts).
   */
  async submit(bytes: Uint8Array, nonce?: number, presigned?: Presigned): Promise<SubmitResult> {
    if (!this.available || this.refusals.size > 0) {
      const why = this.refusing ?? this.unavailableReason ?? "starting";
      reject("NOT_ACCEPTING", `the sequencer is not accepting transactions right now: ${why}`, { reason: why });
    }
    const decoded = decodeTx(bytes, 0);
    if (!decoded.ok) reject("NOT_A_TRANSACTION", `not a transaction: ${decoded.message}`, undefined, decoded.reason);
    if (decoded.size !== bytes.length) {
      reject("NOT_A_TRANSACTION", `a type-${bytes[0]} transaction is ${decoded.size} bytes, got ${bytes.length}`);
    }
    const tx = decoded.tx;
    const hash = txHash(bytes);
    if (this.mempool.byId(hash) || this.lookup(hash)) return this.resent(hash);
    try {
      return await this.admit(tx, bytes, hash, nonce, presigned);
    } catch (err) {
      // Sent again long after it was accepted (its batch is in the snapshot, so not indexed in memory): its nonce is
      // used now and it fails the checks. The store knows it; answer where it stands.
      if (isRefusal(err) && err.code !== "STORE_FAILED" && (await this.storedReceipt(hash))) return this.resent(hash);
      throw err;
    }
  }

  /** {@link submit} of a transaction not seen before. */
  private async admit(
    tx: L2Tx,
    bytes: Uint8Array,
    hash: string,
    nonce: number | undefined,
    presigned: Presigned | undefined,
  ): Promise<SubmitResult> {
    const sender = this.account(tx.from);
    if (!sender) {
      reject(
        "UNKNOWN_ACCOUNT",
        `sender account ${tx.from} does not exist (accounts are 1..${this.state.accountCount})`,
        {
          reason: outcomeName(Outcome.SenderMissing),
          account: tx.from,
        },
        Outcome.SenderMissing,
      );
    }
    if (nonce !== undefined && nonce !== sender.nonce) {
      if (nonce < sender.nonce) {
        reject("WRONG_NONCE", `nonce ${nonce} is already used: account ${tx.from} is at nonce ${sender.nonce}`, {
          nonce,
          accountNonce: sender.nonce,
        });
      }
      return this.enqueueWaiting(tx, bytes, hash, sender, nonce, presigned);
    }
    this.precheck(tx, sender);

    const usedNonce = sender.nonce;
    const code = this.sequenceOne(bytes, { hash, from: tx.from, nonce: usedNonce, at: Date.now() }, presigned);
    if (code !== Outcome.Applied) return this.explainSkip(tx, bytes, hash, sender, code);
    this.promote(tx.from);
    await this.commitOrFail();
    this.o.metrics.accepted();
    return { hash, status: "pending", from: tx.from, nonce: usedNonce };
  }

  /**
   * The answer to a transaction sent again (a wallet retrying after a lost response): its hash and where it stands
   * now, never a second copy. The first copy may still be on its way to the disk, so it answers only once every
   * write issued so far is durable; if that write failed, the transaction was never acknowledged and the sender
   * hears so, as the first copy's sender did.
   */
  private async resent(hash: string): Promise<SubmitResult> {
    await this.lastCommit;
    if (!this.available) {
      const why = this.unavailableReason ?? "starting";
      reject("NOT_ACCEPTING", `the sequencer is not accepting transactions right now: ${why}`, { reason: why });
    }
    const r = await this.receipt(hash);
    if (r === undefined) {
      reject("NOT_ACCEPTING", "the transaction's first copy was not stored; send it again", { hash });
    }
    return {
      hash,
      status: r.status,
      from: r.from,
      nonce: r.nonce,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
      ...(r.batchIndex === undefined ? {} : { batchIndex: r.batchIndex }),
    };
  }

  /** Throws the API error for the first cheap STF check `tx` fails. */
  private precheck(tx: L2Tx, sender: Readonly<Account>): void {
    const r = this.check(tx, sender);
    if (r) reject(r.refusal, r.message, r.data, r.outcome);
  }

  /**
   * The STF's checks other than the signature (PROTOCOL.md §5.2), against
   * the pending state: a transaction failing one never reaches the chunk.
   */
  private check(
    tx: L2Tx,
    sender: Readonly<Account>,
  ): { refusal: Refusal; outcome: Outcome; message: string; data: Record<string, unknown> } | undefined {
    const count = this.state.accountCount;
    const no = (refusal: Refusal, outcome: Outcome, message: string, data: Record<string, unknown> = {}) => ({
      refusal,
      outcome,
      message,
      data: { reason: outcomeName(outcome), ...data },
    });
    if (tx.type === TxType.Transfer) {
      const recipient = tx.to >= 1 && tx.to <= count ? this.state.getAccount(tx.to) : undefined;
      if (!recipient) {
        return no(
          "UNKNOWN_ACCOUNT",
          Outcome.RecipientMissing,
          `recipient account ${tx.to} does not exist (accounts are 1..${count})`,
          {
            account: tx.to,
          },
        );
      }
      if (recipient.tokenId !== sender.tokenId) {
        return no(
          "WOULD_BE_SKIPPED",
          Outcome.TokenMismatch,
          `token mismatch: sender holds token ${sender.tokenId}, recipient ${tx.to} holds token ${recipient.tokenId}`,
        );
      }
    }
    if (tx.type === TxType.TransferToNew) {
      if (/^0x0{40}$/.test(tx.to))
        return no("WOULD_BE_SKIPPED", Outcome.InvalidRecipient, "invalid recipient: address(0)");
      if (count >= U32 - 1) return no("WOULD_BE_SKIPPED", Outcome.AccountLimit, "the account tree is full");
    }
    if (tx.fee > 0n) {
      const fr = this.ctx.feeRecipient;
      const feeAccount = fr >= 1 && fr <= count ? this.state.getAccount(fr) : undefined;
      if (!feeAccount || feeAccount.tokenId !== sender.tokenId) {
        return no(
          "WOULD_BE_SKIPPED",
          Outcome.FeeRecipientMismatch,
          feeAccount
            ? `fee in token ${sender.tokenId}, but the fee recipient holds token ${feeAccount.tokenId}`
            : "this operator takes no fees: send the transaction with fee 0",
        );
      }
    }
    if (tx.amount + tx.fee > sender.balance) {
      return no(
        "INSUFFICIENT_BALANCE",
        Outcome.InsufficientBalance,
        `insufficient balance: amount ${tx.amount} + fee ${tx.fee} > balance ${sender.balance} of account ${tx.from}`,
        { balance: sender.balance.toString(), amount: tx.amount.toString(), fee: tx.fee.toString() },
      );
    }
    if (sender.nonce === MAX_NONCE)
      return no("WOULD_BE_SKIPPED", Outcome.NonceExhausted, "the sender's nonce is exhausted");
    if (tx.type === TxType.Withdraw && this.state.withdrawalCount >= BigInt(U32)) {
      return no("WOULD_BE_SKIPPED", Outcome.WithdrawalLimit, "the withdrawal tree is full");
    }
    return undefined;
  }

  /** Why the executor skipped a transaction that passed the pre-checks (a signature problem, in practice). */
  private async explainSkip(
    tx: L2Tx,
    bytes: Uint8Array,
    hash: string,
    sender: Readonly<Account>,
    code: Outcome,
  ): Promise<SubmitResult> {
    if (code !== Outcome.BadSignature) {
      reject(
        "WOULD_BE_SKIPPED",
        `the transaction would be skipped: ${outcomeName(code)}`,
        { reason: outcomeName(code) },
        code,
      );
    }
    // Signed over a nearby nonce? A few recoveries, on this error path only (each costs ~0.1 ms).
    // Recovered here: a recovery made ahead was for another digest than the one checked (or it would have applied).
    const signer = (n: number): string | null => this.signerOf(tx, bytes, sender.tokenId, n, undefined);
    for (let d = 1; d <= NONCE_PROBES; d++) {
      const ahead = sender.nonce + d;
      if (d <= this.mempool.limits.maxNonceGap && ahead <= MAX_NONCE && signer(ahead) === sender.owner) {
        return this.enqueueWaiting(tx, bytes, hash, sender, ahead, undefined);
      }
      const behind = sender.nonce - d;
      if (behind >= 0 && signer(behind) === sender.owner) {
        reject(
          "WRONG_NONCE",
          `signed over nonce ${behind}, which is already used: account ${tx.from} is at nonce ${sender.nonce}`,
          {
            nonce: behind,
            accountNonce: sender.nonce,
          },
        );
      }
    }
    reject(
      "BAD_SIGNATURE",
      `bad signature: not signed by ${sender.owner}, the owner of account ${tx.from}, over nonce ${sender.nonce}`,
      {
        owner: sender.owner,
        nonce: sender.nonce,
      },
    );
  }

  /** Stores a transaction signed over a future nonce until its turn. */
  private async enqueueWaiting(
    tx: L2Tx,
    bytes: Uint8Array,
    hash: string,
    sender: Readonly<Account>,
    nonce: number,
    presigned: Presigned | undefined,
  ): Promise<SubmitResult> {
    const signer = this.signerOf(tx, bytes, sender.tokenId, nonce, presigned);
    if (signer !== sender.owner) {
      reject(
        "BAD_SIGNATURE",
        `bad signature: not signed by ${sender.owner}, the owner of account ${tx.from}, over nonce ${nonce}`,
        {
          owner: sender.owner,
          nonce,
        },
      );
    }
    // The recovery rides along (in memory only) for when the transaction's turn comes.
    const w: WaitingTx = { hash, from: tx.from, nonce, bytes, receivedAt: Date.now() };
    if (presigned) w.presigned = copyPresigned(presigned);
    try {
      if (!this.mempool.check(w, sender.nonce)) return { hash, status: "queued", from: tx.from, nonce };
    } catch (err) {
      if (err instanceof MempoolFullError) reject("MEMPOOL_FULL", err.message);
      if (isBilayerError(err, "NONCE_TOO_HIGH")) {
        reject("WRONG_NONCE", err.message, { nonce, accountNonce: sender.nonce });
      }
      throw err;
    }
    const record: TxRecord = { h: hash, b: toHex(bytes), f: tx.from, n: nonce, at: w.receivedAt };
    const replaced = this.mempool.add(w);
    this.buffered.push({ type: "put", key: waitingKey(tx.from, nonce), value: JSON.stringify(record) });
    await this.commitOrFail();
    if (replaced)
      this.o.logger.info({ from: tx.from, nonce, replaced: replaced.hash, by: hash }, "waiting transaction replaced");
    this.updateGauges();
    return { hash, status: "queued", from: tx.from, nonce };
  }

  /** Applies the waiting transactions of `from` whose nonce has come, in order (or drops them). */
  private promote(from: number): void {
    for (;;) {
      const sender = this.account(from);
      if (!sender) return;
      for (const stale of this.mempool.dropBelow(from, sender.nonce)) {
        this.buffered.push({ type: "del", key: waitingKey(from, stale.nonce) });
        this.drop(stale, Outcome.BadSignature, "its nonce was used by another transaction");
      }
      const next = this.mempool.take(from, sender.nonce);
      if (!next) return;
      this.buffered.push({ type: "del", key: waitingKey(from, next.nonce) });
      const decoded = decodeTx(next.bytes, 0);
      if (!decoded.ok) {
        this.drop(next, decoded.reason, decoded.message);
        continue;
      }
      const rejection = this.check(decoded.tx, sender);
      if (rejection) {
        this.drop(next, rejection.outcome, rejection.message);
        continue;
      }
      const entry = { hash: next.hash, from, nonce: next.nonce, at: next.receivedAt };
      const code = this.sequenceOne(next.bytes, entry, next.presigned);
      if (code !== Outcome.Applied) {
        this.drop(next, code, outcomeName(code));
        continue;
      }
      this.o.metrics.accepted();
    }
  }

  private drop(w: WaitingTx, code: Outcome, reason: string): void {
    const rec: DroppedRecord = { h: w.hash, f: w.from, n: w.nonce, at: w.receivedAt, code, reason };
    this.o.logger.info({ hash: w.hash, from: w.from, nonce: w.nonce, reason }, "waiting transaction skipped");
    this.dropped.set(w.hash, rec);
    this.buffered.push({ type: "put", key: hashKey(w.hash), value: JSON.stringify(rec) });
  }

  private accept(
    seq: number,
    hash: string,
    bytes: Uint8Array,
    from: number,
    nonce: number,
    at: number,
    outcome = Outcome.Applied,
  ): void {
    const rec: TxRecord = { s: seq, h: hash, b: toHex(bytes), f: from, n: nonce, at };
    if (outcome !== Outcome.Applied) {
      // Only in a batch adopted from L1: it is in the chunk, and changed nothing.
      rec.o = outcome;
      this.buffered.push({ type: "put", key: txKey(seq), value: JSON.stringify(rec) });
      this.txIndex.set(hash, seq);
      return;
    }
    // Called right after the executor applied it: the newest withdrawal or account is this one's.
    if (bytes[0] === TxType.Withdraw) rec.w = Number(this.state.withdrawalCount) - 1;
    if (bytes[0] === TxType.TransferToNew) rec.a = this.state.accountCount;
    this.buffered.push({ type: "put", key: txKey(seq), value: JSON.stringify(rec) });
    this.txIndex.set(hash, seq);
  }

  /**
   * Writes everything buffered, in order, as one durable group-commit write.
   * Batches closed in it become durable (and are handed to the batcher) once
   * it resolves. A failure stops the sequencer and rebuilds it from the store.
   */
  private commit(): Promise<void> {
    const ops = this.buffered;
    const closed = this.closedBuffered;
    this.buffered = [];
    this.closedBuffered = [];
    const upTo = this.nextSeq;
    const written = this.o.store.write(ops).then(
      () => {
        this.acknowledgedSeq = Math.max(this.acknowledgedSeq, upTo);
        for (const rec of closed) {
          this.durableBatches = Math.max(this.durableBatches, rec.index + 1);
          this.onBatchDurable?.(rec);
        }
      },
      (err: unknown) => {
        this.recover(err);
        throw err;
      },
    );
    // Writes complete in the order they were issued: once this one settles, everything before it has too.
    this.lastCommit = written.catch(() => undefined);
    return written;
  }

  /** `commit()` for a caller waiting to acknowledge: a failure becomes the API's store error. */
  private async commitOrFail(): Promise<void> {
    try {
      await this.commit();
    } catch (err) {
      throw new RefusedError("STORE_FAILED", "the transaction could not be stored durably and was not accepted", {
        cause: err,
      });
    }
  }

  /** `commit()` with nobody waiting (timers): a failure is handled by the recovery it starts. */
  private commitInBackground(): void {
    if (this.buffered.length === 0) return;
    this.commit().catch(() => undefined);
  }

  /** The lowercase address that signed `tx` (packed: `bytes`) over `tokenId` and `nonce`, or null. */
  private signerOf(
    tx: L2Tx,
    bytes: Uint8Array,
    tokenId: number,
    nonce: number,
    presigned: Presigned | undefined,
  ): string | null {
    const digest = txDigest(this.ctx.domainSeparator, tx, tokenId, nonce);
    const signer = recoverPresigned(presigned, digest, bytes, bytes.length - 64, this.countRecovery);
    return signer === null ? null : toHex(signer);
  }

  /** Runs one transaction through the open chunk's executor (`presigned`: see {@link submit}). */
  private execute(bytes: Uint8Array, presigned?: Presigned): Outcome {
    const open = this.open as OpenBatch;
    open.executor ??= this.newExecutor(open.feeRecipient);
    this.presigned = presigned;
    let code: Outcome;
    try {
      code = open.executor.next(bytes, 0).code;
    } finally {
      this.presigned = undefined;
    }
    if (code === Outcome.Applied) this.hintsDirty?.add(readU32(bytes, 1));
    return code;
  }

  private newExecutor(feeRecipient: number): ChunkExecutor {
    return new ChunkExecutor(
      this.state,
      { domainSeparator: this.ctx.domainSeparator, feeRecipient },
      { recoverSigner: this.recoverSigner },
    );
  }

  /**
   * Sequences one transaction that passed the checks — the one step admission, the release of a waiting
   * transaction and re-sequencing after a rebase share: executes it in the open batch (opening one if needed);
   * applied, records it, does the batch's book-keeping and closes the batch if another transaction might not fit
   * (before anything else is sequenced, so no batch ever exceeds its limits). Skipped, nothing is recorded: the
   * caller explains or drops it. Returns the STF's outcome.
   */
  private sequenceOne(
    bytes: Uint8Array,
    entry: { hash: string; from: number; nonce: number; at: number },
    presigned?: Presigned,
  ): Outcome {
    this.ensureOpen();
    const code = this.execute(bytes, presigned);
    if (code !== Outcome.Applied) {
      this.closeChunkIfFull();
      return code;
    }
    this.accept(this.nextSeq++, entry.hash, bytes, entry.from, entry.nonce, entry.at);
    this.afterApplied(bytes);
    this.closeIfFull();
    return code;
  }

  /** Book-keeping after an applied transaction. */
  private afterApplied(bytes: Uint8Array): void {
    const open = this.open as OpenBatch;
    open.current.push(bytes);
    open.txCount++;
    open.bytes += bytes.length;
    this.indexNew();
    this.closeChunkIfFull();
  }

  private closeChunkIfFull(): void {
    const open = this.open;
    if (open?.executor && chunkIsFull(open.executor.transactionCount)) this.closeChunk();
  }

  /** Ends the chunk being filled: credits its fees and records its root (`keepEmpty`: an empty chunk of L1's). */
  private closeChunk(keepEmpty = false): void {
    const open = this.open;
    if (!open) return;
    if (keepEmpty && !open.executor && open.current.length === 0) open.executor = this.newExecutor(open.feeRecipient);
    if (!open.executor) return;
    if (open.current.length === 0 && !keepEmpty) {
      // Only skipped attempts: they changed nothing, so the chunk is simply dropped.
      open.executor = undefined;
      return;
    }
    const result = open.executor.finish();
    open.executor = undefined;
    open.chunkRoots.push(result.postRoot);
    open.chunkEnds.push(this.nextSeq);
    open.chunks.push(concatBytes(...open.current));
    open.current = [];
    open.header = headerToJson(result.header);
    this.indexNew();
  }

  // ---------------------------------------------------------------------------
  // batches

  private ensureOpen(): void {
    if (this.open) return;
    const start = this.queueSequenced();
    const end = Math.min(this.queueLength, start + this.limits.maxQueueItems);
    this.startBatch(this.batchCount, start, end, this.nextSeq, Date.now());
    const rec: OpenBatchRecord = {
      index: this.batchCount,
      queueStart: start,
      queueEnd: end,
      firstSeq: this.nextSeq,
      openedAt: (this.open as unknown as OpenBatch).openedAt,
    };
    this.buffered.push({ type: "put", key: KEY_OPEN, value: JSON.stringify(rec) });
  }

  /** Opens batch `index` in memory and applies its queue items. */
  private startBatch(
    index: number,
    queueStart: number,
    queueEnd: number,
    firstSeq: number,
    openedAt: number,
    feeRecipient = this.ctx.feeRecipient,
  ): void {
    const open: OpenBatch = {
      index,
      feeRecipient,
      queueStart,
      queueEnd: queueStart,
      firstSeq,
      openedAt,
      queueRoots: [],
      chunkEnds: [],
      chunkRoots: [],
      chunks: [],
      bytes: 0,
      executor: undefined,
      current: [],
      txCount: 0,
      header: undefined,
      before: this.beginDelta(),
    };
    this.open = open;
    this.extendQueue(queueEnd);
  }

  /** Applies queue items up to `queueEnd` to the open batch (which has no transaction yet). */
  private extendQueue(queueEnd: number): void {
    const open = this.open as OpenBatch;
    if (queueEnd <= open.queueEnd) return;
    if (queueEnd > this.queueLength) throw this.corrupt(`queue item ${queueEnd - 1} is not known`);
    // A partial last step continues: items apply one by one, so its root is the root after the new items.
    if ((open.queueEnd - open.queueStart) % MAX_QUEUE_ITEMS_PER_STEP !== 0) open.queueRoots.pop();
    let at = open.queueEnd;
    while (at < queueEnd) {
      const stepEnd = Math.min(
        queueEnd,
        open.queueStart +
          (Math.floor((at - open.queueStart) / MAX_QUEUE_ITEMS_PER_STEP) + 1) * MAX_QUEUE_ITEMS_PER_STEP,
      );
      const items = this.queueSlice(at, stepEnd).map(queueItemOf);
      const result = applyQueueStep(this.state, items);
      open.queueRoots.push(result.postRoot);
      open.header = headerToJson(result.header);
      at = stepEnd;
    }
    open.queueEnd = queueEnd;
    this.indexNew();
  }

  private applyQueueRange(start: number, end: number): string[] {
    const roots: string[] = [];
    if (end > this.queueLength) throw this.corrupt(`queue item ${end - 1} is not known`);
    for (let at = start; at < end; at += MAX_QUEUE_ITEMS_PER_STEP) {
      const items = this.queueSlice(at, Math.min(end, at + MAX_QUEUE_ITEMS_PER_STEP)).map(queueItemOf);
      roots.push(applyQueueStep(this.state, items).postRoot);
    }
    this.indexNew();
    return roots;
  }

  /** Closes the open batch if one more transaction might not fit (./batch-policy.ts). */
  private closeIfFull(): void {
    const open = this.open;
    if (open && batchIsFull(shapeOf(open), this.limits)) this.closeBatch();
  }

  /** Closes the open batch (if it has anything); its record is buffered for the next commit. */
  private closeBatch(): BatchRecord | undefined {
    const open = this.open;
    if (!open) return undefined;
    this.closeChunk();
    if (open.chunks.length === 0 && open.queueEnd === open.queueStart) {
      // Nothing in it (every attempt was skipped): it stays open and empty.
      return undefined;
    }
    const stepRoots = [...open.queueRoots, ...open.chunkRoots];
    const root = chunksRoot(open.chunks);
    const rec: BatchRecord = {
      index: open.index,
      queueStart: open.queueStart,
      queueEnd: open.queueEnd,
      firstSeq: open.firstSeq,
      endSeq: this.nextSeq,
      chunkEnds: open.chunkEnds,
      stepRoots,
      header: open.header ?? headerToJson(this.state.header()),
      feeRecipient: open.feeRecipient,
      bytes: open.bytes,
      chunksRoot: root,
      commitment: batchCommitment({
        chunksRoot: root,
        queueStart: BigInt(open.queueStart),
        queueEnd: BigInt(open.queueEnd),
        feeRecipient: open.feeRecipient,
        stepCount: stepRoots.length,
      }),
      openedAt: open.openedAt,
      closedAt: Date.now(),
    };
    this.batches.push(rec);
    this.chunkCache.set(rec.index, open.chunks);
    this.endDelta(rec.index, open.before);
    this.open = undefined;
    this.buffered.push(
      { type: "put", key: batchKey(rec.index), value: JSON.stringify(rec) },
      { type: "del", key: KEY_OPEN },
    );
    this.closedBuffered.push(rec);
    this.o.metrics.batchTransactions.observe(open.txCount);
    this.o.metrics.batchBytes.observe(open.bytes);
    this.o.metrics.batchQueueItems.observe(open.queueEnd - open.queueStart);
    this.o.metrics.heads.set({ stage: "closed" }, rec.index);
    this.o.logger.info(
      {
        batch: rec.index,
        txs: open.txCount,
        queueItems: rec.queueEnd - rec.queueStart,
        steps: stepRoots.length,
        bytes: rec.bytes,
      },
      "batch closed",
    );
    return rec;
  }

  /**
   * Called periodically: closes the open batch once it is `maxAgeMs` old,
   * and opens (or extends) a batch for queue items waiting to be applied.
   */
  tick(now = Date.now()): void {
    if (!this.available) return;
    const open = this.open;
    const waitingItems = this.queueLength > this.queueSequenced();
    if (open && open.txCount === 0 && open.executor === undefined && waitingItems) {
      const room = open.queueStart + this.limits.maxQueueItems;
      const end = Math.min(this.queueLength, room);
      if (end > open.queueEnd) {
        this.extendQueue(end);
        const rec: OpenBatchRecord = {
          index: open.index,
          queueStart: open.queueStart,
          queueEnd: end,
          firstSeq: open.firstSeq,
          openedAt: open.openedAt,
        };
        this.buffered.push({ type: "put", key: KEY_OPEN, value: JSON.stringify(rec) });
      }
    }
    if (this.open && batchIsDue(this.open, this.limits, now)) this.closeBatch();
    if (!this.open && this.queueLength > this.queueSequenced()) this.ensureOpen();
    this.commitInBackground();
    this.updateGauges();
  }

  /**
   * Settles once every write issued so far has (and its callers have their answers in hand): what stopping
   * waits for before it stops serving.
   */
  async settled(): Promise<void> {
    await this.lastCommit;
    // The callers of the last write resume in the microtasks after it; one more turn and their answers are out.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Closes the open batch now, whatever its age, and waits until it is on disk. */
  async flush(): Promise<void> {
    this.closeBatch();
    if (this.buffered.length > 0) await this.commit();
  }

  /** The next queue item not yet applied to the pending state. */
  private queueSequenced(): number {
    if (this.open) return this.open.queueEnd;
    const last = this.batches[this.batches.length - 1];
    return last ? last.queueEnd : this.base.queueEnd;
  }

  /** Adds queue items the follower stored (contiguous, in order). */
  addQueueItems(items: StoredQueueItem[]): void {
    for (const it of items) {
      if (it.index < this.queueLength) continue; // the snapshot already holds it
      if (it.index !== this.queueLength)
        throw this.corrupt(`queue item ${it.index} arrives after ${this.queueLength - 1}`);
      this.queue.push(it);
    }
    this.updateGauges();
  }

  // ---------------------------------------------------------------------------
  // reconciling with L1

  /**
   * Makes L1's batches from `fromBatch` on the operator's own, and sequences
   * again, after them, every transaction it had sequenced from that batch on.
   *
   * This is how the operator follows L1 when L1 holds batches it did not
   * append (a forced inclusion while it was down, or a stale append of its
   * own that landed after one), and how it re-forms a batch the inbox
   * refused (one that left an overdue queue item out: the new batch opens
   * with every queue item known). The re-sequenced transactions keep their
   * order; any the STF now skips is reported skipped with the reason. All of
   * it is one durable write, then the state is rebuilt from the store.
   */
  async rebase(fromBatch: number, adopted: AdoptedBatch[]): Promise<{ resequenced: number; dropped: number }> {
    if (fromBatch > this.batchCount)
      throw new BilayerError("REBASE_RANGE", `cannot rebase from batch ${fromBatch}: only ${this.batchCount} closed`);
    if (fromBatch < this.base.batches) {
      throw new BilayerError(
        "REBASE_BELOW_SNAPSHOT",
        `L1 parted from this operator at batch ${fromBatch}, inside its snapshot (batches 0..${this.base.batches - 1} were confirmed on L1): a reorg deeper than the confirmation depth`,
      );
    }
    const needed = Math.max(0, ...adopted.map((b) => b.queueEnd));
    if (needed > this.queueLength) {
      throw new BilayerError(
        "REBASE_QUEUE",
        `L1's batches consume queue items up to ${needed}; only ${this.queueLength} are known yet`,
      );
    }
    this.available = false;
    try {
      if (this.buffered.length > 0) await this.commit();
      const first = this.batch(fromBatch)?.firstSeq ?? this.open?.firstSeq ?? this.nextSeq;
      const redo: TxRecord[] = [];
      for await (const [, v] of this.o.store.entries(PREFIX_TX, txKey(first))) redo.push(JSON.parse(v) as TxRecord);
      const ops: StoreOp[] = redo.map((t) => ({ type: "del", key: txKey(t.s ?? -1) }));
      for (let k = fromBatch; k < this.batchCount; k++) ops.push({ type: "del", key: batchKey(k) });
      ops.push({ type: "del", key: KEY_OPEN });
      await this.o.store.write(ops);
      // Deleted on purpose: each is sequenced again below (or reported skipped), not lost.
      this.acknowledgedSeq = Math.min(this.acknowledgedSeq, first);
      await this.load(this.queue, { stayUnavailable: true });

      const appliedOnL1 = new Set<string>();
      for (const b of adopted) for (const h of this.adopt(b)) appliedOnL1.add(h);
      let resequenced = 0;
      let dropped = 0;
      for (const t of redo) {
        if (t.o !== undefined && t.o !== Outcome.Applied) continue; // part of an L1 batch, adopted again
        if (appliedOnL1.has(t.h)) continue; // applied by an adopted batch (a stale append of ours): it stands there
        const bytes = fromHex(t.b);
        const w: WaitingTx = { hash: t.h, from: t.f, nonce: t.n, bytes, receivedAt: t.at };
        const decoded = decodeTx(bytes, 0);
        const sender = this.account(t.f);
        if (!decoded.ok || !sender) {
          this.drop(w, Outcome.SenderMissing, `re-sequenced after L1 batch ${fromBatch}: its sender is gone`);
          dropped++;
          continue;
        }
        const rejection = this.check(decoded.tx, sender);
        if (rejection) {
          this.drop(w, rejection.outcome, `re-sequenced after L1 batch ${fromBatch}: ${rejection.message}`);
          dropped++;
          continue;
        }
        const code = this.sequenceOne(bytes, { hash: t.h, from: t.f, nonce: sender.nonce, at: t.at });
        if (code !== Outcome.Applied) {
          this.drop(w, code, `re-sequenced after L1 batch ${fromBatch}: ${outcomeName(code)}`);
          dropped++;
          continue;
        }
        resequenced++;
      }
      if (this.buffered.length > 0) await this.commit();
      this.o.logger.warn(
        { fromBatch, adopted: adopted.length, resequenced, dropped },
        "sequence rebased on L1's batches",
      );
      return { resequenced, dropped };
    } finally {
      this.available = !this.o.store.failed;
      this.updateGauges();
    }
  }

  /**
   * Closes batch `b.index` exactly as L1 holds it (its queue range, chunks
   * and fee recipient); returns the hashes of the transactions it applied.
   */
  private adopt(b: AdoptedBatch): string[] {
    const applied: string[] = [];
    if (this.open) this.closeBatch();
    if (this.open || b.index !== this.batchCount || b.queueStart !== this.queueSequenced()) {
      throw new BilayerError(
        "ADOPT_MISMATCH",
        `L1 batch ${b.index} (queue ${b.queueStart}..${b.queueEnd}) does not follow the local sequence`,
        {
          context: { index: b.index, closed: this.batchCount, queueSequenced: this.queueSequenced() },
        },
      );
    }
    const now = Date.now();
    this.startBatch(b.index, b.queueStart, b.queueEnd, this.nextSeq, now, b.feeRecipient);
    const open = this.open as unknown as OpenBatch;
    b.chunks.forEach((chunk, i) => {
      const decoded = decodeChunk(chunk);
      if (decoded.end) {
        throw new BilayerError(
          "UNADOPTABLE_BATCH",
          `chunk ${i} of L1 batch ${b.index} does not parse whole (${outcomeName(decoded.end.reason)})`,
        );
      }
      let offset = 0;
      for (const tx of decoded.txs) {
        const size = TX_SIZE[tx.type];
        const bytes = chunk.slice(offset, offset + size);
        offset += size;
        const nonce = this.account(tx.from)?.nonce ?? 0;
        const code = this.execute(bytes);
        const hash = txHash(bytes);
        this.accept(this.nextSeq++, hash, bytes, tx.from, nonce, now, code);
        if (code === Outcome.Applied) applied.push(hash);
        open.current.push(bytes);
        open.txCount++;
        open.bytes += size;
        this.indexNew();
      }
      this.closeChunk(true);
    });
    const rec = this.closeBatch();
    if (!rec || rec.commitment !== b.commitment) {
      throw new BilayerError(
        "ADOPT_MISMATCH",
        `L1 batch ${b.index} re-executes to commitment ${rec?.commitment}, L1 has ${b.commitment}`,
      );
    }
    return applied;
  }

  // ---------------------------------------------------------------------------
  // indexes and reads

  /** Records accounts and withdrawals created since the last call. */
  private indexNew(): void {
    const count = this.state.accountCount;
    for (let i = this.knownAccounts + 1; i <= count; i++) {
      const a = this.state.getAccount(i);
      if (!a) continue;
      this.hintsDirty?.add(i);
      const list = this.owners.get(a.owner);
      if (list) list.push(i);
      else this.owners.set(a.owner, [i]);
    }
    this.knownAccounts = count;
    const wc = Number(this.state.withdrawalCount);
    for (let i = this.withdrawals.count; i < wc; i++) {
      const w = this.state.withdrawal(i);
      if (!w) throw this.corrupt(`withdrawal ${i} has no record`);
      this.withdrawals.append(w);
      const list = this.withdrawalsOf.get(w.recipient);
      if (list) list.push(i);
      else this.withdrawalsOf.set(w.recipient, [i]);
    }
  }

  private account(index: number): Readonly<Account> | undefined {
    if (!Number.isInteger(index) || index < 1 || index > this.state.accountCount) return undefined;
    return this.state.getAccount(index);
  }

  /** Account `index` in the pending state, with the nonces of its transactions waiting for a gap to fill. */
  getAccount(index: number): (Account & { index: number; waitingNonces: number[] }) | undefined {
    const a = this.account(index);
    if (!a) return undefined;
    const waitingNonces = this.mempool.forAccount(index).map((w) => w.nonce);
    return { index, owner: a.owner, tokenId: a.tokenId, balance: a.balance, nonce: a.nonce, waitingNonces };
  }

  /**
   * What changed for senders since the last call, for the HTTP thread's
   * signature pre-recovery (./presign.ts): each new account and each account
   * that sent a transaction, with its token and current nonce. The first call
   * (and the first after a rebuild) lists every account; until the first
   * call nothing is tracked.
   */
  senderHints(): SenderHints | undefined {
    let reset = false;
    let indices: Iterable<number>;
    let size: number;
    if (this.hintsDirty === undefined || this.hintsReset) {
      this.hintsDirty ??= new Set();
      this.hintsDirty.clear();
      this.hintsReset = false;
      reset = true;
      size = this.state.accountCount;
      indices = (function* (n: number) {
        for (let i = 1; i <= n; i++) yield i;
      })(size);
    } else {
      if (this.hintsDirty.size === 0) return undefined;
      indices = this.hintsDirty;
      size = this.hintsDirty.size;
    }
    const entries = new Uint32Array(size * 3);
    let k = 0;
    for (const i of indices) {
      const a = this.account(i);
      if (!a) continue;
      entries[k++] = i;
      entries[k++] = a.tokenId;
      entries[k++] = a.nonce;
    }
    this.hintsDirty.clear();
    return { reset, entries: k === entries.length ? entries : entries.slice(0, k) };
  }

  /** The indices of the accounts owned by `owner` (lower-case address). */
  accountsOf(owner: string): number[] {
    return [...(this.owners.get(owner.toLowerCase()) ?? [])];
  }

  /** A transaction by hash: its sequence number, or its drop record. */
  private lookup(hash: string): { seq: number } | { dropped: DroppedRecord } | undefined {
    const seq = this.txIndex.get(hash);
    if (seq !== undefined) return { seq };
    const dropped = this.dropped.get(hash);
    return dropped ? { dropped } : undefined;
  }

  /** The receipt of a transaction, or `undefined` if the operator never accepted it. */
  async receipt(hash: string): Promise<TxReceipt | undefined> {
    const w = this.mempool.byId(hash);
    if (w)
      return { hash, status: "queued", from: w.from, nonce: w.nonce, outcome: "Waiting", acceptedAt: w.receivedAt };
    const found = this.lookup(hash);
    if (!found) return this.storedReceipt(hash);
    if ("dropped" in found) {
      const d = found.dropped;
      return {
        hash,
        status: "skipped",
        from: d.f,
        nonce: d.n,
        outcome: outcomeName(d.code),
        reason: d.reason,
        acceptedAt: d.at,
      };
    }
    if ("seq" in found) {
      const text = await this.o.store.get(txKey(found.seq));
      if (text === undefined) return undefined;
      const t = JSON.parse(text) as TxRecord;
      const b = this.batchOfSeq(found.seq);
      return this.receiptOf(hash, {
        s: found.seq,
        f: t.f,
        n: t.n,
        at: t.at,
        w: t.w,
        a: t.a,
        o: t.o,
        ...(b ? placeOf(found.seq, b) : {}),
      });
    }
    return undefined;
  }

  /** The receipt of a transaction of a batch in the snapshot, from its receipt record; or undefined. */
  private async storedReceipt(hash: string): Promise<TxReceipt | undefined> {
    const text = await this.o.store.get(receiptKey(hash));
    return text === undefined ? undefined : this.receiptOf(hash, JSON.parse(text) as ReceiptRecord);
  }

  /** A receipt from what is known of an accepted transaction (its place, once it is in a closed batch). */
  private receiptOf(hash: string, r: Omit<ReceiptRecord, "b" | "st" | "p"> & Partial<ReceiptRecord>): TxReceipt {
    const receipt: TxReceipt = {
      hash,
      status: "pending",
      from: r.f,
      nonce: r.n,
      outcome: outcomeName(r.o ?? Outcome.Applied),
      acceptedAt: r.at,
      seq: r.s,
    };
    if (r.w !== undefined) receipt.withdrawalIndex = r.w;
    if (r.a !== undefined) receipt.createdAccount = r.a;
    if (r.b !== undefined) {
      receipt.batchIndex = r.b;
      receipt.stepIndex = r.st;
      receipt.position = r.p;
      receipt.status =
        r.b < this.l1.final
          ? "final"
          : r.b < this.l1.proposed
            ? "proposed"
            : r.b < this.l1.appended
              ? "appended"
              : "batched";
      if (r.o !== undefined && r.o !== Outcome.Applied) {
        receipt.status = "skipped";
        receipt.reason = `skipped in batch ${r.b}, which L1 holds as it is`;
      }
    }
    return receipt;
  }

  private batchOfSeq(seq: number): BatchRecord | undefined {
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

  /** Closed batch `index`, if it is after the snapshot (in memory); see {@link closedBatch} for any. */
  batch(index: number): BatchRecord | undefined {
    return index >= this.base.batches ? this.batches[index - this.base.batches] : undefined;
  }

  /** Closed batch `index`, from memory or (for one in the snapshot) from the store. */
  async closedBatch(index: number): Promise<BatchRecord | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.batchCount) return undefined;
    const recent = this.batch(index);
    if (recent) return recent;
    const text = await this.o.store.get(batchKey(index));
    if (text === undefined) throw this.corrupt(`batch ${index} is missing`);
    return JSON.parse(text) as BatchRecord;
  }

  /** Number of closed batches. */
  get batchCount(): number {
    return this.base.batches + this.batches.length;
  }

  /** Closed batches in the snapshot (see ./snapshot.ts): batches below are answered from the store. */
  get snapshotBatches(): number {
    return this.base.batches;
  }

  /** Number of closed batches whose record is on disk (the batcher appends only those). */
  get durableBatchCount(): number {
    return this.durableBatches;
  }

  /** The chunks of closed batch `index`. */
  async chunksOf(index: number): Promise<Uint8Array[]> {
    const cached = this.chunkCache.get(index);
    if (cached) return cached;
    const b = await this.closedBatch(index);
    if (!b) throw new BilayerError("UNKNOWN_BATCH", `no closed batch ${index}`, { context: { index } });
    const chunks: Uint8Array[] = [];
    let seq = b.firstSeq;
    for (const end of b.chunkEnds) {
      const parts: Uint8Array[] = [];
      for (; seq < end; seq++) {
        const text = await this.o.store.get(txKey(seq));
        if (text === undefined) throw this.corrupt(`transaction ${seq} is missing`);
        parts.push(fromHex((JSON.parse(text) as TxRecord).b));
      }
      chunks.push(concatBytes(...parts));
    }
    return chunks;
  }

  /** Closed batch `index` as a step-by-step input (what a replay or a fraud proof of it needs). */
  async batchData(index: number): Promise<BatchData> {
    const b = await this.closedBatch(index);
    if (!b) throw new BilayerError("UNKNOWN_BATCH", `no closed batch ${index}`, { context: { index } });
    let items: StoredQueueItem[];
    if (b.queueStart >= this.base.queueEnd) items = this.queueSlice(b.queueStart, b.queueEnd);
    else {
      items = [];
      for await (const [, v] of this.o.store.entries(PREFIX_QUEUE, queueKey(b.queueStart))) {
        const item = JSON.parse(v) as StoredQueueItem;
        if (item.index >= b.queueEnd) break;
        items.push(item);
      }
      if (items.length !== b.queueEnd - b.queueStart) throw this.corrupt(`queue items of batch ${index} are missing`);
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

  /**
   * Moves the snapshot over the closed batches before `upTo` — the caller vouches they are appended on L1 and
   * confirmed, so they are never sequenced again — and keeps the undo records of those not final (`finalCount`
   * are final; the undo records of final batches are dropped). With `pruneHistory`, the transaction records of
   * final batches in the snapshot are deleted (their receipts stay). Returns the number of batches taken in.
   */
  async checkpoint(upTo: number, finalCount: number, opts: { pruneHistory?: boolean } = {}): Promise<number> {
    return this.snapshotLock.run(async () => {
      const from = this.base.batches;
      const target = Math.max(from, Math.min(upTo, this.durableBatches));
      const taken: CheckpointBatch[] = [];
      for (let k = from; k < target; k++) {
        const b = this.batch(k) as BatchRecord;
        const delta = this.deltas.get(k);
        if (!delta) throw this.corrupt(`batch ${k} has no record of what it changed`);
        const receipts: [string, ReceiptRecord][] = [];
        for await (const [, v] of this.o.store.entries(PREFIX_TX, txKey(b.firstSeq))) {
          const t = JSON.parse(v) as TxRecord;
          const seq = this.seqOf(t);
          if (seq >= b.endSeq) break;
          const r: ReceiptRecord = { s: seq, f: t.f, n: t.n, at: t.at, ...placeOf(seq, b) };
          if (t.w !== undefined) r.w = t.w;
          if (t.a !== undefined) r.a = t.a;
          if (t.o !== undefined) r.o = t.o;
          receipts.push([t.h, r]);
        }
        if (receipts.length !== b.endSeq - b.firstSeq) throw this.corrupt(`transactions of batch ${k} are missing`);
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
          (w) => this.withdrawals.get(w) as Withdrawal,
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
      await this.o.store.write(ops);
      // What the snapshot now holds is answered from the store.
      this.base = meta;
      this.undoFloor = Math.max(this.undoFloor, settled);
      this.batches.splice(0, taken.length);
      for (const b of taken) {
        this.deltas.delete(b.index);
        this.chunkCache.delete(b.index);
        for (const [hash] of b.receipts) this.txIndex.delete(hash);
      }
      this.queue.splice(0, Math.max(0, meta.queueEnd - (this.queue[0]?.index ?? meta.queueEnd)));
      if (taken.length > 0) {
        this.o.logger.info(
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
    return this.snapshotLock.run(async () =>
      preStateFromSnapshot(await readSnapshot(this.o.store), batchIndex, async (state, from, to) => {
        for (let k = from; k < to; k++) {
          const batch = await this.batchData(k);
          for (const input of stepInputs(batch)) applyStep(state, batch, input, this.ctx.domainSeparator);
          const roots = ((await this.closedBatch(k)) as BatchRecord).stepRoots;
          if (state.stateRoot() !== roots[roots.length - 1])
            throw this.corrupt(`batch ${k} replays to another state root than it was closed with`);
          // Between batches the API gets its turn.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }),
    );
  }

  /** Forgets the cached chunks of a batch that is appended and confirmed. */
  releaseChunks(index: number): void {
    this.chunkCache.delete(index);
  }

  /** The queue items `[start, end)` as stored (those after the snapshot, which are in memory). */
  queueItems(start: number, end: number): StoredQueueItem[] {
    return this.queueSlice(Math.max(start, this.base.queueEnd), end);
  }

  private queueSlice(start: number, end: number): StoredQueueItem[] {
    const base = this.base.queueEnd;
    if (start < base) throw this.corrupt(`queue item ${start} is in the snapshot, not in memory`);
    return this.queue.slice(start - base, end - base);
  }

  /** Number of queue items known from L1. */
  get queueLength(): number {
    return this.base.queueEnd + this.queue.length;
  }

  /** Updates what the driver saw on L1. */
  setL1Heads(heads: L1Heads): void {
    this.l1 = { ...heads };
    const m = this.o.metrics;
    m.heads.set({ stage: "appended" }, heads.appended - 1);
    m.heads.set({ stage: "proposed" }, heads.proposed - 1);
    m.heads.set({ stage: "final" }, heads.final - 1);
    this.updateGauges();
  }

  get l1Heads(): L1Heads {
    return { ...this.l1 };
  }

  /**
   * A withdrawal with its proof against the header of batch `batchIndex`
   * (default: the latest final batch that holds it, else the latest closed
   * one that does).
   */
  async withdrawalProof(
    index: number,
    batchIndex?: number,
  ): Promise<{
    withdrawalIndex: number;
    recipient: string;
    tokenId: number;
    amount: bigint;
    batchIndex: number;
    header: BatchRecord["header"];
    stateRoot: string;
    siblings: string[];
    final: boolean;
  }> {
    const w = this.withdrawals.get(index);
    const first = this.withdrawalBatch[index] ?? -1;
    if (!w || first < 0) {
      reject(
        "NO_SUCH_WITHDRAWAL",
        w
          ? `withdrawal ${index} is not in a closed batch yet`
          : `no withdrawal ${index} (there are ${this.withdrawals.count})`,
        { withdrawalIndex: index },
      );
    }
    let k: number;
    if (batchIndex !== undefined) {
      if (batchIndex >= this.batchCount || batchIndex < first) {
        reject(
          "NO_SUCH_WITHDRAWAL",
          `batch ${batchIndex} does not hold withdrawal ${index} (first in batch ${first})`,
          {
            withdrawalIndex: index,
            firstBatch: first,
          },
        );
      }
      k = batchIndex;
    } else {
      k = this.l1.final - 1 >= first ? this.l1.final - 1 : this.batchCount - 1;
    }
    const b = (await this.closedBatch(k)) as BatchRecord;
    const count = Number(b.header.withdrawalCount);
    return {
      withdrawalIndex: index,
      recipient: w.recipient,
      tokenId: w.tokenId,
      amount: w.amount,
      batchIndex: k,
      header: b.header,
      stateRoot: b.stepRoots[b.stepRoots.length - 1],
      siblings: this.withdrawals.proof(index, count),
      final: k < this.l1.final,
    };
  }

  /**
   * The withdrawals paying `recipient` (lower-case address), each with the
   * first closed batch that holds it (undefined while it is in the open one).
   */
  withdrawalsTo(
    recipient: string,
  ): { withdrawalIndex: number; tokenId: number; amount: bigint; batchIndex: number | undefined }[] {
    return (this.withdrawalsOf.get(recipient.toLowerCase()) ?? []).map((i) => {
      const w = this.withdrawals.get(i) as Withdrawal;
      return { withdrawalIndex: i, tokenId: w.tokenId, amount: w.amount, batchIndex: this.withdrawalBatch[i] };
    });
  }

  /** Queue items consumed by the batches on L1 (as the driver last saw them). */
  queueConsumedOnL1(): number {
    const k = this.l1.appended - 1;
    if (k < 0) return 0;
    return this.batch(k)?.queueEnd ?? this.base.queueEnd;
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
    const open = this.open;
    return {
      available: this.available,
      nextSeq: this.nextSeq,
      stateRoot: this.state.stateRoot(),
      accountCount: this.state.accountCount,
      withdrawalCount: Number(this.state.withdrawalCount),
      mempool: { pending: open?.txCount ?? 0, queued: this.mempool.size },
      batches: {
        closed: this.batchCount,
        durable: this.durableBatches,
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
      queue: { known: this.queueLength, sequenced: this.queueSequenced() },
    };
  }

  private updateGauges(): void {
    const m = this.o.metrics;
    let unbatched = this.open?.txCount ?? 0;
    for (let k = this.batchCount - 1; k >= this.base.batches && k >= this.l1.appended; k--) {
      const b = this.batch(k) as BatchRecord;
      unbatched += b.endSeq - b.firstSeq;
    }
    m.mempoolSize.set(unbatched + this.mempool.size);
    m.mempoolQueued.set(this.mempool.size);
    m.queueBacklog.set(this.queueLength - this.queueConsumedOnL1());
    m.queueUnsequenced.set(this.queueLength - this.queueSequenced());
  }

  /** Whether the store failed and the sequencer is rebuilding. */
  get isAvailable(): boolean {
    return this.available;
  }

  /** Why the store is not usable right now, if it is not. */
  get unavailable(): string | undefined {
    return this.available ? undefined : (this.unavailableReason ?? "starting");
  }

  /**
   * Refuses new transactions (-32011 with `reason`) while any source refuses, though the store works: nothing
   * they need could reach L1 (source "l1": a wrong chain, contracts missing, the sequencer role revoked), or the
   * operator is stopping. Reads go on; `undefined` lifts the source's refusal.
   */
  setRefusal(source: "l1" | "stopping", reason: string | undefined): void {
    const before = this.refusing;
    if (reason === undefined) this.refusals.delete(source);
    else this.refusals.set(source, reason);
    const after = this.refusing;
    if (after === before) return;
    if (after !== undefined) this.o.logger.error({ reason: after }, "refusing new transactions");
    else this.o.logger.warn({ was: before }, "accepting transactions again");
  }

  /** Why new transactions are refused right now, if they are. */
  get refusing(): string | undefined {
    return this.refusals.get("stopping") ?? this.refusals.get("l1");
  }

  /** Test hook: raises if the store is failed or recovery is running. */
  async whenRecovered(): Promise<void> {
    if (this.recovering) await this.recovering;
  }
}
