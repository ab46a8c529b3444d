/**
 * The challenge path: the lowest live proposal judged wrong, checked against
 * what L1 holds now, its fraud proof built from the replica (the batch's
 * pre-state and input) and sent inside the challenge window; a failed proof
 * is tried again while the window is open, a missed one reported once.
 */
import type { FraudVerifier } from "../../typechain-types";
import { stepRootsHash } from "../l1/batch";
import type { ActionLog } from "./actions";
import { sendFraudProof } from "./challenger";
import { VerifierHaltedError, type VerifierContext } from "./context";
import { buildFraudProof } from "./replica";
import type { BatchState, L1Replay } from "./replay";

/** Wait before trying again a fraud proof that failed. */
const PROOF_RETRY_MS = 2_000;

export class FraudChallenge {
  /**
   * When the proof against a proposal (batch, roots hash) last failed: retried after `PROOF_RETRY_MS`, never given
   * up while the window is open (a failure may be the node's, not the proof's).
   */
  private readonly failedAt = new Map<string, number>();
  /** Wrong proposals found final: too late, reported once. */
  private readonly missed = new Set<string>();

  constructor(
    private readonly c: VerifierContext,
    private readonly replay: L1Replay,
    private readonly actions: ActionLog,
  ) {}

  /** Proves the first wrong step of the lowest wrong proposal; true when a proof succeeded. */
  async challengeFirstWrong(now: number): Promise<boolean> {
    const p = this.replay.proposals.firstWrong(this.replay.cursor.settled);
    if (p === undefined) {
      this.c.metrics.nextDeadline.set(0);
      return false;
    }
    const k = p.batchIndex;
    const rootsHash = stepRootsHash(p.stepRoots).toLowerCase();
    const key = `${k}:${rootsHash}`;
    if (this.missed.has(key)) return false;
    if (Date.now() - (this.failedAt.get(key) ?? -Infinity) < PROOF_RETRY_MS) return false;
    this.c.metrics.nextDeadline.set(Math.max(0, p.deadline - now));
    const context = {
      batch: k,
      step: p.wrongStep,
      proposer: p.proposer,
      deadline: p.deadline,
      secondsLeft: p.deadline - now,
    };

    // What L1 holds now, which may be ahead of the blocks processed so far.
    const count = Number(await this.c.chain.proposalCount());
    if (k >= count) {
      this.c.logger.info(context, "the wrong proposal is no longer on L1 (rolled back); waiting for the event");
      return false;
    }
    const onChain = await this.c.chain.proposal(k);
    if (onChain.stepRootsHash.toLowerCase() !== rootsHash) {
      this.c.logger.info(context, "L1 holds another proposal of this batch now; waiting for its event");
      return false;
    }
    if (now >= p.deadline) {
      this.missed.add(key);
      this.c.metrics.fraudProofs.inc({ result: "missed" });
      this.c.logger.error(context, "MISSED: the wrong proposal is already final; it can no longer be challenged");
      return false;
    }
    if (p.wrongStep === 0) {
      const parent = (await this.c.chain.preStateRoot(k)).toLowerCase();
      if (parent !== this.replay.computedRootAfter(k - 1)) {
        this.c.logger.info({ ...context, parent }, "the parent proposal on L1 is not the one processed yet; waiting");
        return false;
      }
    }
    const batch = this.replay.batches.get(k) as BatchState;
    const started = performance.now();
    const proof = buildFraudProof(this.replay.replica.preStateOf(k), batch.data, p.wrongStep, this.c.domain);
    if (proof.computedRoot !== batch.stepRoots[p.wrongStep]) {
      throw new VerifierHaltedError(`the proof of batch ${k} step ${p.wrongStep} recomputes another root`, {
        ...context,
        computed: proof.computedRoot,
        replayed: batch.stepRoots[p.wrongStep],
      });
    }
    this.c.logger.warn(
      {
        ...context,
        kind: proof.kind,
        proposedRoot: p.stepRoots[p.wrongStep],
        computedRoot: proof.computedRoot,
        witnessAccounts: proof.witness.accounts.length,
        witnessWithdrawals: proof.witness.withdrawals.length,
        buildMs: Math.round(performance.now() - started),
      },
      "sending a fraud proof of the first wrong step",
    );
    const outcome = await sendFraudProof(this.c.fraud as FraudVerifier, proof, p.stepRoots);
    await this.actions.record({ kind: "fraudProof", batchIndex: k, stepIndex: p.wrongStep }, outcome);
    if (outcome.ok) {
      this.c.metrics.fraudProofs.inc({ result: "succeeded" });
      if (outcome.gasUsed !== undefined) this.c.metrics.fraudProofGas.observe(Number(outcome.gasUsed));
      this.c.logger.warn(
        { ...context, tx: outcome.hash, gasUsed: outcome.gasUsed, block: outcome.blockNumber },
        "FRAUD PROVEN: the proposal and every later one are rolled back, the proposer slashed",
      );
      return true;
    }
    this.c.metrics.fraudProofs.inc({ result: "failed" });
    this.failedAt.set(key, Date.now());
    this.c.logger.error(
      { ...context, tx: outcome.hash, error: outcome.error, retryInMs: PROOF_RETRY_MS },
      "the fraud proof failed; retrying while the window is open",
    );
    return false;
  }
}
