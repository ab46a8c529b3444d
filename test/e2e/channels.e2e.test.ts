/**
 * Payment channels end to end, with real processes on loopback: a `hardhat node` child as L1, channel clients and
 * a watchtower as child processes (scripts/channels/*.ts), driven through their control APIs. Every child is
 * stopped by its PID in `after`, whatever happened.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { controlCall } from "../../src/channels/rpc";
import { hashlockOf } from "../../src/channels/state";
import { decodeSigned } from "../../src/channels/wire";
import { deployAdjudicator } from "../../scripts/channels/deploy";
import { devKey, freePort, spawnTs, startHardhatNode, type Child } from "../../scripts/channels/harness";
import { ChannelAdjudicator__factory } from "../../typechain-types/factories/contracts/channels/ChannelAdjudicator__factory";
import type { ChannelAdjudicator } from "../../typechain-types";

const ETH = 10n ** 18n;

/** The daemons' policy on a dev chain that mines a block per transaction (the defaults are for a real chain). */
const DEV_CHAIN_POLICY = [
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

interface Proc {
  child: Child;
  address: string;
  peerUrl: string;
  rpcUrl: string;
  dataDir: string;
  args: string[];
}

interface View {
  channelId: string;
  phase: string;
  version: string;
  balances: [string, string];
  locks: unknown[];
  params: { participants: [string, string]; asset: string; challengeDuration: string; salt: string };
}

describe("Channels end to end (real processes on loopback)", function () {
  this.timeout(300_000);

  const children: Child[] = [];
  let dir: string;
  let l1: string;
  let provider: JsonRpcProvider;
  let adjudicator: ChannelAdjudicator;
  let adjudicatorAddress: string;

  async function startProc(
    name: string,
    script: string,
    args: string[],
  ): Promise<Proc & { ready: Record<string, unknown> }> {
    const child = spawnTs(name, script, args);
    children.push(child);
    const ready = await child.waitReady(60_000);
    return {
      child,
      ready,
      address: String(ready.address),
      peerUrl: String(ready.peerUrl ?? ready.url),
      rpcUrl: String(ready.rpcUrl),
      dataDir: "",
      args,
    };
  }

  async function startClient(name: string, keyIndex: number, extra: string[] = [], dataDir?: string): Promise<Proc> {
    const data = dataDir ?? path.join(dir, name);
    const args = [
      "--key",
      devKey(keyIndex),
      "--l1",
      l1,
      "--adjudicator",
      adjudicatorAddress,
      "--data-dir",
      data,
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
    const p = await startProc(name, "scripts/channels/client.ts", args);
    return { ...p, dataDir: data };
  }

  const ctl = (p: Proc, method: string, params: Record<string, unknown> = {}) =>
    controlCall(p.rpcUrl, method, params as never);

  async function view(p: Proc, channelId: string): Promise<View> {
    return (await ctl(p, "ch_channel", { channelId })) as View;
  }

  async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function introduce(a: Proc, b: Proc): Promise<void> {
    await ctl(a, "ch_addPeer", { address: b.address, url: b.peerUrl });
    await ctl(b, "ch_addPeer", { address: a.address, url: a.peerUrl });
  }

  async function open(a: Proc, b: Proc, deposit: bigint, peerDeposit: bigint, challenge = 3600n): Promise<View> {
    await introduce(a, b);
    const v = (await ctl(a, "ch_open", {
      peer: b.address,
      deposit: deposit.toString(),
      peerDeposit: peerDeposit.toString(),
      challengeDuration: challenge.toString(),
    })) as View;
    await until(async () => (await view(b, v.channelId)).phase === "open", "the peer's side open");
    return v;
  }

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-channels-e2e-"));
    const node = await startHardhatNode();
    children.push(node.child);
    l1 = node.url;
    provider = new JsonRpcProvider(l1, undefined, { cacheTimeout: -1, pollingInterval: 100 });
    const deployment = await deployAdjudicator(new Wallet(devKey(0), provider));
    adjudicatorAddress = deployment.adjudicator;
    adjudicator = ChannelAdjudicator__factory.connect(adjudicatorAddress, provider);
  });

  after(async function () {
    // Clients and towers first, the chain last; each by its PID.
    for (const child of children.reverse()) await child.stop();
    provider?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  let alice: Proc;
  let bob: Proc;

  it("two client processes make 1,000 payments and close cooperatively", async function () {
    [alice, bob] = await Promise.all([startClient("alice", 1), startClient("bob", 2)]);
    const ch = await open(alice, bob, 10n * ETH, ETH);
    const amount = 10n ** 15n;
    const versions: bigint[] = [];
    let next = 0;
    // 1,000 control calls, 50 at a time: each answers once both processes stored the new state.
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < 1000) {
          next++;
          const r = (await ctl(alice, "ch_pay", { channelId: ch.channelId, amount: amount.toString() })) as {
            version: string;
          };
          versions.push(BigInt(r.version));
        }
      }),
    );
    versions.sort((x, y) => (x < y ? -1 : 1));
    expect(versions).to.deep.equal(Array.from({ length: 1000 }, (_, i) => BigInt(i + 1)));
    const [va, vb] = [await view(alice, ch.channelId), await view(bob, ch.channelId)];
    expect(va.version).to.equal("1000");
    expect(vb.version).to.equal("1000");
    expect(va.balances).to.deep.equal([(9n * ETH).toString(), (2n * ETH).toString()]);
    expect(vb.balances).to.deep.equal(va.balances);

    const bobBefore = await provider.getBalance(bob.address);
    const { txHash } = (await ctl(alice, "ch_close", { channelId: ch.channelId })) as { txHash: string };
    const receipt = await provider.getTransactionReceipt(txHash);
    const closed = receipt!.logs.map((l) => adjudicator.interface.parseLog(l)).find((e) => e?.name === "ChannelClosed");
    expect(closed?.args.state.version).to.equal(1001n);
    expect(closed?.args.state.balances).to.deep.equal([9n * ETH, 2n * ETH]);
    expect(await provider.getBalance(bob.address)).to.equal(bobBefore + 2n * ETH);
    expect((await adjudicator.getChannel(ch.channelId)).status).to.equal(4n); // Closed
    await until(async () => (await view(bob, ch.channelId)).phase === "closed", "bob seeing the close");
  });

  it("a three-party route completes atomically, and one whose last hop fails refunds every hop", async function () {
    const carol = await startClient("carol", 3);
    const ab = await open(alice, bob, ETH, 0n);
    const bc = await open(bob, carol, ETH, 0n);
    const invoice = (await ctl(carol, "ch_invoice", { amount: "250000" })) as { hashlock: string };
    const paid = (await ctl(alice, "ch_payRoute", {
      route: [bob.address, carol.address],
      amount: "250000",
      hashlock: invoice.hashlock,
    })) as { status: string; secret: string };
    expect(paid.status).to.equal("completed");
    expect(hashlockOf(paid.secret)).to.equal(invoice.hashlock);
    await until(
      async () =>
        (await view(bob, ab.channelId)).locks.length === 0 && (await view(carol, bc.channelId)).locks.length === 0,
      "both hops settled everywhere",
    );
    for (const [p, id] of [
      [alice, ab.channelId],
      [bob, ab.channelId],
      [bob, bc.channelId],
      [carol, bc.channelId],
    ] as const) {
      const v = await view(p, id);
      expect(v.balances).to.deep.equal([(ETH - 250000n).toString(), "250000"]);
      expect(v.locks).to.deep.equal([]);
    }

    const unknown = hashlockOf("0x" + "77".repeat(32)); // carol has no such invoice: the last hop fails
    const failed = (await ctl(alice, "ch_payRoute", {
      route: [bob.address, carol.address],
      amount: "1000",
      hashlock: unknown,
    })) as { status: string };
    expect(failed.status).to.equal("refunded");
    await until(
      async () =>
        (await view(bob, ab.channelId)).locks.length === 0 && (await view(carol, bc.channelId)).locks.length === 0,
      "both hops refunded everywhere",
    );
    for (const [p, id] of [
      [alice, ab.channelId],
      [bob, ab.channelId],
      [bob, bc.channelId],
      [carol, bc.channelId],
    ] as const) {
      const v = await view(p, id);
      expect(v.balances, `${p.address} on ${id}`).to.deep.equal([(ETH - 250000n).toString(), "250000"]);
      expect(v.locks).to.deep.equal([]);
    }
  });

  it("a party goes offline, its counterparty registers a stale state, and the watchtower process defeats it in time", async function () {
    const towerArgs = [
      "--key",
      devKey(9),
      "--l1",
      l1,
      "--adjudicator",
      adjudicatorAddress,
      "--data-dir",
      path.join(dir, "tower"),
      "--port",
      String(await freePort()),
      "--poll-ms",
      "200",
      "--log-level",
      "warn",
    ];
    const tower = await startProc("watchtower", "scripts/channels/watchtower.ts", towerArgs);
    const dave = await startClient("dave", 4, ["--watchtower", String(tower.ready.url)]);
    const erin = await startClient("erin", 5);
    const ch = await open(dave, erin, ETH, ETH, 120n);
    await ctl(erin, "ch_pay", { channelId: ch.channelId, amount: "100" });
    const stale = decodeSigned(await ctl(erin, "ch_state", { channelId: ch.channelId }));
    for (let i = 0; i < 4; i++) await ctl(erin, "ch_pay", { channelId: ch.channelId, amount: "100" });
    await until(async () => {
      const s = (await controlCall(tower.rpcUrl, "wt_status", { channelId: ch.channelId })) as {
        version: string;
      } | null;
      return s?.version === "5";
    }, "the tower holding version 5");

    // Dave crashes; erin's software stops and erin registers version 1 (she has paid 100, not 500).
    await dave.child.kill();
    await erin.child.stop();
    const cheat = adjudicator.connect(new Wallet(devKey(5), provider));
    await (await cheat.register(ch.params as never, stale.state, [stale.sigs[0], stale.sigs[1]], stale.locks)).wait();
    const registered = await adjudicator.getChannel(ch.channelId);
    expect(registered.version).to.equal(1n);
    await until(async () => (await adjudicator.getChannel(ch.channelId)).version === 5n, "the tower's refutation");
    const refuted = await adjudicator.getChannel(ch.channelId);
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    expect(now).to.be.lessThan(refuted.deadline);
    expect(refuted.deadline).to.equal(registered.deadline);
    expect(refuted.balances).to.deep.equal([ETH + 500n, ETH - 500n]);
    const status = (await controlCall(tower.rpcUrl, "wt_status", { channelId: ch.channelId })) as {
      refutations: number;
    };
    expect(status.refutations).to.equal(1);

    // Past the deadline dave comes back from his store, concludes and withdraws what the newest state gives him.
    await provider.send("evm_increaseTime", [200]);
    await provider.send("evm_mine", []);
    const daveAgain = await startClient("dave", 4, ["--watchtower", String(tower.ready.url)], dave.dataDir);
    expect(daveAgain.address).to.equal(dave.address);
    await until(
      async () => (await adjudicator.queryFilter(adjudicator.filters.Withdrawn(ch.channelId, 0))).length > 0,
      "dave's withdrawal",
    );
    const [withdrawn] = await adjudicator.queryFilter(adjudicator.filters.Withdrawn(ch.channelId, 0));
    expect(withdrawn.args.amount).to.equal(ETH + 500n);
  });
});
