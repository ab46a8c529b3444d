/**
 * What every part of the verifier works with, fixed for its life: its
 * configuration, the L1 node and the key, the deployment, the store, the log
 * and the metrics; and the one error that stops it.
 */
import type { Provider, Signer } from "ethers";
import type { FraudVerifier, StateCommitmentChain } from "../../typechain-types";
import type { RollupDeployment } from "../l1/deployments";
import { BilayerError } from "../protocol/errors";
import type { VerifierConfig } from "./config";
import type { Logger } from "./log";
import type { VerifierMetrics } from "./metrics";
import type { VerifierStore } from "./store";
import type { AggregatePool } from "./aggregate-pool";

/** The handles the parts of the verifier share (`replay.ts`, `challenge.ts`, `proposer.ts`, `queries.ts`). */
export interface VerifierContext {
  readonly config: VerifierConfig;
  /** The L1 node. */
  readonly provider: Provider;
  /** Signs fraud proofs, proposals and bond returns; undefined when the verifier only watches. */
  readonly signer: Signer | undefined;
  readonly deployment: RollupDeployment;
  readonly store: VerifierStore;
  readonly logger: Logger;
  readonly metrics: VerifierMetrics;
  /** The inbox's EIP-712 domain separator. */
  readonly domain: string;
  /** A read-only handle. */
  readonly chain: StateCommitmentChain;
  /** Handles connected to the signer, when there is one. */
  readonly fraud: FraudVerifier | undefined;
  readonly signerChain: StateCommitmentChain | undefined;
  /** The signer's address, lower case. */
  readonly challengerAddress: string | undefined;
  /** The proposer bond, in wei. */
  readonly bond: bigint;
  /** Whether stop() was called: a long tick checks it between block ranges. */
  readonly stopping: () => boolean;
  /** Threads that check BLS aggregates while a batch replays; undefined: checked on the replay's thread. */
  readonly aggregates: AggregatePool | undefined;
}

/** The verifier cannot go on: its data disagrees with L1 or with itself. */
export class VerifierHaltedError extends BilayerError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super("VERIFIER_HALTED", message, { context });
  }
}
