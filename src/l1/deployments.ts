/**
 * `deployments/<network>.json`: where every script and service finds the
 * contracts (PROTOCOL.md §7.6; the format is in deployments/README.md). One
 * file per network; each part of the stack owns one top-level section
 * (`rollup`, `channels`) and a writer replaces only its own section, so both
 * live in the same file. The one module that reads and writes these files.
 */
import fs from "node:fs";
import path from "node:path";
import { getAddress, isAddress } from "ethers";
import { BilayerError } from "../protocol/errors";

/** The directory the project keeps deployment files in. */
export const DEFAULT_DEPLOYMENTS_DIR = path.resolve(__dirname, "..", "..", "deployments");

/** `BILAYER_DEPLOYMENTS_DIR` when set (tests point everything at a temporary directory), else the project's. */
export function deploymentsDir(): string {
  const fromEnv = process.env.BILAYER_DEPLOYMENTS_DIR;
  return fromEnv !== undefined && fromEnv !== "" ? path.resolve(fromEnv) : DEFAULT_DEPLOYMENTS_DIR;
}

/** Addresses of the four rollup contracts. */
export interface RollupAddresses {
  bridge: string;
  rollupInbox: string;
  stateCommitmentChain: string;
  fraudVerifier: string;
}

/** The constructor parameters the rollup was deployed with. */
export interface RollupParams {
  /** Seconds during which a proposal can be challenged (`StateCommitmentChain.CHALLENGE_WINDOW_SECONDS`). */
  challengeWindowSeconds: bigint;
  /** Seconds after which a queue item must be consumed (`RollupInbox.FORCED_INCLUSION_DELAY_SECONDS`). */
  forcedInclusionDelaySeconds: bigint;
  /** Wei bonded by each proposal (`StateCommitmentChain.PROPOSER_BOND`). */
  proposerBond: bigint;
  /** Holder of the inbox's admin role (grants and revokes the sequencer role). */
  admin: string;
  /** First holder of the inbox's sequencer role. */
  sequencer: string;
}

/** The `rollup` section of a deployment file. */
export interface RollupDeploymentRecord {
  deployer: string;
  /** Block of the first deployment transaction: followers start reading events there. */
  startBlock: number;
  contracts: RollupAddresses;
  params: RollupParams;
}

/** A rollup deployment together with the network it lives on. */
export interface RollupDeployment extends RollupDeploymentRecord {
  network: string;
  chainId: bigint;
}

/** A deployment file is missing, unreadable or malformed. */
export class DeploymentFileError extends BilayerError {
  constructor(message: string, file: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super("DEPLOYMENT_FILE", message, { cause: options.cause, context: { file, ...options.context } });
  }
}

/** The path of a network's deployment file. */
export function deploymentPath(network: string, dir: string = deploymentsDir()): string {
  if (!/^[A-Za-z0-9_-]+$/.test(network)) {
    throw new DeploymentFileError(`invalid network name "${network}"`, path.join(dir, `${network}.json`));
  }
  return path.join(dir, `${network}.json`);
}

/** Reads the rollup section of `deployments/<network>.json`. */
export function readRollupDeployment(network: string, dir: string = deploymentsDir()): RollupDeployment {
  const file = deploymentPath(network, dir);
  const json = readJsonObject(file);
  if (json === undefined) throw new DeploymentFileError(`no deployment file for network "${network}"`, file);
  const chainId = parseBigInt(json.chainId, "chainId", file);
  const rollup = json.rollup;
  if (!isObject(rollup)) throw new DeploymentFileError(`no rollup section in the deployment of "${network}"`, file);
  const contracts = rollup.contracts;
  const params = rollup.params;
  if (!isObject(contracts) || !isObject(params)) {
    throw new DeploymentFileError("rollup section lacks contracts or params", file);
  }
  const startBlock = parseBlock(rollup.startBlock, "rollup.startBlock", file);
  return {
    network,
    chainId,
    deployer: parseAddress(rollup.deployer, "rollup.deployer", file),
    startBlock,
    contracts: {
      bridge: parseAddress(contracts.bridge, "rollup.contracts.bridge", file),
      rollupInbox: parseAddress(contracts.rollupInbox, "rollup.contracts.rollupInbox", file),
      stateCommitmentChain: parseAddress(contracts.stateCommitmentChain, "rollup.contracts.stateCommitmentChain", file),
      fraudVerifier: parseAddress(contracts.fraudVerifier, "rollup.contracts.fraudVerifier", file),
    },
    params: {
      challengeWindowSeconds: parseBigInt(params.challengeWindowSeconds, "rollup.params.challengeWindowSeconds", file),
      forcedInclusionDelaySeconds: parseBigInt(
        params.forcedInclusionDelaySeconds,
        "rollup.params.forcedInclusionDelaySeconds",
        file,
      ),
      proposerBond: parseBigInt(params.proposerBond, "rollup.params.proposerBond", file),
      admin: parseAddress(params.admin, "rollup.params.admin", file),
      sequencer: parseAddress(params.sequencer, "rollup.params.sequencer", file),
    },
  };
}

/**
 * Writes the rollup section of `deployments/<network>.json`, keeping every other
 * section of an existing file. Bigints are written as decimal strings. Returns
 * the file's path.
 */
export function writeRollupDeployment(deployment: RollupDeployment, dir: string = deploymentsDir()): string {
  const { contracts, params } = deployment;
  return writeSection(deployment.network, deployment.chainId, dir, "rollup", {
    deployer: deployment.deployer,
    startBlock: deployment.startBlock,
    contracts: { ...contracts },
    params: {
      challengeWindowSeconds: params.challengeWindowSeconds.toString(),
      forcedInclusionDelaySeconds: params.forcedInclusionDelaySeconds.toString(),
      proposerBond: params.proposerBond.toString(),
      admin: params.admin,
      sequencer: params.sequencer,
    },
  });
}

/** The `channels` section: the payment-channel adjudicator (CHANNELS.md). */
export interface ChannelDeployment {
  network: string;
  chainId: bigint;
  adjudicator: string;
  deployer: string;
  /** Block of the deployment: followers read events from here. */
  startBlock: number;
}

/** Reads the channels section of `deployments/<network>.json`. */
export function readChannelDeployment(network: string, dir: string = deploymentsDir()): ChannelDeployment {
  const file = deploymentPath(network, dir);
  const json = readJsonObject(file);
  if (json === undefined) throw new DeploymentFileError(`no deployment file for network "${network}"`, file);
  const section = json.channels;
  if (!isObject(section)) {
    throw new DeploymentFileError(`no channels section for "${network}": run \`npx hardhat channels:deploy\``, file);
  }
  return {
    network,
    chainId: parseBigInt(json.chainId, "chainId", file),
    adjudicator: parseAddress(section.adjudicator, "channels.adjudicator", file),
    deployer: parseAddress(section.deployer, "channels.deployer", file),
    startBlock: parseBlock(section.startBlock, "channels.startBlock", file),
  };
}

/** Writes the channels section, keeping every other section; returns the file's path. */
export function writeChannelDeployment(d: ChannelDeployment, dir: string = deploymentsDir()): string {
  return writeSection(d.network, d.chainId, dir, "channels", {
    adjudicator: d.adjudicator,
    deployer: d.deployer,
    startBlock: d.startBlock,
  });
}

/**
 * Replaces section `name` of the network's file (creating the file), keeping the others; refuses a file of
 * another chain. Written to a temporary file and renamed, so a reader never sees half a file.
 */
function writeSection(network: string, chainId: bigint, dir: string, name: string, section: JsonObject): string {
  const file = deploymentPath(network, dir);
  const existing = readJsonObject(file) ?? {};
  if (existing.chainId !== undefined && parseBigInt(existing.chainId, "chainId", file) !== chainId) {
    throw new DeploymentFileError(`the file is for another chain than ${chainId}`, file, {
      context: { fileChainId: existing.chainId, chainId: chainId.toString() },
    });
  }
  const next = { ...existing, network, chainId: chainId.toString(), [name]: section };
  fs.mkdirSync(dir, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(next, null, 2) + "\n");
  fs.renameSync(temporary, file);
  return file;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The parsed file, or undefined when it does not exist. */
function readJsonObject(file: string): JsonObject | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new DeploymentFileError("cannot read the deployment file", file, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DeploymentFileError("the deployment file is not JSON", file, { cause: error });
  }
  if (!isObject(json)) throw new DeploymentFileError("the deployment file is not a JSON object", file);
  return json;
}

function parseAddress(value: unknown, field: string, file: string): string {
  if (typeof value !== "string" || !isAddress(value)) {
    throw new DeploymentFileError(`${field} is not an address`, file, { context: { field, value } });
  }
  return getAddress(value);
}

function parseBigInt(value: unknown, field: string, file: string): bigint {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === "string" && /^[0-9]+$/.test(value)) return BigInt(value);
  throw new DeploymentFileError(`${field} is not a non-negative integer`, file, { context: { field, value } });
}

function parseBlock(value: unknown, field: string, file: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new DeploymentFileError(`${field} is not a block number`, file, { context: { field, value } });
  }
  return value;
}
