/**
 * Payment channels end to end, with real processes on loopback: a `hardhat node` child as L1, channel clients and
 * a watchtower as child processes (scripts/channels/*.ts), driven through their control APIs
 * (test/e2e/channel-daemons.ts). Every child is stopped by its PID in `after`, whatever happened.
 */
import { expect } from "chai";
import { controlCall } from "../../src/channels/rpc";
import { hashlockOf } from "../../src/channels/state";
import { decodeSigned } from "../../src/channels/wire";
import { DaemonNet, ETH, until, type Proc } from "./channel-daemons";

describe("Channels end to end (real processes on loopback)", function () {
  this.timeout(300_000);

  let net: DaemonNet;

  before(async function () {
    net = await DaemonNet.start();
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && net) console.log(net.outputs());
  });

  after(async function () {
    await net?.stopAll();
  });

  const ctl = (p: Proc, method: string, params: Record<string, unknown> = {}) => net.ctl(p, method, params);
  const view = (p: Proc, channelId: string) => net.view(p, channelId);
  const open = (a: Proc, b: Proc, deposit: bigint, peerDeposit: bigint, challenge = 3600n) =>
    net.open(a, b, deposit, peerDeposit, challenge);

  let alice: Proc;
  let bob: Proc;

  it("two client processes make 1,000 payments and close cooperatively", async function () {
    [alice, bob] = await Promise.all([net.client("alice", 1), net.client("bob", 2)]);
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

    const bobBefore = await net.provider.getBalance(bob.address);
    const { txHash } = (await ctl(alice, "ch_close", { channelId: ch.channelId })) as { txHash: string };
    const receipt = await net.provider.getTransactionReceipt(txHash);
    const closed = receipt!.logs
      .map((l) => net.adjudicator.interface.parseLog(l))
      .find((e) => e?.name === "ChannelClosed");
    expect(closed?.args.state.version).to.equal(1001n);
    expect(closed?.args.state.balances).to.deep.equal([9n * ETH, 2n * ETH]);
    expect(await net.provider.getBalance(bob.address)).to.equal(bobBefore + 2n * ETH);
    expect((await net.adjudicator.getChannel(ch.channelId)).status).to.equal(4n); // Closed
    await until(async () => (await view(bob, ch.channelId)).phase === "closed", "bob seeing the close");
  });

  it("a three-party route completes atomically, and one whose last hop fails refunds every hop", async function () {
    const carol = await net.client("carol", 3);
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
    // Completed as soon as alice holds the secret; the settles commit on each side right after.
    const sides = [
      [alice, ab.channelId],
      [bob, ab.channelId],
      [bob, bc.channelId],
      [carol, bc.channelId],
    ] as const;
    const settledEverywhere = async () => {
      for (const [p, id] of sides) if ((await view(p, id)).locks.length > 0) return false;
      return true;
    };
    await until(settledEverywhere, "both hops settled everywhere");
    for (const [p, id] of sides) {
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
    await until(settledEverywhere, "both hops refunded everywhere");
    for (const [p, id] of sides) {
      const v = await view(p, id);
      expect(v.balances, `${p.address} on ${id}`).to.deep.equal([(ETH - 250000n).toString(), "250000"]);
      expect(v.locks).to.deep.equal([]);
    }
  });

  it("a party goes offline, its counterparty registers a stale state, and the watchtower process defeats it in time", async function () {
    const tower = await net.tower("watchtower", 9);
    const dave = await net.client("dave", 4, ["--watchtower", String(tower.ready.url)]);
    const erin = await net.client("erin", 5);
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
    const cheat = net.as(5);
    await (await cheat.register(ch.params as never, stale.state, [stale.sigs[0], stale.sigs[1]], stale.locks)).wait();
    const registered = await net.adjudicator.getChannel(ch.channelId);
    expect(registered.version).to.equal(1n);
    await until(async () => (await net.adjudicator.getChannel(ch.channelId)).version === 5n, "the tower's refutation");
    const refuted = await net.adjudicator.getChannel(ch.channelId);
    const now = BigInt((await net.provider.getBlock("latest"))!.timestamp);
    expect(now).to.be.lessThan(refuted.deadline);
    expect(refuted.deadline).to.equal(registered.deadline);
    expect(refuted.balances).to.deep.equal([ETH + 500n, ETH - 500n]);
    const status = (await controlCall(tower.rpcUrl, "wt_status", { channelId: ch.channelId })) as {
      refutations: number;
    };
    expect(status.refutations).to.equal(1);

    // Past the deadline dave comes back from his store, concludes and withdraws what the newest state gives him.
    await net.provider.send("evm_increaseTime", [200]);
    await net.provider.send("evm_mine", []);
    const daveAgain = await net.client("dave", 4, ["--watchtower", String(tower.ready.url)]);
    expect(daveAgain.address).to.equal(dave.address);
    await until(
      async () => (await net.adjudicator.queryFilter(net.adjudicator.filters.Withdrawn(ch.channelId, 0))).length > 0,
      "dave's withdrawal",
    );
    const [withdrawn] = await net.adjudicator.queryFilter(net.adjudicator.filters.Withdrawn(ch.channelId, 0));
    expect(withdrawn.args.amount).to.equal(ETH + 500n);
  });
});
