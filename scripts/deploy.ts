/**
 * Deploys the rollup's L1 contracts and records them in `deployments/<network>.json`.
 *
 *   npx hardhat run scripts/deploy.ts --network localhost
 *
 * Parameters come from the environment, each with a default:
 *   ROLLUP_CHALLENGE_WINDOW_SECONDS        (604800, 7 days)
 *   ROLLUP_FORCED_INCLUSION_DELAY_SECONDS  (86400, 1 day)
 *   ROLLUP_PROPOSER_BOND_WEI               (1000000000000000000, 1 ether)
 *   ROLLUP_SEQUENCER                       (the deployer)
 *   ROLLUP_ADMIN                           (the deployer)
 *   BILAYER_DEPLOYMENTS_DIR                (the project's deployments/)
 *
 * Test fixtures call `deployRollup` directly, so every test also tests deployment.
 */
import { getAddress, getCreateAddress, isAddress } from "ethers";
import type { Signer } from "ethers";
import {
  Bridge__factory,
  FraudVerifier__factory,
  RollupInbox__factory,
  StateCommitmentChain__factory,
} from "../typechain-types";
import { connectRollup } from "../src/l1/contracts";
import type { RollupContracts } from "../src/l1/contracts";
import { deploymentsDir, writeRollupDeployment } from "../src/l1/deployments";
import type { RollupDeployment } from "../src/l1/deployments";
import { BilayerError } from "../src/protocol/errors";

/** What `deployRollup` needs; `admin` defaults to the deployer. */
export interface DeployRollupParams {
  challengeWindowSeconds: bigint;
  forcedInclusionDelaySeconds: bigint;
  proposerBond: bigint;
  sequencer: string;
  admin?: string;
}

/** Where the deployment is recorded. */
export interface DeployRollupOptions {
  /** Network name, the file's base name. Defaults to `chain-<chainId>`. */
  network?: string;
  /** Directory of the deployment file; defaults to `BILAYER_DEPLOYMENTS_DIR` or the project's `deployments/`. */
  deploymentsDir?: string;
  /** Whether to write the file (default true). */
  write?: boolean;
}

/** A fresh deployment: its record, the contracts connected to the deployer, and the file written (if any). */
export interface DeployedRollup extends RollupDeployment {
  handles: RollupContracts;
  file: string | undefined;
}

/** Deployment did not produce the wiring it planned. */
export class DeploymentMismatchError extends BilayerError {
  constructor(message: string, context: Record<string, unknown>) {
    super("DEPLOYMENT_MISMATCH", message, { context });
  }
}

/**
 * Deploys Bridge, RollupInbox, StateCommitmentChain and FraudVerifier from `signer`.
 *
 * The four contracts refer to each other through immutables and the references
 * form a cycle (the bridge needs the chain for final roots, the chain needs the
 * inbox, the inbox needs the bridge), so the addresses are computed in advance
 * from the deployer's nonce and each deployment is sent with its planned nonce.
 * Every reference is read back afterwards; any difference throws.
 */
export async function deployRollup(
  signer: Signer,
  params: DeployRollupParams,
  options: DeployRollupOptions = {},
): Promise<DeployedRollup> {
  const provider = signer.provider;
  if (provider === null) throw new DeploymentMismatchError("the signer has no provider", {});
  const deployer = getAddress(await signer.getAddress());
  const admin = getAddress(params.admin ?? deployer);
  const sequencer = getAddress(params.sequencer);
  const chainId = (await provider.getNetwork()).chainId;
  const nonce = await signer.getNonce("pending");
  const planned = {
    bridge: getCreateAddress({ from: deployer, nonce }),
    rollupInbox: getCreateAddress({ from: deployer, nonce: nonce + 1 }),
    stateCommitmentChain: getCreateAddress({ from: deployer, nonce: nonce + 2 }),
    fraudVerifier: getCreateAddress({ from: deployer, nonce: nonce + 3 }),
  };

  const bridge = await new Bridge__factory(signer).deploy(planned.stateCommitmentChain, { nonce });
  const inbox = await new RollupInbox__factory(signer).deploy(
    planned.bridge,
    params.forcedInclusionDelaySeconds,
    admin,
    sequencer,
    { nonce: nonce + 1 },
  );
  const chain = await new StateCommitmentChain__factory(signer).deploy(
    planned.rollupInbox,
    planned.fraudVerifier,
    params.challengeWindowSeconds,
    params.proposerBond,
    { nonce: nonce + 2 },
  );
  const verifier = await new FraudVerifier__factory(signer).deploy(
    planned.stateCommitmentChain,
    planned.rollupInbox,
    planned.bridge,
    { nonce: nonce + 3 },
  );
  const receipt = await bridge.deploymentTransaction()?.wait();
  await Promise.all([inbox, chain, verifier].map((c) => c.waitForDeployment()));

  const handles = connectRollup(planned, signer);
  const wiring: [string, string, string][] = [
    ["bridge", await bridge.getAddress(), planned.bridge],
    ["rollupInbox", await inbox.getAddress(), planned.rollupInbox],
    ["stateCommitmentChain", await chain.getAddress(), planned.stateCommitmentChain],
    ["fraudVerifier", await verifier.getAddress(), planned.fraudVerifier],
    ["Bridge.STATE_COMMITMENT_CHAIN", await handles.bridge.STATE_COMMITMENT_CHAIN(), planned.stateCommitmentChain],
    ["RollupInbox.BRIDGE", await handles.inbox.BRIDGE(), planned.bridge],
    ["StateCommitmentChain.INBOX", await handles.stateCommitmentChain.INBOX(), planned.rollupInbox],
    ["StateCommitmentChain.FRAUD_VERIFIER", await handles.stateCommitmentChain.FRAUD_VERIFIER(), planned.fraudVerifier],
    [
      "FraudVerifier.STATE_COMMITMENT_CHAIN",
      await handles.fraudVerifier.STATE_COMMITMENT_CHAIN(),
      planned.stateCommitmentChain,
    ],
    ["FraudVerifier.INBOX", await handles.fraudVerifier.INBOX(), planned.rollupInbox],
    ["FraudVerifier.BRIDGE", await handles.fraudVerifier.BRIDGE(), planned.bridge],
  ];
  for (const [what, actual, expected] of wiring) {
    if (getAddress(actual) !== expected) {
      throw new DeploymentMismatchError(`${what} is ${actual}, planned ${expected}`, { what, actual, expected });
    }
  }

  const deployment: RollupDeployment = {
    network: options.network ?? `chain-${chainId}`,
    chainId,
    deployer,
    startBlock: receipt?.blockNumber ?? (await provider.getBlockNumber()),
    contracts: planned,
    params: {
      challengeWindowSeconds: params.challengeWindowSeconds,
      forcedInclusionDelaySeconds: params.forcedInclusionDelaySeconds,
      proposerBond: params.proposerBond,
      admin,
      sequencer,
    },
  };
  const file =
    options.write === false ? undefined : writeRollupDeployment(deployment, options.deploymentsDir ?? deploymentsDir());
  return { ...deployment, handles, file };
}

/** Reads a non-negative integer from the environment, or the default. */
function envBigInt(name: string, fallback: bigint): bigint {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  if (!/^[0-9]+$/.test(value)) throw new RangeError(`${name} must be a non-negative integer, got "${value}"`);
  return BigInt(value);
}

/** Reads an address from the environment, or the default. */
function envAddress(name: string, fallback: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  if (!isAddress(value)) throw new RangeError(`${name} must be an address, got "${value}"`);
  return getAddress(value);
}

async function main(): Promise<void> {
  // Loaded here so that importing `deployRollup` never needs a Hardhat runtime.
  const hre = await import("hardhat");
  const [signer] = await hre.ethers.getSigners();
  const deployer = await signer.getAddress();
  const result = await deployRollup(
    signer,
    {
      challengeWindowSeconds: envBigInt("ROLLUP_CHALLENGE_WINDOW_SECONDS", 7n * 24n * 3600n),
      forcedInclusionDelaySeconds: envBigInt("ROLLUP_FORCED_INCLUSION_DELAY_SECONDS", 24n * 3600n),
      proposerBond: envBigInt("ROLLUP_PROPOSER_BOND_WEI", 10n ** 18n),
      sequencer: envAddress("ROLLUP_SEQUENCER", deployer),
      admin: envAddress("ROLLUP_ADMIN", deployer),
    },
    { network: hre.network.name },
  );
  console.log(`rollup deployed on ${result.network} (chain ${result.chainId}) at block ${result.startBlock}`);
  for (const [name, address] of Object.entries(result.contracts)) console.log(`  ${name.padEnd(21)} ${address}`);
  console.log(`recorded in ${result.file}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
