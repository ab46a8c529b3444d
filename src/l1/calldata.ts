/**
 * A batch's chunks from the calldata of the transaction that appended it
 * (PROTOCOL.md §7.5). The inbox takes `appendBatch` only as a transaction's
 * own call from an account without code (§7.2), so the transaction's input
 * is always the call itself; anything else (a node reporting another
 * transaction) is `BatchDataUnavailableError`, never a guess. What is decoded
 * is trusted only once its chunk root matches the one the inbox emitted.
 */
import { getBytes, type Provider } from "ethers";
import { RollupInbox__factory } from "../../typechain-types";
import { BilayerError } from "../protocol/errors";
import { chunksRoot } from "./batch";

/** A batch's chunks cannot be recovered from the calldata of the transaction that appended it. */
export class BatchDataUnavailableError extends BilayerError {
  constructor(message: string, context: Record<string, unknown>) {
    super("BATCH_DATA_UNAVAILABLE", message, { context });
  }
}

const inboxInterface = RollupInbox__factory.createInterface();

const APPEND_BATCH_SELECTOR = getBytes(inboxInterface.getFunction("appendBatch").selector);

function word(data: Uint8Array, offset: number): number | undefined {
  if (offset < 0 || offset + 32 > data.length) return undefined;
  for (let i = offset; i < offset + 24; i++) if (data[i] !== 0) return undefined; // more than 2^64: out of bounds anyway
  let value = 0;
  for (let i = offset + 24; i < offset + 32; i++) value = value * 256 + data[i];
  return value;
}

/**
 * The `chunks` argument of an `appendBatch(bytes[] chunks, uint256 queueCount, uint32 feeRecipient)` call, read
 * straight from the calldata (ethers' ABI decoder takes ~100 ms for a full 256 KiB batch, this well under 1 ms), or
 * `undefined` when `data` is not such a call or an offset or length points outside it. What it returns is only
 * trusted once its chunk root matches the one the inbox emitted.
 */
export function decodeAppendBatchChunks(data: Uint8Array): Uint8Array[] | undefined {
  if (data.length < 4 + 96) return undefined;
  for (let i = 0; i < 4; i++) if (data[i] !== APPEND_BATCH_SELECTOR[i]) return undefined;
  const args = data.subarray(4);
  const arrayOffset = word(args, 0);
  if (arrayOffset === undefined) return undefined;
  const count = word(args, arrayOffset);
  if (count === undefined || count > (args.length - arrayOffset) / 32) return undefined;
  const base = arrayOffset + 32; // element offsets are relative to the start of the array's head
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const rel = word(args, base + 32 * i);
    if (rel === undefined) return undefined;
    const length = word(args, base + rel);
    if (length === undefined || base + rel + 32 + length > args.length) return undefined;
    chunks.push(args.slice(base + rel + 32, base + rel + 32 + length));
  }
  return chunks;
}

/** What identifies a batch's data: its transaction, and the root and count of chunks the inbox emitted. */
export interface BatchDataRef {
  index: number;
  transactionHash: string;
  chunksRoot: string;
  chunkCount: number;
}

/**
 * The chunks of batch `batch` (appended by a call, not forced), fetched from its transaction's input and checked
 * against the chunk root and count the inbox emitted.
 */
export async function fetchBatchChunks(provider: Provider, inbox: string, batch: BatchDataRef): Promise<Uint8Array[]> {
  const context = { batchIndex: batch.index, transactionHash: batch.transactionHash };
  const tx = await provider.getTransaction(batch.transactionHash);
  if (tx === null) throw new BatchDataUnavailableError(`the transaction of batch ${batch.index} is not found`, context);
  if (tx.to?.toLowerCase() !== inbox.toLowerCase()) {
    throw new BatchDataUnavailableError(
      `the node reports batch ${batch.index} appended by a transaction to ${tx.to ?? "a contract creation"}, not to the inbox (which the inbox refuses): its chunks cannot be read`,
      { ...context, to: tx.to },
    );
  }
  const chunks = decodeAppendBatchChunks(getBytes(tx.data));
  if (chunks === undefined) {
    throw new BatchDataUnavailableError(`the transaction of batch ${batch.index} is not an appendBatch call`, {
      ...context,
      selector: tx.data.slice(0, 10),
    });
  }
  const root = chunksRoot(chunks);
  if (root !== batch.chunksRoot.toLowerCase() || chunks.length !== batch.chunkCount) {
    throw new BatchDataUnavailableError(`the calldata of batch ${batch.index} does not match its chunk root`, {
      ...context,
      chunksRoot: batch.chunksRoot,
      calldataRoot: root,
    });
  }
  return chunks;
}
