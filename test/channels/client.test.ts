import { expect } from "chai";
import path from "node:path";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { ethers } from "hardhat";
import { openChannelStore } from "../../src/channels/records";
import { decodeSignedRecord } from "../../src/channels/records";
import { ChannelStatus } from "../../src/channels/chain";
import { hashlockOf, signStateWithKey, verifyStateSignatures, type Lock } from "../../src/channels/state";
import { applyUpdate, depositSnapshot } from "../../src/channels/updates";
import { encodeSig, encodeUpdate } from "../../src/channels/wire";
import type { ChannelClient } from "../../src/channels/client";
import {
  advance,
  channelNet,
  ETH,
  introduce,
  openChannel,
  scriptedPeer,
  startClient,
  stopClient,
  teardown,
  until,
  type Net,
} from "./client.helpers.test";

describe("ChannelClient", function () {
  this.timeout(60_000);
  let net: Net | undefined;

  afterEach(async function () {
    await teardown(net);
    net = undefined;
  });

  function expectSameSignedState(a: ChannelClient, b: ChannelClient, channelId: string): void {
    const sa = a.signedState(channelId);
    const sb = b.signedState(channelId);
    expect(sa, "a has a signed state").to.not.equal(undefined);
    expect(sb, "b has a signed state").to.not.equal(undefined);
    expect(sa?.state).to.deep.equal(sb?.state);
    const params = a.channel(channelId).params;
    for (const s of [sa, sb]) {
      expect(verifyStateSignatures(s!.state, s!.sigs, params.participants, net!.chainId, net!.adjudicator)).to.equal(
        true,
      );
    }
  }

  describe("opening and paying", function () {
    it("opens a channel funded by both and pays in both directions", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, 5n * ETH, 2n * ETH);
      expect(ch.me).to.equal(0);
      expect(b.channel(ch.channelId).me).to.equal(1);
      const info = await net.contract.getChannel(ch.channelId);
      expect(info.deposits).to.deep.equal([5n * ETH, 2n * ETH]);

      await a.pay(ch.channelId, ETH);
      const back = await b.pay(ch.channelId, 3n * 10n ** 17n);
      expect(back.version).to.equal(2n);
      expect(a.channel(ch.channelId).balances).to.deep.equal([4n * ETH + 3n * 10n ** 17n, 3n * ETH - 3n * 10n ** 17n]);
      expectSameSignedState(a, b, ch.channelId);
    });

    it("acknowledges a payment only once both stores hold the state signed by both", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, ETH);
      const acks = await Promise.all([a.pay(ch.channelId, 1n), a.pay(ch.channelId, 2n), b.pay(ch.channelId, 1n)]);
      const acked = acks.reduce((m, c) => (c.version > m ? c.version : m), 0n);
      // Stop both at once, then read what each left on disk.
      await Promise.all([stopClient(net, a), stopClient(net, b)]);
      for (const name of ["alice", "bob"]) {
        const store = await openChannelStore(path.join(net.dir, name));
        const text = await store.get(`full:${ch.channelId}`);
        await store.close();
        expect(text, `${name} stored the state`).to.not.equal(undefined);
        expect(decodeSignedRecord(text as string).state.version).to.equal(acked);
      }
    });

    it("pipelines many payments from both sides with gap-free versions", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, ETH, ETH);
      const results = await Promise.all([
        ...Array.from({ length: 300 }, () => a.pay(ch.channelId, 3n)),
        ...Array.from({ length: 100 }, () => b.pay(ch.channelId, 5n)),
      ]);
      const versions = results.map((r) => r.version).sort((x, y) => (x < y ? -1 : 1));
      expect(versions).to.deep.equal(Array.from({ length: 400 }, (_, i) => BigInt(i + 1)));
      expect(a.channel(ch.channelId).balances).to.deep.equal([ETH - 900n + 500n, ETH + 900n - 500n]);
      expectSameSignedState(a, b, ch.channelId);
    });

    it("refuses a payment above the balance and goes on with the next ones", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, 100n, 10n);
      const [ok1, tooMuch, ok2, theirsTooMuch] = await Promise.allSettled([
        a.pay(ch.channelId, 60n),
        a.pay(ch.channelId, 60n),
        a.pay(ch.channelId, 40n),
        b.pay(ch.channelId, 1000n),
      ]);
      expect(ok1.status).to.equal("fulfilled");
      expect(tooMuch.status).to.equal("rejected");
      expect((tooMuch as PromiseRejectedResult).reason.code).to.equal("INVALID_UPDATE");
      expect(ok2.status).to.equal("fulfilled");
      expect(theirsTooMuch.status).to.equal("rejected");
      expect(a.channel(ch.channelId).balances).to.deep.equal([0n, 110n]);
      expectSameSignedState(a, b, ch.channelId);
    });

    it("refuses a channel from a peer that asks it to deposit more than its policy allows", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob", { policy: { maxAutoFund: ETH } });
      introduce(a, b);
      await expect(a.openChannel({ peer: b.address, deposit: ETH, peerDeposit: 2n * ETH })).to.be.rejectedWith(
        /deposits at most/,
      );
      expect(a.channels()).to.have.length(0);
    });
  });

  describe("restarts", function () {
    it("completes the leader's pending proposals after both restart", async function () {
      net = await channelNet();
      let a = await startClient(net, "alice");
      let b = await startClient(net, "bob");
      const ch = await openChannel(a, b, ETH);
      await a.pay(ch.channelId, 10n);
      await stopClient(net, b);
      // The follower is gone: the leader signs and stores these as pending, and cannot send them.
      const lost = Array.from({ length: 20 }, () => a.pay(ch.channelId, 1n).catch((e: { code: string }) => e.code));
      await until(() => a.channel(ch.channelId).inFlight === 20, "20 pending proposals");
      await stopClient(net, a);
      expect(await Promise.all(lost)).to.deep.equal(Array(20).fill("CLIENT_STOPPED"));

      a = await startClient(net, "alice");
      b = await startClient(net, "bob");
      introduce(a, b);
      await until(() => b.channel(ch.channelId).version === 21n && a.channel(ch.channelId).version === 21n, "resync");
      expect(a.channel(ch.channelId).balances).to.deep.equal([ETH - 30n, 30n]);
      expect(a.channel(ch.channelId).inFlight).to.equal(0);
      expectSameSignedState(a, b, ch.channelId);
      await a.pay(ch.channelId, 1n);
      expect(b.channel(ch.channelId).version).to.equal(22n);
    });

    it("completes the follower's stored requests after both restart", async function () {
      net = await channelNet();
      let a = await startClient(net, "alice");
      let b = await startClient(net, "bob");
      const ch = await openChannel(a, b, ETH, ETH);
      await stopClient(net, a);
      const lost = Array.from({ length: 5 }, () => b.pay(ch.channelId, 7n).catch((e: { code: string }) => e.code));
      await until(() => b.channel(ch.channelId).inFlight === 5, "5 stored requests");
      await stopClient(net, b);
      expect(await Promise.all(lost)).to.deep.equal(Array(5).fill("CLIENT_STOPPED"));

      b = await startClient(net, "bob");
      a = await startClient(net, "alice");
      introduce(a, b);
      await until(() => a.channel(ch.channelId).version === 5n && b.channel(ch.channelId).inFlight === 0, "resync");
      expect(b.channel(ch.channelId).balances).to.deep.equal([ETH + 35n, ETH - 35n]);
      expectSameSignedState(a, b, ch.channelId);
    });

    it("adopts the newer state its peer holds when it crashed before storing it", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, ETH);
      await a.pay(ch.channelId, 5n);
      // Alice's disk loses its last commit: roll `full` back to nothing, as if it crashed before the flush.
      await stopClient(net, a);
      const store = await openChannelStore(path.join(net.dir, "alice"));
      await store.write([{ type: "del", key: `full:${ch.channelId}` }]);
      await store.close();
      const again = await startClient(net, "alice");
      introduce(again, b);
      await until(() => again.channel(ch.channelId).version === 1n, "adoption of version 1");
      await again.pay(ch.channelId, 5n);
      expect(b.channel(ch.channelId).balances).to.deep.equal([ETH - 10n, 10n]);
    });
  });

  describe("conditional and multi-hop payments", function () {
    async function triangle(n: Net) {
      const a = await startClient(n, "alice");
      const b = await startClient(n, "bob");
      const c = await startClient(n, "carol");
      const ab = await openChannel(a, b, ETH);
      const bc = await openChannel(b, c, ETH);
      return { a, b, c, ab, bc };
    }

    it("completes A→B→C on both hops; the payee's secret is the proof of payment", async function () {
      net = await channelNet();
      const { a, b, c, ab, bc } = await triangle(net);
      const invoice = await c.createInvoice(1000n);
      const result = await a.payRoute({ route: [b.address, c.address], amount: 1000n, hashlock: invoice.hashlock });
      expect(result.status).to.equal("completed");
      expect(hashlockOf(result.secret as string)).to.equal(invoice.hashlock);
      await until(() => c.invoice(invoice.hashlock)?.status === "paid", "the invoice paid");
      // Completed once A holds the secret: the settles that move the money commit right after.
      await until(() => a.channel(ab.channelId).locks.length === 0, "the first hop's settle committed");
      expect(a.channel(ab.channelId).balances).to.deep.equal([ETH - 1000n, 1000n]);
      expect(b.channel(bc.channelId).balances).to.deep.equal([ETH - 1000n, 1000n]);
      for (const v of [a.channel(ab.channelId), b.channel(bc.channelId), c.channel(bc.channelId)]) {
        expect(v.locks).to.deep.equal([]);
      }
      expectSameSignedState(a, b, ab.channelId);
      expectSameSignedState(b, c, bc.channelId);
    });

    it("refunds every hop when the last hop fails", async function () {
      net = await channelNet();
      const { a, b, c, ab, bc } = await triangle(net);
      const unknown = hashlockOf("0x" + "42".repeat(32));
      const result = await a.payRoute({ route: [b.address, c.address], amount: 1000n, hashlock: unknown });
      expect(result.status).to.equal("refunded");
      await until(() => b.channel(ab.channelId).locks.length === 0, "the first hop's lock gone at bob");
      expect(a.channel(ab.channelId).balances).to.deep.equal([ETH, 0n]);
      expect(b.channel(bc.channelId).balances).to.deep.equal([ETH, 0n]);
      expect(c.channel(bc.channelId).locks).to.deep.equal([]);
      // Both hops went through a lock and a cancel: versions 2 on each channel.
      expect(a.channel(ab.channelId).version).to.equal(2n);
      expect(c.channel(bc.channelId).version).to.equal(2n);
    });

    it("refunds when the forwarder's expiry margin would be too small", async function () {
      net = await channelNet();
      const { a, b, c, ab, bc } = await triangle(net);
      const invoice = await c.createInvoice(10n);
      const result = await a.payRoute({
        route: [b.address, c.address],
        amount: 10n,
        hashlock: invoice.hashlock,
        hopDeltaSeconds: b.policy.hopDeltaSeconds - 1n,
      });
      expect(result.status).to.equal("refunded");
      expect(b.channel(bc.channelId).version).to.equal(0n);
      expect(a.channel(ab.channelId).balances).to.deep.equal([ETH, 0n]);
      expect(c.invoice(invoice.hashlock)?.status).to.equal("open");
    });

    it("refuses to pay an invoice with less than it asks", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ab = await openChannel(a, b, ETH);
      const invoice = await b.createInvoice(100n);
      const result = await a.payRoute({ route: [b.address], amount: 99n, hashlock: invoice.hashlock });
      expect(result.status).to.equal("refunded");
      expect(a.channel(ab.channelId).balances).to.deep.equal([ETH, 0n]);
    });

    it("refunds a lock that its payee, back online, refuses", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ab = await openChannel(a, b, ETH);
      // Bob accepts the lock, then goes away before settling.
      const invoice = await b.createInvoice(50n);
      await stopClient(net, b);
      const pending = a.payRoute({ route: [b.address], amount: 50n, hashlock: invoice.hashlock });
      const b2 = await startClient(net, "bob", {
        policy: { finalDeltaSeconds: 10n ** 9n, maxLockExpirySeconds: 10n ** 10n }, // it now rejects it
      });
      introduce(a, b2);
      expect((await pending).status).to.equal("refunded");
      expect(a.channel(ab.channelId).balances).to.deep.equal([ETH, 0n]);
    });
  });

  describe("closing and disputes", function () {
    it("closes cooperatively: both are paid at once and the channel is closed", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, 3n * ETH, ETH);
      await a.pay(ch.channelId, ETH);
      const before = await net.provider.getBalance(b.address);
      const hash = await b.close(ch.channelId);
      const receipt = await net.provider.getTransactionReceipt(hash);
      const fee = receipt!.gasUsed * receipt!.gasPrice;
      expect(await net.provider.getBalance(b.address)).to.equal(before + 2n * ETH - fee);
      expect((await net.contract.getChannel(ch.channelId)).status).to.equal(BigInt(ChannelStatus.Closed));
      await until(() => a.channel(ch.channelId).phase === "closed", "alice sees the close");
      await expect(a.pay(ch.channelId, 1n)).to.be.rejectedWith(/closed/);
    });

    it("opens, pays and closes an ERC-20 channel", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const token = await ethers.deployContract("ChannelTestToken", ["Test", "TST"]);
      await token.mint(a.address, 1000n);
      await token.mint(b.address, 500n);
      introduce(a, b);
      const ch = await a.openChannel({
        peer: b.address,
        deposit: 1000n,
        peerDeposit: 500n,
        asset: await token.getAddress(),
      });
      await until(() => b.channel(ch.channelId).phase === "open", "bob's side open");
      expect(await token.balanceOf(net.adjudicator)).to.equal(1500n);
      await a.pay(ch.channelId, 300n);
      await b.pay(ch.channelId, 100n);
      await a.close(ch.channelId);
      expect(await token.balanceOf(a.address)).to.equal(800n);
      expect(await token.balanceOf(b.address)).to.equal(700n);
      expect(await token.balanceOf(net.adjudicator)).to.equal(0n);
    });

    it("refuses to close while a lock is pending", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, ETH);
      await stopClient(net, b);
      void a.payRoute({ route: [b.address], amount: 5n, hashlock: hashlockOf("0x" + "01".repeat(32)) }).catch(() => 0);
      await until(() => a.channel(ch.channelId).inFlight === 1, "the lock proposed");
      await expect(a.close(ch.channelId)).to.be.rejectedWith(/pending locks/);
    });

    it("disputes, concludes after the challenge period and pays both out", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, 2n * ETH, ETH, 300n);
      await a.pay(ch.channelId, ETH);
      await b.dispute(ch.channelId);
      const info = await net.contract.getChannel(ch.channelId);
      expect(info.status).to.equal(BigInt(ChannelStatus.Disputed));
      expect(info.version).to.equal(1n);
      await until(() => a.channel(ch.channelId).phase === "disputed", "alice sees the dispute");
      await expect(a.pay(ch.channelId, 1n)).to.be.rejectedWith(/disputed/);
      const balances = [await net.provider.getBalance(a.address), await net.provider.getBalance(b.address)];
      await advance(300);
      await until(
        async () => (await net!.contract.getChannel(ch.channelId)).status === BigInt(ChannelStatus.Closed),
        "conclude and both withdrawals",
      );
      // Each withdrew for itself (gas paid by each); the amounts arrived in full minus their own fees.
      const gained = [
        (await net.provider.getBalance(a.address)) - balances[0],
        (await net.provider.getBalance(b.address)) - balances[1],
      ];
      expect(gained[0] > ETH - 10n ** 16n && gained[0] <= ETH).to.equal(true);
      expect(gained[1] > 2n * ETH - 10n ** 16n && gained[1] <= 2n * ETH).to.equal(true);
      await until(
        () => a.channel(ch.channelId).phase === "closed" && b.channel(ch.channelId).phase === "closed",
        "closed",
      );
    });

    it("refutes a stale state registered against it while it is online", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob");
      const ch = await openChannel(a, b, ETH, 0n, 600n);
      await a.pay(ch.channelId, 10n);
      const stale = a.signedState(ch.channelId)!;
      await a.pay(ch.channelId, 10n);
      await b.pay(ch.channelId, 5n);
      // Someone registers version 1 (it favours alice); bob's client refutes with version 3.
      const { Wallet } = await import("ethers");
      const cheat = new Wallet(net.keys.get("alice")!, net.provider);
      await (await net.contract.connect(cheat).register(ch.params, stale.state, stale.sigs, stale.locks)).wait();
      const deadline = (await net.contract.getChannel(ch.channelId)).deadline;
      await until(async () => (await net!.contract.getChannel(ch.channelId)).version === 3n, "the refutation");
      const info = await net.contract.getChannel(ch.channelId);
      expect(info.deadline).to.equal(deadline);
      expect(info.balances).to.deep.equal([ETH - 15n, 15n]);
    });

    it("reveals the secret on chain before its lock expires and collects the lock after a dispute", async function () {
      net = await channelNet();
      const a = await startClient(net, "alice");
      const b = await startClient(net, "bob", { policy: { revealMarginSeconds: 200n } });
      const ch = await openChannel(a, b, ETH, 0n, 300n);
      const invoice = await b.createInvoice(70n);
      // Alice's software is replaced by a script that locks 70 to bob's invoice and then never answers again.
      await stopClient(net, a);
      const alice = await scriptedPeer(net, "alice", b);
      const lock: Lock = {
        sender: 0,
        receiver: 1,
        amount: 70n,
        hashlock: invoice.hashlock,
        expiry: BigInt(await time.latest()) + 1000n,
      };
      const next = applyUpdate(depositSnapshot(ch.channelId, [ETH, 0n]), { kind: "lock", lock }, 1n);
      await alice.request(b.address, "ch.propose", {
        channelId: ch.channelId,
        version: "1",
        baseVersion: "0",
        update: encodeUpdate({ kind: "lock", lock }),
        by: 0,
        memo: { hops: [] },
        sig: encodeSig(signStateWithKey(net.keys.get("alice")!, next.state, net.chainId, net.adjudicator)),
      });
      expect(b.channel(ch.channelId).locks).to.have.length(1);
      expect(await net.contract.secretRevealedAt(invoice.hashlock)).to.equal(0n);
      await advance(lock.expiry - BigInt(await time.latest()) - 150n);
      await until(async () => (await net!.contract.secretRevealedAt(invoice.hashlock)) !== 0n, "bob's reveal");
      expect(await net.contract.secretRevealedAt(invoice.hashlock)).to.be.at.most(lock.expiry);
      await alice.stop();
      await b.dispute(ch.channelId);
      await advance(400);
      const withdrawn = net.contract.filters.Withdrawn(ch.channelId, 1);
      await until(async () => (await net!.contract.queryFilter(withdrawn)).length > 0, "bob's withdrawal");
      const settled = await net.contract.queryFilter(net.contract.filters.LockSettled(ch.channelId));
      expect(settled).to.have.length(1);
      expect(settled[0].args.paidTo).to.equal(1n);
      const paid = await net.contract.queryFilter(withdrawn);
      expect(paid.reduce((sum, e) => sum + e.args.amount, 0n)).to.equal(70n);
    });
  });
});
