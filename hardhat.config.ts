import path from "node:path";
import { subtask } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/config";
import "@nomicfoundation/hardhat-toolbox";
import "./tasks";
import "./tasks/verifier";
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
