import { expect } from "chai";
import fc from "fast-check";
import { ethers } from "hardhat";
import { Wallet } from "ethers";
import { randomBytes } from "node:crypto";
import { ChannelStatus } from "../../src/channels/chain";
import type { ChannelClient } from "../../src/channels/client";
import { hashlockOf, lockProof, type ChannelParams, type Lock } from "../../src/channels/state";
import { ROUTE_SLACK_SECONDS } from "../../src/channels/routing";
import { depositSnapshot, type SignedSnapshot } from "../../src/channels/updates";
import type { ChannelAdjudicator, ChannelTestToken } from "../../typechain-types";
import {
  advance,
  channelNet,
  introduce,
  startClient,
  stopClient,
  teardown,
  until,
  type Net,
} from "./client.helpers.test";
import { HostileFollower, type HostileBehaviour } from "./hostile-peer";

/*
 * The settlement rule as a property (docs/CHANNELS.md §8): over random interleavings of payments over A→B→C,
 * forwarding, a next hop C that refuses, goes silent or disputes with any state it holds and reveals secrets when
 * it likes, A and B crashing (stopped and restarted from their stores) and A going silent, no honest party ever
 * ends with less than it started with plus what it was paid: the forwarder B never less than it started with,
 * the payer A never less than it started with minus the payments it was told completed (each with its secret).
 *
 * The only thing the schedule grants the honest parties is what the protocol assumes: each is online within the
 * challenge period (a registration is answered before time moves on) and within the reveal margin (time moves in
 * steps shorter than it). Everything runs in ERC-20 so that balances carry no gas.
 */

const RUNS = Number(process.env.CHANNEL_PROPERTY_RUNS ?? 20);
const DEPOSIT = 1_000n;
const STEP_SECONDS = 50n; // under the reveal margin of TEST_POLICY (120 s)

type Command =
  | { kind: "pay"; amount: bigint }
  | { kind: "carol"; behaviour: HostileBehaviour }
  | { kind: "carolRegister"; pick: number }
  | { kind: "carolReveal"; pick: number }
  | { kind: "carolClaim"; pick: number }
  | { kind: "crash"; who: "alice" | "bob" }
  | { kind: "silenceAlice" }
  | { kind: "advance"; steps: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: 1n, max: 200n }).map((amount) => ({ kind: "pay" as const, amount })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<HostileBehaviour>("honest", "refuse", "silent")
      .map((behaviour) => ({ kind: "carol" as const, behaviour })),
  },
  { weight: 1, arbitrary: fc.nat(9).map((pick) => ({ kind: "carolRegister" as const, pick })) },
  { weight: 2, arbitrary: fc.nat(9).map((pick) => ({ kind: "carolReveal" as const, pick })) },
  { weight: 2, arbitrary: fc.nat(9).map((pick) => ({ kind: "carolClaim" as const, pick })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<"alice" | "bob">("alice", "bob").map((who) => ({ kind: "crash" as const, who })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "silenceAlice" as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 6 }).map((steps) => ({ kind: "advance" as const, steps })) },
);

interface World {
  n: Net;
  token: ChannelTestToken;
  a: ChannelClient | undefined;
  b: ChannelClient;
  carol: HostileFollower;
  carolAddress: string;
  asCarol: ChannelAdjudicator;
  ab: string;
  bc: string;
  bcParams: ChannelParams;
  /** The secret of every payment, by hashlock (the test plays the payee's side of the attack). */
  secrets: Map<string, string>;
  /** The latest expiry any payment's first lock can have. */
  lastExpiry: bigint;
}

async function setUp(n: Net, behaviour: HostileBehaviour): Promise<World> {
  const a = await startClient(n, "alice");
  const b = await startClient(n, "bob");
  const c = await startClient(n, "carol");
  const token = await ethers.deployContract("ChannelTestToken", ["Test", "TST"]);
  for (const p of [a, b]) await token.mint(p.address, DEPOSIT);
  introduce(a, b);
  introduce(b, c);
  const asset = await token.getAddress();
  const ab = await a.openChannel({ peer: b.address, deposit: DEPOSIT, asset });
  const bc = await b.openChannel({ peer: c.address, deposit: DEPOSIT, asset });
  await until(() => c.channels().some((v) => v.channelId === bc.channelId && v.phase === "open"), "C's side open");
  await until(() => b.channels().some((v) => v.channelId === ab.channelId && v.phase === "open"), "B's side open");
  const carolAddress = c.address;
  await stopClient(n, c);
  const key = n.keys.get("carol") as string;
  const carol = await HostileFollower.start({
    key,
    me: 1,
    chainId: n.chainId,
    adjudicator: n.adjudicator,
    base: depositSnapshot(bc.channelId, [DEPOSIT, 0n]),
    behaviour,
    victim: { address: b.address, url: b.url as string },
  });
  n.transports.add(carol.transport);
  b.addPeer(carolAddress, carol.url);
  return {
    n,
    token,
    a,
    b,
    carol,
    carolAddress,
    asCarol: n.contract.connect(new Wallet(key, n.provider)) as ChannelAdjudicator,
    ab: ab.channelId,
    bc: bc.channelId,
    bcParams: bc.params,
    secrets: new Map(),
    lastExpiry: 0n,
  };
}

/** The attacker's transactions race the honest clients: fixed gas, and a revert is just a move that failed. */
async function attempt(tx: () => Promise<{ wait(): Promise<unknown> }>): Promise<void> {
  try {
    await (await tx()).wait();
  } catch {
    // the move was not possible at that point
  }
}

async function statusOf(w: World, id: string): Promise<bigint> {
  return (await w.n.contract.getChannel(id)).status;
}

/** The honest parties are given what the protocol assumes: a registration is answered before time moves on. */
async function bobAnswersDisputes(w: World): Promise<void> {
  if ((await statusOf(w, w.bc)) !== BigInt(ChannelStatus.Disputed)) return;
  const best = w.b.signedState(w.bc)?.state.version ?? 0n;
  await until(async () => {
    const info = await w.n.contract.getChannel(w.bc);
    return info.status !== BigInt(ChannelStatus.Disputed) || info.version >= best;
  }, "B refuting a stale registration");
}

/** … and time moves in steps shorter than the reveal margin, each one answered by B's due reveals. */
async function step(w: World): Promise<void> {
  await advance(STEP_SECONDS);
  const now = BigInt((await w.n.provider.getBlock("latest"))!.timestamp);
  const due = (w.b.channel(w.ab).locks as Lock[]).filter(
    (l) => l.receiver === 1 && now >= l.expiry - w.b.policy.revealMarginSeconds && now <= l.expiry,
  );
  for (const l of due) {
    if (w.b.lockFate(w.bc, l.hashlock)?.kind !== "settled") continue; // B knows no secret to reveal
    await until(async () => (await w.n.contract.secretRevealedAt(l.hashlock)) !== 0n, "B revealing a due secret");
  }
}

async function restart(w: World, who: "alice" | "bob"): Promise<void> {
  if (who === "alice") {
    if (w.a) await stopClient(w.n, w.a);
    w.a = await startClient(w.n, "alice");
    introduce(w.a, w.b);
  } else {
    await stopClient(w.n, w.b);
    w.b = await startClient(w.n, "bob");
    if (w.a) introduce(w.a, w.b);
    w.b.addPeer(w.carolAddress, w.carol.url);
    w.carol.transport.setPeerUrl(w.b.address, w.b.url as string);
  }
}

async function play(w: World, command: Command): Promise<void> {
  switch (command.kind) {
    case "pay": {
      if (!w.a || w.a.channelWith(w.b.address, command.amount) === undefined) return;
      const secret = "0x" + randomBytes(32).toString("hex");
      w.secrets.set(hashlockOf(secret), secret);
      const p = w.a.policy;
      const expiry = w.a.now() + p.finalDeltaSeconds + ROUTE_SLACK_SECONDS + p.hopDeltaSeconds + 60n; // + clock skew
      if (expiry > w.lastExpiry) w.lastExpiry = expiry;
      const a = w.a;
      const h = hashlockOf(secret);
      a.payRoute({ route: [w.b.address, w.carolAddress], amount: command.amount, hashlock: h }).catch(
        () => undefined, // the outcome is read from A's records at the end
      );
      // The payment travels until carol holds its lock signed by both, or it is over before reaching her.
      await until(
        () =>
          w.carol.holding(h).length > 0 || (a.routePayment(h) !== undefined && a.routePayment(h)?.status !== "pending"),
        "the payment reaching carol or failing before her",
      );
      return;
    }
    case "carol":
      w.carol.behaviour = command.behaviour;
      return;
    case "carolRegister": {
      const held = [...w.carol.held.values()];
      if (held.length === 0 || (await statusOf(w, w.bc)) !== BigInt(ChannelStatus.Open)) return;
      const s = held[command.pick % held.length];
      await attempt(() => w.asCarol.register(w.bcParams, s.state, s.sigs, s.locks, GAS));
      await bobAnswersDisputes(w);
      return;
    }
    case "carolReveal": {
      const locks = [...w.carol.held.values()].flatMap((s) => s.locks);
      if (locks.length === 0) return;
      const secret = w.secrets.get(locks[command.pick % locks.length].hashlock) as string;
      await attempt(() => w.asCarol.revealSecret(secret, GAS));
      return;
    }
    case "carolClaim": {
      // Carol asks B off chain for a lock she holds (then answers B's settle as her behaviour says).
      const locks = [...w.carol.held.values()].flatMap((s) => s.locks);
      if (locks.length === 0) return;
      const lock = locks[command.pick % locks.length];
      let answered = false;
      void w.carol.claim(w.secrets.get(lock.hashlock) as string).then(() => (answered = true));
      // Answered either way, or B signed the settle (and so holds the secret) and waits on carol's silence.
      await until(() => answered || w.b.lockFate(w.bc, lock.hashlock)?.kind === "settled", "B taking up the claim");
      return;
    }
    case "crash":
      await restart(w, command.who);
      return;
    case "silenceAlice":
      if (w.a) await stopClient(w.n, w.a);
      w.a = undefined;
      return;
    case "advance":
      for (let i = 0; i < command.steps; i++) await step(w);
      return;
  }
}

const GAS = { gasLimit: 1_000_000 };

/** The locks of the state a channel's outcome holds: from the calldata of its last registration or refutation. */
async function outcomeLocks(w: World, id: string): Promise<Lock[]> {
  const c = w.n.contract;
  const events = [
    ...(await c.queryFilter(c.filters.ChallengeRegistered(id))),
    ...(await c.queryFilter(c.filters.ChallengeRefuted(id))),
  ].sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index);
  const last = events[events.length - 1];
  if (!last) return [];
  const tx = await w.n.provider.getTransaction(last.transactionHash);
  const parsed = c.interface.parseTransaction({ data: tx!.data });
  if (!parsed || (parsed.name !== "register" && parsed.name !== "refute")) return [];
  return (parsed.args.locks as Lock[]).map((l) => ({
    sender: Number(l.sender) as 0 | 1,
    receiver: Number(l.receiver) as 0 | 1,
    amount: BigInt(l.amount),
    hashlock: String(l.hashlock).toLowerCase(),
    expiry: BigInt(l.expiry),
  }));
}

/**
 * The end of a run: B is back, the attacker plays the state it holds that pays it most (and reveals the secrets of
 * the locks it still needs), time passes every expiry with A still away if it went silent, A comes back, B
 * registers both channels, and once they concluded anyone sweeps them (every lock resolved, every credit paid).
 */
async function finish(w: World): Promise<void> {
  await restart(w, "bob");
  // Carol plays the state that gives her the most (her balance and every lock to her, whose secrets she has).
  const worth = (s: SignedSnapshot) =>
    s.state.balances[1] + s.locks.filter((l) => l.receiver === 1).reduce((sum, l) => sum + l.amount, 0n);
  // Of two states worth the same she takes the newer: a payout already made needs no secret revealed, so the
  // forwarder cannot learn it from the chain.
  const best = [...w.carol.held.values()].sort((x, y) =>
    worth(x) !== worth(y) ? (worth(x) > worth(y) ? -1 : 1) : x.state.version > y.state.version ? -1 : 1,
  )[0];
  if (best) {
    const info = await w.n.contract.getChannel(w.bc);
    if (info.status === BigInt(ChannelStatus.Open)) {
      await attempt(() => w.asCarol.register(w.bcParams, best.state, best.sigs, best.locks, GAS));
    } else if (info.status === BigInt(ChannelStatus.Disputed) && best.state.version > info.version) {
      await attempt(() => w.asCarol.refute(w.bcParams, best.state, best.sigs, best.locks, GAS));
    }
    await bobAnswersDisputes(w);
  }
  // ... and reveals only the secrets of the locks that state still pays her (she keeps the others to herself).
  for (const l of best?.locks ?? []) {
    if (l.receiver === 1) await attempt(() => w.asCarol.revealSecret(w.secrets.get(l.hashlock) as string, GAS));
  }
  const last = w.lastExpiry;
  while (BigInt((await w.n.provider.getBlock("latest"))!.timestamp) <= last + w.b.policy.lockGraceSeconds) {
    await step(w);
  }
  // A silent payer stays away through every deadline and comes back only now, to read its payments' outcome.
  if (!w.a) await restart(w, "alice");
  const a = w.a as ChannelClient;
  // Every payment's fate is certain by now.
  await until(
    () =>
      [...w.secrets.keys()].every((h) => a.routePayment(h) === undefined || a.routePayment(h)?.status !== "pending"),
    "every route resolved at A",
    60_000,
  );
  for (const id of [w.ab, w.bc]) {
    if ((await statusOf(w, id)) === BigInt(ChannelStatus.Open)) await w.b.dispute(id).catch(() => undefined);
  }
  await bobAnswersDisputes(w);
  await advance(w.b.policy.defaultChallengeDuration + 1n);
  for (const id of [w.ab, w.bc]) {
    const params = id === w.ab ? a.channel(id).params : w.bcParams;
    await until(
      async () => {
        const status = await statusOf(w, id);
        if (status === BigInt(ChannelStatus.Closed)) return true;
        if (status === BigInt(ChannelStatus.Disputed)) await attempt(() => w.asCarol.conclude(params, GAS));
        const locks = await outcomeLocks(w, id);
        for (let i = 0; i < locks.length; i++) {
          if (!(await w.n.contract.isLockSettled(id, i))) {
            await attempt(() => w.asCarol.unlock(params, locks[i], i, lockProof(locks, i), GAS));
          }
        }
        for (const who of [0, 1] as const) await attempt(() => w.asCarol.withdraw(params, who, GAS));
        return (await statusOf(w, id)) === BigInt(ChannelStatus.Closed);
      },
      `channel ${id} swept`,
      60_000,
    );
  }
}

describe("ChannelClient settlement property (A→B→C, hostile C)", function () {
  this.timeout(600_000);

  it("never leaves an honest party with less than it started with plus what it was paid", async function () {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<HostileBehaviour>("honest", "refuse", "silent"),
        fc.array(commandArb, { minLength: 2, maxLength: 8 }),
        async (behaviour, commands) => {
          let net: Net | undefined;
          try {
            net = await channelNet();
            const w = await setUp(net, behaviour);
            // What each minted before it deposited everything into its channel.
            const start = { alice: DEPOSIT, bob: DEPOSIT };
            for (const c of commands) await play(w, c);
            await finish(w);
            const a = w.a as ChannelClient;
            let paid = 0n;
            for (const h of w.secrets.keys()) {
              const r = a.routePayment(h);
              if (r?.status !== "completed") continue;
              expect(hashlockOf(r.secret as string)).to.equal(h, "a completed payment carries its proof");
              paid += r.amount;
            }
            const end = {
              alice: await w.token.balanceOf(a.address),
              bob: await w.token.balanceOf(w.b.address),
              carol: await w.token.balanceOf(w.carolAddress),
            };
            // Alice + bob + carol hold every token: the channels keep nothing.
            expect(end.alice + end.bob + end.carol).to.equal(start.alice + start.bob);
            expect(end.bob >= start.bob, `bob ${end.bob} < ${start.bob}`).to.equal(true);
            expect(end.alice >= start.alice - paid, `alice ${end.alice} < ${start.alice} - ${paid}`).to.equal(true);
          } finally {
            await teardown(net);
          }
        },
      ),
      {
        numRuns: RUNS,
        endOnFailure: true,
        // A failing run is replayed with CHANNEL_PROPERTY_SEED (and CHANNEL_PROPERTY_PATH) from its report.
        ...(process.env.CHANNEL_PROPERTY_SEED ? { seed: Number(process.env.CHANNEL_PROPERTY_SEED) } : {}),
        ...(process.env.CHANNEL_PROPERTY_PATH ? { path: process.env.CHANNEL_PROPERTY_PATH } : {}),
      },
    );
  });
});
