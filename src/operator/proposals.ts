/**
 * The proposer's guard (PROTOCOL.md §7.3): before the operator bonds on a
 * parent it checks every live proposal below against the step roots it
 * computed itself, and when one differs it builds the fraud proof of the
 * first wrong step — with the verifier's own proof builder — so that it
 * proves the lie instead of building on it.
 *
 * Checking is incremental: the highest batch checked is remembered with the
 * id of its live proposal. Proposals below it can only change through a
 * rollback, which either lowers the proposal count below it or gives its
 * batch a proposal with a new id, so one read per pass tells whether
 * everything checked still stands.
 */
import type { StateCommitmentChain } from "../../typechain-types";
import { stepRootsHash } from "../l1/batch";
import { BilayerError } from "../protocol/errors";
import type { L2State } from "../protocol/state";
import { buildFraudProof, firstWrongStep, type BatchData, type FraudProof } from "../verifier/replica";

/** A live proposal whose roots differ from the operator's. */
export interface WrongProposal {
  batchIndex: number;
  proposalId: bigint;
  proposer: string;
  /** The roots it proposed (from its `StateProposed` event). */
  stepRoots: string[];
  /** The first step whose root differs. */
  wrongStep: number;
  proposedRoot: string;
  computedRoot: string;
}

/** What the check found. */
export type CheckResult =
  | { kind: "ok" }
  /** A live proposal is for a batch this operator has not matched with L1 yet: check again later. */
  | { kind: "unknown"; batchIndex: number }
  | { kind: "wrong"; wrong: WrongProposal };

export interface ProposalCheckerOptions {
  /** A read-only handle. */
  stateCommitmentChain: StateCommitmentChain;
  /** Where L1 events are read from (the deployment block). */
  startBlock: number;
  /** The step roots this operator computed for a batch it matched with L1's, or undefined. */
  ownRoots: (batchIndex: number) => Promise<readonly string[] | undefined>;
  /**
   * Proposals made by this address are taken as they are. Only for malicious mode (tests and demos), where the
   * operator proposes roots other than its own and must not prove its own lie.
   */
  trusted?: string;
}

/** Checks the live proposals against the operator's own step roots. */
export class ProposalChecker {
  private readonly o: ProposalCheckerOptions;
  /** The highest batch whose live proposal was found right, and that proposal's id. */
  private checked = -1;
  private checkedId = -1n;
  /** Set when a rollback was seen since the last call of {@link takeRollbackSeen}. */
  private rollbackSeen = false;

  constructor(opts: ProposalCheckerOptions) {
    this.o = opts;
  }

  /** Whether a rollback was seen since the last call (and clears the flag). */
  takeRollbackSeen(): boolean {
    const seen = this.rollbackSeen;
    this.rollbackSeen = false;
    return seen;
  }

  /** Checks the live proposals of batches `0 .. proposalCount − 1` not checked yet; stops at the first wrong one. */
  async check(proposalCount: number): Promise<CheckResult> {
    const scc = this.o.stateCommitmentChain;
    if (this.checked >= 0) {
      const still = this.checked < proposalCount && (await scc.proposal(this.checked)).id === this.checkedId;
      if (!still) {
        this.checked = -1;
        this.checkedId = -1n;
        this.rollbackSeen = true;
      }
    }
    for (let k = this.checked + 1; k < proposalCount; k++) {
      const own = await this.o.ownRoots(k);
      if (own === undefined) return { kind: "unknown", batchIndex: k };
      const p = await scc.proposal(k);
      const trusted = this.o.trusted !== undefined && p.proposer.toLowerCase() === this.o.trusted.toLowerCase();
      if (!trusted && p.stepRootsHash.toLowerCase() !== stepRootsHash(own).toLowerCase()) {
        const stepRoots = await this.proposedRoots(k, p.id);
        const wrongStep = firstWrongStep(stepRoots, own);
        if (wrongStep < 0) {
          throw new BilayerError("PROPOSAL_UNREADABLE", `the roots of proposal ${p.id} do not hash to what it stored`);
        }
        return {
          kind: "wrong",
          wrong: {
            batchIndex: k,
            proposalId: p.id,
            proposer: p.proposer,
            stepRoots,
            wrongStep,
            proposedRoot: stepRoots[wrongStep],
            computedRoot: own[wrongStep],
          },
        };
      }
      this.checked = k;
      this.checkedId = p.id;
    }
    return { kind: "ok" };
  }

  /** The step roots of proposal `proposalId` of batch `batchIndex`, from its `StateProposed` event. */
  private async proposedRoots(batchIndex: number, proposalId: bigint): Promise<string[]> {
    const scc = this.o.stateCommitmentChain;
    const events = await scc.queryFilter(
      scc.filters.StateProposed(batchIndex, undefined, proposalId),
      this.o.startBlock,
    );
    const event = events[events.length - 1];
    if (event === undefined) {
      throw new BilayerError("PROPOSAL_UNREADABLE", `no StateProposed event for proposal ${proposalId}`, {
        context: { batchIndex, proposalId: proposalId.toString() },
      });
    }
    return event.args.stepRoots.map((r) => r.toLowerCase());
  }
}

/**
 * The fraud proof of the first wrong step of `wrong`, from the operator's own
 * data: the batch's pre-state (`preStateOf`, from its snapshot) and its input.
 */
export async function proveWrongProposal(
  wrong: WrongProposal,
  preStateOf: (k: number) => Promise<L2State>,
  batchData: (k: number) => Promise<BatchData>,
  domainSeparator: string,
): Promise<FraudProof> {
  const pre = await preStateOf(wrong.batchIndex);
  const proof = buildFraudProof(pre, await batchData(wrong.batchIndex), wrong.wrongStep, domainSeparator);
  if (proof.computedRoot !== wrong.computedRoot) {
    throw new BilayerError(
      "STORE_CORRUPT",
      `the proof of batch ${wrong.batchIndex} step ${wrong.wrongStep} recomputes another root than the operator's`,
      { context: { computed: proof.computedRoot, own: wrong.computedRoot } },
    );
  }
  return proof;
}
