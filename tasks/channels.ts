/**
 * Hardhat tasks of the payment channels:
 *
 *   channels:deploy       deploys the adjudicator, records it in deployments/<network>.json
 *   channels:client       runs a channel client (peer endpoint + control API) until Ctrl-C
 *   channels:watchtower   runs a watchtower until Ctrl-C
 *   channels:open         asks a running client to open (and fund) a channel with a peer
 *   channels:pay          … to pay over a channel (or a route with --route and --hashlock)
 *   channels:topup        … to top a channel up (co-signed, then executed on chain)
 *   channels:partial-withdraw  … to take part of its balance out of an open channel
 *   channels:invoice      … to create an invoice (a hashlock to pay to)
 *   channels:close        … to close a channel cooperatively
 *   channels:dispute      … to register its latest state on chain
 *   channels:withdraw     … to collect its share of a concluded channel
 *   channels:list         … to list its channels
 *
 * `--network localhost` works against `npx hardhat node`. The daemons read the adjudicator from the deployment
 * file; the other commands talk to a daemon's control API (`--rpc`, default http://127.0.0.1:9101).
 *
 * Heavy modules are imported inside the actions: this file loads with the Hardhat config, before TypeChain exists.
 */
import { task, types } from "hardhat/config";
import type { ConfigurableTaskDefinition, HardhatRuntimeEnvironment } from "hardhat/types";

const DEFAULT_CONTROL = process.env.CHANNEL_RPC_URL ?? "http://127.0.0.1:9101";

function networkUrl(hre: HardhatRuntimeEnvironment): string {
  const config = hre.network.config;
  if (!("url" in config)) {
    throw new Error("channel daemons need a network with a URL: run `npx hardhat node` and pass --network localhost");
  }
  return config.url;
}

/** The participant key: --key, CHANNEL_PRIVATE_KEY, or development account `signer` on a local dev chain. */
async function participantKey(hre: HardhatRuntimeEnvironment, key: string, signer: number, env: string) {
  if (key) return key;
  const fromEnv = process.env[env];
  if (fromEnv) return fromEnv;
  const chainId = BigInt(await hre.network.provider.send("eth_chainId", []));
  if (chainId !== 31337n && chainId !== 1337n) throw new Error(`pass --key or set ${env}`);
  const { devKey } = await import("../scripts/channels/harness");
  return devKey(signer);
}

/** The options both daemons take: their key, the L1 and the adjudicator deployed on it, store, ports, log level. */
function daemonArgv(
  hre: HardhatRuntimeEnvironment,
  dep: { adjudicator: string; startBlock: number },
  options: { key: string; dataDir: string; port: number; rpcPort: number; logLevel: string },
): string[] {
  return [
    "--key",
    options.key,
    "--l1",
    networkUrl(hre),
    "--adjudicator",
    dep.adjudicator,
    "--data-dir",
    options.dataDir,
    "--port",
    String(options.port),
    "--rpc-port",
    String(options.rpcPort),
    "--start-block",
    String(dep.startBlock),
    "--log-level",
    options.logLevel,
  ];
}

async function amountOf(text: string, decimals: number): Promise<bigint> {
  const { parseUnits } = await import("ethers");
  return parseUnits(text, decimals);
}

async function call(rpc: string, method: string, params: Record<string, unknown> = {}) {
  const { controlCall } = await import("../src/channels/rpc");
  return controlCall(rpc, method, params as never);
}

/** A command to a running client: `--rpc`, its control URL, and when it takes amounts `--decimals` of the asset. */
function clientTask(name: string, description: string, { amounts = false } = {}): ConfigurableTaskDefinition {
  const definition = task(name, description).addOptionalParam("rpc", "The client's control URL", DEFAULT_CONTROL);
  return amounts ? definition.addOptionalParam("decimals", "Decimals of the asset", 18, types.int) : definition;
}

/** A command on one channel (`--channel`) of a running client. */
function channelTask(name: string, description: string, opts: { amounts?: boolean } = {}): ConfigurableTaskDefinition {
  return clientTask(name, description, opts).addParam("channel", "Channel id");
}

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** The `channels:client` options that pass straight to the daemon's policy flags (docs/CHANNELS.md §9). */
const POLICY_PARAMS = [
  ["confirmations", "confirmations"],
  ["minChallenge", "min-challenge"],
  ["maxChallenge", "max-challenge"],
  ["defaultChallenge", "default-challenge"],
  ["blockTime", "block-time"],
  ["revealMargin", "reveal-margin"],
  ["hopDelta", "hop-delta"],
  ["finalDelta", "final-delta"],
  ["maxLockExpiry", "max-lock-expiry"],
  ["maxPendingLocks", "max-pending-locks"],
  ["maxPendingLocked", "max-pending-locked"],
  ["resizeExpiry", "resize-expiry"],
  ["lockGrace", "lock-grace"],
] as const;

task("channels:deploy", "Deploys the channel adjudicator and records it in deployments/<network>.json").setAction(
  async (_args, hre) => {
    await hre.run("compile", { quiet: true });
    const { deployAdjudicator } = await import("../scripts/channels/deploy");
    const [signer] = await hre.ethers.getSigners();
    const d = await deployAdjudicator(signer, { network: hre.network.name });
    console.log(`ChannelAdjudicator ${d.adjudicator} on ${d.network} (chain ${d.chainId}), block ${d.startBlock}`);
    if (d.file) console.log(`recorded in ${d.file}`);
  },
);

task("channels:client", "Runs a channel client (peer endpoint and control API) until Ctrl-C")
  .addOptionalParam("key", "Participant private key (default: CHANNEL_PRIVATE_KEY, or dev account --signer)", "")
  .addOptionalParam("signer", "Development account index for the key on a local chain", 1, types.int)
  .addOptionalParam("dataDir", "Store directory (default .data/channels/<network>/<address>)", "")
  .addOptionalParam("port", "Peer WebSocket port", 9001, types.int)
  .addOptionalParam("rpcPort", "Control JSON-RPC port", 9101, types.int)
  .addOptionalParam("peers", "Known peers, comma-separated ADDRESS=ws://HOST:PORT", "")
  .addOptionalParam("watchtower", "Watchtower URL (ws://HOST:PORT)", "")
  .addOptionalParam("maxAutoFund", "The most this client deposits into channels others open (ETH)", "0")
  .addOptionalParam("confirmations", "Blocks to wait before acting on an event", "")
  .addOptionalParam("minChallenge", "Shortest challenge period accepted, s (default 3600)", "")
  .addOptionalParam("maxChallenge", "Longest challenge period accepted, s (default 30 days)", "")
  .addOptionalParam("defaultChallenge", "Challenge period of the channels it opens, s (default 1 day)", "")
  .addOptionalParam("blockTime", "The chain's block time, s (default 12): the margins' floors count in it", "")
  .addOptionalParam("revealMargin", "Reveal a secret on chain this long before its lock expires, s (default 600)", "")
  .addOptionalParam("hopDelta", "A forwarder's incoming lock outlives its outgoing one by this, s (default 1800)", "")
  .addOptionalParam("finalDelta", "A payee needs this long before its lock expires, s (default 1200)", "")
  .addOptionalParam("maxLockExpiry", "Latest lock expiry accepted, s from now (default 7 days)", "")
  .addOptionalParam("maxPendingLocks", "Most locks a peer may have pending towards it (default 32)", "")
  .addOptionalParam("maxPendingLocked", "Most a peer may have locked towards it (base units; default no limit)", "")
  .addOptionalParam("resizeExpiry", "How long a top-up or partial withdrawal may wait for the chain, s", "")
  .addOptionalParam("lockGrace", "After a lock's expiry, wait this long for the peer before going on chain, s", "")
  .addOptionalParam("logLevel", "pino log level", process.env.LOG_LEVEL ?? "info")
  .setAction(
    async (
      args: {
        key: string;
        signer: number;
        dataDir: string;
        port: number;
        rpcPort: number;
        peers: string;
        watchtower: string;
        maxAutoFund: string;
        logLevel: string;
      } & Record<(typeof POLICY_PARAMS)[number][0], string>,
      hre,
    ) => {
      const path = await import("node:path");
      const { Wallet } = await import("ethers");
      const { readChannelDeployment } = await import("../src/l1/deployments");
      const { runClient } = await import("../scripts/channels/client");
      const dep = readChannelDeployment(hre.network.name);
      const key = await participantKey(hre, args.key, args.signer, "CHANNEL_PRIVATE_KEY");
      const address = new Wallet(key).address;
      const dataDir = args.dataDir || path.join(hre.config.paths.root, ".data", "channels", hre.network.name, address);
      const argv = daemonArgv(hre, dep, { ...args, key, dataDir });
      argv.push("--max-auto-fund", (await amountOf(args.maxAutoFund, 18)).toString());
      for (const [param, flag] of POLICY_PARAMS) if (args[param]) argv.push(`--${flag}`, args[param]);
      for (const p of args.peers.split(",").filter((x) => x.length > 0)) argv.push("--peer", p);
      if (args.watchtower) argv.push("--watchtower", args.watchtower);
      console.error(
        `channel client ${address}: peers at ws://127.0.0.1:${args.port}, control at http://127.0.0.1:${args.rpcPort}`,
      );
      await runClient(argv);
    },
  );

task("channels:watchtower", "Runs a watchtower until Ctrl-C")
  .addOptionalParam("key", "Tower private key (default: WATCHTOWER_PRIVATE_KEY, or dev account --signer)", "")
  .addOptionalParam("signer", "Development account index for the key on a local chain", 9, types.int)
  .addOptionalParam("dataDir", "Store directory (default .data/watchtower/<network>)", "")
  .addOptionalParam("port", "WebSocket port for clients", 9200, types.int)
  .addOptionalParam("rpcPort", "Control JSON-RPC port", 9300, types.int)
  .addOptionalParam("logLevel", "pino log level", process.env.LOG_LEVEL ?? "info")
  .setAction(
    async (
      args: { key: string; signer: number; dataDir: string; port: number; rpcPort: number; logLevel: string },
      hre,
    ) => {
      const path = await import("node:path");
      const { readChannelDeployment } = await import("../src/l1/deployments");
      const { runWatchtower } = await import("../scripts/channels/watchtower");
      const dep = readChannelDeployment(hre.network.name);
      const key = await participantKey(hre, args.key, args.signer, "WATCHTOWER_PRIVATE_KEY");
      const dataDir = args.dataDir || path.join(hre.config.paths.root, ".data", "watchtower", hre.network.name);
      await runWatchtower(daemonArgv(hre, dep, { ...args, key, dataDir }));
    },
  );

clientTask("channels:open", "Opens a channel from a running client to a peer", { amounts: true })
  .addParam("peer", "The peer's address")
  .addOptionalParam("peerUrl", "The peer's WebSocket URL, if the client does not know it yet", "")
  .addParam("amount", "This client's deposit (ETH, or whole tokens with --decimals)")
  .addOptionalParam("peerAmount", "The peer's deposit (it must accept funding that much)", "0")
  .addOptionalParam("asset", "ERC-20 token address (default: ETH)", "")
  .addOptionalParam("challenge", "Challenge duration in seconds (default: the client's policy)", 0, types.int)
  .setAction(
    async (args: {
      peer: string;
      peerUrl: string;
      amount: string;
      peerAmount: string;
      asset: string;
      decimals: number;
      challenge: number;
      rpc: string;
    }) => {
      if (args.peerUrl) await call(args.rpc, "ch_addPeer", { address: args.peer, url: args.peerUrl });
      print(
        await call(args.rpc, "ch_open", {
          peer: args.peer,
          deposit: (await amountOf(args.amount, args.decimals)).toString(),
          peerDeposit: (await amountOf(args.peerAmount, args.decimals)).toString(),
          ...(args.challenge > 0 ? { challengeDuration: String(args.challenge) } : {}),
          ...(args.asset ? { asset: args.asset } : {}),
        }),
      );
    },
  );

clientTask("channels:pay", "Pays over a channel of a running client (or over a route)", { amounts: true })
  .addParam("amount", "Amount (ETH, or whole tokens with --decimals)")
  .addOptionalParam("channel", "Channel id", "")
  .addOptionalParam("peer", "Pay over the open channel with this peer", "")
  .addOptionalParam("route", "Comma-separated hops to the payee (a hash-locked multi-hop payment)", "")
  .addOptionalParam("hashlock", "The payee's invoice hashlock (with --route)", "")
  .addOptionalParam("count", "Send this many payments (pipelined)", 1, types.int)
  .setAction(
    async (args: {
      amount: string;
      channel: string;
      peer: string;
      route: string;
      hashlock: string;
      count: number;
      decimals: number;
      rpc: string;
    }) => {
      const amount = (await amountOf(args.amount, args.decimals)).toString();
      if (args.route) {
        if (!args.hashlock) throw new Error("--route needs --hashlock (from `channels:invoice` on the payee)");
        print(await call(args.rpc, "ch_payRoute", { route: args.route.split(","), amount, hashlock: args.hashlock }));
        return;
      }
      if (!args.channel && !args.peer) throw new Error("pass --channel or --peer");
      const target = args.channel ? { channelId: args.channel } : { peer: args.peer };
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: args.count }, () => call(args.rpc, "ch_pay", { ...target, amount })),
      );
      const last = results[results.length - 1] as { channelId: string; version: string };
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `${args.count} payment(s) of ${args.amount} acknowledged in ${seconds.toFixed(2)} s; channel ${last.channelId} at version ${last.version}`,
      );
    },
  );

channelTask("channels:topup", "Tops a channel of a running client up: co-signed, then executed on chain", {
  amounts: true,
})
  .addParam("amount", "Amount added to this client's balance (ETH, or whole tokens with --decimals)")
  .setAction(async (args: { channel: string; amount: string; decimals: number; rpc: string }) => {
    const amount = (await amountOf(args.amount, args.decimals)).toString();
    print(await call(args.rpc, "ch_topUp", { channelId: args.channel, amount }));
  });

channelTask(
  "channels:partial-withdraw",
  "Takes part of a running client's balance out of an open channel (co-signed, then executed on chain)",
  { amounts: true },
)
  .addParam("amount", "Amount taken out of this client's balance (ETH, or whole tokens with --decimals)")
  .setAction(async (args: { channel: string; amount: string; decimals: number; rpc: string }) => {
    const amount = (await amountOf(args.amount, args.decimals)).toString();
    print(await call(args.rpc, "ch_withdrawPartially", { channelId: args.channel, amount }));
  });

clientTask("channels:invoice", "Creates an invoice on a running client: the hashlock a payer locks to", {
  amounts: true,
})
  .addParam("amount", "Amount (ETH, or whole tokens with --decimals)")
  .setAction(async (args: { amount: string; decimals: number; rpc: string }) => {
    print(await call(args.rpc, "ch_invoice", { amount: (await amountOf(args.amount, args.decimals)).toString() }));
  });

channelTask("channels:close", "Closes a channel of a running client cooperatively").setAction(
  async (args: { channel: string; rpc: string }) => {
    print(await call(args.rpc, "ch_close", { channelId: args.channel }));
  },
);

channelTask(
  "channels:dispute",
  "Registers the latest state of a channel on chain (starts the challenge period)",
).setAction(async (args: { channel: string; rpc: string }) => {
  print(await call(args.rpc, "ch_dispute", { channelId: args.channel }));
});

channelTask(
  "channels:withdraw",
  "Collects a running client's share of a concluded channel (concludes first if due)",
).setAction(async (args: { channel: string; rpc: string }) => {
  const view = (await call(args.rpc, "ch_channel", { channelId: args.channel })) as { phase: string };
  if (view.phase === "disputed") await call(args.rpc, "ch_conclude", { channelId: args.channel });
  print(await call(args.rpc, "ch_withdraw", { channelId: args.channel }));
});

clientTask("channels:list", "Lists the channels of a running client").setAction(async (args: { rpc: string }) => {
  print(await call(args.rpc, "ch_list"));
});
