import { expect } from "chai";
import { ethers } from "hardhat";
import { Wallet } from "ethers";
import { ChannelStatus } from "../../src/channels/chain";
import { resizeMessage } from "../../src/channels/resize";
import type { ChannelAdjudicator, ChannelTestToken } from "../../typechain-types";
import {
  advance,
  channelNet,
  ETH,
  introduce,
  openChannel,
  startClient,
  teardown,
  until,
  type Net,
} from "./client.helpers.test";

/* Top-ups and partial withdrawals of open channels, and token channels opened funded by both (docs/CHANNELS.md §4, §6.3). */

describe("ChannelClient resizes", function () {
  this.timeout(60_000);
  let net: Net | undefined;

  afterEach(async function () {
    await teardown(net);
    net = undefined;
  });

  async function tokenFor(n: Net, holders: string[], amount: bigint): Promise<ChannelTestToken> {
    const token = await ethers.deployContract("ChannelTestToken", ["Test", "TST"]);
    for (const h of holders) await token.mint(h, amount);
    void n;
    return token;
  }

  it("tops up and withdraws part of an ETH channel from either side without closing it", async function () {
    net = await channelNet();
    const n = net;
    const a = await startClient(n, "alice");
    const b = await startClient(n, "bob");
    const ch = await openChannel(a, b, ETH, ETH);
    await a.pay(ch.channelId, ETH / 2n);
    const top = await a.topUp(ch.channelId, ETH / 4n); // the leader's top-up
    expect((await n.contract.getChannel(ch.channelId)).holdings).to.equal(2n * ETH + ETH / 4n);
    await until(() => b.channel(ch.channelId).version === top.version, "bob on the topped-up state");
    expect(a.channel(ch.channelId).balances).to.deep.equal([ETH / 2n + ETH / 4n, ETH + ETH / 2n]);
    const before = await n.provider.getBalance(b.address);
    const out = await b.withdrawPartially(ch.channelId, ETH); // the follower's withdrawal
    const receipt = await n.provider.getTransactionReceipt(out.txHash);
    const fee = receipt!.gasUsed * receipt!.gasPrice;
    expect(await n.provider.getBalance(b.address)).to.equal(before + ETH - fee);
    const info = await n.contract.getChannel(ch.channelId);
    expect(info.holdings).to.equal(ETH + ETH / 4n);
    expect(info.version).to.equal(out.version);
    await until(() => a.channel(ch.channelId).version === out.version, "alice on the withdrawn state");
    // Both go on from the resized state, and it is the one a dispute registers.
    await a.pay(ch.channelId, 1n);
    expect(b.channel(ch.channelId).balances).to.deep.equal([ETH / 2n + ETH / 4n - 1n, ETH / 2n + 1n]);
    await b.dispute(ch.channelId);
    expect((await n.contract.getChannel(ch.channelId)).version).to.equal(out.version + 1n);
  });

  it("opens a token channel funded by both in one transaction", async function () {
    net = await channelNet();
    const n = net;
    const a = await startClient(n, "alice");
    const b = await startClient(n, "bob");
    const token = await tokenFor(n, [a.address, b.address], 1000n);
    introduce(a, b);
    const ch = await a.openChannel({
      peer: b.address,
      deposit: 600n,
      peerDeposit: 400n,
      asset: await token.getAddress(),
    });
    const [opened] = await n.contract.queryFilter(n.contract.filters.ChannelOpened(ch.channelId));
    const deposits = await n.contract.queryFilter(n.contract.filters.Deposited(ch.channelId));
    expect(deposits.map((d) => [d.args.participant, d.args.amount, d.transactionHash])).to.deep.equal([
      [1n, 400n, opened.transactionHash],
    ]);
    await until(() => b.channel(ch.channelId).phase === "open", "bob's side open");
    await b.pay(ch.channelId, 100n);
    await a.close(ch.channelId);
    // Bob paid alice 100: [700, 300] on top of what each kept outside the channel.
    expect(await token.balanceOf(a.address)).to.equal(400n + 700n);
    expect(await token.balanceOf(b.address)).to.equal(600n + 300n);
  });

  it("lets an abandoned top-up expire: the channel goes on, and the top-up can never be executed after its expiry", async function () {
    net = await channelNet();
    const n = net;
    const a = await startClient(n, "alice");
    const b = await startClient(n, "bob");
    const token = await tokenFor(n, [a.address, b.address], 1000n);
    introduce(a, b);
    const ch = await a.openChannel({
      peer: b.address,
      deposit: 500n,
      peerDeposit: 500n,
      asset: await token.getAddress(),
    });
    await until(() => b.channel(ch.channelId).phase === "open", "bob's side open");
    await a.pay(ch.channelId, 100n);
    // Alice tops up with more than she has: both sign it, her transaction fails, the top-up waits for its expiry.
    await expect(a.topUp(ch.channelId, 5000n)).to.be.rejectedWith(/topUp failed/);
    const abandoned = a.pendingResize(ch.channelId)!;
    expect(b.channel(ch.channelId).resize).to.deep.include({ kind: "deposit", amount: 5000n });
    // Meanwhile nothing else is signed: bob's payment waits.
    let paid = false;
    const payment = b.pay(ch.channelId, 50n).then((c) => {
      paid = true;
      return c;
    });
    expect(paid).to.equal(false);
    await advance(a.policy.resizeExpirySeconds + 1n);
    const c = await payment;
    expect(c.version).to.equal(abandoned.signed.state.version + 1n); // its version is skipped, never reused
    expect(a.channel(ch.channelId).resize).to.equal(undefined);
    expect(a.channel(ch.channelId).balances).to.deep.equal([450n, 550n]);
    // Alice, now with the tokens, tries to execute it to void bob's payment: too late.
    await token.mint(a.address, 5000n);
    const asAlice = n.contract.connect(new Wallet(n.keys.get("alice")!, n.provider)) as ChannelAdjudicator;
    await (await token.connect(new Wallet(n.keys.get("alice")!, n.provider)).approve(n.adjudicator, 5000n)).wait();
    const m = resizeMessage(abandoned.update, abandoned.signed.state);
    if (m.kind !== "topUp") throw new Error("a deposit executes with a TopUp");
    await expect(asAlice.topUp(ch.params, m.top, abandoned.resizeSigs, 5000n)).to.be.revertedWithCustomError(
      n.contract,
      "ChannelAdjudicatorTopUpExpired",
    );
    // Bob's payment is what a dispute registers.
    await b.dispute(ch.channelId);
    const info = await n.contract.getChannel(ch.channelId);
    expect(info.status).to.equal(BigInt(ChannelStatus.Disputed));
    expect(info.balances).to.deep.equal([450n, 550n]);
  });
});
