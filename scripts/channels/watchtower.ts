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
import pino from "pino";
import { towerMethods } from "../../src/channels/rpc";
import { Watchtower } from "../../src/channels/watchtower";
import { Args } from "./args";
import { connectL1, runMain, serveUntilSignal } from "./daemon";

export async function runWatchtower(argv: string[] = process.argv.slice(2)): Promise<void> {
  const args = new Args(argv);
  const logger = pino({ name: "watchtower", level: args.get("log-level", "LOG_LEVEL", "info") }, pino.destination(2));
  const { provider, chainId } = await connectL1(args);
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
  await serveUntilSignal({
    args,
    envPrefix: "WATCHTOWER",
    methods: towerMethods(tower),
    service: tower,
    provider,
    logger,
    ready: { address: tower.address, url: tower.url },
    readyMessage: "watchtower ready",
  });
}

if (require.main === module) runMain(() => runWatchtower());
