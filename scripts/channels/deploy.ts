/**
 * Deploys the channel adjudicator and records it in `deployments/<network>.json` (section `channels`).
 *
 *   npx hardhat channels:deploy --network localhost
 *
 * Tests and the e2e harness call `deployAdjudicator` directly, so every test also tests deployment.
 */
import type { Signer } from "ethers";
import { ChannelAdjudicator__factory } from "../../typechain-types/factories/contracts/channels/ChannelAdjudicator__factory";
import { writeChannelDeployment, type ChannelDeployment } from "../../src/l1/deployments";
import { BilayerError } from "../../src/protocol/errors";

export interface DeployedAdjudicator extends ChannelDeployment {
  /** The deployment file written, if any. */
  file: string | undefined;
}

/** Deploys a `ChannelAdjudicator` from `signer`; writes the deployment file when `network` is given. */
export async function deployAdjudicator(
  signer: Signer,
  opts: { network?: string; deploymentsDir?: string } = {},
): Promise<DeployedAdjudicator> {
  const provider = signer.provider;
  if (!provider) throw new BilayerError("NO_PROVIDER", "the deployer must be connected to a provider");
  const contract = await new ChannelAdjudicator__factory(signer).deploy();
  const receipt = await contract.deploymentTransaction()?.wait();
  if (!receipt) throw new BilayerError("DEPLOYMENT_FAILED", "the adjudicator's deployment was not mined");
  const deployment: ChannelDeployment = {
    network: opts.network ?? `chain-${(await provider.getNetwork()).chainId}`,
    chainId: (await provider.getNetwork()).chainId,
    adjudicator: await contract.getAddress(),
    deployer: await signer.getAddress(),
    startBlock: receipt.blockNumber,
  };
  const file = opts.network ? writeChannelDeployment(deployment, opts.deploymentsDir) : undefined;
  return { ...deployment, file };
}
