/**
 * Helpers shared by the Hardhat tasks and the demo: the operator's key and
 * the L1 provider for whatever network Hardhat was given.
 */
import { FetchRequest, HDNodeWallet, JsonRpcProvider, Network, Wallet, type Provider } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { BilayerError } from "../src/protocol/errors";

/** The mnemonic both `hardhat node` and anvil fund their first accounts from. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const DEV_CHAIN_IDS = new Set([31337n, 1337n]);

/** How long one request to an L1 node may take before it counts as unanswered. */
export const L1_REQUEST_TIMEOUT_MS = 10_000;

/**
 * An ethers provider for the selected network: the in-process one for
 * `hardhat`, otherwise a plain JSON-RPC provider on the network's URL (with
 * the response cache off, so quick successive transactions see fresh nonces,
 * and every request bounded by {@link L1_REQUEST_TIMEOUT_MS}, so a frozen node
 * is seen as one). With `chainId` (a service that knows its deployment), the
 * provider does not ask the node which chain it is — it starts with the node
 * down — and the service checks the chain itself.
 */
export function l1Provider(hre: HardhatRuntimeEnvironment, chainId?: bigint): Provider {
  const config = hre.network.config;
  if (!("url" in config)) return hre.ethers.provider as unknown as Provider;
  const local = /^https?:\/\/(127\.0\.0\.1|localhost)(:|\/|$)/.test(config.url);
  const request = new FetchRequest(config.url);
  request.timeout = L1_REQUEST_TIMEOUT_MS;
  const network = chainId === undefined ? undefined : Network.from(chainId);
  return new JsonRpcProvider(request, network, {
    cacheTimeout: -1,
    pollingInterval: local ? 100 : 4000,
    ...(network ? { staticNetwork: network } : {}),
  });
}

/** The private key of account `index` of an HD configuration. */
function hdKey(
  hd: { mnemonic: string; path: string; initialIndex: number; passphrase?: string },
  index: number,
): string {
  const root = HDNodeWallet.fromPhrase(hd.mnemonic, hd.passphrase ?? "", `${hd.path}/${hd.initialIndex + index}`);
  return root.privateKey;
}

/**
 * The key the operator signs its L1 transactions with, connected to
 * `provider`: `OPERATOR_PRIVATE_KEY` (environment, or a Hardhat configuration
 * variable), else account `index` of the network's configured accounts, else
 * — on a local development chain only — the well-known development account.
 */
export async function operatorWallet(
  hre: HardhatRuntimeEnvironment,
  provider: Provider,
  index = 0,
  /** The chain, when known without asking the node (from the deployment). */
  knownChainId?: bigint,
): Promise<Wallet> {
  const { vars } = await import("hardhat/config");
  const fromEnv =
    process.env.OPERATOR_PRIVATE_KEY ??
    (vars.has("OPERATOR_PRIVATE_KEY") ? vars.get("OPERATOR_PRIVATE_KEY") : undefined);
  if (fromEnv) return new Wallet(fromEnv, provider);
  const accounts = hre.network.config.accounts;
  if (Array.isArray(accounts)) {
    const entry = accounts[index] as string | { privateKey: string } | undefined;
    if (entry) return new Wallet(typeof entry === "string" ? entry : entry.privateKey, provider);
  } else if (typeof accounts === "object") {
    return new Wallet(hdKey(accounts, index), provider);
  }
  const chainId = knownChainId ?? (await provider.getNetwork()).chainId;
  if (DEV_CHAIN_IDS.has(chainId)) {
    return new Wallet(hdKey({ mnemonic: DEV_MNEMONIC, path: "m/44'/60'/0'/0", initialIndex: 0 }, index), provider);
  }
  throw new BilayerError(
    "NO_OPERATOR_KEY",
    `no key for the operator on network ${hre.network.name}: set OPERATOR_PRIVATE_KEY (environment or \`npx hardhat vars set OPERATOR_PRIVATE_KEY\`)`,
  );
}

/** Parses a decimal amount of a token with `decimals` decimals ("1.5" → 1.5·10^decimals), exactly. */
export function parseAmount(text: string, decimals: number): bigint {
  const m = /^([0-9]+)(?:\.([0-9]+))?$/.exec(text.trim());
  if (!m) throw new BilayerError("INVALID_AMOUNT", `not a decimal amount: "${text}"`);
  const frac = m[2] ?? "";
  if (frac.length > decimals) throw new BilayerError("INVALID_AMOUNT", `"${text}" has more than ${decimals} decimals`);
  return BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt((frac + "0".repeat(decimals)).slice(0, decimals) || "0");
}

/** Formats an amount with `decimals` decimals, without trailing zeros. */
export function formatAmount(value: bigint, decimals = 18): string {
  const neg = value < 0n;
  const v = neg ? -value : value;
  const base = 10n ** BigInt(decimals);
  const whole = v / base;
  const frac = (v % base).toString().padStart(decimals, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac ? "." + frac : ""}`;
}
