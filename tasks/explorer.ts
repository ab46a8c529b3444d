/**
 * `npx hardhat explorer --network <net>`: the explorer's web page on
 * 127.0.0.1, from L1 alone (docs/EXPLORER.md).
 */
import { task, types } from "hardhat/config";

task("explorer", "Serves the explorer: batches, windows, withdrawals, disputes, channels and risks, from L1")
  .addOptionalParam("host", "Interface to listen on", "127.0.0.1")
  .addOptionalParam("port", "Port (0: a free one)", 8549, types.int)
  .addOptionalParam("operator", "The operator's JSON-RPC URL, for soft state (empty: L1 only)", "http://127.0.0.1:8547")
  .addOptionalParam("poll", "L1 poll interval in ms (default: 250 on dev chains)", 0, types.int)
  .addOptionalParam("logLevel", "pino log level", process.env.LOG_LEVEL ?? "info")
  .setAction(async (args: { host: string; port: number; operator: string; poll: number; logLevel: string }, hre) => {
    await hre.run("compile", { quiet: true }); // the contracts' types, on a fresh clone
    const { readChannelDeployment, readRollupDeployment } = await import("../src/l1/deployments");
    const { Explorer } = await import("../src/explorer/explorer");
    const { createVerifierLogger } = await import("../src/verifier/log");
    const { l1Provider } = await import("./lib");
    const dir = process.env.BILAYER_DEPLOYMENTS_DIR || undefined;
    const deployment = readRollupDeployment(hre.network.name, dir);
    let channels: { adjudicator: string; startBlock: number } | undefined;
    try {
      const c = readChannelDeployment(hre.network.name, dir);
      channels = { adjudicator: c.adjudicator, startBlock: c.startBlock };
    } catch {
      channels = undefined; // no adjudicator deployed here: the channels page says so
    }
    const logger = createVerifierLogger({ name: "explorer", level: args.logLevel });
    const explorer = await Explorer.start({
      provider: l1Provider(hre),
      deployment,
      channels,
      operatorUrl: args.operator || undefined,
      host: args.host,
      port: args.port,
      ...(args.poll > 0 ? { pollMs: args.poll } : {}),
      logger,
    });
    logger.info({ url: explorer.url, batches: explorer.index.batches.length }, "explorer serving");
    console.log(`explorer at ${explorer.url}`);
    await new Promise<void>((resolve) => {
      const onSignal = (): void => {
        void explorer.stop().finally(resolve);
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
    });
  });
