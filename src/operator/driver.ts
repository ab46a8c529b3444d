import { hexlify, type Provider, type TransactionReceipt } from "ethers";
import { PollLoop } from "../common/poll-loop";
import { fetchBatchChunks } from "../l1/calldata";
import { batchAppended } from "../l1/events";
import type { FraudVerifier, RollupInbox, StateCommitmentChain } from "../../typechain-types";
import { BilayerError, isBilayerError } from "../protocol/errors";
import { describeRevert, fraudProofCalldata } from "../verifier/challenger";
import type { BondBook } from "./bonds";
import { L1SendBlockedError, L1TxLostError, L1TxRevertedError, type L1Sender, type TxPurpose } from "./l1-sender";
import type { Logger } from "./log";
import type { OperatorMetrics } from "./metrics";
import type { BatchRecord } from "./records";
import { ProposalChecker, proveWrongProposal, type WrongProposal } from "./proposals";
import type { AdoptedBatch, Sequencer } from "./sequencer";

/** How often the deployment is checked on L1 (chain, code, role, balance), at most. */
const CHECK_EVERY_MS = 5_000;
/** How often the snapshot moves, at most. */
const CHECKPOINT_EVERY_MS = 2_000;

export interface DriverOptions {
  provider: Provider;
  sender: L1Sender;
  /** Read-only handles (connected to the provider). */
  inbox: RollupInbox;
  stateCommitmentChain: StateCommitmentChain;
  fraudVerifier: FraudVerifier;
  sequencer: Sequencer;
  /** The operator's own bonds (recorded by the L1 sender's confirmations). */
  bonds: BondBook;
  /** The inbox's EIP-712 domain separator (fraud proofs re-execute chunks with it). */
  domainSeparator: string;
  logger: Logger;
  metrics: OperatorMetrics;
  pollMs: number;
  /** The deployment block: L1 batch events are read from there. */
  startBlock: number;
  /** The chain the deployment is on, and its contracts: checked on L1 every few polls. */
  chainId: bigint;
  contracts: readonly string[];
  /** A batch appended on L1 counts as confirmed (and may enter the snapshot) once this many blocks deep. */
  confirmations: number;
  /** Delete the transaction records of final batches in the snapshot (their receipts stay). */
  pruneHistory: boolean;
  /** Propose step roots (and take bonds back). */
  propose: boolean;
  /**
   * The step roots to propose for a batch. The default is the batch's own
   * roots; a different function is only for tests of the fraud-proof path.
   */
  proposalRoots?: (batch: BatchRecord) => string[] | Promise<string[]>; // async: malicious mode (./malicious.ts)
}

/** A lie this operator found in a live proposal and proved. */
export interface ProvenLie {
  batchIndex: number;
  stepIndex: number;
  proposalId: string;
  proposer: string;
  proposedRoot: string;
  computedRoot: string;
  /** The fraud-proof transaction and the reward it paid this operator (wei, decimal). */
  transactionHash: string;
  reward: string;
  at: number;
}

/** What the driver last read from L1. */
export interface DriverView {
  l1Block: number;
  l1Timestamp: number;
  appended: number;
  proposed: number;
  final: number;
  openProposals: { batchIndex: number; deadline: number }[];
  halted: string | undefined;
  /** Lies found in live proposals and proven by this operator since it started. */
  lies: ProvenLie[];
  /** Bonds of this operator that the chain holds. */
  bondsHeld: number;
  /** Whether the last L1 request went through, when one last did, and the last failure while they fail. */
  l1: { reachable: boolean; lastOkAt: number | undefined; error: string | undefined; errorSince: number | undefined };
  /** What the last deployment check found (chain, contracts, role, balance); undefined before the first. */
  checks: DeploymentChecks | undefined;
  /** The last batch appended and the last proposal made by this operator in this process, with when. */
  lastAppend: { batch: number; at: number } | undefined;
  lastProposal: { batch: number; at: number } | undefined;
  /** Batches appended on L1 and `confirmations` deep. */
  confirmed: number;
}

/** The deployment as L1 shows it now. */
export interface DeploymentChecks {
  at: number;
  /** The chain id the node reports. */
  chainId: string;
  /** Contracts of the deployment without code at their address. */
  missingContracts: string[];
  /** Whether the operator's key holds the inbox's sequencer role. */
  sequencerRole: boolean;
  /** The key's balance and the proposer bond, in wei. */
  balance: bigint;
  bond: bigint;
}

/** Whether an error means the L1 node could not be reached (as opposed to an answer it gave). */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  if (
    ["NETWORK_ERROR", "TIMEOUT", "SERVER_ERROR", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"].includes(
      String(e.code),
    )
  )
    return true;
  if (typeof e.message === "string" && /fetch failed|ECONNREFUSED|socket hang up|timeout/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isUnreachable(e.cause);
}

/**
 * The batcher and the proposer: one loop that takes the next L1 action in
 * order — append the oldest closed batch the inbox lacks, propose the step
 * roots of the oldest appended batch without a proposal, take back the bonds
 * of final proposals — one transaction at a time through {@link L1Sender}
 * (stored before it is sent, replaced when stuck, re-sent after a reorg).
 *
 * Every action is decided from what L1 says now (batch count, proposal
 * count), never from memory alone, so after a crash nothing is sent twice:
 * an action already on L1 is simply not needed any more, and one still in
 * flight is found in the sender's records and waited for.
 */
export class L1Driver {
  private readonly o: DriverOptions;
  private readonly loop: PollLoop;
  private view: DriverView = {
    l1Block: 0,
    l1Timestamp: 0,
    appended: 0,
    proposed: 0,
    final: 0,
    openProposals: [],
    halted: undefined,
    lies: [],
    bondsHeld: 0,
    l1: { reachable: false, lastOkAt: undefined, error: undefined, errorSince: undefined },
    checks: undefined,
    lastAppend: undefined,
    lastProposal: undefined,
    confirmed: 0,
  };
  /** Batches already checked against the inbox's commitment. */
  private verified = 0;
  /** The first batch where L1 and the local sequence part, until reconciled. */
  private diverged: number | undefined;
  private readonly deadlines = new Map<number, number>();
  private bond = 0n;
  private readonly checker: ProposalChecker;
  private lastCheckAt = 0;
  private lastCheckpointAt = 0;

  constructor(opts: DriverOptions) {
    this.o = opts;
    this.loop = new PollLoop({ pollMs: opts.pollMs, step: () => this.round(), onError: (err) => this.failed(err) });
    this.checker = new ProposalChecker({
      stateCommitmentChain: opts.stateCommitmentChain,
      startBlock: opts.startBlock,
      ownRoots: async (k) => (k < this.view.appended ? (await opts.sequencer.closedBatch(k))?.stepRoots : undefined),
      // Malicious mode proposes other roots than its own on purpose: it must not prove its own lie.
      trusted: opts.proposalRoots ? opts.sender.address : undefined,
    });
  }

  get state(): DriverView {
    return {
      ...this.view,
      l1: { ...this.view.l1 },
      openProposals: [...this.view.openProposals],
      lies: [...this.view.lies],
      bondsHeld: this.o.bonds.list().length,
    };
  }

  /** Starts the loop. */
  async start(): Promise<void> {
    this.bond = await this.o.stateCommitmentChain.PROPOSER_BOND();
    // The batches in the snapshot were appended and confirmed when it was taken.
    this.verified = this.o.sequencer.snapshotBatches;
    await this.check();
    await this.refresh();
    this.reachable();
    this.loop.start();
  }

  /** Wakes the loop early (a batch was closed). */
  poke(): void {
    this.loop.poke();
  }

  /**
   * Stops after the current action, or after `boundMs` if that action hangs (a frozen L1 node): every L1 action
   * is stored before it is sent and decided again from L1 after a restart, so leaving one mid-way loses nothing.
   */
  async stop(boundMs = 5_000): Promise<void> {
    await this.loop.stop(boundMs);
  }

  private get stopped(): boolean {
    return this.loop.stopping;
  }

  private reachable(): void {
    this.view.l1 = { reachable: true, lastOkAt: Date.now(), error: undefined, errorSince: undefined };
  }

  /** One round of the loop: a step, and L1 reachable if it went through. */
  private async round(): Promise<boolean> {
    const busy = await this.step();
    this.reachable();
    return busy;
  }

  /** A round that threw: what the view and the log say about it. */
  private failed(err: unknown): void {
    const unreachable = isUnreachable(err);
    const message = unreachable
      ? `cannot reach L1: ${(err as Error).message.split("\n")[0].slice(0, 200)}`
      : err instanceof L1SendBlockedError
        ? `cannot pay L1: ${err.message}`
        : (err as Error).message.split("\n")[0].slice(0, 300);
    this.view.l1 = {
      reachable: !unreachable,
      lastOkAt: this.view.l1.lastOkAt,
      error: message,
      errorSince: this.view.l1.errorSince ?? Date.now(),
    };
    if (unreachable || err instanceof L1SendBlockedError) this.o.logger.warn({ reason: message }, "L1 driver waits");
    else this.o.logger.error({ err }, "L1 driver step failed; retrying");
  }

  /** Reads the heads from L1 and checks every newly appended batch against ours. */
  private async refresh(): Promise<void> {
    const { inbox, stateCommitmentChain: scc, sequencer } = this.o;
    const [block, appended, proposed] = await Promise.all([
      this.o.provider.getBlock("latest"),
      inbox.batchCount(),
      scc.proposalCount(),
    ]);
    if (!block) throw new BilayerError("L1_NO_BLOCK", "the L1 node returned no latest block");
    const appendedCount = Number(appended);
    const proposedCount = Number(proposed);
    if (appendedCount < this.verified) {
      this.o.logger.warn({ appended: appendedCount, before: this.verified }, "L1 batch count went down (reorg)");
      this.verified = appendedCount;
    }
    for (let k = this.verified; k < appendedCount; k++) {
      const ours = sequencer.batch(k);
      const onChain = await inbox.batchCommitment(k);
      if (!ours || ours.commitment !== onChain.toLowerCase()) {
        if (this.diverged === undefined) {
          this.o.logger.warn(
            { batch: k, onChain, ours: ours?.commitment },
            "L1 holds a batch this operator did not append (a forced inclusion?); reconciling",
          );
        }
        this.diverged = k;
        break;
      }
      this.verified = k + 1;
      sequencer.releaseChunks(k);
    }
    if (proposedCount < this.view.proposed) {
      this.o.logger.error({ proposed: proposedCount, before: this.view.proposed }, "proposals were rolled back on L1");
      this.o.bonds.sweepAll();
    }
    // A deadline is kept per batch while its proposal stands; a rollback (seen above or by the checker) drops them.
    for (const k of [...this.deadlines.keys()]) if (k >= proposedCount) this.deadlines.delete(k);
    // Finality is a prefix: a proposal is final once its deadline has passed (its parent's came earlier).
    let final = Math.min(this.view.final, proposedCount);
    const open: { batchIndex: number; deadline: number }[] = [];
    for (let k = final; k < proposedCount; k++) {
      let deadline = this.deadlines.get(k);
      if (deadline === undefined) {
        deadline = Number(await scc.deadline(k));
        this.deadlines.set(k, deadline);
      }
      if (deadline <= block.timestamp && final === k) final = k + 1;
      else open.push({ batchIndex: k, deadline });
    }
    for (const k of [...this.deadlines.keys()]) if (k < final) this.deadlines.delete(k);
    this.view = {
      ...this.view,
      l1Block: block.number,
      l1Timestamp: block.timestamp,
      appended: Math.min(appendedCount, this.verified),
      proposed: proposedCount,
      final,
      openProposals: open,
    };
    sequencer.setL1Heads({ appended: this.view.appended, proposed: proposedCount, final });
  }

  private halt(reason: string): void {
    if (this.view.halted === undefined)
      this.o.logger.fatal({ reason }, "L1 driver halted: the operator cannot continue safely");
    this.view.halted = reason;
  }

  /**
   * Checks the deployment as L1 shows it now — the chain, the contracts' code, the sequencer role, the key's
   * balance — and has the sequencer refuse new transactions while nothing they need could reach L1 (a wrong or
   * wiped chain, contracts missing, the role revoked); lifted when the checks pass again.
   */
  private async check(): Promise<DeploymentChecks> {
    const { provider, inbox, sender, sequencer } = this.o;
    const [chainIdHex, codes, balance] = await Promise.all([
      (provider as unknown as { send?(m: string, p: unknown[]): Promise<string> }).send?.("eth_chainId", []) ??
        provider.getNetwork().then((n) => "0x" + n.chainId.toString(16)),
      Promise.all(this.o.contracts.map((a) => provider.getCode(a))),
      provider.getBalance(sender.address),
    ]);
    // Only an inbox that is there can be asked about its roles.
    const inboxAddress = (await inbox.getAddress()).toLowerCase();
    const inboxCode = codes[this.o.contracts.findIndex((a) => a.toLowerCase() === inboxAddress)] ?? "0x";
    const role = inboxCode !== "0x" && (await inbox.hasRole(await inbox.SEQUENCER_ROLE(), sender.address));
    const checks: DeploymentChecks = {
      at: Date.now(),
      chainId: BigInt(chainIdHex).toString(),
      missingContracts: this.o.contracts.filter((_a, i) => codes[i] === "0x"),
      sequencerRole: role,
      balance,
      bond: this.bond,
    };
    this.view.checks = checks;
    this.lastCheckAt = checks.at;
    const refusal =
      checks.chainId !== this.o.chainId.toString()
        ? `the L1 node is chain ${checks.chainId}, the deployment is on chain ${this.o.chainId}`
        : checks.missingContracts.length > 0
          ? `the deployment's contracts are not on this L1 (no code at ${checks.missingContracts.join(", ")}): a wiped or another chain`
          : !checks.sequencerRole
            ? `${sender.address} no longer holds the inbox's sequencer role: its batches cannot reach L1`
            : undefined;
    sequencer.setRefusal("l1", refusal);
    return checks;
  }

  /** One pass: returns true when it did something (and should run again at once). */
  private async step(): Promise<boolean> {
    const { sender, sequencer } = this.o;
    if (Date.now() - this.lastCheckAt >= Math.max(this.o.pollMs, CHECK_EVERY_MS)) await this.check();
    // On another chain, or one without the contracts, there is nothing to do but check again.
    const c = this.view.checks;
    if (c && (c.chainId !== this.o.chainId.toString() || c.missingContracts.length > 0)) return false;
    await sender.poll();
    await this.refresh();
    if (this.view.halted !== undefined) return false;
    await this.checkpoint();
    if (this.diverged !== undefined) {
      await this.reconcile(this.diverged);
      return this.diverged === undefined;
    }

    const k = this.view.appended;
    if (k < sequencer.durableBatchCount && this.view.checks?.sequencerRole !== false) {
      await this.append(k);
      return true;
    }
    if (this.o.propose) {
      // Never bond on a parent this operator disagrees with: prove the lie first, then propose after the rollback.
      const check = await this.checker.check(this.view.proposed);
      if (this.checker.takeRollbackSeen()) {
        this.deadlines.clear();
        this.o.bonds.sweepAll();
      }
      if (check.kind === "wrong") {
        await this.proveLie(check.wrong);
        return true;
      }
      const p = this.view.proposed;
      if (check.kind === "ok" && p < this.view.appended) {
        await this.proposeBatch(p);
        return true;
      }
      if (await this.returnBonds()) return true;
    }
    return false;
  }

  /**
   * Moves the sequencer's snapshot over the batches appended and confirmed on L1 (at most every
   * {@link CHECKPOINT_EVERY_MS}), so that a restart replays only what came after.
   */
  private async checkpoint(): Promise<void> {
    const { sequencer, inbox } = this.o;
    if (this.view.appended <= sequencer.snapshotBatches) return;
    if (Date.now() - this.lastCheckpointAt < CHECKPOINT_EVERY_MS) return;
    const safeBlock = this.view.l1Block - this.o.confirmations + 1;
    const confirmed = safeBlock < this.o.startBlock ? 0 : Number(await inbox.batchCount({ blockTag: safeBlock }));
    this.view.confirmed = confirmed;
    this.lastCheckpointAt = Date.now();
    await sequencer.checkpoint(Math.min(confirmed, this.verified), this.view.final, {
      pruneHistory: this.o.pruneHistory,
    });
  }

  /** Proves the first wrong step of a live proposal, with the proof built from this operator's own batches. */
  private async proveLie(wrong: WrongProposal): Promise<void> {
    const { sender, sequencer, metrics, logger } = this.o;
    const context = {
      batch: wrong.batchIndex,
      step: wrong.wrongStep,
      proposalId: wrong.proposalId.toString(),
      proposer: wrong.proposer,
      proposedRoot: wrong.proposedRoot,
      computedRoot: wrong.computedRoot,
    };
    if (wrong.batchIndex < this.view.final) {
      this.halt(
        `the final proposal of batch ${wrong.batchIndex} differs from this operator's roots at step ${wrong.wrongStep}`,
      );
      return;
    }
    const purpose: TxPurpose = { kind: "prove", batch: wrong.batchIndex, proposal: wrong.proposalId.toString() };
    let rec = sender.find(purpose);
    if (!rec) {
      logger.warn(context, "a live proposal differs from this operator's step roots; proving the first wrong step");
      const proof = await proveWrongProposal(
        wrong,
        (k) => sequencer.preStateOf(k),
        (k) => sequencer.batchData(k),
        this.o.domainSeparator,
      );
      const data = fraudProofCalldata(proof, wrong.stepRoots);
      const to = await this.o.fraudVerifier.getAddress();
      try {
        rec = await sender.send(purpose, to, data, 0n);
      } catch (err) {
        // The estimate runs the proof: it fails when L1 moved on (proven by someone else, rolled back, final).
        metrics.fraudProofs.inc({ result: "refused" });
        logger.warn(
          { ...context, reason: await this.revertReason(to, data, 0n) },
          "the fraud proof would not go through",
        );
        if (isBilayerError(err, "L1_TX_TOO_LARGE")) throw err;
        return;
      }
    }
    const receipt = await this.mined(rec, purpose);
    if (!receipt) {
      metrics.fraudProofs.inc({ result: "failed" });
      return;
    }
    let reward = 0n;
    for (const log of receipt.logs) {
      try {
        const parsed = this.o.stateCommitmentChain.interface.parseLog(log);
        if (parsed?.name === "ProposalsRolledBack") reward = parsed.args.reward as bigint;
      } catch {
        // not a chain event
      }
    }
    metrics.fraudProofs.inc({ result: "succeeded" });
    this.view.lies.push({
      batchIndex: wrong.batchIndex,
      stepIndex: wrong.wrongStep,
      proposalId: wrong.proposalId.toString(),
      proposer: wrong.proposer,
      proposedRoot: wrong.proposedRoot,
      computedRoot: wrong.computedRoot,
      transactionHash: receipt.hash,
      reward: reward.toString(),
      at: Date.now(),
    });
    logger.warn(
      { ...context, tx: receipt.hash, reward: reward.toString(), gasUsed: receipt.gasUsed.toString() },
      "LIE PROVEN: the wrong proposal and every later one are rolled back; proposing the right roots",
    );
  }

  private async append(k: number): Promise<void> {
    const { sender, sequencer, inbox } = this.o;
    const batch = sequencer.batch(k) as BatchRecord;
    const purpose: TxPurpose = { kind: "append", batch: k };
    let rec = sender.find(purpose);
    if (!rec) {
      const chunks = (await sequencer.chunksOf(k)).map((c) => hexlify(c));
      const data = inbox.interface.encodeFunctionData("appendBatch", [
        chunks,
        batch.queueEnd - batch.queueStart,
        batch.feeRecipient,
      ]);
      try {
        rec = await sender.send(purpose, await inbox.getAddress(), data, 0n);
      } catch (err) {
        // The gas estimate runs the call: a batch the inbox would refuse is never sent.
        const reason = await this.revertReason(await inbox.getAddress(), data, 0n);
        if (reason.startsWith("RollupInboxOverdueItemSkipped")) {
          this.o.logger.warn(
            { batch: k, reason },
            "the inbox would refuse this batch (an overdue queue item is left out); re-forming it",
          );
          this.diverged = k;
          return;
        }
        throw err;
      }
    }
    const receipt = await this.mined(rec, purpose);
    if (!receipt) return;
    const index = this.appendedIndex(receipt);
    if (index !== k) this.halt(`appendBatch for batch ${k} created batch ${String(index)} on L1`);
    sequencer.releaseChunks(k);
    this.view.lastAppend = { batch: k, at: Date.now() };
    this.o.logger.info(
      { batch: k, tx: receipt.hash, gasUsed: receipt.gasUsed.toString(), block: receipt.blockNumber },
      "batch appended",
    );
  }

  private appendedIndex(receipt: TransactionReceipt): number | undefined {
    for (const log of receipt.logs) {
      try {
        const parsed = this.o.inbox.interface.parseLog(log);
        if (parsed?.name === "BatchAppended") return Number(parsed.args.batchIndex);
      } catch {
        // not an inbox event
      }
    }
    return undefined;
  }

  private async proposeBatch(p: number): Promise<void> {
    const { sender, sequencer, stateCommitmentChain: scc } = this.o;
    const batch = (await sequencer.closedBatch(p)) as BatchRecord;
    const purpose: TxPurpose = { kind: "propose", batch: p };
    let rec = sender.find(purpose);
    if (!rec) {
      const roots = this.o.proposalRoots ? await this.o.proposalRoots(batch) : batch.stepRoots;
      const data = scc.interface.encodeFunctionData("propose", [p, roots]);
      const to = await scc.getAddress();
      try {
        rec = await sender.send(purpose, to, data, this.bond);
      } catch (err) {
        // The estimate runs the call: someone else proposed this batch first. The next pass checks what they did.
        const reason = await this.revertReason(to, data, this.bond);
        if (!reason.startsWith("StateCommitmentChainNotNextBatch")) throw err;
        this.o.logger.info({ batch: p, reason }, "another proposer was first; checking its roots next");
        return;
      }
    }
    const receipt = await this.mined(rec, purpose);
    if (receipt) {
      this.view.lastProposal = { batch: p, at: Date.now() };
      this.o.logger.info({ batch: p, tx: receipt.hash, steps: batch.stepRoots.length }, "step roots proposed");
    }
  }

  /**
   * Brings the local sequence back in line with L1 from batch `k` on: stops
   * every append of ours still in flight (an empty self-transfer takes its
   * nonce), reads L1's batches from `k` with their chunks, and has the
   * sequencer adopt them and sequence again everything it had after them.
   */
  private async reconcile(k: number): Promise<void> {
    const { sender, inbox, sequencer } = this.o;
    for (const rec of sender.unconfirmed()) {
      if (rec.purpose.kind !== "append" || rec.mined) continue;
      await sender.cancel(rec);
      try {
        const receipt = await sender.waitMined(rec, () => this.stopped);
        if (!sender.isCancellation(rec, receipt))
          this.o.logger.warn({ purpose: rec.purpose }, "an append landed before its cancellation");
      } catch (err) {
        if (!(err instanceof L1TxLostError) && !(err instanceof L1TxRevertedError)) throw err;
      }
    }
    const count = Number(await inbox.batchCount());
    const adopted: AdoptedBatch[] = [];
    try {
      for (let i = k; i < count; i++) adopted.push(await this.readL1Batch(i));
      const needed = Math.max(0, ...adopted.map((b) => b.queueEnd));
      if (needed > sequencer.queueLength) {
        this.o.logger.info(
          { needed, known: sequencer.queueLength },
          "waiting for the queue follower before reconciling",
        );
        return;
      }
      await sequencer.rebase(k, adopted);
    } catch (err) {
      this.halt(`cannot follow L1 from batch ${k}: ${(err as Error).message}`);
      return;
    }
    this.verified = k + adopted.length;
    for (let i = k; i < this.verified; i++) sequencer.releaseChunks(i);
    this.diverged = undefined;
  }

  /** Batch `index` as L1 holds it: its record from the event, its chunks from the calldata. */
  private async readL1Batch(index: number): Promise<AdoptedBatch> {
    const { inbox, provider } = this.o;
    const events = await inbox.queryFilter(inbox.filters.BatchAppended(index), this.o.startBlock);
    const event = events[events.length - 1];
    if (!event) throw new BilayerError("L1_BATCH_MISSING", `no BatchAppended event for batch ${index}`);
    const record = batchAppended(event.args);
    const chunks = record.forced
      ? []
      : await fetchBatchChunks(provider, await inbox.getAddress(), {
          ...record,
          transactionHash: event.transactionHash,
        });
    return {
      index,
      queueStart: record.queueStart,
      queueEnd: record.queueEnd,
      chunks,
      feeRecipient: record.feeRecipient,
      commitment: record.commitment,
    };
  }

  /**
   * Takes back every bond of ours that can be: those of final proposals, and those of proposals removed by the
   * rollback of an earlier one (refunded at once). Returns whether it sent anything.
   */
  private async returnBonds(): Promise<boolean> {
    const { sender, stateCommitmentChain: scc, bonds } = this.o;
    const due = await bonds.due(this.view.final);
    for (const b of due) {
      const purpose: TxPurpose = { kind: "returnBond", batch: b.batchIndex, proposal: b.proposalId.toString() };
      let rec = sender.find(purpose);
      if (!rec) {
        const data = scc.interface.encodeFunctionData("returnBond", [b.proposalId]);
        try {
          rec = await sender.send(purpose, await scc.getAddress(), data, 0n);
        } catch (err) {
          // Usually someone else took it back for us (anyone may): the next look at L1 tells.
          bonds.sweepAll();
          throw err;
        }
      }
      const receipt = await this.mined(rec, purpose);
      if (receipt) {
        await bonds.forget(b.proposalId);
        this.o.logger.info(
          { batch: b.batchIndex, proposalId: b.proposalId.toString(), reason: b.reason, tx: receipt.hash },
          b.reason === "final"
            ? "bond returned"
            : "bond refunded: the proposal was removed by an earlier one's rollback",
        );
      } else bonds.sweepAll();
    }
    return due.length > 0;
  }

  /** Waits for an L1 transaction; a revert is logged and answered by re-reading L1 on the next pass. */
  private async mined(
    rec: Parameters<L1Sender["waitMined"]>[0],
    purpose: TxPurpose,
  ): Promise<TransactionReceipt | undefined> {
    try {
      return await this.o.sender.waitMined(rec, () => this.stopped);
    } catch (err) {
      if (err instanceof L1TxLostError) {
        this.o.logger.warn(
          { purpose, nonce: rec.nonce },
          "L1 transaction lost (its nonce was spent elsewhere); deciding again from L1",
        );
        return undefined;
      }
      if (err instanceof L1TxRevertedError) {
        const reason = await this.revertReason(rec.to, rec.data, BigInt(rec.value));
        this.o.logger.error({ purpose, hash: err.receipt.hash, reason }, "L1 transaction reverted");
        if (purpose.kind === "append" && reason.startsWith("RollupInboxOverdueItemSkipped"))
          this.diverged = purpose.batch;
        else if (purpose.kind === "append") this.halt(`appendBatch for batch ${purpose.batch} reverted: ${reason}`);
        return undefined;
      }
      throw err;
    }
  }

  /** The custom error a call would revert with now, decoded from the rollup ABIs when possible. */
  private async revertReason(to: string, data: string, value: bigint): Promise<string> {
    try {
      await this.o.provider.call({ from: this.o.sender.address, to, data, value });
      return "no revert when replayed now";
    } catch (err) {
      return describeRevert(err);
    }
  }
}
