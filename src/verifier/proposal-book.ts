/**
 * The verifier's record of the live proposals, from the state commitment
 * chain's events: each checked against the roots computed here (the first
 * wrong step, or −1), the batches to propose again after a rollback, and the
 * bonds of this verifier's own proposals until they are returned.
 */
import type { ProposalEvent, RollbackEvent } from "../l1/events";
import { VerifierHaltedError, type VerifierContext } from "./context";
import { firstWrongStep } from "./replica";
import { ownBondKey, proposalKey, reproposeKey, type OwnBondJson, type ProposalJson, type WriteBatch } from "./store";
import type { BatchState } from "./replay";

export class ProposalBook {
  /** The live proposal of each unsettled batch. */
  readonly byBatch = new Map<number, ProposalJson>();
  /** Batches whose proposal was rolled back, to be proposed again (propose mode "after-fraud"). */
  readonly repropose = new Set<number>();
  /** This verifier's bonds the chain holds, by proposal id. */
  readonly ownBonds = new Map<string, OwnBondJson>();

  constructor(private readonly c: VerifierContext) {}

  /** Loads what the store holds. */
  async restore(): Promise<void> {
    for (const p of await this.c.store.values<ProposalJson>("p/")) this.byBatch.set(p.batchIndex, p);
    for (const key of await this.c.store.keys("r/")) this.repropose.add(Number(key.slice(2)));
    for (const bond of await this.c.store.values<OwnBondJson>("n/")) this.ownBonds.set(bond.proposalId, bond);
  }

  /** Records a proposal of batch `batch` (undefined: not an unsettled replayed batch), checked against its roots. */
  onProposal(event: ProposalEvent, batch: BatchState | undefined, settled: number, wb: WriteBatch): void {
    const k = event.batchIndex;
    if (batch === undefined) {
      throw new VerifierHaltedError(`proposal of batch ${k}, which is not an unsettled replayed batch`, { batch: k });
    }
    // A proposal of batch k means the live proposals are exactly 0..k: anything above was rolled back.
    for (const other of [...this.byBatch.keys()]) {
      if (other > k && other >= settled) {
        this.byBatch.delete(other);
        wb.del(proposalKey(other));
      }
    }
    const wrongStep = firstWrongStep(event.stepRoots, batch.stepRoots);
    const proposal: ProposalJson = {
      batchIndex: k,
      proposer: event.proposer,
      deadline: event.deadline,
      stepRoots: event.stepRoots,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
      wrongStep,
      proposalId: event.proposalId.toString(),
    };
    this.byBatch.set(k, proposal);
    wb.put(proposalKey(k), proposal);
    if (event.proposer === this.c.challengerAddress) {
      const bond: OwnBondJson = {
        proposalId: event.proposalId.toString(),
        batchIndex: k,
        deadline: event.deadline,
        removed: false,
      };
      this.ownBonds.set(bond.proposalId, bond);
      wb.put(ownBondKey(event.proposalId), bond);
    }
    if (this.repropose.delete(k)) wb.del(reproposeKey(k));
    this.c.metrics.proposalsChecked.inc({ verdict: wrongStep < 0 ? "right" : "wrong" });
    const common = { batch: k, proposer: event.proposer, deadline: event.deadline, tx: event.transactionHash };
    if (wrongStep < 0) {
      this.c.logger.info({ ...common, stateRoot: event.stateRoot }, "proposal checked: every step root is right");
    } else {
      this.c.logger.warn(
        {
          ...common,
          step: wrongStep,
          steps: batch.stepCount,
          proposedRoot: event.stepRoots[wrongStep],
          computedRoot: batch.stepRoots[wrongStep],
        },
        "WRONG PROPOSAL: a step root differs from the one computed from L1 data",
      );
    }
  }

  /** Drops the proposals rolled back; `replayed` is the count of batches replayed (those can be proposed again). */
  onRollback(event: RollbackEvent, replayed: number, wb: WriteBatch): void {
    // Of our bonds removed, the one proven wrong is forfeited (it should never happen); the others are refundable.
    for (const bond of this.ownBonds.values()) {
      if (bond.batchIndex < event.fromBatch || bond.removed) continue;
      if (bond.proposalId === event.proposalId.toString()) {
        this.ownBonds.delete(bond.proposalId);
        wb.del(ownBondKey(event.proposalId));
        this.c.logger.error(
          { batch: bond.batchIndex, proposalId: bond.proposalId },
          "a proposal of ours was proven wrong",
        );
        continue;
      }
      bond.removed = true;
      wb.put(ownBondKey(BigInt(bond.proposalId)), bond);
    }
    for (let k = event.fromBatch; k < event.toBatch; k++) {
      this.byBatch.delete(k);
      wb.del(proposalKey(k));
      if (this.c.config.propose !== "off" && k < replayed) {
        this.repropose.add(k);
        wb.put(reproposeKey(k), 1);
      }
    }
    this.c.metrics.rollbacks.inc();
    this.c.logger.warn(
      {
        fromBatch: event.fromBatch,
        toBatch: event.toBatch,
        challenger: event.challenger,
        byUs: event.challenger === this.c.challengerAddress,
        reward: event.reward,
        burnt: event.burnt,
        tx: event.transactionHash,
      },
      "proposals rolled back on L1",
    );
  }

  /** Forgets a bond of ours once returned. */
  onBondReturned(proposalId: bigint, wb: WriteBatch): void {
    const key = proposalId.toString();
    if (this.ownBonds.delete(key)) wb.del(ownBondKey(proposalId));
  }

  /** The lowest live proposal this verifier judged wrong (rolling it back removes every later one). */
  firstWrong(settled: number): ProposalJson | undefined {
    let first: ProposalJson | undefined;
    for (const p of this.byBatch.values()) {
      if (p.wrongStep >= 0 && p.batchIndex >= settled && (first === undefined || p.batchIndex < first.batchIndex)) {
        first = p;
      }
    }
    return first;
  }

  /** The live proposals, counted from the first batch on (those settled included). */
  liveCount(settled: number): number {
    let n = settled;
    while (this.byBatch.has(n)) n++;
    return n;
  }

  /** Batches whose live proposal is right, from the first on (those settled included). */
  rightCount(settled: number): number {
    let n = settled;
    while (this.byBatch.get(n)?.wrongStep === -1) n++;
    return n;
  }
}
