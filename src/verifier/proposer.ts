/**
 * The verifier as a proposer (its propose mode): it force-includes the queue
 * items a sequencer leaves overdue, proposes the roots it computed for the
 * next unproposed batches with its own bond (never on a parent it judged
 * wrong), and takes its bonds back once final or refundable.
 */
import type { Signer } from "ethers";
import type { StateCommitmentChain } from "../../typechain-types";
import { connectRollup } from "../l1/contracts";
import { BondState } from "../operator/bonds";
import type { ActionLog } from "./actions";
import { sendForceInclude, sendProposal, sendReturnBond } from "./challenger";
import type { VerifierContext } from "./context";
import type { BatchState, L1Replay } from "./replay";
import { reproposeKey } from "./store";

export class VerifierProposer {
  constructor(
    private readonly c: VerifierContext,
    private readonly replay: L1Replay,
    private readonly actions: ActionLog,
  ) {}

  /**
   * Appends, with `forceInclude`, every queue item the sequencer left unconsumed once the oldest is overdue
   * (PROTOCOL.md §7.2): a silent or censoring sequencer can delay deposits and forced exits, never trap them.
   */
  async forceIncludeOverdue(): Promise<void> {
    const read = connectRollup(this.c.deployment.contracts, this.c.provider);
    const consumed = Number(await read.inbox.queueConsumed());
    const length = Number(await read.bridge.queueLength());
    if (consumed >= length || !(await read.inbox.isOverdue(consumed))) return;
    const count = Math.min(Number(await read.inbox.MAX_QUEUE_ITEMS_PER_BATCH()), length - consumed);
    this.c.logger.warn({ from: consumed, count }, "queue items are overdue: force-including them");
    const inbox = connectRollup(this.c.deployment.contracts, this.c.signer as Signer).inbox;
    const outcome = await sendForceInclude(inbox, count);
    await this.actions.record({ kind: "forceInclude", batchIndex: -1 }, outcome);
    if (outcome.ok)
      this.c.logger.info({ from: consumed, count, tx: outcome.hash }, "overdue queue items force-included");
    else
      this.c.logger.warn({ error: outcome.error }, "the forced inclusion did not go through (someone else's may have)");
  }

  /** Proposes the computed roots of the next unproposed batches, as the propose mode allows. */
  async proposeRight(): Promise<void> {
    const chain = this.c.signerChain as StateCommitmentChain;
    // Our proposals sent in this pass, whose events are not processed yet.
    const ours = new Set<number>();
    for (;;) {
      if (this.c.stopping()) return;
      const p = Number(await this.c.chain.proposalCount());
      if (p >= this.replay.replica.replayed || p < this.replay.cursor.settled) return;
      if (this.c.config.propose === "after-fraud" && !this.replay.proposals.repropose.has(p)) return;
      // Never build on a proposal judged wrong: it must be challenged first.
      for (let k = this.replay.cursor.settled; k < p; k++) {
        const live = this.replay.proposals.byBatch.get(k);
        if (ours.has(k)) continue;
        if (live === undefined || live.wrongStep >= 0) return;
      }
      const parent = (await this.c.chain.preStateRoot(p)).toLowerCase();
      if (parent !== this.replay.computedRootAfter(p - 1)) return;
      const batch = this.replay.batches.get(p) as BatchState;
      this.c.logger.info(
        { batch: p, steps: batch.stepCount, stateRoot: batch.stepRoots[batch.stepRoots.length - 1], bond: this.c.bond },
        "proposing the computed step roots with our bond",
      );
      const outcome = await sendProposal(chain, p, batch.stepRoots, this.c.bond);
      await this.actions.record({ kind: "propose", batchIndex: p }, outcome);
      this.c.metrics.proposalsMade.inc({ result: outcome.ok ? "succeeded" : "failed" });
      if (!outcome.ok) {
        // Usually someone else proposed it first (StateCommitmentChainNotNextBatch): the events will tell.
        this.c.logger.warn({ batch: p, error: outcome.error }, "our proposal was not accepted");
        return;
      }
      this.c.logger.info({ batch: p, tx: outcome.hash }, "proposed the computed step roots");
      ours.add(p);
      if (this.replay.proposals.repropose.delete(p)) await this.c.store.write([{ type: "del", key: reproposeKey(p) }]);
    }
  }

  /** Takes back the bonds of this verifier's final proposals, and refunds those removed by an earlier one's rollback. */
  async returnBonds(now: number): Promise<void> {
    const chain = this.c.signerChain as StateCommitmentChain;
    for (const bond of [...this.replay.proposals.ownBonds.values()].sort((a, b) => a.batchIndex - b.batchIndex)) {
      if (this.c.stopping()) return;
      if (!bond.removed && now < bond.deadline) continue;
      const id = BigInt(bond.proposalId);
      const onChain = await this.c.chain.bond(id).catch(() => undefined);
      if (onChain === undefined || onChain.state !== BondState.Held) continue; // the event will tell
      const outcome = await sendReturnBond(chain, id);
      await this.actions.record({ kind: "returnBond", batchIndex: bond.batchIndex }, outcome);
      if (outcome.ok)
        this.c.logger.info({ batch: bond.batchIndex, proposalId: bond.proposalId, tx: outcome.hash }, "bond returned");
      else this.c.logger.warn({ batch: bond.batchIndex, error: outcome.error }, "bond return failed");
    }
  }
}
