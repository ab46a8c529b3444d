import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import fc from "fast-check";
import { ZeroAddress } from "ethers";
import type { ContractTransactionResponse } from "ethers";
import { hashlockOf, lockProof, type ChannelState, type Lock } from "../../src/channels/state";
import { deployChannelsFixture, makeParams, TestChannel, type ChannelsFixture } from "./helpers";

/*
 * Money is conserved: for any sequence of payments, locks, off-chain lock
 * settlements, top-ups, withdrawals and a cooperative or disputed close, each
 * participant is paid out exactly what a model of the channel predicts, and
 * in total exactly what was put in; the adjudicator keeps nothing.
 */

type Reveal = "timely" | "never" | "late";
type Command =
  | { kind: "pay"; from: 0 | 1; share: number }
  | { kind: "lock"; from: 0 | 1; share: number; reveal: Reveal; lifetime: number }
  | { kind: "settle"; pick: number }
  | { kind: "topUp"; who: 0 | 1; amount: bigint }
  | { kind: "withdraw"; who: 0 | 1; share: number };
type Ending = { kind: "cooperative" } | { kind: "dispute"; stale: number | null };
interface Scenario {
  asset: "eth" | "token";
  deposits: [bigint, bigint];
  commands: Command[];
  ending: Ending;
}

const side = fc.constantFrom<0 | 1>(0, 1);
const share = fc.integer({ min: 0, max: 100 });
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("pay" as const), from: side, share }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("lock" as const),
      from: side,
      share,
      reveal: fc.constantFrom<Reveal>("timely", "never", "late"),
      lifetime: fc.integer({ min: 4000, max: 9000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("settle" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("topUp" as const),
      who: side,
      amount: fc.bigInt({ min: 0n, max: 10n ** 6n }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("withdraw" as const), who: side, share }) },
);
const scenario: fc.Arbitrary<Scenario> = fc.record({
  asset: fc.constantFrom<"eth" | "token">("eth", "token"),
  deposits: fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: 0n, max: 10n ** 6n })),
  commands: fc.array(command, { maxLength: 10 }),
  ending: fc.oneof(
    fc.constant<Ending>({ kind: "cooperative" }),
    fc.record({ kind: fc.constant("dispute" as const), stale: fc.option(fc.nat(), { nil: null }) }),
  ),
});

interface PendingLock {
  lock: Lock;
  secret: string;
  reveal: Reveal;
}

let secretCounter = 0;

/** Plays `s` against the adjudicator and checks every participant's net result against the model. */
async function play(fx: ChannelsFixture, s: Scenario): Promise<void> {
  const asset = s.asset === "eth" ? ZeroAddress : await fx.token.getAddress();
  const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob, asset, 3600n), [fx.alice, fx.bob]);
  const parties = [fx.alice, fx.bob];
  const adjudicatorAddress = await fx.adjudicator.getAddress();
  const holdingsOf = async (who: string) =>
    s.asset === "eth" ? ethers.provider.getBalance(who) : fx.token.balanceOf(who);
  const start = await Promise.all([...parties.map((p) => holdingsOf(p.address)), holdingsOf(adjudicatorAddress)]);
  const fees: [bigint, bigint] = [0n, 0n];
  /** Sends a participant's transaction and books its fee (ETH channels pay gas from the same balance). */
  const by = async (who: 0 | 1, tx: Promise<ContractTransactionResponse>) => {
    const receipt = await (await tx).wait();
    fees[who] += receipt!.fee;
  };

  // The model.
  const putIn: [bigint, bigint] = [0n, 0n];
  const paidOut: [bigint, bigint] = [0n, 0n];
  const bal: [bigint, bigint] = [s.deposits[0], s.deposits[1]];
  let holdings = s.deposits[0] + s.deposits[1];
  let locks: PendingLock[] = [];
  let version = 0n;
  let epoch: ChannelState[] = []; // states signed since the last checkpoint (all registrable)
  const sign = () => {
    version += 1n;
    const state = ch.state(
      version,
      [bal[0], bal[1]],
      locks.map((l) => l.lock),
    );
    epoch.push(state);
    return state;
  };
  const shareOf = (amount: bigint, pct: number) => (amount * BigInt(pct)) / 100n;
  const outcome = (l: PendingLock): 0 | 1 => (l.reveal === "timely" ? l.lock.receiver : l.lock.sender);

  await by(0, ch.open(0, s.deposits[0]));
  putIn[0] += s.deposits[0];
  if (s.deposits[1] > 0n) {
    await by(1, ch.fund(1, s.deposits[1]));
    putIn[1] += s.deposits[1];
  }

  for (const c of s.commands) {
    if (c.kind === "pay") {
      const x = shareOf(bal[c.from], c.share);
      bal[c.from] -= x;
      bal[1 - c.from] += x;
      sign();
    } else if (c.kind === "lock") {
      const x = shareOf(bal[c.from], c.share);
      bal[c.from] -= x;
      const secret = ethers.keccak256(ethers.toUtf8Bytes(`property secret ${++secretCounter} ${Date.now()}`));
      const expiry = BigInt(await time.latest()) + BigInt(c.lifetime);
      const receiver = (1 - c.from) as 0 | 1;
      locks.push({
        lock: { sender: c.from, receiver, amount: x, hashlock: hashlockOf(secret), expiry },
        secret,
        reveal: c.reveal,
      });
      sign();
    } else if (c.kind === "settle") {
      if (locks.length === 0) continue;
      const [l] = locks.splice(c.pick % locks.length, 1);
      bal[outcome(l)] += l.lock.amount;
      sign();
    } else if (c.kind === "topUp") {
      bal[c.who] += c.amount;
      holdings += c.amount;
      epoch = [];
      await by(c.who, ch.topUp(sign(), c.amount, c.who));
      putIn[c.who] += c.amount;
    } else {
      const x = shareOf(bal[c.who], c.share);
      bal[c.who] -= x;
      holdings -= x;
      epoch = [];
      const state = sign();
      const w = {
        channelId: ch.id,
        version: state.version,
        participant: c.who,
        amount: x,
        expiry: BigInt(await time.latest()) + 600n,
      };
      await fx.adjudicator.partialWithdraw(ch.params, w, ch.signWithdrawal(w));
      paidOut[c.who] += x;
    }
  }

  expect((await ch.info()).holdings).to.equal(holdings, "the channel holds what the model says");
  if (s.ending.kind === "cooperative") {
    for (const l of locks) bal[outcome(l)] += l.lock.amount;
    locks = [];
    const final = { ...sign(), isFinal: true };
    await ch.close(final);
    paidOut[0] += bal[0];
    paidOut[1] += bal[1];
  } else {
    if (epoch.length === 0) {
      // Nothing was ever signed: the deposit state is the outcome.
      await by(0, fx.adjudicator.connect(fx.alice.wallet).registerDeposits(ch.params));
    } else {
      const latest = epoch[epoch.length - 1];
      if (s.ending.stale !== null && epoch.length > 1) {
        await ch.register(epoch[s.ending.stale % (epoch.length - 1)]);
        await ch.refute(latest);
      } else {
        await ch.register(latest);
      }
    }
    for (const l of locks) if (l.reveal === "timely") await fx.adjudicator.revealSecret(l.secret);
    await time.increase(3600);
    await ch.conclude();
    const lastExpiry = locks.reduce((m, l) => (l.lock.expiry > m ? l.lock.expiry : m), 0n);
    if (lastExpiry >= BigInt(await time.latest())) await time.increaseTo(lastExpiry + 1n);
    for (const l of locks) if (l.reveal === "late") await fx.adjudicator.revealSecret(l.secret);
    const lockList = locks.map((l) => l.lock);
    if ((await ch.info()).status === 4n) {
      // An empty channel closes as it concludes: its locks (all of zero) have nothing left to pay.
      expect(lockList.every((l) => l.amount === 0n)).to.equal(true, "only an empty channel closes at conclusion");
      locks = [];
    }
    for (let i = 0; i < locks.length; i++) {
      await fx.adjudicator.unlock(ch.params, lockList[i], i, lockProof(lockList, i));
      bal[outcome(locks[i])] += locks[i].lock.amount;
    }
    for (const who of [0, 1] as const) {
      if (bal[who] > 0n) await ch.withdraw(who);
      paidOut[who] += bal[who];
    }
  }

  expect(paidOut[0] + paidOut[1]).to.equal(putIn[0] + putIn[1], "the model conserves money");
  const end = await Promise.all([...parties.map((p) => holdingsOf(p.address)), holdingsOf(adjudicatorAddress)]);
  for (const who of [0, 1] as const) {
    const net = end[who] - start[who] + (s.asset === "eth" ? fees[who] : 0n);
    expect(net).to.equal(paidOut[who] - putIn[who], `participant ${who} net`);
  }
  expect(end[2]).to.equal(start[2], "the adjudicator keeps nothing");
  expect((await ch.info()).status).to.equal(4n, "the channel is closed");
}

describe("ChannelAdjudicator conservation property", function () {
  it("pays out exactly what was put in, for any sequence of operations", async function () {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const fx = await loadFixture(deployChannelsFixture);
        await play(fx, s);
      }),
      { numRuns: 60 },
    );
  });
});
