/**
 * Runs a channel client as a process: its peer endpoint (WebSocket) and its control API (JSON-RPC over HTTP).
 *
 *   node -r ts-node/register/transpile-only scripts/channels/client.ts \
 *     --key 0x… --l1 http://127.0.0.1:8545 --adjudicator 0x… --data-dir .data/alice \
 *     --port 9001 --rpc-port 9101 [--peer 0xADDR=ws://127.0.0.1:9002]… [--watchtower ws://127.0.0.1:9200]
 *
 * Every option falls back to an environment variable: CHANNEL_PRIVATE_KEY, L1_RPC_URL, CHANNEL_ADJUDICATOR,
 * CHANNEL_DATA_DIR, CHANNEL_PORT, CHANNEL_RPC_PORT, CHANNEL_WATCHTOWER, CHANNEL_POLL_MS, CHANNEL_CONFIRMATIONS,
 * CHANNEL_START_BLOCK, LOG_LEVEL, and each policy option (docs/CHANNELS.md §9) to CHANNEL_<NAME> (`--min-challenge`
 * reads CHANNEL_MIN_CHALLENGE): --max-auto-fund, --min-challenge, --max-challenge, --default-challenge,
 * --block-time, --reveal-margin, --hop-delta, --final-delta, --max-lock-expiry, --max-pending-locks,
 * --max-pending-locked, --max-version-step, --resize-expiry, --funding-expiry, --lock-grace (seconds and base units).
 * A policy under its floors is refused at start with the floor it misses. When ready it prints one JSON line on stdout:
 * `{"ready":true,"address":…,"peerUrl":…,"rpcUrl":…}`; it logs (pino JSON) on stderr; SIGTERM or SIGINT stops it
 * cleanly.
 */
import pino from "pino";
import { ChannelClient, type ChannelPolicy } from "../../src/channels/client";
import { clientMethods } from "../../src/channels/rpc";
import { Args } from "./args";
import { connectL1, runMain, serveUntilSignal } from "./daemon";

/** The policy options of the daemon, by flag: each one's environment variable is CHANNEL_ and its name. */
const POLICY_FLAGS: [flag: string, field: keyof ChannelPolicy, kind: "bigint" | "int"][] = [
  ["max-auto-fund", "maxAutoFund", "bigint"],
  ["min-challenge", "minChallengeDuration", "bigint"],
  ["max-challenge", "maxChallengeDuration", "bigint"],
  ["default-challenge", "defaultChallengeDuration", "bigint"],
  ["block-time", "blockTimeSeconds", "bigint"],
  ["reveal-margin", "revealMarginSeconds", "bigint"],
  ["hop-delta", "hopDeltaSeconds", "bigint"],
  ["final-delta", "finalDeltaSeconds", "bigint"],
  ["max-lock-expiry", "maxLockExpirySeconds", "bigint"],
  ["max-pending-locks", "maxPendingLocksPerPeer", "int"],
  ["max-pending-locked", "maxPendingLockedPerPeer", "bigint"],
  ["max-version-step", "maxVersionStep", "bigint"],
  ["resize-expiry", "resizeExpirySeconds", "bigint"],
  ["funding-expiry", "fundingExpirySeconds", "bigint"],
  ["lock-grace", "lockGraceSeconds", "bigint"],
];

/** The policy options given on the command line or in the environment (the rest keep their defaults). */
export function policyFromArgs(args: Args): Partial<ChannelPolicy> {
  const policy: Record<string, bigint | number> = {};
  for (const [flag, field, kind] of POLICY_FLAGS) {
    const env = "CHANNEL_" + flag.toUpperCase().replace(/-/g, "_");
    const value = kind === "int" ? args.int(flag, env) : args.bigint(flag, env);
    if (value !== undefined) policy[field] = value;
  }
  return policy as Partial<ChannelPolicy>;
}

export async function runClient(argv: string[] = process.argv.slice(2)): Promise<void> {
  const args = new Args(argv);
  const logger = pino(
    { name: "channel-client", level: args.get("log-level", "LOG_LEVEL", "info") },
    pino.destination(2),
  );
  const { provider, chainId } = await connectL1(args);
  const peers: Record<string, string> = {};
  for (const p of args.all("peer")) {
    const [address, url] = p.split("=");
    if (!address || !url) throw new Error(`--peer must be ADDRESS=URL, got "${p}"`);
    peers[address] = url;
  }
  const policy = policyFromArgs(args);
  const confirmations = args.int("confirmations", "CHANNEL_CONFIRMATIONS");
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
    ...(confirmations === undefined ? {} : { confirmations }),
    ...(startBlock === undefined ? {} : { startBlock }),
    policy,
    logger,
  });
  await serveUntilSignal({
    args,
    envPrefix: "CHANNEL",
    methods: clientMethods(client),
    service: client,
    provider,
    logger,
    ready: { address: client.address, peerUrl: client.url },
    readyMessage: "channel client ready",
  });
}

if (require.main === module) runMain(() => runClient());
