/**
 * Runs a watchtower as a process: its endpoint for clients (WebSocket) and its control API (JSON-RPC over HTTP).
 *
 *   node -r ts-node/register/transpile-only scripts/channels/watchtower.ts \
 *     --key 0x… --l1 http://127.0.0.1:8545 --adjudicator 0x… --data-dir .data/tower --port 9200 --rpc-port 9300
 *
 * Options fall back to WATCHTOWER_PRIVATE_KEY, L1_RPC_URL, CHANNEL_ADJUDICATOR, WATCHTOWER_DATA_DIR,
 * WATCHTOWER_PORT, WATCHTOWER_RPC_PORT, WATCHTOWER_POLL_MS, WATCHTOWER_START_BLOCK, LOG_LEVEL. When ready it prints
 * `{"ready":true,"address":…,"url":…,"rpcUrl":…}` on stdout; SIGTERM or SIGINT stops it.
 */
import { JsonRpcProvider } from "ethers";
import pino from "pino";
import { towerMethods, ControlServer } from "../../src/channels/rpc";
import { Watchtower } from "../../src/channels/watchtower";
import { Args } from "./args";

export async function runWatchtower(argv: string[] = process.argv.slice(2)): Promise<void> {
  const args = new Args(argv);
  const logger = pino({ name: "watchtower", level: args.get("log-level", "LOG_LEVEL", "info") }, pino.destination(2));
  const l1 = args.get("l1", "L1_RPC_URL", "http://127.0.0.1:8545") as string;
  const provider = new JsonRpcProvider(l1, undefined, { cacheTimeout: -1, pollingInterval: 100 });
  const chainId = (await provider.getNetwork()).chainId;
  const startBlock = args.int("start-block", "WATCHTOWER_START_BLOCK");
  const margin = args.bigint("reveal-margin", "WATCHTOWER_REVEAL_MARGIN");
  const tower = await Watchtower.start({
    privateKey: args.require("key", "WATCHTOWER_PRIVATE_KEY"),
    dataDir: args.require("data-dir", "WATCHTOWER_DATA_DIR"),
    provider,
    adjudicator: args.require("adjudicator", "CHANNEL_ADJUDICATOR"),
    chainId,
    host: args.get("host", "WATCHTOWER_HOST", "127.0.0.1"),
    port: args.int("port", "WATCHTOWER_PORT", 0) as number,
    pollMs: args.int("poll-ms", "WATCHTOWER_POLL_MS", 500),
    ...(startBlock === undefined ? {} : { startBlock }),
    ...(margin === undefined ? {} : { revealMarginSeconds: margin }),
    logger,
  });
  const control = new ControlServer(towerMethods(tower), {
    host: args.get("host", "WATCHTOWER_HOST", "127.0.0.1"),
    port: args.int("rpc-port", "WATCHTOWER_RPC_PORT", 0) as number,
    logger,
  });
  await control.start();
  logger.info({ address: tower.address, url: tower.url, rpcUrl: control.url }, "watchtower ready");
  process.stdout.write(
    JSON.stringify({ ready: true, address: tower.address, url: tower.url, rpcUrl: control.url }) + "\n",
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  logger.info("stopping");
  await control.stop();
  await tower.stop();
  provider.destroy();
}

if (require.main === module) {
  runWatchtower().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
