import { expect } from "chai";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { Wallet } from "ethers";
import { ChannelStatus } from "../../src/channels/chain";
import { hashlockOf, signStateWithKey, type CompactSignature, type Lock } from "../../src/channels/state";
import { applyUpdate, depositSnapshot, type SignedSnapshot } from "../../src/channels/updates";
import { PeerTransport, type PeerRequestError } from "../../src/channels/transport";
import { decodeSig, encodeSig, encodeSigned, encodeUpdate } from "../../src/channels/wire";
import type { ChannelClient } from "../../src/channels/client";
import type { Watchtower } from "../../src/channels/watchtower";
import {
  advance,
  channelNet,
  ETH,
  openChannel,
  scriptedPeer,
  startClient,
  startTower,
  stopClient,
  stopTower,
  teardown,
  until,
  type Net,
} from "./client.helpers.test";

describe("Watchtower", function () {
  this.timeout(60_000);
  let net: Net | undefined;

  afterEach(async function () {
    await teardown(net);
    net = undefined;
  });

  /** A channel from alice to bob where bob pays alice three times; alice keeps the tower informed. */
  async function paidChannel(n: Net, tower: Watchtower) {
    const alice = await startClient(n, "alice", { watchtower: { url: tower.url } });
    const bob = await startClient(n, "bob");
    const ch = await openChannel(alice, bob, ETH, ETH, 600n);
    await bob.pay(ch.channelId, 10n);
    const stale = bob.signedState(ch.channelId) as SignedSnapshot;
    await bob.pay(ch.channelId, 20n);
    await bob.pay(ch.channelId, 30n);
    await until(() => tower.status(ch.channelId)?.version === 3n, "the tower holding version 3");
    return { alice, bob, ch, stale };
  }

  async function registerAs(n: Net, name: string, params: unknown, signed: SignedSnapshot) {
    const wallet = new Wallet(n.keys.get(name) as string, n.provider);
    const tx = await n.contract
      .connect(wallet)
      .register(params as never, signed.state, [signed.sigs[0], signed.sigs[1]], signed.locks);
    return tx.wait();
  }

  it("refutes a stale state registered while its client is offline, before the deadline", async function () {
    net = await channelNet();
    const tower = await startTower(net, "tower");
    const { alice, bob, ch, stale } = await paidChannel(net, tower);
    await stopClient(net, alice);
    await stopClient(net, bob);
    // Bob registers version 1, in which he has paid only 10 of the 60.
    await registerAs(net, "bob", ch.params, stale);
    const registered = await net.contract.getChannel(ch.channelId);
    expect(registered.version).to.equal(1n);
    await until(async () => (await net!.contract.getChannel(ch.channelId)).version === 3n, "the tower's refutation");
    const info = await net.contract.getChannel(ch.channelId);
    expect(info.status).to.equal(BigInt(ChannelStatus.Disputed));
    expect(info.deadline).to.equal(registered.deadline);
    expect(info.balances).to.deep.equal([ETH + 60n, ETH - 60n]);
    expect(BigInt(await time.latest())).to.be.lessThan(info.deadline);
    expect(tower.status(ch.channelId)?.refutations).to.equal(1);
    // After the deadline the refuted state is the outcome.
    await advance(600);
    await net.contract.conclude(ch.params);
    await net.contract.withdraw(ch.params, 0);
    const events = await net.contract.queryFilter(net.contract.filters.Withdrawn(ch.channelId, 0));
    expect(events[0].args.amount).to.equal(ETH + 60n);
  });

  it("keeps its states across a restart and refutes from them", async function () {
    net = await channelNet();
    let tower = await startTower(net, "tower");
    const { alice, bob, ch, stale } = await paidChannel(net, tower);
    await stopClient(net, alice);
    await stopClient(net, bob);
    await stopTower(net, tower);
    await registerAs(net, "bob", ch.params, stale);
    tower = await startTower(net, "tower");
    expect(tower.status(ch.channelId)?.version).to.equal(3n);
    await until(async () => (await net!.contract.getChannel(ch.channelId)).version === 3n, "the refutation");
  });

  it("takes only states signed by both participants and never goes back to an older one", async function () {
    net = await channelNet();
    const tower = await startTower(net, "tower");
    const alice = await startClient(net, "alice");
    const bob = await startClient(net, "bob");
    const ch = await openChannel(alice, bob, ETH);
    await alice.pay(ch.channelId, 1n);
    const v1 = alice.signedState(ch.channelId) as SignedSnapshot;
    await alice.pay(ch.channelId, 1n);
    const v2 = alice.signedState(ch.channelId) as SignedSnapshot;
    await expect(tower.submitState(v2)).to.be.rejectedWith(/not watched/);
    expect(await tower.watch(ch.params)).to.equal(ch.channelId);
    expect(await tower.submitState(v2)).to.equal(2n);
    expect(await tower.submitState(v1)).to.equal(2n);
    expect(tower.status(ch.channelId)?.version).to.equal(2n);
    const forged: SignedSnapshot = { ...v2, state: { ...v2.state, version: 9n } };
    await expect(tower.submitState(forged)).to.be.rejectedWith(/not signed by both/);
    const onlyAlice: SignedSnapshot = { ...v2, sigs: [v2.sigs[0], v2.sigs[0]] as [CompactSignature, CompactSignature] };
    await expect(tower.submitState({ ...onlyAlice, state: { ...v2.state, version: 3n } })).to.be.rejectedWith(
      /not signed by both/,
    );
    const wrongLocks: SignedSnapshot = {
      ...v2,
      locks: [{ sender: 0, receiver: 1, amount: 1n, hashlock: "0x" + "11".repeat(32), expiry: 1n }],
    };
    await expect(tower.submitState(wrongLocks)).to.be.rejectedWith(/not signed by both/);

    // The same over the wire, with malformed messages answered and the tower still serving.
    const peer = new PeerTransport({ privateKey: Wallet.createRandom().privateKey });
    await peer.start();
    net.transports.add(peer);
    const address = await peer.dial(tower.url);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: PeerRequestError) => e.peerCode ?? String(e.rpcCode),
      );
    expect(await code(peer.request(address, "wt.state", { signed: { state: 1 } }))).to.equal("INVALID_MESSAGE");
    expect(await code(peer.request(address, "wt.secret", { secret: "0x12" }))).to.equal("INVALID_MESSAGE");
    expect(await code(peer.request(address, "wt.watch", {}))).to.equal("INVALID_MESSAGE");
    expect(await code(peer.request(address, "wt.status", { channelId: "0x" + "ab".repeat(32) }))).to.equal(
      "NOT_WATCHED",
    );
    expect(await peer.request(address, "wt.state", { signed: encodeSigned(v1) })).to.deep.equal({ version: "2" });
  });

  /**
   * Alice's software is a script: it locks `amount` to bob's invoice and never settles. Bob (informing the tower)
   * accepts the lock and hands its secret to the tower. Returns the state with the lock, signed by both.
   */
  async function lockedToBob(n: Net, tower: Watchtower, expiresIn: bigint) {
    const alice = await startClient(n, "alice");
    const bob: ChannelClient = await startClient(n, "bob", { watchtower: { url: tower.url } });
    const ch = await openChannel(alice, bob, ETH, 0n, 300n);
    const invoice = await bob.createInvoice(70n);
    await stopClient(n, alice);
    const script = await scriptedPeer(n, "alice", bob);
    const lock: Lock = {
      sender: 0,
      receiver: 1,
      amount: 70n,
      hashlock: invoice.hashlock,
      expiry: BigInt(await time.latest()) + expiresIn,
    };
    const next = applyUpdate(depositSnapshot(ch.channelId, [ETH, 0n]), { kind: "lock", lock }, 1n);
    const aliceSig = signStateWithKey(n.keys.get("alice") as string, next.state, n.chainId, n.adjudicator);
    const answer = (await script.request(bob.address, "ch.propose", {
      channelId: ch.channelId,
      version: "1",
      baseVersion: "0",
      update: encodeUpdate({ kind: "lock", lock }),
      by: 0,
      memo: { hops: [] },
      sig: encodeSig(aliceSig),
    })) as { sig: unknown };
    const signed: SignedSnapshot = { ...next, sigs: [aliceSig, decodeSig(answer.sig)] };
    await until(() => tower.status(ch.channelId)?.version === 1n, "the tower holding the lock");
    // Bob hands the secret over as soon as it has accepted the payment.
    await until(() => tower.holdsSecret(invoice.hashlock), "the tower holding the secret");
    await script.stop();
    return { bob, ch, lock, signed, invoice };
  }

  it("reveals a held secret when the channel with its lock is disputed", async function () {
    net = await channelNet();
    const tower = await startTower(net, "tower");
    const { bob, ch, lock, signed } = await lockedToBob(net, tower, 3_600n);
    await stopClient(net, bob);
    expect(await net.contract.secretRevealedAt(lock.hashlock)).to.equal(0n);
    await registerAs(net, "alice", ch.params, signed);
    await until(async () => (await net!.contract.secretRevealedAt(lock.hashlock)) !== 0n, "the tower's reveal");
    expect(await net.contract.secretRevealedAt(lock.hashlock)).to.be.at.most(lock.expiry);
    expect(tower.stats.reveals).to.equal(1);
    // The lock now pays bob once the dispute concludes.
    await advance(300);
    await net.contract.conclude(ch.params);
    const proofless: string[] = [];
    await net.contract.unlock(ch.params, lock, 0, proofless);
    await expect(net.contract.withdraw(ch.params, 1)).to.emit(net.contract, "Withdrawn").withArgs(ch.channelId, 1, 70n);
  });

  it("reveals a held secret shortly before its lock expires when nothing settled it", async function () {
    net = await channelNet();
    const tower = await startTower(net, "tower", { revealMarginSeconds: 100n });
    const { bob, lock } = await lockedToBob(net, tower, 1_000n);
    await stopClient(net, bob);
    await advance(lock.expiry - BigInt(await time.latest()) - 300n);
    // Once the tower has handled that block (its deadlines checked), it has decided nothing: 300 s are left.
    const block = await net.provider.getBlockNumber();
    await until(() => tower.syncedBlock >= block, "the tower handling the block");
    expect(tower.revealsStarted, "not yet: 300 s left").to.equal(0);
    expect(await net.contract.secretRevealedAt(lock.hashlock)).to.equal(0n);
    await advance(250);
    await until(async () => (await net!.contract.secretRevealedAt(lock.hashlock)) !== 0n, "the tower's reveal");
    expect(await net.contract.secretRevealedAt(lock.hashlock)).to.be.at.most(lock.expiry);
    expect(
      hashlockOf((await net.contract.queryFilter(net.contract.filters.SecretRevealed(lock.hashlock)))[0].args.secret),
    ).to.equal(lock.hashlock);
  });
});
