/**
 * The rollup's events as the services read them (the one place they are
 * parsed: the operator's follower and driver, the verifier, the tests).
 *
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
import type { Log, Provider, Result } from "ethers";
import {
  Bridge__factory,
  FraudVerifier__factory,
  RollupInbox__factory,
  StateCommitmentChain__factory,
} from "../../typechain-types";
import type { QueueItem } from "../protocol/queue";
import { fetchBatchChunks } from "./calldata";
import type { RollupAddresses } from "./deployments";

export { BatchDataUnavailableError } from "./calldata";

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
export interface BatchEvent extends EventPosition, BatchAppended {
  kind: "batch";
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

/** How many `getTransaction` calls run at once while fetching the calldata of a range's batches. */
const CALLDATA_CONCURRENCY = 8;

/** An event's decoded args by name: TypeChain's typed output with the fields `F`, or ethers' `Result`. */
export type EventArgs<F extends string> = { readonly [K in F]: unknown } | Result;

/** The fields of a `QueueItemAppended` event (ethers' decoded args), addresses and hashes lowercase. */
export function queueItemAppended(
  args: EventArgs<"index" | "kind" | "addr" | "tokenId" | "amount" | "account" | "timestamp" | "accumulator">,
): { index: number; item: QueueItem; accumulator: string } {
  const a = args as { readonly [K in string]: unknown };
  return {
    index: Number(a.index),
    item: {
      kind: Number(a.kind),
      addr: String(a.addr).toLowerCase(),
      tokenId: Number(a.tokenId),
      amount: a.amount as bigint,
      account: Number(a.account),
      timestamp: a.timestamp as bigint,
    },
    accumulator: String(a.accumulator).toLowerCase(),
  };
}

/** The inbox's record of a batch, from the args of its `BatchAppended` event (hashes lowercase). */
export interface BatchAppended {
  index: number;
  commitment: string;
  chunksRoot: string;
  queueStart: number;
  queueEnd: number;
  chunkCount: number;
  stepCount: number;
  feeRecipient: number;
  forced: boolean;
}

/** The fields of a `BatchAppended` event (ethers' decoded args). */
export function batchAppended(
  args: EventArgs<
    | "batchIndex"
    | "commitment"
    | "chunksRoot"
    | "queueStart"
    | "queueEnd"
    | "chunkCount"
    | "stepCount"
    | "feeRecipient"
    | "forced"
  >,
): BatchAppended {
  const a = args as { readonly [K in string]: unknown };
  return {
    index: Number(a.batchIndex),
    commitment: String(a.commitment).toLowerCase(),
    chunksRoot: String(a.chunksRoot).toLowerCase(),
    queueStart: Number(a.queueStart),
    queueEnd: Number(a.queueEnd),
    chunkCount: Number(a.chunkCount),
    stepCount: Number(a.stepCount),
    feeRecipient: Number(a.feeRecipient),
    forced: Boolean(a.forced),
  };
}

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
      return { kind: "queue", ...position(log), ...queueItemAppended(parsed.args) };
    }
    if (address === a.inbox) {
      const parsed = inboxInterface.parseLog(log);
      if (parsed?.name !== "BatchAppended") return undefined;
      return { kind: "batch", ...position(log), ...batchAppended(parsed.args), chunks: [] };
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

  private chunksOf(batch: BatchEvent): Promise<Uint8Array[]> {
    return fetchBatchChunks(this.provider, this.addresses.inbox, batch);
  }
}
