import { expect } from "chai";
import { Wallet } from "ethers";
import { ChannelStatus } from "../../src/channels/chain";
import type { ChannelClient, RouteResult } from "../../src/channels/client";
import { hashlockOf, signStateWithKey } from "../../src/channels/state";
import type { PeerRequestError } from "../../src/channels/transport";
import { applyUpdate, depositSnapshot, type ChannelUpdate } from "../../src/channels/updates";
import { encodeSig, encodeUpdate } from "../../src/channels/wire";
import type { ChannelAdjudicator } from "../../typechain-types";
import {
  advance,
  channelNet,
  ETH,
  openChannel,
  scriptedPeer,
  startClient,
  stopClient,
  teardown,
  until,
  type Net,
} from "./client.helpers.test";
import { HostileFollower, type HostileBehaviour } from "./hostile-peer";

/*
 * The settlement rule under attack, in process: a forwarder B between an honest payer A and a hostile next hop C
 * that countersigns B's lock and then refuses, goes silent or disputes. B must never pay C without being paid by A,
 * and A must never be told "refunded" for a lock C can still collect. docs/CHANNELS.md §8.
 */

const SECRET = "0x" + "c3".repeat(32);
const H = hashlockOf(SECRET);
const AMOUNT = 1000n;
/** The attacker's transactions race the victim's client on the same channel: no gas estimate from a stale state. */
const GAS = { gasLimit: 1_000_000 };

describe("ChannelClient settlement rule against a hostile next hop", function () {
  this.timeout(60_000);
  let net: Net | undefined;

  afterEach(async function () {
    await teardown(net);
    net = undefined;
  });

  /** A→B→C with C replaced, after opening, by a hostile follower holding C's key. */
  async function route(behaviour: HostileBehaviour) {
    net = await channelNet();
    const n = net;
    const a = await startClient(n, "alice");
    const b = await startClient(n, "bob");
    const c = await startClient(n, "carol");
    const ab = await openChannel(a, b, ETH);
    const bc = await openChannel(b, c, ETH);
    await c.createInvoice(AMOUNT, SECRET);
    const carolAddress = c.address;
    await stopClient(n, c);
    const key = n.keys.get("carol") as string;
    const carol = await HostileFollower.start({
      key,
      me: 1,
      chainId: n.chainId,
      adjudicator: n.adjudicator,
      base: depositSnapshot(bc.channelId, [ETH, 0n]),
      behaviour,
      victim: { address: b.address, url: b.url as string },
    });
    n.transports.add(carol.transport);
    const asCarol = n.contract.connect(new Wallet(key, n.provider)) as ChannelAdjudicator;
    let result: RouteResult | undefined;
    const paying = a.payRoute({ route: [b.address, carolAddress], amount: AMOUNT, hashlock: H });
    void paying.then((r) => (result = r));
    await until(() => carol.held.size > 0, "carol holding the lock countersigned");
    const held = carol.held.get(1n)!;
    expect(held.locks.map((l) => l.hashlock)).to.deep.equal([H]);
    return { n, a, b, ab, bc, carol, asCarol, held, result: () => result, paying };
  }

  /** B's whole holdings: its balance in A–B (off chain) and what it withdrew from B–C (on chain). */
  async function withdrawn(n: Net, channelId: string, participant: 0 | 1): Promise<bigint> {
    const events = await n.contract.queryFilter(n.contract.filters.Withdrawn(channelId, participant));
    return events.reduce((sum, e) => sum + e.args.amount, 0n);
  }

  async function status(n: Net, channelId: string): Promise<bigint> {
    return (await n.contract.getChannel(channelId)).status;
  }

  it("a next hop that countersigns and refuses, then registers and reveals: the forwarder is paid by the payer", async function () {
    const { n, b, ab, bc, carol, asCarol, held, result, paying } = await route("refuse");
    // The refusal leaves the lock live: B offers a no-op to supersede it, which carol refuses as well.
    await until(() => carol.proposals.includes("noop"), "the no-op after the refusal");
    expect(b.lockFate(bc.channelId, H)?.kind).to.equal("live");
    expect(b.channel(ab.channelId).locks.map((l) => l.hashlock)).to.deep.equal([H]);
    expect(result()).to.equal(undefined);
    // Carol registers the state she kept and reveals the secret: she will collect B's lock on chain.
    await (await asCarol.register(bc.params, held.state, held.sigs, held.locks, GAS)).wait();
    await (await asCarol.revealSecret(SECRET, GAS)).wait();
    // B learns the secret from the chain and settles with A: A's payment completed, with its proof.
    const r = await paying;
    expect(r).to.deep.include({ status: "completed", secret: SECRET });
    await until(() => b.channel(ab.channelId).locks.length === 0, "the first hop settled");
    expect(b.channel(ab.channelId).balances).to.deep.equal([ETH - AMOUNT, AMOUNT]);
    await advance(600);
    await until(async () => (await status(n, bc.channelId)) === BigInt(ChannelStatus.Concluded), "B concluding");
    await (await asCarol.unlock(bc.params, held.locks[0], 0, [], GAS)).wait();
    await (await asCarol.withdraw(bc.params, 1, GAS)).wait();
    await until(async () => (await withdrawn(n, bc.channelId, 0)) > 0n, "B's withdrawal");
    // B paid carol AMOUNT on chain and got AMOUNT from A: it holds exactly what it started with.
    expect(await withdrawn(n, bc.channelId, 1)).to.equal(AMOUNT);
    expect(await withdrawn(n, bc.channelId, 0)).to.equal(ETH - AMOUNT);
    expect(b.channel(ab.channelId).balances[1] + (await withdrawn(n, bc.channelId, 0))).to.equal(ETH);
  });

  it("a next hop that countersigns and refuses, then stays silent: the payer is refunded only once the lock expired unrevealed, and the forwarder takes its lock back on chain", async function () {
    const { n, a, b, ab, bc, carol, asCarol, held, paying } = await route("refuse");
    await until(() => carol.proposals.includes("noop"), "the no-op after the refusal");
    const expiry = held.locks[0].expiry;
    // At the expiry the lock is still carol's to claim: nothing moves.
    await advance(expiry - BigInt((await n.provider.getBlock("latest"))!.timestamp) - 1n);
    expect(b.lockFate(bc.channelId, H)?.kind).to.equal("live");
    await advance(2); // now past it, unrevealed: the lock can never pay carol
    expect((await paying).status).to.equal("refunded");
    expect(b.lockFate(bc.channelId, H)).to.deep.include({
      kind: "dead",
      reason: "it expired on chain without its secret",
    });
    await until(() => a.channel(ab.channelId).locks.length === 0, "A's lock cancelled");
    expect(a.channel(ab.channelId).balances).to.deep.equal([ETH, 0n]);
    // Carol still holds her state and can never answer: B goes on chain by itself after the grace.
    await advance(b.policy.lockGraceSeconds + 1n);
    await until(async () => (await status(n, bc.channelId)) === BigInt(ChannelStatus.Disputed), "B registering");
    // Carol refutes with the state she kept and reveals the secret, too late for the lock.
    await (await asCarol.refute(bc.params, held.state, held.sigs, held.locks, GAS)).wait();
    await (await asCarol.revealSecret(SECRET, GAS)).wait();
    await advance(600);
    await until(async () => (await withdrawn(n, bc.channelId, 0)) === ETH, "B taking its lock back");
    expect(await status(n, bc.channelId)).to.equal(BigInt(ChannelStatus.Closed));
  });

  it("a next hop that countersigns and disputes: the dispute does not make the forwarder refund the payer", async function () {
    const { n, b, ab, bc, asCarol, held, result, paying } = await route("silent");
    // Carol registers the deposit state (an old one) the moment she holds B's signature on the lock.
    await (await asCarol.registerDeposits(bc.params, GAS)).wait();
    await until(() => b.channel(bc.channelId).phase === "disputed", "B seeing the dispute");
    expect(b.lockFate(bc.channelId, H)?.kind).to.equal("live");
    expect(b.channel(ab.channelId).locks).to.have.length(1);
    expect(result()).to.equal(undefined);
    // Then she refutes with the state that holds the lock and reveals the secret.
    await (await asCarol.refute(bc.params, held.state, held.sigs, held.locks, GAS)).wait();
    await (await asCarol.revealSecret(SECRET, GAS)).wait();
    expect((await paying).status).to.equal("completed");
    await until(() => b.channel(ab.channelId).balances[1] === AMOUNT, "B paid by A");
    await advance(600);
    await until(async () => (await withdrawn(n, bc.channelId, 0)) > 0n, "B's withdrawal");
    expect(await withdrawn(n, bc.channelId, 0)).to.equal(ETH - AMOUNT);
  });

  it("a next hop that claims its lock off chain, then refuses the payout it countersigned: the forwarder kept the secret and claims it upstream", async function () {
    const { n, b, ab, bc, carol, asCarol, paying } = await route("honest");
    await until(() => b.channel(bc.channelId).locks.length === 1, "the lock committed in B–C");
    // Carol asks for her lock with the secret, countersigns B's payout, and says she refused it.
    carol.behaviour = "refuse";
    expect(await carol.claim(SECRET)).to.equal("refused");
    const payout = [...carol.held.values()].find((s) => s.locks.length === 0 && s.state.balances[1] === AMOUNT)!;
    expect(payout, "carol holds the payout signed by both").to.not.equal(undefined);
    // B never committed the payout, but the secret it signed it with is on its disk: the lock is settled for B.
    expect(b.lockFate(bc.channelId, H)).to.deep.include({ kind: "settled", secret: SECRET });
    await (await asCarol.register(bc.params, payout.state, payout.sigs, payout.locks, GAS)).wait();
    // No reveal on chain ever happens; B claims from A with the secret it kept.
    expect(await paying).to.deep.include({ status: "completed", secret: SECRET });
    await until(() => b.channel(ab.channelId).balances[1] === AMOUNT, "B paid by A");
    await advance(600);
    await until(async () => (await withdrawn(n, bc.channelId, 0)) > 0n, "B's withdrawal");
    expect(await withdrawn(n, bc.channelId, 0)).to.equal(ETH - AMOUNT);
    expect(await n.contract.secretRevealedAt(H)).to.equal(0n);
  });

  it("a silent next hop: the payer is refunded after the lock expired, the forwarder recovers on chain", async function () {
    const { n, a, b, ab, bc, asCarol, held, paying } = await route("silent");
    const expiry = held.locks[0].expiry;
    await advance(expiry - BigInt((await n.provider.getBlock("latest"))!.timestamp) + 1n);
    expect((await paying).status).to.equal("refunded");
    await until(() => a.channel(ab.channelId).balances[0] === ETH, "A refunded");
    await advance(b.policy.lockGraceSeconds + 1n);
    await until(async () => (await status(n, bc.channelId)) === BigInt(ChannelStatus.Disputed), "B registering");
    await (await asCarol.refute(bc.params, held.state, held.sigs, held.locks, GAS)).wait();
    await advance(600);
    await until(async () => (await withdrawn(n, bc.channelId, 0)) === ETH, "B recovering its deposit");
  });
});

describe("ChannelClient: a direct payer whose payee lies", function () {
  this.timeout(60_000);
  let net: Net | undefined;

  afterEach(async function () {
    await teardown(net);
    net = undefined;
  });

  it("is told 'completed' with the secret, not 'refunded', when the payee countersigned, refused and collected", async function () {
    net = await channelNet();
    const n = net;
    const a = await startClient(n, "alice");
    const b: ChannelClient = await startClient(n, "bob");
    const ab = await openChannel(a, b, ETH);
    await b.createInvoice(AMOUNT, SECRET);
    await stopClient(n, b);
    const key = n.keys.get("bob") as string;
    const bob = await HostileFollower.start({
      key,
      me: 1,
      chainId: n.chainId,
      adjudicator: n.adjudicator,
      base: depositSnapshot(ab.channelId, [ETH, 0n]),
      behaviour: "refuse",
      victim: { address: a.address, url: a.url as string },
    });
    n.transports.add(bob.transport);
    const paying = a.payRoute({ route: [b.address], amount: AMOUNT, hashlock: H });
    await until(() => bob.proposals.includes("noop"), "the refusal and the no-op");
    const held = bob.held.get(1n)!;
    const asBob = n.contract.connect(new Wallet(key, n.provider)) as ChannelAdjudicator;
    await (await asBob.register(ab.params, held.state, held.sigs, held.locks, GAS)).wait();
    await (await asBob.revealSecret(SECRET, GAS)).wait();
    expect(await paying).to.deep.include({ status: "completed", secret: SECRET });
  });
});

describe("ChannelClient policy", function () {
  this.timeout(60_000);
  let net: Net | undefined;

  afterEach(async function () {
    await teardown(net);
    net = undefined;
  });

  it("refuses a channel with a 1-second challenge period, and will not open one itself", async function () {
    net = await channelNet();
    const a = await startClient(net, "alice", { policy: { minChallengeDuration: 10n } });
    const b = await startClient(net, "bob");
    a.addPeer(b.address, b.url as string);
    // The opener's own policy stops it first; a permissive opener is stopped by the peer.
    await expect(a.openChannel({ peer: b.address, deposit: ETH, challengeDuration: 1n })).to.be.rejectedWith(
      /challenge duration must be within 10\.\./,
    );
    await expect(a.openChannel({ peer: b.address, deposit: ETH, challengeDuration: 30n })).to.be.rejectedWith(
      /challenge duration must be within 60\.\./,
    );
    expect(b.channels()).to.have.length(0);
  });

  it("refuses a 10-year lock, a version jump and more locks than a peer may have pending", async function () {
    net = await channelNet();
    const n = net;
    const a = await startClient(n, "alice");
    const b = await startClient(n, "bob", { policy: { maxPendingLocksPerPeer: 2 } });
    const ab = await openChannel(a, b, ETH);
    // Alice's software is replaced by a script that proposes what it likes and never takes anything back.
    await stopClient(n, a);
    const alice = await scriptedPeer(n, "alice", b);
    const key = n.keys.get("alice") as string;
    let base = depositSnapshot(ab.channelId, [ETH, 0n]);
    let version = 0n;
    const now = b.now();
    const propose = async (update: ChannelUpdate, at = version + 1n): Promise<string> => {
      const next = applyUpdate(base, update, at);
      try {
        await alice.request(b.address, "ch.propose", {
          channelId: ab.channelId,
          version: at.toString(),
          baseVersion: base.state.version.toString(),
          update: encodeUpdate(update),
          by: 0,
          memo: { hops: [] },
          sig: encodeSig(signStateWithKey(key, next.state, n.chainId, n.adjudicator)),
        });
      } catch (err) {
        return `${(err as PeerRequestError).peerCode}: ${(err as PeerRequestError).message}`;
      }
      base = next;
      version = at;
      return "accepted";
    };
    const lock = (i: number, expiry: bigint): ChannelUpdate => ({
      kind: "lock",
      lock: {
        sender: 0,
        receiver: 1,
        amount: 10n,
        hashlock: hashlockOf("0x" + i.toString(16).padStart(64, "0")),
        expiry,
      },
    });
    // A lock that would freeze bob's liquidity for ten years.
    expect(await propose(lock(1, now + 10n * 365n * 24n * 3600n))).to.match(/^UPDATE_REFUSED: .*expires too late/);
    // A leader that jumps to the last versions, after which nothing could ever be signed.
    expect(await propose({ kind: "pay", from: 0, amount: 1n }, (1n << 64n) - 1n)).to.match(/^VERSION_JUMP/);
    // Jamming: two locks bob cannot get rid of (alice never answers his cancels), then a third.
    expect(await propose(lock(2, now + 1000n))).to.equal("accepted");
    expect(await propose(lock(3, now + 1000n))).to.equal("accepted");
    expect(await propose(lock(4, now + 1000n))).to.match(/^UPDATE_REFUSED: the peer already has 2 locks pending/);
    expect(b.channel(ab.channelId).locks).to.have.length(2);
    // What is still within bounds is taken.
    expect(await propose({ kind: "pay", from: 0, amount: 1n })).to.equal("accepted");
    expect(b.channel(ab.channelId).version).to.equal(3n);
  });
});
