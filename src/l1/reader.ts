/**
 * Reads the rollup's inputs back from L1 alone (PROTOCOL.md §7.5): the queue
 * from the bridge's `QueueItemAppended` events, and every batch from the
 * inbox's `BatchAppended` events plus the calldata of the transaction that
 * emitted each one.
 */
import type { Bridge, RollupInbox } from "../../typechain-types";
import type { QueueItem } from "../protocol/queue";
import { BatchDataUnavailableError, fetchBatchChunks } from "./calldata";
import { batchAppended, queueItemAppended } from "./events";

export { BatchDataUnavailableError };

/** A queue item with its position and the accumulator after it. */
export interface L1QueueItem extends QueueItem {
  index: number;
  accumulator: string;
}

/** A batch as L1 holds it: the inbox's record and the chunks from calldata. */
export interface L1Batch {
  index: number;
  commitment: string;
  chunksRoot: string;
  queueStart: number;
  queueEnd: number;
  stepCount: number;
  feeRecipient: number;
  forced: boolean;
  chunks: Uint8Array[];
  blockNumber: number;
  transactionHash: string;
}

/** Block range of a read; `fromBlock` is usually the deployment's `startBlock`. */
export interface ReadRange {
  fromBlock?: number;
  toBlock?: number | "latest";
}

/** The queue items appended in the range, in queue order. */
export async function readQueue(bridge: Bridge, range: ReadRange = {}): Promise<L1QueueItem[]> {
  const events = await bridge.queryFilter(bridge.filters.QueueItemAppended(), range.fromBlock ?? 0, range.toBlock);
  return events
    .map((event) => {
      const { index, item, accumulator } = queueItemAppended(event.args);
      return { index, ...item, accumulator };
    })
    .sort((a, b) => a.index - b.index);
}

/**
 * The batches appended in the range, in batch order, each with its chunks
 * decoded from the calldata of its `appendBatch` call and checked against the
 * chunk root the inbox stored. The inbox takes `appendBatch` only as the
 * transaction's own call (PROTOCOL.md §7.2); a transaction that is not one
 * (only a node lying about it could show one) throws `BatchDataUnavailableError`.
 */
export async function readBatches(inbox: RollupInbox, range: ReadRange = {}): Promise<L1Batch[]> {
  const inboxAddress = await inbox.getAddress();
  const provider = inbox.runner?.provider;
  if (provider === null || provider === undefined) {
    throw new BatchDataUnavailableError("the inbox handle has no provider", {});
  }
  const events = await inbox.queryFilter(inbox.filters.BatchAppended(), range.fromBlock ?? 0, range.toBlock);
  const batches: L1Batch[] = [];
  for (const event of events) {
    const record = batchAppended(event.args);
    const ref = { ...record, transactionHash: event.transactionHash };
    const chunks = record.forced ? [] : await fetchBatchChunks(provider, inboxAddress, ref);
    if (record.forced && record.chunkCount !== 0) {
      throw new BatchDataUnavailableError(`forced batch ${record.index} claims ${record.chunkCount} chunks`, {
        batchIndex: record.index,
      });
    }
    batches.push({
      index: record.index,
      commitment: record.commitment,
      chunksRoot: record.chunksRoot,
      queueStart: record.queueStart,
      queueEnd: record.queueEnd,
      stepCount: record.stepCount,
      feeRecipient: record.feeRecipient,
      forced: record.forced,
      chunks,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
    });
  }
  return batches.sort((a, b) => a.index - b.index);
}
