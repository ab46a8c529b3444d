// An off-chain mirror of the rollup built only from what L1 stores (queue events, appended batches) and the
// TypeScript STF of src/protocol: it produces honest proposals, the lies of a dishonest proposer, fraud-proof
// arguments from the STF's witnesses, claim arguments, and the escrow the bridge must hold.
import { ethers } from "hardhat";
import type { ContractTransactionReceipt, Signer, Wallet } from "ethers";
import type { RollupContracts } from "../../../src/l1/contracts";
import { chunkProof, queueStepCount } from "../../../src/l1/batch";
import { readBatches, readQueue } from "../../../src/l1/reader";
import { encodeChunk } from "../../../src/protocol/codec";
import type { L2Tx, UnsignedTx } from "../../../src/protocol/codec";
import { MAX_QUEUE_ITEMS_PER_STEP } from "../../../src/protocol/constants";
import { signTxWithKey } from "../../../src/protocol/eip712";
import { toHex } from "../../../src/protocol/hash";
import { QueueKind } from "../../../src/protocol/queue";
import type { QueueItem } from "../../../src/protocol/queue";
import { L2State } from "../../../src/protocol/state";
import type { StateHeader } from "../../../src/protocol/state";
import { applyChunk, applyQueueStep } from "../../../src/protocol/stf";
import type { StepResult, StepWitness } from "../../../src/protocol/stf";

/** A batch as L1 recorded it. */
export interface BatchRecord {
  index: number;
  queueStart: number;
  queueEnd: number;
  queueItems: QueueItem[];
  chunks: Uint8Array[];
  feeRecipient: number;
}

/** The input of one step. */
export type StepInput =
  { kind: "queue"; items: QueueItem[] } | { kind: "chunk"; chunk: Uint8Array; chunkIndex: number };

/** The honest execution of a batch. */
export interface BatchTrace {
  stepRoots: string[];
  steps: StepResult[];
  /** `preHeaders[i]` is the state before step i. */
  preHeaders: StateHeader[];
  /** The state after the batch (do not mutate; clone it). */
  post: L2State;
}

/** A liar's version of one step: mutate `state` (the step's pre-state) into what the liar claims follows. */
export type LiarStep = (state: L2State, input: StepInput, honest: (state: L2State) => StepResult) => void;

export class RollupModel {
  readonly queue: QueueItem[] = [];
  readonly batches: BatchRecord[] = [];
  private readonly traces: BatchTrace[] = [];

  private constructor(
    readonly rollup: RollupContracts,
    readonly domain: string,
    readonly bond: bigint,
  ) {}

  static async create(rollup: RollupContracts): Promise<RollupModel> {
    const domain = await rollup.inbox.domainSeparator();
    const bond = await rollup.stateCommitmentChain.PROPOSER_BOND();
    return new RollupModel(rollup, domain, bond);
  }

  /** A model rebuilt from L1 alone: the queue from the bridge's events, the batches from the inbox's calldata. */
  static async fromL1(rollup: RollupContracts): Promise<RollupModel> {
    const model = await RollupModel.create(rollup);
    await model.syncQueue();
    for (const batch of await readBatches(rollup.inbox)) {
      model.batches.push({
        index: batch.index,
        queueStart: batch.queueStart,
        queueEnd: batch.queueEnd,
        queueItems: model.queue.slice(batch.queueStart, batch.queueEnd),
        chunks: batch.chunks,
        feeRecipient: batch.feeRecipient,
      });
    }
    return model;
  }

  /** Reads the queue from the bridge's events, as a follower would. */
  async syncQueue(): Promise<void> {
    for (const item of await readQueue(this.rollup.bridge)) {
      if (item.index < this.queue.length) continue;
      if (item.index !== this.queue.length) throw new Error(`queue event ${item.index} out of order`);
      const { kind, addr, tokenId, amount, account, timestamp } = item;
      this.queue.push({ kind, addr, tokenId, amount, account, timestamp });
    }
  }

  /** Appends a batch as the sequencer and records it. */
  async append(
    sequencer: Signer,
    chunks: Uint8Array[],
    queueCount: number,
    feeRecipient = 0,
  ): Promise<{ batchIndex: number; receipt: ContractTransactionReceipt }> {
    const response = await this.rollup.inbox.connect(sequencer).appendBatch(chunks, queueCount, feeRecipient);
    return this.record(await response.wait(), chunks, feeRecipient);
  }

  /** Appends a queue-only batch through `forceInclude` and records it. */
  async forceInclude(
    caller: Signer,
    queueCount: number,
  ): Promise<{ batchIndex: number; receipt: ContractTransactionReceipt }> {
    const response = await this.rollup.inbox.connect(caller).forceInclude(queueCount);
    return this.record(await response.wait(), [], 0);
  }

  private async record(
    receipt: ContractTransactionReceipt | null,
    chunks: Uint8Array[],
    feeRecipient: number,
  ): Promise<{ batchIndex: number; receipt: ContractTransactionReceipt }> {
    if (receipt === null) throw new Error("no receipt");
    const event = receipt.logs
      .map((log) => {
        try {
          return this.rollup.inbox.interface.parseLog(log);
        } catch {
          return null;
        }
      })
      .find((parsed) => parsed?.name === "BatchAppended");
    if (event === undefined || event === null) throw new Error("no BatchAppended event");
    const batchIndex = Number(event.args.batchIndex);
    if (batchIndex !== this.batches.length) throw new Error(`batch ${batchIndex} recorded out of order`);
    await this.syncQueue();
    const queueStart = Number(event.args.queueStart);
    const queueEnd = Number(event.args.queueEnd);
    this.batches.push({
      index: batchIndex,
      queueStart,
      queueEnd,
      queueItems: this.queue.slice(queueStart, queueEnd),
      chunks,
      feeRecipient,
    });
    return { batchIndex, receipt };
  }

  /** The inputs of a batch's steps: its queue items in steps of 32, then its chunks. */
  stepInputs(batchIndex: number): StepInput[] {
    const batch = this.batches[batchIndex];
    const inputs: StepInput[] = [];
    for (let i = 0; i < batch.queueItems.length; i += MAX_QUEUE_ITEMS_PER_STEP) {
      inputs.push({ kind: "queue", items: batch.queueItems.slice(i, i + MAX_QUEUE_ITEMS_PER_STEP) });
    }
    batch.chunks.forEach((chunk, chunkIndex) => inputs.push({ kind: "chunk", chunk, chunkIndex }));
    return inputs;
  }

  /** Applies one step honestly to `state` (mutated). */
  applyStep(batchIndex: number, state: L2State, input: StepInput, witness = false): StepResult {
    if (input.kind === "queue") return applyQueueStep(state, input.items, { witness });
    const ctx = { domainSeparator: this.domain, feeRecipient: this.batches[batchIndex].feeRecipient };
    return applyChunk(state, input.chunk, ctx, { witness });
  }

  /** The honest state after batch `batchIndex` (genesis for −1). Do not mutate; clone it. */
  stateAfter(batchIndex: number): L2State {
    return batchIndex < 0 ? new L2State() : this.trace(batchIndex).post;
  }

  /** The state after every appended batch: what the sequencer builds the next chunk on. */
  tip(): L2State {
    return this.stateAfter(this.batches.length - 1);
  }

  /** The honest execution of a batch, with every step's witness. */
  trace(batchIndex: number): BatchTrace {
    if (batchIndex >= this.batches.length) throw new Error(`batch ${batchIndex} not appended`);
    for (let k = this.traces.length; k <= batchIndex; k++) {
      const state = this.stateAfter(k - 1).clone();
      const preHeaders: StateHeader[] = [];
      const steps: StepResult[] = [];
      for (const input of this.stepInputs(k)) {
        preHeaders.push(state.header());
        steps.push(this.applyStep(k, state, input, true));
      }
      this.traces.push({ stepRoots: steps.map((s) => s.postRoot), steps, preHeaders, post: state });
    }
    return this.traces[batchIndex];
  }

  /**
   * A liar's proposal for a batch: honest up to step `lieStep`, where `liarStep` replaces the honest transition,
   * then honest again from the liar's state. Returns the roots and the liar's final state.
   */
  lie(batchIndex: number, lieStep: number, liarStep: LiarStep): { stepRoots: string[]; post: L2State } {
    const state = this.stateAfter(batchIndex - 1).clone();
    const stepRoots: string[] = [];
    this.stepInputs(batchIndex).forEach((input, i) => {
      if (i === lieStep) {
        liarStep(state, input, (s) => this.applyStep(batchIndex, s, input));
      } else {
        this.applyStep(batchIndex, state, input);
      }
      stepRoots.push(state.stateRoot());
    });
    if (stepRoots[lieStep] === this.trace(batchIndex).stepRoots[lieStep]) {
      throw new Error(`the lie at step ${lieStep} of batch ${batchIndex} yields the honest root`);
    }
    return { stepRoots, post: state };
  }

  /** Proposes `stepRoots` (honest ones by default) for a batch, with the bond. */
  async propose(proposer: Signer, batchIndex: number, stepRoots?: string[]): Promise<ContractTransactionReceipt> {
    const roots = stepRoots ?? this.trace(batchIndex).stepRoots;
    const response = await this.rollup.stateCommitmentChain
      .connect(proposer)
      .propose(batchIndex, roots, { value: this.bond });
    const receipt = await response.wait();
    if (receipt === null) throw new Error("no receipt");
    return receipt;
  }

  /** The arguments of the fraud proof of step `stepIndex` against a proposal of `proposedRoots`. */
  proofCall(
    batchIndex: number,
    stepIndex: number,
    proposedRoots: string[],
  ):
    | { kind: "queue"; args: [number, number, string[], StateHeader, QueueItem[], StepWitness] }
    | { kind: "chunk"; args: [number, number, string[], StateHeader, Uint8Array, string[], StepWitness] } {
    const trace = this.trace(batchIndex);
    const batch = this.batches[batchIndex];
    const input = this.stepInputs(batchIndex)[stepIndex];
    const witness = trace.steps[stepIndex].witness;
    if (witness === undefined) throw new Error("no witness recorded");
    const pre = trace.preHeaders[stepIndex];
    if (input.kind === "queue") {
      return { kind: "queue", args: [batchIndex, stepIndex, proposedRoots, pre, input.items, witness] };
    }
    const proof = chunkProof(batch.chunks, input.chunkIndex);
    return { kind: "chunk", args: [batchIndex, stepIndex, proposedRoots, pre, input.chunk, proof, witness] };
  }

  /** Sends the fraud proof of step `stepIndex` (without waiting for it to be mined). */
  async challenge(challenger: Signer, batchIndex: number, stepIndex: number, proposedRoots: string[]) {
    const verifier = this.rollup.fraudVerifier.connect(challenger);
    const call = this.proofCall(batchIndex, stepIndex, proposedRoots);
    return call.kind === "queue" ? verifier.proveQueueStep(...call.args) : verifier.proveChunkStep(...call.args);
  }

  /** The arguments of `claimWithdrawal` for withdrawal `index` of `state` (the honest state after the batch). */
  claimArgs(
    batchIndex: number,
    index: number,
    state: L2State = this.stateAfter(batchIndex),
  ): [number, StateHeader, number, string, number, bigint, string[]] {
    const withdrawal = state.withdrawal(index);
    if (withdrawal === undefined) throw new Error(`no withdrawal ${index}`);
    const siblings = state.withdrawalProof(index).map(toHex);
    return [batchIndex, state.header(), index, withdrawal.recipient, withdrawal.tokenId, withdrawal.amount, siblings];
  }

  /**
   * What the bridge must hold of `tokenId`: the L2 balances of the state after every appended batch, its
   * withdrawals not yet paid, and the deposits still waiting in the queue.
   */
  async expectedEscrow(tokenId: number): Promise<bigint> {
    await this.syncQueue();
    const state = this.tip();
    let total = 0n;
    for (let i = 1; i <= state.accountCount; i++) {
      const account = state.getAccount(i);
      if (account !== undefined && account.tokenId === tokenId) total += account.balance;
    }
    for (let i = 0; i < Number(state.withdrawalCount); i++) {
      const withdrawal = state.withdrawal(i);
      if (withdrawal === undefined || withdrawal.tokenId !== tokenId) continue;
      if (!(await this.rollup.bridge.isClaimed(i))) total += withdrawal.amount;
    }
    const consumed = Number(await this.rollup.inbox.queueConsumed());
    for (const item of this.queue.slice(consumed)) {
      if (item.kind === QueueKind.Deposit && item.tokenId === tokenId) total += item.amount;
    }
    return total;
  }

  /** Index of the account of `owner` holding `tokenId` in the tip state (throws if none). */
  accountOf(owner: string, tokenId: number): number {
    const state = this.tip();
    for (let i = 1; i <= state.accountCount; i++) {
      const account = state.getAccount(i);
      if (account?.owner === owner.toLowerCase() && account.tokenId === tokenId) return i;
    }
    throw new Error(`no account of ${owner} for token ${tokenId}`);
  }

  /** Number of queue steps of a batch. */
  queueSteps(batchIndex: number): number {
    const batch = this.batches[batchIndex];
    return queueStepCount(batch.queueEnd - batch.queueStart);
  }
}

/** Builds a chunk of transactions signed over the nonces they will have when applied in order. */
export class ChunkBuilder {
  private readonly nonces = new Map<number, number>();
  readonly txs: L2Tx[] = [];

  constructor(
    private readonly state: L2State,
    private readonly domain: string,
  ) {}

  /**
   * Signs and adds a transaction from `key`'s account `unsigned.from`. `domain`, `nonce` and `tokenId` override
   * what an honest signer uses (to build invalid transactions); an override of the nonce does not advance it.
   */
  add(key: Wallet, unsigned: UnsignedTx, override: { domain?: string; nonce?: number; tokenId?: number } = {}): L2Tx {
    const account = this.state.getAccount(unsigned.from);
    const baseNonce = this.nonces.get(unsigned.from) ?? account?.nonce ?? 0;
    const nonce = override.nonce ?? baseNonce;
    if (override.nonce === undefined) this.nonces.set(unsigned.from, baseNonce + 1);
    const signature = signTxWithKey(
      key.privateKey,
      override.domain ?? this.domain,
      unsigned,
      override.tokenId ?? account?.tokenId ?? 0,
      nonce,
    );
    const tx = { ...unsigned, signature } as L2Tx;
    this.txs.push(tx);
    return tx;
  }

  /** The chunk bytes. */
  build(): Uint8Array {
    return encodeChunk(this.txs);
  }
}

/** 32 bytes that are not any honest root. */
export function garbageRoot(seed: number): string {
  return ethers.keccak256(ethers.toUtf8Bytes(`not a state root ${seed}`));
}
