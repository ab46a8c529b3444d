/**
 * Runs a channel client as a process: its peer endpoint (WebSocket) and its control API (JSON-RPC over HTTP).
 *
 *   node -r ts-node/register/transpile-only scripts/channels/client.ts \
 *     --key 0x… --l1 http://127.0.0.1:8545 --adjudicator 0x… --data-dir .data/alice \
 *     --port 9001 --rpc-port 9101 [--peer 0xADDR=ws://127.0.0.1:9002]… [--watchtower ws://127.0.0.1:9200]
 *
 * Every option falls back to an environment variable: CHANNEL_PRIVATE_KEY, L1_RPC_URL, CHANNEL_ADJUDICATOR,
 * CHANNEL_DATA_DIR, CHANNEL_PORT, CHANNEL_RPC_PORT, CHANNEL_WATCHTOWER, CHANNEL_POLL_MS, CHANNEL_MAX_AUTO_FUND,
 * CHANNEL_START_BLOCK, LOG_LEVEL. When ready it prints one JSON line on stdout:
 * `{"ready":true,"address":…,"peerUrl":…,"rpcUrl":…}`; it logs (pino JSON) on stderr; SIGTERM or SIGINT stops it
 * cleanly.
 */
import { JsonRpcProvider } from "ethers";
import pino from "pino";
import { ChannelClient, type ChannelPolicy } from "../../src/channels/client";
import { clientMethods, ControlServer } from "../../src/channels/rpc";
import { Args } from "./args";

export async function runClient(argv: string[] = process.argv.slice(2)): Promise<void> {
  const args = new Args(argv);
  const logger = pino(
    { name: "channel-client", level: args.get("log-level", "LOG_LEVEL", "info") },
    pino.destination(2),
  );
  const l1 = args.get("l1", "L1_RPC_URL", "http://127.0.0.1:8545") as string;
  const provider = new JsonRpcProvider(l1, undefined, { cacheTimeout: -1, pollingInterval: 100 });
  const chainId = (await provider.getNetwork()).chainId;
  const peers: Record<string, string> = {};
  for (const p of args.all("peer")) {
    const [address, url] = p.split("=");
    if (!address || !url) throw new Error(`--peer must be ADDRESS=URL, got "${p}"`);
    peers[address] = url;
  }
  const policy: Partial<ChannelPolicy> = {};
  const maxAutoFund = args.bigint("max-auto-fund", "CHANNEL_MAX_AUTO_FUND");
  if (maxAutoFund !== undefined) policy.maxAutoFund = maxAutoFund;
  const hopDelta = args.bigint("hop-delta", "CHANNEL_HOP_DELTA");
  if (hopDelta !== undefined) policy.hopDeltaSeconds = hopDelta;
  const towerUrl = args.get("watchtower", "CHANNEL_WATCHTOWER");
  const startBlock = args.int("start-block", "CHANNEL_START_BLOCK");
  const client = await ChannelClient.start({
    privateKey: args.require("key", "CHANNEL_PRIVATE_KEY"),
    dataDir: args.require("data-dir", "CHANNEL_DATA_DIR"),
    provider,
    adjudicator: args.require("adjudicator", "CHANNEL_ADJUDICATOR"),
    chainId,
    host: args.get("host", "CHANNEL_HOST", "127.0.0.1"),
    port: args.int("port", "CHANNEL_PORT", 0),
    peers,
    ...(towerUrl ? { watchtower: { url: towerUrl } } : {}),
    pollMs: args.int("poll-ms", "CHANNEL_POLL_MS", 500),
    ...(startBlock === undefined ? {} : { startBlock }),
    policy,
    logger,
  });
  const control = new ControlServer(clientMethods(client), {
    host: args.get("host", "CHANNEL_HOST", "127.0.0.1"),
    port: args.int("rpc-port", "CHANNEL_RPC_PORT", 0) as number,
    logger,
  });
  await control.start();
  logger.info({ address: client.address, peerUrl: client.url, rpcUrl: control.url }, "channel client ready");
  process.stdout.write(
    JSON.stringify({ ready: true, address: client.address, peerUrl: client.url, rpcUrl: control.url }) + "\n",
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
  await client.stop();
  provider.destroy();
}

if (require.main === module) {
  runClient().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
