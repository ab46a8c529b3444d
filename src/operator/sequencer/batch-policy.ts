/**
 * When the sequencer closes a chunk and a batch: pure decisions on the shape
 * of the open batch, its limits and the clock. The sequencer asks after every
 * transaction it sequences (and on each tick), before anything else is added,
 * so no batch ever exceeds its limits — every batch within them is an
 * `appendBatch` a public mempool relays (`src/l1/batch.ts`).
 */
import { MAX_BATCH_BYTES, MAX_CHUNKS_PER_BATCH, MAX_QUEUE_ITEMS_PER_BATCH } from "../../l1/batch";
import { MAX_TX_SIZE, MAX_TXS_PER_CHUNK } from "../../protocol/constants";

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

/** What the policy looks at in the open batch. */
export interface OpenBatchShape {
  /** Chunk bytes so far (closed chunks and the one being filled). */
  bytes: number;
  /** Chunks closed so far. */
  closedChunks: number;
  /** Transactions applied in the chunk being filled (0 when none is being filled). */
  chunkTxs: number;
  /**
   * Transactions the executor of the chunk being filled has read, skipped attempts included (they count towards
   * its 32); `undefined` when no chunk is being filled.
   */
  chunkReads: number | undefined;
  /** Transactions the chunk being filled reads at most: 32 signed ones, or 40 BLS transfers. */
  chunkCapacity: number;
  /** When the batch opened (ms). */
  openedAt: number;
}

/** The limits the policy keeps. */
export type BatchPolicyLimits = Pick<BatchLimits, "maxAgeMs" | "maxChunks" | "maxBytes">;

/** The chunk being filled takes no more transactions (PROTOCOL.md §5.2 reads at most 32; §5.4 40 BLS transfers). */
export function chunkIsFull(reads: number, capacity = MAX_TXS_PER_CHUNK): boolean {
  return reads >= capacity;
}

/**
 * The batch must close now: one more transaction of the largest type might exceed its bytes, or it holds its
 * last chunk and that chunk cannot take another transaction.
 */
export function batchIsFull(b: OpenBatchShape, limits: BatchPolicyLimits): boolean {
  if (b.bytes + MAX_TX_SIZE > limits.maxBytes) return true;
  const chunksAfter = b.closedChunks + (b.chunkTxs > 0 ? 1 : 0);
  const chunkFull = b.chunkReads === undefined || chunkIsFull(b.chunkReads, b.chunkCapacity);
  return chunksAfter >= limits.maxChunks && chunkFull;
}

/** The batch is old enough to close (with whatever it holds). */
export function batchIsDue(
  b: Pick<OpenBatchShape, "openedAt">,
  limits: Pick<BatchPolicyLimits, "maxAgeMs">,
  now: number,
): boolean {
  return now - b.openedAt >= limits.maxAgeMs;
}
