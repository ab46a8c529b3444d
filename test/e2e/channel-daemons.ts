/**
 * Real channel processes on loopback for the end-to-end tests (no tests of its own): a `hardhat node` child as L1
 * with the adjudicator deployed by the deployment script, channel clients, watchtowers and hostile peers as child
 * processes driven through their control APIs. Each child is kept by its PID and stopped by it in `stopAll`,
 * whatever happened; every wait is on a condition, with a deadline.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { controlCall } from "../../src/channels/rpc";
import { deployAdjudicator } from "../../scripts/channels/deploy";
import { devKey, freePort, spawnTs, startHardhatNode, type Child } from "../../scripts/channels/harness";
import { ChannelAdjudicator__factory } from "../../typechain-types/factories/contracts/channels/ChannelAdjudicator__factory";
import type { ChannelAdjudicator } from "../../typechain-types";

export const ETH = 10n ** 18n;

/** The daemons' policy on a dev chain that mines a block per transaction (the defaults are for a real chain). */
export const DEV_CHAIN_POLICY = [
  "--block-time",
  "1",
  "--min-challenge",
  "60",
  "--reveal-margin",
  "120",
  "--hop-delta",
  "600",
  "--final-delta",
  "300",
  "--lock-grace",
  "120",
];

/** A running daemon: its child process, identity, endpoints and arguments (to restart it the same way). */
export interface Proc {
  name: string;
  child: Child;
  address: string;
  peerUrl: string;
  rpcUrl: string;
  dataDir: string;
  args: string[];
  ready: Record<string, unknown>;
}

/** What a client's control API says of a channel. */
export interface View {
  channelId: string;
  phase: string;
  version: string;
  balances: [string, string];
  locks: { hashlock: string; expiry: string; amount: string }[];
  inFlight: number;
  params: { participants: [string, string]; asset: string; challengeDuration: string; salt: string };
}

export class DaemonNet {
  readonly children: Child[] = [];
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-channels-e2e-"));
  l1 = "";
  provider!: JsonRpcProvider;
  adjudicator!: ChannelAdjudicator;
  adjudicatorAddress = "";

  /** Starts the L1 node and deploys the adjudicator on it. */
  static async start(): Promise<DaemonNet> {
    const net = new DaemonNet();
    const node = await startHardhatNode();
    net.children.push(node.child);
    net.l1 = node.url;
    net.provider = new JsonRpcProvider(node.url, undefined, { cacheTimeout: -1, pollingInterval: 100 });
    const deployment = await deployAdjudicator(new Wallet(devKey(0), net.provider));
    net.adjudicatorAddress = deployment.adjudicator;
    net.adjudicator = ChannelAdjudicator__factory.connect(net.adjudicatorAddress, net.provider);
    return net;
  }

  /** Stops every child by its PID (clients and towers first, the chain last) and removes the stores. */
  async stopAll(): Promise<void> {
    for (const child of [...this.children].reverse()) await child.stop();
    this.children.length = 0;
    this.provider?.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** The last lines of every child's output (printed when a test fails). */
  outputs(): string {
    return this.children.map((c) => `--- ${c.name} (pid ${c.pid})\n${c.output(40)}`).join("\n");
  }

  /** Starts `script` with `args` (and `env`) and waits for its ready line. */
  async spawn(name: string, script: string, args: string[], env: Record<string, string> = {}): Promise<Proc> {
    const child = spawnTs(name, script, args, env);
    this.children.push(child);
    const ready = await child.waitReady(60_000);
    return {
      name,
      child,
      ready,
      address: String(ready.address),
      peerUrl: String(ready.peerUrl ?? ready.url),
      rpcUrl: String(ready.rpcUrl),
      dataDir: "",
      args,
    };
  }

  /** Starts (or, with the same `name`, restarts from its store) the client of development account `keyIndex`. */
  async client(name: string, keyIndex: number, extra: string[] = [], env: Record<string, string> = {}): Promise<Proc> {
    const dataDir = path.join(this.dir, name);
    const args = [
      "--key",
      devKey(keyIndex),
      "--l1",
      this.l1,
      "--adjudicator",
      this.adjudicatorAddress,
      "--data-dir",
      dataDir,
      "--port",
      String(await freePort()),
      "--max-auto-fund",
      (10n * ETH).toString(),
      ...DEV_CHAIN_POLICY,
      "--poll-ms",
      "200",
      "--log-level",
      "warn",
      ...extra,
    ];
    const p = await this.spawn(name, "scripts/channels/client.ts", args, env);
    return { ...p, dataDir };
  }

  /** Starts a watchtower with development account `keyIndex`. */
  async tower(name: string, keyIndex: number): Promise<Proc> {
    const args = [
      "--key",
      devKey(keyIndex),
      "--l1",
      this.l1,
      "--adjudicator",
      this.adjudicatorAddress,
      "--data-dir",
      path.join(this.dir, name),
      "--port",
      String(await freePort()),
      "--poll-ms",
      "200",
      "--log-level",
      "warn",
    ];
    return this.spawn(name, "scripts/channels/watchtower.ts", args);
  }

  ctl(p: Proc, method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return controlCall(p.rpcUrl, method, params as never);
  }

  async view(p: Proc, channelId: string): Promise<View> {
    return (await this.ctl(p, "ch_channel", { channelId })) as View;
  }

  async introduce(a: Proc, b: Proc): Promise<void> {
    await this.ctl(a, "ch_addPeer", { address: b.address, url: b.peerUrl });
    await this.ctl(b, "ch_addPeer", { address: a.address, url: a.peerUrl });
  }

  /** Opens a channel from `a` to `b` and waits until both sides see it open. */
  async open(a: Proc, b: Proc, deposit: bigint, peerDeposit: bigint, challenge = 3600n): Promise<View> {
    await this.introduce(a, b);
    const v = (await this.ctl(a, "ch_open", {
      peer: b.address,
      deposit: deposit.toString(),
      peerDeposit: peerDeposit.toString(),
      challengeDuration: challenge.toString(),
    })) as View;
    await until(async () => (await this.view(b, v.channelId)).phase === "open", "the peer's side open");
    return v;
  }

  /** The timestamp of the latest block. */
  async now(): Promise<bigint> {
    return BigInt((await this.provider.getBlock("latest"))!.timestamp);
  }

  /** Moves the chain's clock forward by `seconds` and mines a block. */
  async advance(seconds: bigint): Promise<void> {
    await this.provider.send("evm_increaseTime", [Number(seconds)]);
    await this.provider.send("evm_mine", []);
  }

  /** The adjudicator as development account `keyIndex` (an attacker acting on chain by hand). */
  as(keyIndex: number): ChannelAdjudicator {
    return this.adjudicator.connect(new Wallet(devKey(keyIndex), this.provider));
  }

  /** What `participant` withdrew from a channel so far. */
  async withdrawn(channelId: string, participant: 0 | 1): Promise<bigint> {
    const events = await this.adjudicator.queryFilter(this.adjudicator.filters.Withdrawn(channelId, participant));
    return events.reduce((sum, e) => sum + e.args.amount, 0n);
  }
}

/** Polls `cond` until it holds, at most `timeoutMs`. */
export async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
