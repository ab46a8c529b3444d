/**
 * Reads the rollup's history from L1 alone, one block range at a time: the
 * bridge's queue items, the inbox's batches with their chunks decoded from the
 * calldata of the transactions that appended them, and the state commitment
 * chain's proposals, rollbacks and bond returns, in the order they happened.
 *
 * A batch's chunks are read from the input of the transaction that emitted
 * `BatchAppended`. The inbox takes `appendBatch` only from the transaction's
 * own sender, an account without code (PROTOCOL.md §7.2), so that input is
 * always the call itself; anything else (a node reporting another
 * transaction) stops the verifier with `BatchDataUnavailableError` rather than
 * letting it guess.
 */
import { getBytes, type Log, type Provider } from "ethers";
import {
  Bridge__factory,
  FraudVerifier__factory,
  RollupInbox__factory,
  StateCommitmentChain__factory,
} from "../../typechain-types";
import { chunksRoot } from "../l1/batch";
import type { RollupAddresses } from "../l1/deployments";
import { BatchDataUnavailableError } from "../l1/reader";
import type { QueueItem } from "../protocol/queue";

export { BatchDataUnavailableError };

const bridgeInterface = Bridge__factory.createInterface();
const inboxInterface = RollupInbox__factory.createInterface();
const chainInterface = StateCommitmentChain__factory.createInterface();
const fraudInterface = FraudVerifier__factory.createInterface();

/** Where an event was emitted. */
export interface EventPosition {
  blockNumber: number;
  logIndex: number;
  transactionHash: string;
}

/** A queue item with its index and the accumulator after it. */
export interface QueueEvent extends EventPosition {
  kind: "queue";
  index: number;
  item: QueueItem;
  accumulator: string;
}

/** A batch as the inbox recorded it, with its chunks from calldata. */
export interface BatchEvent extends EventPosition {
  kind: "batch";
  index: number;
  commitment: string;
  chunksRoot: string;
  queueStart: number;
  queueEnd: number;
  chunkCount: number;
  stepCount: number;
  feeRecipient: number;
  forced: boolean;
  chunks: Uint8Array[];
}

/** A proposal of a batch's step roots. */
export interface ProposalEvent extends EventPosition {
  kind: "proposal";
  batchIndex: number;
  proposalId: bigint;
  proposer: string;
  stateRoot: string;
  deadline: number;
  stepRoots: string[];
}

/** Proposals `[fromBatch, toBatch)` deleted after a fraud proof. */
export interface RollbackEvent extends EventPosition {
  kind: "rollback";
  fromBatch: number;
  toBatch: number;
  challenger: string;
  /** The proposal proven wrong: its bond is forfeited; the others removed stay refundable. */
  proposalId: bigint;
  reward: bigint;
  burnt: bigint;
}

/** A proposal's bond was paid back (final, or removed by an earlier one's rollback). */
export interface BondReturnedEvent extends EventPosition {
  kind: "bondReturned";
  proposalId: bigint;
  batchIndex: number;
  proposer: string;
}

/** A step was proven wrong. */
export interface FraudProvenEvent extends EventPosition {
  kind: "fraudProven";
  batchIndex: number;
  stepIndex: number;
  challenger: string;
  proposedRoot: string;
  computedRoot: string;
}

export type RollupEvent =
  QueueEvent | BatchEvent | ProposalEvent | RollbackEvent | BondReturnedEvent | FraudProvenEvent;

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

/** How many `getTransaction` calls run at once while fetching the calldata of a range's batches. */
const CALLDATA_CONCURRENCY = 8;

function position(log: Log): EventPosition {
  return { blockNumber: log.blockNumber, logIndex: log.index, transactionHash: log.transactionHash };
}

/** Reads the rollup's events of a block range from an L1 node. */
export class L1Reader {
  private readonly addresses: { bridge: string; inbox: string; chain: string; fraud: string };

  constructor(
    private readonly provider: Provider,
    contracts: RollupAddresses,
  ) {
    this.addresses = {
      bridge: contracts.bridge.toLowerCase(),
      inbox: contracts.rollupInbox.toLowerCase(),
      chain: contracts.stateCommitmentChain.toLowerCase(),
      fraud: contracts.fraudVerifier.toLowerCase(),
    };
  }

  /** The rollup events of blocks `[fromBlock, toBlock]`, in the order they were emitted, batches with their chunks. */
  async read(fromBlock: number, toBlock: number): Promise<RollupEvent[]> {
    const a = this.addresses;
    const logs = await this.provider.getLogs({ address: [a.bridge, a.inbox, a.chain, a.fraud], fromBlock, toBlock });
    logs.sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index);
    const events: RollupEvent[] = [];
    for (const log of logs) {
      const event = this.decode(log);
      if (event !== undefined) events.push(event);
    }
    await this.fillChunks(events.filter((e): e is BatchEvent => e.kind === "batch" && !e.forced));
    return events;
  }

  private decode(log: Log): RollupEvent | undefined {
    const address = log.address.toLowerCase();
    const a = this.addresses;
    if (address === a.bridge) {
      const parsed = bridgeInterface.parseLog(log);
      if (parsed?.name !== "QueueItemAppended") return undefined;
      const args = parsed.args;
      return {
        kind: "queue",
        ...position(log),
        index: Number(args.index),
        item: {
          kind: Number(args.kind),
          addr: String(args.addr).toLowerCase(),
          tokenId: Number(args.tokenId),
          amount: args.amount as bigint,
          account: Number(args.account),
          timestamp: args.timestamp as bigint,
        },
        accumulator: String(args.accumulator).toLowerCase(),
      };
    }
    if (address === a.inbox) {
      const parsed = inboxInterface.parseLog(log);
      if (parsed?.name !== "BatchAppended") return undefined;
      const args = parsed.args;
      return {
        kind: "batch",
        ...position(log),
        index: Number(args.batchIndex),
        commitment: String(args.commitment).toLowerCase(),
        chunksRoot: String(args.chunksRoot).toLowerCase(),
        queueStart: Number(args.queueStart),
        queueEnd: Number(args.queueEnd),
        chunkCount: Number(args.chunkCount),
        stepCount: Number(args.stepCount),
        feeRecipient: Number(args.feeRecipient),
        forced: Boolean(args.forced),
        chunks: [],
      };
    }
    if (address === a.chain) {
      const parsed = chainInterface.parseLog(log);
      if (parsed === null) return undefined;
      const args = parsed.args;
      if (parsed.name === "StateProposed") {
        return {
          kind: "proposal",
          ...position(log),
          batchIndex: Number(args.batchIndex),
          proposalId: args.proposalId as bigint,
          proposer: String(args.proposer).toLowerCase(),
          stateRoot: String(args.stateRoot).toLowerCase(),
          deadline: Number(args.deadline),
          stepRoots: (args.stepRoots as string[]).map((r) => r.toLowerCase()),
        };
      }
      if (parsed.name === "ProposalsRolledBack") {
        return {
          kind: "rollback",
          ...position(log),
          fromBatch: Number(args.fromBatch),
          toBatch: Number(args.toBatch),
          challenger: String(args.challenger).toLowerCase(),
          proposalId: args.proposalId as bigint,
          reward: args.reward as bigint,
          burnt: args.burnt as bigint,
        };
      }
      if (parsed.name === "BondReturned") {
        return {
          kind: "bondReturned",
          ...position(log),
          proposalId: args.proposalId as bigint,
          batchIndex: Number(args.batchIndex),
          proposer: String(args.proposer).toLowerCase(),
        };
      }
      return undefined;
    }
    if (address === a.fraud) {
      const parsed = fraudInterface.parseLog(log);
      if (parsed?.name !== "FraudProven") return undefined;
      const args = parsed.args;
      return {
        kind: "fraudProven",
        ...position(log),
        batchIndex: Number(args.batchIndex),
        stepIndex: Number(args.stepIndex),
        challenger: String(args.challenger).toLowerCase(),
        proposedRoot: String(args.proposedRoot).toLowerCase(),
        computedRoot: String(args.computedRoot).toLowerCase(),
      };
    }
    return undefined;
  }

  /** Fetches and decodes the chunks of each batch from its transaction's input, checked against the chunk root. */
  private async fillChunks(batches: BatchEvent[]): Promise<void> {
    let next = 0;
    // A worker stops at its first failure; the others go on, so the error reported is always the one of the
    // earliest batch whose data is missing, whichever request happened to fail first.
    const failures: { index: number; error: unknown }[] = [];
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const batch = batches[next++];
        try {
          batch.chunks = await this.chunksOf(batch);
        } catch (error) {
          failures.push({ index: batch.index, error });
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CALLDATA_CONCURRENCY, batches.length) }, worker));
    if (failures.length > 0) throw failures.reduce((a, b) => (b.index < a.index ? b : a)).error;
  }

  private async chunksOf(batch: BatchEvent): Promise<Uint8Array[]> {
    const context = { batchIndex: batch.index, transactionHash: batch.transactionHash };
    const tx = await this.provider.getTransaction(batch.transactionHash);
    if (tx === null)
      throw new BatchDataUnavailableError(`the transaction of batch ${batch.index} is not found`, context);
    if (tx.to?.toLowerCase() !== this.addresses.inbox) {
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
    if (root !== batch.chunksRoot || chunks.length !== batch.chunkCount) {
      throw new BatchDataUnavailableError(`the calldata of batch ${batch.index} does not match its chunk root`, {
        ...context,
        chunksRoot: batch.chunksRoot,
        calldataRoot: root,
      });
    }
    return chunks;
  }
}
