/**
 * The L1 driver's transactions, each through the L1 sender (stored before it
 * is sent, found again after a crash, waited for): appending a closed batch,
 * proposing its step roots with the bond, proving the first wrong step of a
 * live proposal, and taking back the bonds that can be.
 */
import { hexlify, type TransactionReceipt } from "ethers";
import { isBilayerError } from "../protocol/errors";
import { describeRevert, fraudProofCalldata } from "../verifier/challenger";
import type { DriverOptions, DriverState } from "./driver-state";
import type { L1Sender } from "./l1-sender";
import { L1TxLostError, L1TxRevertedError, type TxPurpose } from "./l1-tx";
import type { BatchRecord } from "./records";
import { proveWrongProposal, type WrongProposal } from "./proposals";

export class DriverPoster {
  private readonly o: DriverOptions;

  constructor(private readonly s: DriverState) {
    this.o = s.o;
  }

  /** Proves the first wrong step of a live proposal, with the proof built from this operator's own batches. */
  async proveLie(wrong: WrongProposal): Promise<void> {
    const { sender, sequencer, metrics, logger } = this.o;
    const context = {
      batch: wrong.batchIndex,
      step: wrong.wrongStep,
      proposalId: wrong.proposalId.toString(),
      proposer: wrong.proposer,
      proposedRoot: wrong.proposedRoot,
      computedRoot: wrong.computedRoot,
    };
    if (wrong.batchIndex < this.s.view.final) {
      this.s.halt(
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
    this.s.view.lies.push({
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

  /** Appends closed batch `k` to the inbox; one the inbox would refuse for an overdue item left out is re-formed. */
  async append(k: number): Promise<void> {
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
          this.s.diverged = k;
          return;
        }
        throw err;
      }
    }
    const receipt = await this.mined(rec, purpose);
    if (!receipt) return;
    const index = this.appendedIndex(receipt);
    if (index !== k) this.s.halt(`appendBatch for batch ${k} created batch ${String(index)} on L1`);
    sequencer.releaseChunks(k);
    this.s.view.lastAppend = { batch: k, at: Date.now() };
    this.o.logger.info(
      { batch: k, tx: receipt.hash, gasUsed: receipt.gasUsed.toString(), block: receipt.blockNumber },
      "batch appended",
    );
  }

  /** The index of the batch `receipt` appended, from its `BatchAppended` event. */
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

  /** Proposes the step roots of appended batch `p` with the bond, unless another proposer was first. */
  async proposeBatch(p: number): Promise<void> {
    const { sender, sequencer, stateCommitmentChain: scc } = this.o;
    const batch = (await sequencer.closedBatch(p)) as BatchRecord;
    const purpose: TxPurpose = { kind: "propose", batch: p };
    let rec = sender.find(purpose);
    if (!rec) {
      const roots = this.o.proposalRoots ? await this.o.proposalRoots(batch) : batch.stepRoots;
      const data = scc.interface.encodeFunctionData("propose", [p, roots]);
      const to = await scc.getAddress();
      try {
        rec = await sender.send(purpose, to, data, this.s.bond);
      } catch (err) {
        // The estimate runs the call: someone else proposed this batch first. The next pass checks what they did.
        const reason = await this.revertReason(to, data, this.s.bond);
        if (!reason.startsWith("StateCommitmentChainNotNextBatch")) throw err;
        this.o.logger.info({ batch: p, reason }, "another proposer was first; checking its roots next");
        return;
      }
    }
    const receipt = await this.mined(rec, purpose);
    if (receipt) {
      this.s.view.lastProposal = { batch: p, at: Date.now() };
      this.o.logger.info({ batch: p, tx: receipt.hash, steps: batch.stepRoots.length }, "step roots proposed");
    }
  }

  /**
   * Takes back every bond of ours that can be: those of final proposals, and those of proposals removed by the
   * rollback of an earlier one (refunded at once). Returns whether it sent anything.
   */
  async returnBonds(): Promise<boolean> {
    const { sender, stateCommitmentChain: scc, bonds } = this.o;
    const due = await bonds.due(this.s.view.final);
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
      return await this.o.sender.waitMined(rec, () => this.s.stopped);
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
          this.s.diverged = purpose.batch;
        else if (purpose.kind === "append") this.s.halt(`appendBatch for batch ${purpose.batch} reverted: ${reason}`);
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
