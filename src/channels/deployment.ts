import fs from "node:fs";
import path from "node:path";
import { getAddress, isAddress } from "ethers";
import { BilayerError } from "../protocol/errors";

/*
 * The `channels` section of `deployments/<network>.json` (the rollup keeps its
 * own section in the same file; a writer replaces only its own section):
 *
 *   { "network": ..., "chainId": "31337", ...,
 *     "channels": { "adjudicator": "0x…", "deployer": "0x…", "startBlock": 12 } }
 */

/** The project's deployments directory. */
export const CHANNEL_DEPLOYMENTS_DIR = path.resolve(__dirname, "..", "..", "deployments");

export interface ChannelDeployment {
  network: string;
  chainId: bigint;
  adjudicator: string;
  deployer: string;
  /** Block of the deployment: followers read events from here. */
  startBlock: number;
}

export class ChannelDeploymentError extends BilayerError {
  constructor(message: string, file: string, cause?: unknown) {
    super("DEPLOYMENT_FILE", message, { context: { file }, cause });
  }
}

function fileOf(network: string, dir: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(network)) throw new ChannelDeploymentError(`invalid network name "${network}"`, dir);
  return path.join(dir, `${network}.json`);
}

function readJson(file: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ChannelDeploymentError("cannot read the deployment file", file, err);
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not an object");
    return json as Record<string, unknown>;
  } catch (err) {
    throw new ChannelDeploymentError("the deployment file is not a JSON object", file, err);
  }
}

/** Reads the channels section of a network's deployment file. */
export function readChannelDeployment(network: string, dir = CHANNEL_DEPLOYMENTS_DIR): ChannelDeployment {
  const file = fileOf(network, dir);
  const json = readJson(file);
  if (!json) throw new ChannelDeploymentError(`no deployment file for network "${network}"`, file);
  const section = json.channels as Record<string, unknown> | undefined;
  if (typeof section !== "object" || section === null) {
    throw new ChannelDeploymentError(`no channels section for "${network}": run \`npx hardhat channels:deploy\``, file);
  }
  const { adjudicator, deployer, startBlock } = section;
  if (typeof adjudicator !== "string" || !isAddress(adjudicator)) {
    throw new ChannelDeploymentError("channels.adjudicator is not an address", file);
  }
  if (typeof deployer !== "string" || !isAddress(deployer)) {
    throw new ChannelDeploymentError("channels.deployer is not an address", file);
  }
  if (typeof startBlock !== "number" || !Number.isSafeInteger(startBlock) || startBlock < 0) {
    throw new ChannelDeploymentError("channels.startBlock is not a block number", file);
  }
  if (typeof json.chainId !== "string" || !/^[0-9]+$/.test(json.chainId)) {
    throw new ChannelDeploymentError("chainId is not a decimal string", file);
  }
  return {
    network,
    chainId: BigInt(json.chainId),
    adjudicator: getAddress(adjudicator),
    deployer: getAddress(deployer),
    startBlock,
  };
}

/** Writes the channels section, keeping every other section; returns the file's path. */
export function writeChannelDeployment(d: ChannelDeployment, dir = CHANNEL_DEPLOYMENTS_DIR): string {
  const file = fileOf(d.network, dir);
  const existing = readJson(file) ?? {};
  if (existing.chainId !== undefined && String(existing.chainId) !== d.chainId.toString()) {
    throw new ChannelDeploymentError(`the file is for chain ${String(existing.chainId)}, not ${d.chainId}`, file);
  }
  const next = {
    ...existing,
    network: d.network,
    chainId: d.chainId.toString(),
    channels: { adjudicator: d.adjudicator, deployer: d.deployer, startBlock: d.startBlock },
  };
  fs.mkdirSync(dir, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(next, null, 2) + "\n");
  fs.renameSync(temporary, file);
  return file;
}
