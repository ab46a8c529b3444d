import { batchCommitment, chunksRoot } from "../../l1/batch";
import {
  BLS_CHUNK_HEADER_BYTES,
  BLS_CHUNK_MARKER,
  BLS_MAX_INDEX_WIDTH,
  blsTransferSize,
  MAX_BLS_TRANSFERS_PER_CHUNK,
  MAX_QUEUE_ITEMS_PER_STEP,
  MAX_TXS_PER_CHUNK,
  Outcome,
  TxType,
} from "../../protocol/constants";
import { decodeTx, readU32 } from "../../protocol/codec";
import { txDigest } from "../../protocol/eip712";
import { blsAggregate } from "../../protocol/bls";
import { blsIndexWidth, decodeBlsEnvelope, isBlsEnvelope, type BlsTransferFields } from "../../protocol/bls-chunk";
import { bytesEqualHex, concatBytes, fromHex, toHex } from "../../protocol/hash";
import { applyQueueStep, BlsChunkExecutor, ChunkExecutor, type SignerRecovery } from "../../protocol/stf";
import { blsMessageOf, blsSignatureHolds, recoverPresigned, type Prechecked } from "../presign";
import { headerToJson, queueItemOf, type BatchRecord, type BlsChunkRecord, type StoredTx } from "../records";
import { batchIsDue, batchIsFull, chunkIsFull, type OpenBatchShape } from "./batch-policy";
import { blsChunkOfEnvelopes } from "./chunks";
import type { DeltaStart } from "./history";
import type { SequencerParts } from "./parts";

/** A signature checked ahead of execution (see `BatchBuilder.signatureAhead`). */
interface Ahead {
  holds: boolean;
  checked: Prechecked | undefined;
}

/** The batch being filled. */
export interface OpenBatch {
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
  /** The chunk being filled, if of signed transactions: its executor (created at its first) and their bytes. */
  executor: ChunkExecutor | undefined;
  current: Uint8Array[];
  /** The chunk being filled, if of BLS transfers (at most one of `executor` and `bls` is set). */
  bls: BlsFill | undefined;
  /** The aggregate and index width of each BLS chunk closed (for the batch record). */
  blsChunks: BlsChunkRecord[];
  txCount: number;
  header: BatchRecord["header"] | undefined;
  /** The counts before the batch (its journal is open while it is). */
  before: DeltaStart;
}

/** A BLS chunk being filled: its executor, its fee, its transfers and their senders' signatures. */
export interface BlsFill {
  executor: BlsChunkExecutor;
  fee: bigint;
  transfers: BlsTransferFields[];
  signatures: Uint8Array[];
  /** The transfers' envelopes (the chunk copies its transfers from them). */
  envelopes: Uint8Array[];
}

/**
 * Bytes a BLS chunk of `n` transfers is counted for while it fills: at the widest index width, so the batch's
 * byte count never falls short of what the chunk is once closed (at its narrowest width).
 */
const blsChunkAllowance = (n: number): number =>
  n === 0 ? 0 : BLS_CHUNK_HEADER_BYTES + n * blsTransferSize(BLS_MAX_INDEX_WIDTH);

/** Who sent a transaction being sequenced, over which nonce, received when. */
export interface SequencedEntry {
  hash: string;
  from: number;
  nonce: number;
  at: number;
}

/** The open batch as the batch policy sees it. */
function shapeOf(open: OpenBatch): OpenBatchShape {
  return {
    bytes: open.bytes,
    closedChunks: open.chunks.length,
    chunkTxs: open.current.length + (open.bls?.transfers.length ?? 0),
    chunkReads: open.executor?.transactionCount ?? open.bls?.executor.transactionCount,
    chunkCapacity: open.bls ? MAX_BLS_TRANSFERS_PER_CHUNK : MAX_TXS_PER_CHUNK,
    openedAt: open.openedAt,
  };
}

/** Whether the open batch's chunk being filled holds transactions and cannot take `bytes` (another kind or fee). */
function needsOtherChunk(open: OpenBatch, bytes: Uint8Array): boolean {
  if (isBlsEnvelope(bytes)) {
    if (open.current.length > 0) return true;
    const fee = decodeBlsEnvelope(bytes);
    return open.bls !== undefined && open.bls.transfers.length > 0 && fee.ok && fee.envelope.fee !== open.bls.fee;
  }
  return open.bls !== undefined && open.bls.transfers.length > 0;
}

/**
 * Cuts the sequence into chunks and batches: runs each transaction through the open chunk's STF executor (so its
 * outcome is exactly the one the batch will have), assigns sequence numbers, applies queue items at batch open,
 * and closes chunks and batches as ./batch-policy.ts decides — before anything else is added, so no batch ever
 * exceeds its limits.
 */
export class BatchBuilder {
  open: OpenBatch | undefined;
  /** The sequence number the next applied transaction gets. */
  nextSeq = 0;
  /** The recovery handed in with the transaction being executed, if any (see ../presign.ts). */
  private presigned: Prechecked | undefined;
  readonly countRecovery = (presigned: boolean): void => this.p.opts.metrics.recovered(presigned);
  /** The chunk executors' signer recovery: the presigned one when it is for the same digest and signature. */
  private readonly recoverSigner: SignerRecovery = (digest, bytes, sigOffset) =>
    recoverPresigned(this.presigned, digest, bytes, sigOffset, this.countNative);
  /** Counts only the checks made again natively (the one ahead of execution was counted: see `signatureAhead`). */
  private readonly countNative = (presigned: boolean): void => {
    if (!presigned) this.countRecovery(false);
  };

  constructor(private readonly p: SequencerParts) {}

  /** Forgets the open batch (the state is being rebuilt); sequencing goes on from `nextSeq`. */
  reset(nextSeq: number): void {
    this.open = undefined;
    this.nextSeq = nextSeq;
  }

  /** The next queue item not yet applied to the pending state. */
  queueSequenced(): number {
    return this.open ? this.open.queueEnd : this.p.history.lastQueueEnd;
  }

  /**
   * Runs one transaction (or BLS transfer) through the open chunk's executor, first closing a chunk of the other
   * kind or, for a BLS transfer, of another fee or full (`presigned`: see `Sequencer.submit`).
   */
  execute(bytes: Uint8Array, presigned?: Prechecked): Outcome {
    const open = this.open as OpenBatch;
    if (isBlsEnvelope(bytes)) return this.executeBls(open, bytes, presigned);
    if (open.bls) this.closeChunk();
    open.executor ??= this.newExecutor(open.feeRecipient);
    this.presigned = presigned;
    let code: Outcome;
    try {
      code = open.executor.next(bytes, 0).code;
    } finally {
      this.presigned = undefined;
    }
    if (code === Outcome.Applied) this.p.index.senderMoved(readU32(bytes, 1));
    return code;
  }

  /**
   * A BLS transfer: its sender's signature is checked here, over the message the STF will check it by (the
   * sender's key, token and nonce now), so the aggregate of the chunk's signatures holds by construction;
   * then the chunk's executor applies the transfer by the STF's rules.
   */
  private executeBls(open: OpenBatch, bytes: Uint8Array, presigned: Prechecked | undefined): Outcome {
    const decoded = decodeBlsEnvelope(bytes);
    if (!decoded.ok) return Outcome.Truncated;
    const e = decoded.envelope;
    const fill = open.bls;
    if (
      open.executor ||
      (fill && (fill.fee !== e.fee || fill.executor.transactionCount >= MAX_BLS_TRANSFERS_PER_CHUNK))
    )
      this.closeChunk();
    const state = this.p.state;
    const sender = e.from >= 1 && e.from <= state.accountCount ? state.getAccount(e.from) : undefined;
    if (sender?.blsKey !== undefined) {
      const holds = blsSignatureHolds(presigned, this.p.ctx.domainSeparator, e, sender, this.countNative);
      if (!holds) return Outcome.BadSignature;
    }
    open.bls ??= {
      executor: new BlsChunkExecutor(
        state,
        { domainSeparator: this.p.ctx.domainSeparator, feeRecipient: open.feeRecipient },
        e.fee,
        // Each transfer's signature was checked above: the aggregate of them holds.
        { verifyAggregate: () => true },
      ),
      fee: e.fee,
      transfers: [],
      signatures: [],
      envelopes: [],
    };
    const code = open.bls.executor.next(e).code;
    if (code === Outcome.Applied) {
      open.bls.transfers.push({ from: e.from, to: e.to, amount: e.amount });
      open.bls.signatures.push(e.signature);
      open.bls.envelopes.push(bytes);
      this.p.index.senderMoved(e.from);
    }
    return code;
  }

  private newExecutor(feeRecipient: number): ChunkExecutor {
    return new ChunkExecutor(
      this.p.state,
      { domainSeparator: this.p.ctx.domainSeparator, feeRecipient },
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
  sequenceOne(bytes: Uint8Array, entry: SequencedEntry, presigned?: Prechecked): Outcome {
    // A bad signature is refused before anything is closed or read for it: bad transactions cannot cut batches
    // or chunks short, nor use up a chunk's reads.
    const ahead = this.signatureAhead(bytes, presigned);
    if (!ahead.holds) return Outcome.BadSignature;
    // In the batch's last chunk, a transaction of another kind (or fee) needs a chunk the batch has no room for.
    const open = this.open;
    if (open && needsOtherChunk(open, bytes) && open.chunks.length + 1 >= this.p.limits.maxChunks) this.closeBatch();
    this.ensureOpen();
    const code = this.execute(bytes, ahead.checked);
    if (code !== Outcome.Applied) {
      this.closeChunkIfFull();
      return code;
    }
    this.accept(this.nextSeq++, entry.hash, bytes, entry.from, entry.nonce, entry.at);
    this.afterApplied(bytes);
    this.closeIfFull();
    return code;
  }

  /**
   * The signature check of `bytes` against the pending state, as the STF will make it if nothing moves the sender
   * first: `holds` false when it fails; else `checked`, the check's answer for the executor to reuse (a batch
   * opened in between may apply queue items that change the sender: the executor then checks again). A sender
   * that does not exist or has no key is left to the executor, whose outcome names it.
   */
  private signatureAhead(bytes: Uint8Array, presigned: Prechecked | undefined): Ahead {
    const state = this.p.state;
    const domainSeparator = this.p.ctx.domainSeparator;
    const senderOf = (from: number) => (from >= 1 && from <= state.accountCount ? state.getAccount(from) : undefined);
    if (isBlsEnvelope(bytes)) {
      const d = decodeBlsEnvelope(bytes);
      const sender = d.ok ? senderOf(d.envelope.from) : undefined;
      if (!d.ok || sender?.blsKey === undefined) return { holds: true, checked: presigned };
      const e = d.envelope;
      const holds = blsSignatureHolds(presigned, domainSeparator, e, sender, this.countRecovery);
      const message = blsMessageOf(domainSeparator, e, sender.tokenId, sender.nonce);
      return { holds, checked: { message, key: fromHex(sender.blsKey, 96), signature: e.signature, holds } };
    }
    const d = decodeTx(bytes, 0);
    const sender = d.ok && d.size === bytes.length ? senderOf(d.tx.from) : undefined;
    if (!d.ok || !sender) return { holds: true, checked: presigned };
    const digest = txDigest(domainSeparator, d.tx, sender.tokenId, sender.nonce);
    const signature = bytes.subarray(bytes.length - 64);
    const signer = recoverPresigned(presigned, digest, bytes, bytes.length - 64, this.countRecovery);
    return { holds: signer !== null && bytesEqualHex(signer, sender.owner), checked: { digest, signature, signer } };
  }

  /** Records an executed transaction under sequence number `seq` (`outcome` other than Applied: adopted from L1). */
  accept(
    seq: number,
    hash: string,
    bytes: Uint8Array,
    from: number,
    nonce: number,
    at: number,
    outcome = Outcome.Applied,
  ): void {
    const rec: StoredTx & { seq: number } = { seq, hash, bytes: toHex(bytes), from, nonce, acceptedAt: at };
    if (outcome !== Outcome.Applied) {
      // Only in a batch adopted from L1: it is in the chunk, and changed nothing.
      rec.outcome = outcome;
    } else {
      // Called right after the executor applied it: the newest withdrawal or account is this one's.
      const state = this.p.state;
      if (bytes[0] === TxType.Withdraw) rec.withdrawalIndex = Number(state.withdrawalCount) - 1;
      if (bytes[0] === TxType.TransferToNew) rec.createdAccount = state.accountCount;
    }
    this.p.journal.putTx(rec);
    this.p.index.noteTx(hash, seq);
  }

  /** Book-keeping after an applied transaction. */
  afterApplied(bytes: Uint8Array): void {
    const open = this.open as OpenBatch;
    open.txCount++;
    if (open.bls && isBlsEnvelope(bytes)) {
      const n = open.bls.transfers.length;
      open.bytes += blsChunkAllowance(n) - blsChunkAllowance(n - 1);
    } else {
      open.current.push(bytes);
      open.bytes += bytes.length;
    }
    this.p.index.indexNew();
    this.closeChunkIfFull();
  }

  private closeChunkIfFull(): void {
    const open = this.open;
    if (open?.executor && chunkIsFull(open.executor.transactionCount)) this.closeChunk();
    if (open?.bls && chunkIsFull(open.bls.executor.transactionCount, MAX_BLS_TRANSFERS_PER_CHUNK)) this.closeChunk();
  }

  /** Ends the chunk being filled: credits its fees and records its root (`keepEmpty`: an empty chunk of L1's). */
  closeChunk(keepEmpty = false): void {
    const open = this.open;
    if (!open) return;
    if (open.bls) return this.closeBlsChunk(open, open.bls);
    if (keepEmpty && !open.executor && open.current.length === 0) open.executor = this.newExecutor(open.feeRecipient);
    if (!open.executor) return;
    if (open.current.length === 0 && !keepEmpty) {
      // Only skipped attempts: they changed nothing, so the chunk is simply dropped.
      open.executor = undefined;
      return;
    }
    const result = open.executor.finish();
    open.executor = undefined;
    const chunk = concatBytes(...open.current);
    open.current = [];
    this.recordChunk(open, chunk, result, 0);
  }

  /** Ends a BLS chunk: aggregates its signatures, encodes it at its narrowest width, records its root. */
  private closeBlsChunk(open: OpenBatch, fill: BlsFill): void {
    open.bls = undefined;
    const n = fill.transfers.length;
    // Only skipped attempts: they changed nothing, so the chunk is simply dropped.
    if (n === 0) return;
    // Each was verified before it was applied (../presign.ts, `executeBls`).
    const signature = blsAggregate(fill.signatures, { checked: true });
    const result = fill.executor.finish(signature);
    const header = new Uint8Array(BLS_CHUNK_HEADER_BYTES);
    header[0] = BLS_CHUNK_MARKER;
    header[1] = blsIndexWidth(fill.transfers);
    header.set(fill.envelopes[0].subarray(11, 13), 2); // the fee, as the first transfer packed it (all equal)
    header.set(signature, 4);
    this.recordChunk(open, blsChunkOfEnvelopes(header, fill.envelopes), result, blsChunkAllowance(n));
  }

  /**
   * Records a closed chunk of the open batch: its bytes, its root and where it ends. A BLS chunk replaces the
   * bytes it was counted for while it filled (`allowance`) with its own and keeps its aggregate and width.
   */
  recordChunk(
    open: OpenBatch,
    chunk: Uint8Array,
    result: { postRoot: string; header: Parameters<typeof headerToJson>[0] },
    allowance: number,
  ): void {
    if (isBlsEnvelope(chunk)) {
      open.bytes += chunk.length - allowance;
      open.blsChunks.push({ chunk: open.chunks.length, header: toHex(chunk.subarray(0, BLS_CHUNK_HEADER_BYTES)) });
    }
    open.chunkRoots.push(result.postRoot);
    open.chunkEnds.push(this.nextSeq);
    open.chunks.push(chunk);
    open.header = headerToJson(result.header);
    this.p.index.indexNew();
  }

  // ---------------------------------------------------------------------------
  // batches

  /** Opens the next batch if none is open, with every queue item it has room for. */
  private ensureOpen(): void {
    if (this.open) return;
    const start = this.queueSequenced();
    const end = Math.min(this.p.history.queueLength, start + this.p.limits.maxQueueItems);
    const index = this.p.history.batchCount;
    const open = this.startBatch(index, start, end, this.nextSeq, Date.now());
    this.p.journal.putOpen({
      index,
      queueStart: start,
      queueEnd: end,
      firstSeq: this.nextSeq,
      openedAt: open.openedAt,
    });
  }

  /** Opens batch `index` in memory and applies its queue items. */
  startBatch(
    index: number,
    queueStart: number,
    queueEnd: number,
    firstSeq: number,
    openedAt: number,
    feeRecipient = this.p.ctx.feeRecipient,
  ): OpenBatch {
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
      bls: undefined,
      blsChunks: [],
      txCount: 0,
      header: undefined,
      before: this.p.history.beginDelta(),
    };
    this.open = open;
    this.extendQueue(queueEnd);
    return open;
  }

  /** Applies queue items up to `queueEnd` to the open batch (which has no transaction yet). */
  private extendQueue(queueEnd: number): void {
    const open = this.open as OpenBatch;
    if (queueEnd <= open.queueEnd) return;
    const history = this.p.history;
    if (queueEnd > history.queueLength) throw this.p.corrupt(`queue item ${queueEnd - 1} is not known`);
    // A partial last step continues: items apply one by one, so its root is the root after the new items.
    if ((open.queueEnd - open.queueStart) % MAX_QUEUE_ITEMS_PER_STEP !== 0) open.queueRoots.pop();
    let at = open.queueEnd;
    while (at < queueEnd) {
      const stepEnd = Math.min(
        queueEnd,
        open.queueStart +
          (Math.floor((at - open.queueStart) / MAX_QUEUE_ITEMS_PER_STEP) + 1) * MAX_QUEUE_ITEMS_PER_STEP,
      );
      const items = history.queueSlice(at, stepEnd).map(queueItemOf);
      const result = applyQueueStep(this.p.state, items);
      open.queueRoots.push(result.postRoot);
      open.header = headerToJson(result.header);
      at = stepEnd;
    }
    open.queueEnd = queueEnd;
    this.p.index.indexNew();
  }

  /** Applies the queue items `[start, end)` of a closed batch being replayed; returns its queue steps' roots. */
  applyQueueRange(start: number, end: number): string[] {
    const history = this.p.history;
    const roots: string[] = [];
    if (end > history.queueLength) throw this.p.corrupt(`queue item ${end - 1} is not known`);
    for (let at = start; at < end; at += MAX_QUEUE_ITEMS_PER_STEP) {
      const items = history.queueSlice(at, Math.min(end, at + MAX_QUEUE_ITEMS_PER_STEP)).map(queueItemOf);
      roots.push(applyQueueStep(this.p.state, items).postRoot);
    }
    this.p.index.indexNew();
    return roots;
  }

  /** Closes the open batch if one more transaction might not fit (./batch-policy.ts). */
  closeIfFull(): void {
    const open = this.open;
    if (open && batchIsFull(shapeOf(open), this.p.limits)) this.closeBatch();
  }

  /** Closes the open batch (if it has anything); its record is buffered for the next commit. */
  closeBatch(): BatchRecord | undefined {
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
      header: open.header ?? headerToJson(this.p.state.header()),
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
      ...(open.blsChunks.length > 0 ? { bls: open.blsChunks } : {}),
    };
    this.p.history.add(rec, open.chunks, open.before);
    this.open = undefined;
    this.p.journal.putClosed(rec);
    const { metrics, logger } = this.p.opts;
    metrics.batchTransactions.observe(open.txCount);
    metrics.batchBytes.observe(open.bytes);
    metrics.batchQueueItems.observe(open.queueEnd - open.queueStart);
    metrics.heads.set({ stage: "closed" }, rec.index);
    logger.info(
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
   * The clock's part: applies queue items waiting to an open batch that has no transaction yet (within its room),
   * closes the open batch once it is `maxAgeMs` old, and opens a batch for queue items waiting to be applied.
   */
  tick(now: number): void {
    const open = this.open;
    const queueLength = this.p.history.queueLength;
    const waitingItems = queueLength > this.queueSequenced();
    if (open && open.txCount === 0 && open.executor === undefined && open.bls === undefined && waitingItems) {
      const room = open.queueStart + this.p.limits.maxQueueItems;
      const end = Math.min(queueLength, room);
      if (end > open.queueEnd) {
        this.extendQueue(end);
        this.p.journal.putOpen({
          index: open.index,
          queueStart: open.queueStart,
          queueEnd: end,
          firstSeq: open.firstSeq,
          openedAt: open.openedAt,
        });
      }
    }
    if (this.open && batchIsDue(this.open, this.p.limits, now)) this.closeBatch();
    if (!this.open && this.p.history.queueLength > this.queueSequenced()) this.ensureOpen();
  }
}
