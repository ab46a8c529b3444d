/**
 * What every service checks before it trusts its L1 node and its data
 * directory (the operator, the verifier and so the escape command): the node
 * is the deployment's chain, the inbox there has the domain the transactions
 * are signed for, and the data directory belongs to this deployment. Each is
 * a mistake to refuse at once, never to work around.
 */
import type { Provider } from "ethers";
import type { RollupInbox } from "../../typechain-types";
import { domainSeparator } from "../protocol/eip712";
import { BilayerError } from "../protocol/errors";
import type { RollupDeployment } from "./deployments";

/**
 * Checks that `provider` is the deployment's chain and that its inbox has the EIP-712 domain computed for it;
 * returns that domain separator. Throws `WRONG_CHAIN` or `DOMAIN_MISMATCH` (errors of the node, such as an
 * unreachable one, are left to the caller).
 */
export async function checkDeployment(
  provider: Provider,
  deployment: RollupDeployment,
  inbox: RollupInbox,
): Promise<string> {
  const chainId = (await provider.getNetwork()).chainId;
  if (chainId !== deployment.chainId) {
    throw new BilayerError(
      "WRONG_CHAIN",
      `the L1 node is chain ${chainId}, the deployment is on chain ${deployment.chainId}`,
      { context: { chainId: chainId.toString(), deployment: deployment.chainId.toString() } },
    );
  }
  const separator = domainSeparator(deployment.chainId, deployment.contracts.rollupInbox);
  const onChain = (await inbox.domainSeparator()).toLowerCase();
  if (onChain !== separator) {
    throw new BilayerError("DOMAIN_MISMATCH", `the inbox's domain separator ${onChain} is not ${separator}`);
  }
  return separator;
}

/** The part of a data directory's meta record that says which deployment it belongs to. */
export interface DataDirOwner {
  chainId: string;
  inbox: string;
}

/**
 * Claims a data directory for a deployment: writes `meta` when the directory is new, else checks that the meta it
 * holds names the same chain and inbox (and the `alsoCompared` fields). Throws `DATA_DIR_MISMATCH` for a
 * directory of another deployment. Returns whether the directory was new.
 */
export async function claimDataDir<M extends DataDirOwner>(o: {
  dataDir: string;
  /** What the directory holds, for the message ("state", "verifier state"). */
  what: string;
  meta: M;
  alsoCompared?: readonly (keyof M)[];
  read(): Promise<M | undefined>;
  write(meta: M): Promise<void>;
}): Promise<boolean> {
  const existing = await o.read();
  if (existing === undefined) {
    await o.write(o.meta);
    return true;
  }
  const fields: (keyof M)[] = ["chainId", "inbox", ...(o.alsoCompared ?? [])];
  if (fields.some((f) => existing[f] !== o.meta[f])) {
    throw new BilayerError(
      "DATA_DIR_MISMATCH",
      `${o.dataDir} holds the ${o.what} of inbox ${existing.inbox} on chain ${existing.chainId}, not ${o.meta.inbox} on chain ${o.meta.chainId}`,
      { context: { dataDir: o.dataDir } },
    );
  }
  return false;
}
