import path from "node:path";
import { subtask, vars } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/config";
import type { NetworksUserConfig } from "hardhat/types";
import "@nomicfoundation/hardhat-toolbox";
import "./tasks";
import "./tasks/verifier";
import "./tasks/explorer";
import "./tasks/demo";
import "./tasks/channels";

// The compiler is the pinned npm `solc` package: Hardhat never downloads one,
// so a fresh clone builds offline and byte-for-byte the same everywhere.
const SOLC_VERSION = "0.8.30";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- solc ships no types for its version helper
  const solc = require("solc") as { version(): string };
  return {
    compilerPath: path.join(path.dirname(require.resolve("solc/package.json")), "soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: solc.version(),
  };
});

/** A setting from the environment, else from Hardhat's configuration variables (`npx hardhat vars set NAME`). */
function setting(name: string): string | undefined {
  const value = process.env[name] ?? (vars.has(name) ? vars.get(name) : undefined);
  return value === undefined || value === "" ? undefined : value;
}

/**
 * Remote L1 networks, each present once its RPC URL is set: `sepolia` from `SEPOLIA_RPC_URL`, and `l1` — any
 * other chain — from `L1_NETWORK_RPC_URL`. Their accounts are, in this order, those of the keys that are set of
 * `DEPLOYER_PRIVATE_KEY`, `OPERATOR_PRIVATE_KEY` and `USER_PRIVATE_KEY` (`--signer N` in the tasks picks one).
 */
function remoteNetworks(): NetworksUserConfig {
  const accounts = ["DEPLOYER_PRIVATE_KEY", "OPERATOR_PRIVATE_KEY", "USER_PRIVATE_KEY"]
    .map(setting)
    .filter((key): key is string => key !== undefined);
  const networks: NetworksUserConfig = {};
  const sepolia = setting("SEPOLIA_RPC_URL");
  if (sepolia !== undefined) networks.sepolia = { url: sepolia, accounts, chainId: 11155111 };
  const l1 = setting("L1_NETWORK_RPC_URL");
  if (l1 !== undefined) networks.l1 = { url: l1, accounts };
  return networks;
}

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      evmVersion: "prague",
      optimizer: { enabled: true, runs: 1000 },
      viaIR: false,
    },
  },
  networks: {
    hardhat: {
      hardfork: "osaka",
    },
    localhost: {
      url: process.env.L1_RPC_URL ?? "http://127.0.0.1:8545",
    },
    ...remoteNetworks(),
  },
  mocha: {
    timeout: 600_000,
  },
  gasReporter: {
    enabled: process.env.REPORT_GAS === "true",
    offline: true,
  },
};

export default config;
