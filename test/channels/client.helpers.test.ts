/**
 * Shared set-up of the channel client and watchtower tests (no tests of its own): an adjudicator deployed by the
 * deployment script on the in-process network, funded participants, clients and towers on loopback WebSockets,
 * each with a LevelDB store in a temporary directory.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers, network } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { keccak256, toUtf8Bytes, Wallet, type Provider } from "ethers";
import { ChannelClient, type ChannelClientConfig, type ChannelView } from "../../src/channels/client";
import type { ChannelPolicy } from "../../src/channels/policy";
import { Watchtower, type WatchtowerConfig } from "../../src/channels/watchtower";
import { PeerTransport } from "../../src/channels/transport";
import { deployAdjudicator } from "../../scripts/channels/deploy";
import type { ChannelAdjudicator } from "../../typechain-types";

export interface Net {
  provider: Provider;
  chainId: bigint;
  adjudicator: string;
  contract: ChannelAdjudicator;
  dir: string;
  clients: Set<ChannelClient>;
  towers: Set<Watchtower>;
  transports: Set<PeerTransport>;
  keys: Map<string, string>;
}

/** A deterministic private key for `name`, with 10^6 ETH on the in-process network. */
export async function fundedKey(name: string): Promise<string> {
  const key = keccak256(toUtf8Bytes(`bilayer channel client test ${name}`));
  await network.provider.send("hardhat_setBalance", [new Wallet(key).address, "0x" + (10n ** 24n).toString(16)]);
  return key;
}

/** The adjudicator, deployed by the deployment script. */
async function deployFixture() {
  const [deployer] = await ethers.getSigners();
  return deployAdjudicator(deployer);
}

export async function channelNet(): Promise<Net> {
  const d = await loadFixture(deployFixture);
  const contract = (await ethers.getContractAt("ChannelAdjudicator", d.adjudicator)) as unknown as ChannelAdjudicator;
  return {
    provider: ethers.provider,
    chainId: d.chainId,
    adjudicator: d.adjudicator,
    contract,
    dir: fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-channels-")),
    clients: new Set(),
    towers: new Set(),
    transports: new Set(),
    keys: new Map(),
  };
}

/**
 * The policy of the in-process clients: a dev chain that mines a block per transaction, so one-second blocks and
 * margins of minutes (the defaults are sized for a real chain: hours).
 */
export const TEST_POLICY: Partial<ChannelPolicy> = {
  maxAutoFund: 10n ** 20n,
  blockTimeSeconds: 1n,
  minChallengeDuration: 60n,
  defaultChallengeDuration: 600n,
  hopDeltaSeconds: 600n,
  finalDeltaSeconds: 300n,
  revealMarginSeconds: 120n,
  lockGraceSeconds: 120n,
  resizeExpirySeconds: 600n,
};

/** The key of the party called `name` in `net`, funded on first use so a restart keeps its identity. */
async function keyOf(net: Net, name: string): Promise<string> {
  let key = net.keys.get(name);
  if (!key) {
    key = await fundedKey(name);
    net.keys.set(name, key);
  }
  return key;
}

/** Starts (or restarts, same key and store) client `name`. */
export async function startClient(
  net: Net,
  name: string,
  opts: Partial<ChannelClientConfig> = {},
): Promise<ChannelClient> {
  const key = await keyOf(net, name);
  const client = await ChannelClient.start({
    privateKey: key,
    dataDir: path.join(net.dir, name),
    provider: net.provider,
    adjudicator: net.adjudicator,
    chainId: net.chainId,
    port: 0,
    pollMs: 50,
    ...opts,
    policy: { ...TEST_POLICY, ...opts.policy },
  });
  net.clients.add(client);
  return client;
}

export async function stopClient(net: Net, client: ChannelClient): Promise<void> {
  net.clients.delete(client);
  await client.stop();
}

export async function startTower(net: Net, name: string, opts: Partial<WatchtowerConfig> = {}): Promise<Watchtower> {
  const key = await keyOf(net, name);
  const tower = await Watchtower.start({
    privateKey: key,
    dataDir: path.join(net.dir, name),
    provider: net.provider,
    adjudicator: net.adjudicator,
    chainId: net.chainId,
    port: 0,
    pollMs: 50,
    ...opts,
  });
  net.towers.add(tower);
  return tower;
}

export async function stopTower(net: Net, tower: Watchtower): Promise<void> {
  net.towers.delete(tower);
  await tower.stop();
}

/** Stops everything still running and removes the stores. */
export async function teardown(net: Net | undefined): Promise<void> {
  if (!net) return;
  for (const c of [...net.clients]) await c.stop().catch(() => undefined);
  for (const t of [...net.towers]) await t.stop().catch(() => undefined);
  for (const t of [...net.transports]) await t.stop().catch(() => undefined);
  net.clients.clear();
  net.towers.clear();
  fs.rmSync(net.dir, { recursive: true, force: true });
}

/** Makes two clients know each other's endpoints. */
export function introduce(a: ChannelClient, b: ChannelClient): void {
  a.addPeer(b.address, b.url as string);
  b.addPeer(a.address, a.url as string);
}

/** Polls `cond` until it holds. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Moves the chain's clock forward by `seconds` and mines a block. */
export async function advance(seconds: number | bigint): Promise<void> {
  await time.increase(Number(seconds));
}

/** Opens a channel from `a` (participant 0) to `b` funded with the given deposits. */
export async function openChannel(
  a: ChannelClient,
  b: ChannelClient,
  deposit: bigint,
  peerDeposit = 0n,
  challengeDuration = 600n,
): Promise<ChannelView> {
  introduce(a, b);
  const view = await a.openChannel({ peer: b.address, deposit, peerDeposit, challengeDuration });
  await until(() => b.channels().some((c) => c.channelId === view.channelId && c.phase === "open"), "the peer's open");
  return view;
}

/**
 * A bare peer transport speaking as `name` (with its key), connected to `target`: a test plays a misbehaving or
 * scripted participant through it.
 */
export async function scriptedPeer(net: Net, name: string, target: ChannelClient): Promise<PeerTransport> {
  const key = await keyOf(net, name);
  const transport = new PeerTransport({ privateKey: key });
  await transport.start();
  await transport.dial(target.url as string, target.address);
  net.transports.add(transport);
  return transport;
}

export const ETH = 10n ** 18n;
