/**
 * What the parts of the L1 driver share: its options, the view of L1 it last
 * read (what `/status` and the health report show), and where L1 and the
 * local sequence part. Each part (`driver-watch.ts`, `driver-post.ts`,
 * `driver-rebase.ts`) reads and moves it; `driver.ts` runs them in order.
 */
import type { Provider } from "ethers";
import type { FraudVerifier, RollupInbox, StateCommitmentChain } from "../../typechain-types";
import type { BondBook } from "./bonds";
import type { L1Sender } from "./l1-sender";
import type { Logger } from "./log";
import type { OperatorMetrics } from "./metrics";
import type { BatchRecord } from "./records";
import type { Sequencer } from "./sequencer";

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

/** The driver's shared state: one object, read and moved by each of its parts. */
export class DriverState {
  view: DriverView = {
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
  verified = 0;
  /** The first batch where L1 and the local sequence part, until reconciled. */
  diverged: number | undefined;
  /** The proposer bond, read from L1 at start. */
  bond = 0n;

  constructor(
    readonly o: DriverOptions,
    private readonly stopping: () => boolean,
  ) {}

  /** Whether the driver is stopping: a long wait for L1 gives up. */
  get stopped(): boolean {
    return this.stopping();
  }

  /** Stops every L1 action for good: the operator cannot continue safely. */
  halt(reason: string): void {
    if (this.view.halted === undefined)
      this.o.logger.fatal({ reason }, "L1 driver halted: the operator cannot continue safely");
    this.view.halted = reason;
  }
}
