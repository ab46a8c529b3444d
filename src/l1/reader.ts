/**
 * Reads the rollup's inputs back from L1 alone (PROTOCOL.md §7.5): the queue
 * from the bridge's `QueueItemAppended` events, and every batch from the
 * inbox's `BatchAppended` events plus the calldata of the transaction that
 * emitted each one.
 */
import { getBytes } from "ethers";
import type { Bridge, RollupInbox } from "../../typechain-types";
import { BilayerError } from "../protocol/errors";
import type { QueueItem } from "../protocol/queue";
import { chunksRoot } from "./batch";

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

/** A batch's chunks cannot be recovered from the calldata of the transaction that appended it. */
export class BatchDataUnavailableError extends BilayerError {
  constructor(message: string, context: Record<string, unknown>) {
    super("BATCH_DATA_UNAVAILABLE", message, { context });
  }
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
    .map((event) => ({
      index: Number(event.args.index),
      kind: Number(event.args.kind),
      addr: event.args.addr,
      tokenId: Number(event.args.tokenId),
      amount: event.args.amount,
      account: Number(event.args.account),
      timestamp: event.args.timestamp,
      accumulator: event.args.accumulator,
    }))
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
  const inboxAddress = (await inbox.getAddress()).toLowerCase();
  const provider = inbox.runner?.provider;
  if (provider === null || provider === undefined) {
    throw new BatchDataUnavailableError("the inbox handle has no provider", {});
  }
  const events = await inbox.queryFilter(inbox.filters.BatchAppended(), range.fromBlock ?? 0, range.toBlock);
  const batches: L1Batch[] = [];
  for (const event of events) {
    const index = Number(event.args.batchIndex);
    const forced = event.args.forced;
    let chunks: Uint8Array[] = [];
    if (!forced) {
      const tx = await provider.getTransaction(event.transactionHash);
      const call = tx !== null && tx.to?.toLowerCase() === inboxAddress ? inbox.interface.parseTransaction(tx) : null;
      if (call === null || call.name !== "appendBatch") {
        throw new BatchDataUnavailableError(`batch ${index} was not appended by a direct appendBatch call`, {
          batchIndex: index,
          transactionHash: event.transactionHash,
        });
      }
      chunks = (call.args[0] as string[]).map((chunk) => getBytes(chunk));
    }
    const root = chunksRoot(chunks);
    if (root !== event.args.chunksRoot || chunks.length !== Number(event.args.chunkCount)) {
      throw new BatchDataUnavailableError(`the calldata of batch ${index} does not match its chunk root`, {
        batchIndex: index,
        transactionHash: event.transactionHash,
        chunksRoot: event.args.chunksRoot,
        calldataRoot: root,
      });
    }
    batches.push({
      index,
      commitment: event.args.commitment,
      chunksRoot: event.args.chunksRoot,
      queueStart: Number(event.args.queueStart),
      queueEnd: Number(event.args.queueEnd),
      stepCount: Number(event.args.stepCount),
      feeRecipient: Number(event.args.feeRecipient),
      forced,
      chunks,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
    });
  }
  return batches.sort((a, b) => a.index - b.index);
}
