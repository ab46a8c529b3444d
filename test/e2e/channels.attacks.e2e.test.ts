/**
 * The attacks of issue 13 against real processes on loopback: channel clients and a watchtower as child processes
 * (scripts/channels/*.ts), a hostile follower as its own process (test/e2e/hostile-peer.proc.ts), a `hardhat node`
 * as L1; the attacker's on-chain moves are made from the test with its key. Every child is stopped by its PID in
 * `after`, whatever happened. docs/CHANNELS.md §8 (the settlement rule) and §10 (the peer transport's limits).
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { hashlockOf } from "../../src/channels/state";
import { PeerRequestError, PeerTransport } from "../../src/channels/transport";
import { decodeSigned, encodeParams } from "../../src/channels/wire";
import { devKey } from "../../scripts/channels/harness";
import { DaemonNet, ETH, until, type Proc, type View } from "./channel-daemons";

const AMOUNT = 250_000n;
const CHALLENGE = 3600n;
/** The attacker's transactions race the victims' clients on the same channel: no gas estimate from a stale state. */
const GAS = { gasLimit: 1_000_000 };

interface RouteAnswer {
  status: string;
  secret?: string;
  reason?: string;
}

describe("Channel attacks end to end (real processes on loopback)", function () {
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

  const newSecret = () => "0x" + randomBytes(32).toString("hex");

  /**
   * A→B→C, all three client processes, then C's process replaced by a hostile follower holding C's key (its
   * behaviour as given). A starts paying C through B; resolves once the hostile C holds B's lock signed by both.
   */
  async function hostileRoute(tag: string, keys: [number, number, number], behaviour: string) {
    const [a, b, c] = await Promise.all([
      net.client(`${tag}-a`, keys[0]),
      net.client(`${tag}-b`, keys[1]),
      net.client(`${tag}-c`, keys[2]),
    ]);
    const ab = await net.open(a, b, ETH, 0n, CHALLENGE);
    const bc = await net.open(b, c, ETH, 0n, CHALLENGE);
    await c.child.stop();
    const carol = await net.spawn(`${tag}-hostile`, "test/e2e/hostile-peer.proc.ts", [
      "--key",
      devKey(keys[2]),
      "--chain-id",
      (await net.provider.getNetwork()).chainId.toString(),
      "--adjudicator",
      net.adjudicatorAddress,
      "--channel",
      bc.channelId,
      "--deposits",
      `${ETH},0`,
      "--me",
      "1",
      "--behaviour",
      behaviour,
      "--victim",
      `${b.address}=${b.peerUrl}`,
      "--rpc-port",
      "0",
    ]);
    const secret = newSecret();
    const hashlock = hashlockOf(secret);
    let answer: RouteAnswer | undefined;
    const paying = net
      .ctl(a, "ch_payRoute", { route: [b.address, c.address], amount: AMOUNT.toString(), hashlock })
      .then((r) => (answer = r as RouteAnswer));
    let held: ReturnType<typeof decodeSigned> | undefined;
    await until(async () => {
      const states = ((await net.ctl(carol, "hostile_held")) as unknown[]).map((s) => decodeSigned(s));
      held = states.find((s) => s.locks.length === 1);
      return held !== undefined;
    }, "the hostile next hop holding B's lock signed by both");
    return {
      a,
      b,
      carol,
      ab,
      bc,
      secret,
      hashlock,
      held: held!,
      paying,
      answer: () => answer,
      asCarol: net.as(keys[2]),
    };
  }

  async function statusOf(channelId: string): Promise<bigint> {
    return (await net.adjudicator.getChannel(channelId)).status;
  }

  async function fateAt(b: Proc, channelId: string, hashlock: string): Promise<{ kind: string; reason?: string }> {
    return (await net.ctl(b, "ch_lockFate", { channelId, hashlock })) as { kind: string; reason?: string };
  }

  it("a forwarder whose next hop countersigns, refuses, then registers and reveals is paid by the payer", async function () {
    const r = await hostileRoute("refuse", [1, 2, 3], "refuse");
    await until(
      async () => ((await net.ctl(r.carol, "hostile_proposals")) as string[]).includes("noop"),
      "the no-op B offers after the refusal",
    );
    // The refusal decided nothing: B still holds A's lock, and A is not told "refunded".
    expect((await fateAt(r.b, r.bc.channelId, r.hashlock)).kind).to.equal("live");
    expect((await net.view(r.b, r.ab.channelId)).locks).to.have.length(1);
    expect(r.answer()).to.equal(undefined);
    // Carol registers the state she kept and reveals the secret to collect B's lock on chain.
    await (await r.asCarol.register(r.bc.params as never, r.held.state, r.held.sigs, r.held.locks, GAS)).wait();
    await (await r.asCarol.revealSecret(r.secret, GAS)).wait();
    const answer = (await r.paying) as RouteAnswer;
    expect(answer).to.deep.include({ status: "completed", secret: r.secret });
    await until(async () => (await net.view(r.b, r.ab.channelId)).balances[1] === AMOUNT.toString(), "B paid by A");
    await net.advance(CHALLENGE + 1n);
    await until(async () => (await statusOf(r.bc.channelId)) === 3n, "B concluding B–C");
    await (await r.asCarol.unlock(r.bc.params as never, r.held.locks[0], 0, [], GAS)).wait();
    await (await r.asCarol.withdraw(r.bc.params as never, 1, GAS)).wait();
    await until(async () => (await net.withdrawn(r.bc.channelId, 0)) > 0n, "B's withdrawal from B–C");
    // B paid carol its lock on chain and was paid the same by A: it has exactly what it started with.
    expect(await net.withdrawn(r.bc.channelId, 1)).to.equal(AMOUNT);
    expect(await net.withdrawn(r.bc.channelId, 0)).to.equal(ETH - AMOUNT);
  });

  it("a forwarder whose next hop countersigns and disputes does not refund the payer and is paid by it", async function () {
    const r = await hostileRoute("dispute", [4, 5, 6], "silent");
    // The moment carol holds B's signature on the lock she disputes with an older state.
    await (await r.asCarol.registerDeposits(r.bc.params as never, GAS)).wait();
    await until(async () => (await net.view(r.b, r.bc.channelId)).phase === "disputed", "B seeing the dispute");
    expect((await fateAt(r.b, r.bc.channelId, r.hashlock)).kind).to.equal("live");
    expect((await net.view(r.b, r.ab.channelId)).locks).to.have.length(1);
    expect(r.answer()).to.equal(undefined);
    await (await r.asCarol.refute(r.bc.params as never, r.held.state, r.held.sigs, r.held.locks, GAS)).wait();
    await (await r.asCarol.revealSecret(r.secret, GAS)).wait();
    expect(((await r.paying) as RouteAnswer).status).to.equal("completed");
    await until(async () => (await net.view(r.b, r.ab.channelId)).balances[1] === AMOUNT.toString(), "B paid by A");
    await net.advance(CHALLENGE + 1n);
    await until(async () => (await net.withdrawn(r.bc.channelId, 0)) > 0n, "B's withdrawal from B–C");
    expect(await net.withdrawn(r.bc.channelId, 0)).to.equal(ETH - AMOUNT);
  });

  it("a silent next hop: the payer is refunded once the lock expired unrevealed, and the forwarder recovers its lock on chain", async function () {
    const r = await hostileRoute("silent", [7, 8, 10], "silent");
    const expiry = r.held.locks[0].expiry;
    await net.advance(expiry - (await net.now()) - 2n);
    expect((await fateAt(r.b, r.bc.channelId, r.hashlock)).kind).to.equal("live");
    await net.advance(3n);
    expect(((await r.paying) as RouteAnswer).status).to.equal("refunded");
    await until(async () => (await net.view(r.a, r.ab.channelId)).balances[0] === ETH.toString(), "A refunded");
    // B goes on chain by itself after the grace; carol refutes with the state she kept, to no avail.
    await net.advance(121n);
    await until(async () => (await statusOf(r.bc.channelId)) === 2n, "B registering B–C by itself");
    await (await r.asCarol.refute(r.bc.params as never, r.held.state, r.held.sigs, r.held.locks, GAS)).wait();
    await (await r.asCarol.revealSecret(r.secret, GAS)).wait(); // too late for the lock
    await net.advance(CHALLENGE + 1n);
    await until(async () => (await net.withdrawn(r.bc.channelId, 0)) === ETH, "B recovering its whole deposit");
  });

  it("a payer frozen then killed, no watchtower: the forwarder reveals every secret on chain in time and collects", async function () {
    const [a, b, c] = await Promise.all([
      net.client("frozen-a", 11),
      net.client("frozen-b", 12),
      net.client("frozen-c", 13),
    ]);
    const ab = await net.open(a, b, ETH, 0n, CHALLENGE);
    const bc = await net.open(b, c, ETH, 0n, CHALLENGE);
    const invoices: string[] = [];
    for (let i = 0; i < 10; i++) {
      invoices.push(((await net.ctl(c, "ch_invoice", { amount: AMOUNT.toString() })) as { hashlock: string }).hashlock);
    }
    // C is away while A's ten locks reach B: B's forwards wait for C.
    await c.child.stop();
    for (const hashlock of invoices) {
      void net
        .ctl(a, "ch_payRoute", { route: [b.address, c.address], amount: AMOUNT.toString(), hashlock })
        .catch(() => undefined); // A is frozen and killed before it can answer
    }
    await until(async () => (await net.view(b, ab.channelId)).locks.length === 10, "A's ten locks at B");
    const expiries = (await net.view(b, ab.channelId)).locks.map((l) => BigInt(l.expiry));
    // A freezes (SIGSTOP): it holds its side but answers nothing, ever.
    process.kill(a.child.pid, "SIGSTOP");
    const c2 = await net.client("frozen-c", 13);
    await net.introduce(b, c2);
    await until(
      async () => (await net.view(c2, bc.channelId)).balances[1] === (10n * AMOUNT).toString(),
      "C paid all ten by B",
    );
    await a.child.kill();
    // Nothing settles with A. Just inside the reveal margin of its locks, B reveals every secret on chain.
    const earliest = expiries.reduce((m, e) => (e < m ? e : m));
    await net.advance(earliest - 100n - (await net.now()));
    await until(async () => {
      const at = await Promise.all(invoices.map((h) => net.adjudicator.secretRevealedAt(h)));
      return at.every((t) => t !== 0n);
    }, "B revealing the ten secrets");
    for (let i = 0; i < invoices.length; i++) {
      const at = await net.adjudicator.secretRevealedAt(invoices[i]);
      expect(at <= expiries[i], `secret ${i} revealed in time`).to.equal(true);
    }
    // Past the locks' expiry and the grace B registers A–B by itself, concludes, unlocks and withdraws.
    const latest = expiries.reduce((m, e) => (e > m ? e : m));
    await net.advance(latest + 121n - (await net.now()));
    await until(async () => (await statusOf(ab.channelId)) === 2n, "B registering A–B by itself");
    await net.advance(CHALLENGE + 1n);
    await until(async () => (await net.withdrawn(ab.channelId, 1)) === 10n * AMOUNT, "B collecting the ten locks");
    // What is left is the dead payer's own credit, which stays withdrawable for it.
    const info = await net.adjudicator.getChannel(ab.channelId);
    expect(info.balances).to.deep.equal([ETH - 10n * AMOUNT, 0n]);
  });

  it("a crash inside forwarding is resolved after the restart: the forward is retried and the route completes", async function () {
    const [a, c] = await Promise.all([net.client("crash-a", 14), net.client("crash-c", 16)]);
    const b = await net.client("crash-b", 15, [], { BILAYER_FAILPOINTS: "forward-recorded" });
    const ab = await net.open(a, b, ETH, 0n, CHALLENGE);
    const bc = await net.open(b, c, ETH, 0n, CHALLENGE);
    const { hashlock } = (await net.ctl(c, "ch_invoice", { amount: AMOUNT.toString() })) as { hashlock: string };
    const paying = net.ctl(a, "ch_payRoute", { route: [b.address, c.address], amount: AMOUNT.toString(), hashlock });
    // B dies right after recording the forward, before its outgoing proposal is stored.
    await b.child.exited;
    const b2 = await net.client("crash-b", 15);
    await net.introduce(a, b2);
    await net.introduce(b2, c);
    const answer = (await paying) as RouteAnswer;
    expect(answer.status).to.equal("completed");
    expect(hashlockOf(answer.secret as string)).to.equal(hashlock);
    await until(
      async () =>
        (await net.view(b2, ab.channelId)).locks.length === 0 && (await net.view(b2, bc.channelId)).locks.length === 0,
      "both hops settled at B",
    );
    expect((await net.view(b2, ab.channelId)).balances).to.deep.equal([(ETH - AMOUNT).toString(), AMOUNT.toString()]);
    expect((await net.view(b2, bc.channelId)).balances).to.deep.equal([(ETH - AMOUNT).toString(), AMOUNT.toString()]);
  });

  it("refuses a 1-second channel from a peer whatever the peer asks", async function () {
    const honest = await net.client("short-b", 17);
    const mallory = new PeerTransport({ privateKey: devKey(18) });
    await mallory.start();
    try {
      await mallory.dial(honest.peerUrl, honest.address);
      const params = {
        participants: [mallory.address, honest.address] as [string, string],
        asset: "0x" + "00".repeat(20),
        challengeDuration: 1n,
        salt: newSecret(),
      };
      const err = await mallory
        .request(honest.address, "ch.open", { params: encodeParams(params), deposits: [ETH.toString(), "0"] })
        .then(
          () => undefined,
          (e: unknown) => e as PeerRequestError,
        );
      expect(err?.peerCode).to.equal("OPEN_REFUSED");
      expect(err?.message).to.match(/challenge duration must be within 60\.\./);
      expect(((await net.ctl(honest, "ch_list")) as View[]).length).to.equal(0);
    } finally {
      await mallory.stop();
    }
  });

  it("refutes in under 2 s while 40 hostile connections hammer the watchtower with 4 MiB frames", async function () {
    const tower = await net.tower("hammered-tower", 19);
    const [dave, erin] = await Promise.all([
      net.client("hammered-dave", 9, ["--watchtower", String(tower.ready.url)]),
      net.client("hammered-erin", 3),
    ]);
    const ch = await net.open(dave, erin, ETH, ETH, 120n);
    await net.ctl(erin, "ch_pay", { channelId: ch.channelId, amount: "100" });
    const stale = decodeSigned(await net.ctl(erin, "ch_state", { channelId: ch.channelId }));
    for (let i = 0; i < 4; i++) await net.ctl(erin, "ch_pay", { channelId: ch.channelId, amount: "100" });
    await until(async () => {
      const s = (await net.ctl(tower, "wt_status", { channelId: ch.channelId })) as { version: string } | null;
      return s?.version === "5";
    }, "the tower holding version 5");
    await dave.child.kill();
    await erin.child.stop();
    // The hostile host runs in its own process (its CPU competes with the tower's, as it would on one machine).
    const attack = await net.spawn("hammer", "test/e2e/hammer.proc.ts", [
      "--url",
      String(tower.ready.url),
      "--connections",
      "40",
    ]);
    try {
      const registered = await (
        await net.as(3).register(ch.params as never, stale.state, stale.sigs, stale.locks)
      ).wait();
      const registeredAt = Date.now();
      expect(registered?.status).to.equal(1);
      await until(
        async () => (await net.adjudicator.getChannel(ch.channelId)).version === 5n,
        "the refutation",
        30_000,
      );
      const latencyMs = Date.now() - registeredAt;
      const info = (await net.ctl(tower, "wt_info")) as { transport: { cutOff: number; refusedAtDoor: number } };
      console.log(
        `      refuted ${latencyMs} ms after the registration; hostile connections cut off ${info.transport.cutOff}, ` +
          `refused at the door ${info.transport.refusedAtDoor}`,
      );
      expect(latencyMs, `refuted ${latencyMs} ms after the registration`).to.be.lessThan(2_000);
      expect(info.transport.cutOff + info.transport.refusedAtDoor).to.be.greaterThan(0);
    } finally {
      await attack.child.stop();
    }
  });
});
