/**
 * `npx hardhat verifier --network <name>`: the verifier/challenger (see
 * scripts/verifier/run.ts for what it does and its options). The challenger
 * key is VERIFIER_PRIVATE_KEY (environment or `npx hardhat vars set
 * VERIFIER_PRIVATE_KEY`), else account `--account` of the network's
 * configured accounts, else — on a local development chain — of the
 * development mnemonic. Without a key it watches and reports only.
 *
 * Everything heavy is imported inside the action: this file is loaded with
 * the Hardhat config, before the contracts (and their TypeChain types) exist.
 */
import path from "node:path";
import { task, types } from "hardhat/config";

task("verifier", "Runs the verifier: rebuilds L2 from L1 alone, proves wrong proposals, proposes the right roots")
  .addOptionalParam("host", "Interface of the status server", "127.0.0.1")
  .addOptionalParam("port", "Status server port (-1: none)", 8548, types.int)
  .addOptionalParam("dataDir", "Store directory (default .data/verifier/<network>)", "")
  .addOptionalParam("propose", "When to propose the computed roots: off, after-fraud, all", "after-fraud")
  .addOptionalParam("confirmations", "L1 confirmation depth (default 1 on dev chains, 3 elsewhere)", 0, types.int)
  .addOptionalParam("poll", "L1 poll interval in ms (default 250 on dev chains)", 0, types.int)
  .addOptionalParam("logRange", "Blocks per eth_getLogs and per checkpoint", 0, types.int)
  .addOptionalParam("aggregateThreads", "Threads checking BLS aggregates (-1: one per core, at most 4)", -1, types.int)
  .addOptionalParam("account", "Index of the challenger among the network's accounts", 9, types.int)
  .addOptionalParam("logLevel", "pino log level", process.env.LOG_LEVEL ?? "info")
  .addFlag("noChallenge", "Watch and report only")
  .setAction(
    async (
      args: {
        host: string;
        port: number;
        dataDir: string;
        propose: string;
        confirmations: number;
        poll: number;
        logRange: number;
        aggregateThreads: number;
        account: number;
        logLevel: string;
        noChallenge: boolean;
      },
      hre,
    ) => {
      const { Wallet } = await import("ethers");
      const { vars } = await import("hardhat/config");
      const { l1Provider } = await import("./lib");
      const { challengerKey, runVerifier, stopOnSignals } = await import("../scripts/verifier/run");
      const provider = l1Provider(hre);
      const fromVars = vars.has("VERIFIER_PRIVATE_KEY") ? vars.get("VERIFIER_PRIVATE_KEY") : undefined;
      let signer =
        fromVars !== undefined ? new Wallet(fromVars, provider) : await challengerKey(provider, args.account);
      const accounts = hre.network.config.accounts;
      if (signer === undefined && Array.isArray(accounts)) {
        const entry = accounts[args.account] as string | { privateKey: string } | undefined;
        if (entry !== undefined) signer = new Wallet(typeof entry === "string" ? entry : entry.privateKey, provider);
      }
      const verifier = await runVerifier(
        {
          network: hre.network.name,
          dataDir: args.dataDir || path.join(hre.config.paths.root, ".data", "verifier", hre.network.name),
          host: args.host,
          port: args.port,
          propose: args.propose as "off" | "after-fraud" | "all",
          challenge: !args.noChallenge,
          ...(args.confirmations > 0 ? { confirmations: args.confirmations } : {}),
          ...(args.poll > 0 ? { pollMs: args.poll } : {}),
          ...(args.logRange > 0 ? { logRange: args.logRange } : {}),
          ...(args.aggregateThreads >= 0 ? { aggregateThreads: args.aggregateThreads } : {}),
          logLevel: args.logLevel,
        },
        provider,
        signer,
      );
      await stopOnSignals(verifier);
    },
  );

task("escape", "Gets every L2 balance of the signer out to L1 with no help from the operator, from L1 alone")
  .addOptionalParam("signer", "Index of the L1 signer that owns the accounts (and posts the bonds)", 0, types.int)
  .addOptionalParam("dataDir", "Store directory (default .data/escape/<network>/<address>)", "")
  .addOptionalParam("poll", "How often to look at L1 again while waiting, in ms", 0, types.int)
  .addFlag("dryRun", "Print the plan and what it would cost; send nothing")
  .setAction(async (args: { signer: number; dataDir: string; poll: number; dryRun: boolean }, hre) => {
    const { readRollupDeployment } = await import("../src/l1/deployments");
    const { escape } = await import("../src/verifier/escape");
    const { createVerifierLogger } = await import("../src/verifier/log");
    const { l1Provider } = await import("./lib");
    const { BilayerError } = await import("../src/protocol/errors");
    const deployment = readRollupDeployment(hre.network.name, process.env.BILAYER_DEPLOYMENTS_DIR || undefined);
    const signers = await hre.ethers.getSigners();
    const signer = signers[args.signer];
    if (!signer) throw new BilayerError("CLI", `no signer ${args.signer} on network ${hre.network.name}`);
    const address = (await signer.getAddress()).toLowerCase();
    const local = deployment.chainId === 31337n || deployment.chainId === 1337n;
    let stopping = false;
    const stop = (): void => {
      stopping = true;
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      const done = await escape({
        provider: l1Provider(hre),
        signer,
        deployment,
        dataDir: args.dataDir || path.join(hre.config.paths.root, ".data", "escape", hre.network.name, address),
        print: (line) => console.log(line),
        dryRun: args.dryRun,
        pollMs: args.poll > 0 ? args.poll : local ? 500 : 12_000,
        logger: createVerifierLogger({ level: process.env.LOG_LEVEL ?? "warn", fd: 2 }),
        shouldStop: () => stopping,
      });
      if (!done && !args.dryRun) console.log("stopped; run the same command again to go on from where L1 stands");
    } catch (err) {
      if (err instanceof BilayerError) {
        const { HardhatPluginError } = await import("hardhat/plugins");
        throw new HardhatPluginError("bilayer", err.message, err);
      }
      throw err;
    }
  });
