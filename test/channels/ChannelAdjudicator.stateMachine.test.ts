import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { hashlockOf, lockProof, type Lock } from "../../src/channels/state";
import { deployChannelsFixture, makeParams, secret, TestChannel, type ChannelsFixture } from "./helpers";

/*
 * The adjudicator's state machine as a table: every action in every status,
 * with arguments that would be valid for the channel as it is, so that the
 * status alone decides the outcome.
 */

const ETH = 10n ** 18n;
enum Status {
  None,
  Open,
  Disputed,
  Concluded,
  Closed,
}
const STATUS_NAMES = ["None", "Open", "Disputed", "Concluded", "Closed"] as const;
type StatusName = (typeof STATUS_NAMES)[number];

/** A channel in some status, with what an action needs to know about it. */
interface Scene {
  fx: ChannelsFixture;
  ch: TestChannel;
  holdings: bigint;
  /** The highest version in play (registered, or the floor). */
  version: bigint;
  lock: Lock;
  locks: Lock[];
}

const CHALLENGE = 3600n;

async function sceneBase(): Promise<Scene> {
  const fx = await loadFixture(deployChannelsFixture);
  const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob, undefined, CHALLENGE), [fx.alice, fx.bob]);
  const now = BigInt(await time.latest());
  const lock: Lock = {
    sender: 0,
    receiver: 1,
    amount: ETH,
    hashlock: hashlockOf(secret("table")),
    expiry: now + 10n ** 6n,
  };
  return { fx, ch, holdings: 0n, version: 0n, lock, locks: [lock] };
}

/** Never opened. */
async function sceneNone(): Promise<Scene> {
  return sceneBase();
}

/** Opened and funded by alice only (bob may still fund). */
async function sceneOpen(): Promise<Scene> {
  const scene = await sceneBase();
  await scene.ch.open(0, 4n * ETH);
  return { ...scene, holdings: 4n * ETH };
}

/** A state with a lock registered; the challenge period runs. */
async function sceneDisputed(): Promise<Scene> {
  const scene = await sceneOpen();
  await scene.ch.register(scene.ch.state(2n, [2n * ETH, ETH], scene.locks));
  await scene.fx.adjudicator.revealSecret(secret("table"));
  return { ...scene, version: 2n };
}

/** The dispute concluded: credits [2, 1] ETH, one lock of 1 ETH (its secret revealed in time). */
async function sceneConcluded(): Promise<Scene> {
  const scene = await sceneDisputed();
  await time.increase(CHALLENGE);
  await scene.ch.conclude();
  return scene;
}

/** Closed cooperatively. */
async function sceneClosed(): Promise<Scene> {
  const scene = await sceneOpen();
  await scene.ch.close(scene.ch.state(1n, [ETH, 3n * ETH], [], true));
  return { ...scene, holdings: 0n, version: 1n };
}

const SCENES: Record<StatusName, () => Promise<Scene>> = {
  None: sceneNone,
  Open: sceneOpen,
  Disputed: sceneDisputed,
  Concluded: sceneConcluded,
  Closed: sceneClosed,
};

/** Each action, with arguments valid for the scene's channel. */
const ACTIONS = {
  open: (s: Scene) => s.ch.open(1, ETH),
  fund: (s: Scene) => s.ch.fund(1, ETH),
  topUp: (s: Scene) => s.ch.topUp(s.ch.state(s.version + 1n, [s.holdings + ETH, 0n]), ETH),
  partialWithdraw: async (s: Scene) => {
    const w = {
      channelId: s.ch.id,
      version: s.version + 1n,
      participant: 0 as const,
      amount: ETH,
      expiry: BigInt(await time.latest()) + 100n,
    };
    return s.fx.adjudicator.partialWithdraw(s.ch.params, w, s.ch.signWithdrawal(w));
  },
  close: (s: Scene) => s.ch.close(s.ch.state(s.version + 1n, [s.holdings, 0n], [], true)),
  register: (s: Scene) => s.ch.register(s.ch.state(s.version + 1n, [0n, s.holdings])),
  registerDeposits: (s: Scene) => s.fx.adjudicator.connect(s.fx.alice.wallet).registerDeposits(s.ch.params),
  refute: (s: Scene) => s.ch.refute(s.ch.state(s.version + 1n, [0n, s.holdings])),
  conclude: (s: Scene) => s.ch.conclude(),
  withdraw: (s: Scene) => s.ch.withdraw(0),
  unlock: (s: Scene) => s.fx.adjudicator.unlock(s.ch.params, s.lock, 0, lockProof(s.locks, 0)),
};
type ActionName = keyof typeof ACTIONS;

/** What happens: the status the channel is left in, or the custom error (with its arguments) it reverts with. */
type Expected = { status: Status } | { error: string; args: (s: Scene) => unknown[] };

const ok = (status: Status): Expected => ({ status });
const wrong = (status: Status): Expected => ({
  error: "ChannelAdjudicatorWrongStatus",
  args: (s) => [s.ch.id, status],
});

const TABLE: Record<ActionName, Record<StatusName, Expected>> = {
  open: {
    None: ok(Status.Open),
    Open: wrong(Status.Open),
    Disputed: wrong(Status.Disputed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  fund: {
    None: wrong(Status.None),
    Open: ok(Status.Open),
    Disputed: wrong(Status.Disputed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  topUp: {
    None: wrong(Status.None),
    Open: ok(Status.Open),
    Disputed: wrong(Status.Disputed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  partialWithdraw: {
    None: wrong(Status.None),
    Open: ok(Status.Open),
    Disputed: wrong(Status.Disputed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  close: {
    None: wrong(Status.None),
    Open: ok(Status.Closed),
    // A final state closes even a disputed channel at once.
    Disputed: ok(Status.Closed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  register: {
    None: wrong(Status.None),
    Open: ok(Status.Disputed),
    Disputed: wrong(Status.Disputed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  registerDeposits: {
    None: wrong(Status.None),
    Open: ok(Status.Disputed),
    Disputed: wrong(Status.Disputed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  refute: {
    None: wrong(Status.None),
    Open: wrong(Status.Open),
    Disputed: ok(Status.Disputed),
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  conclude: {
    None: wrong(Status.None),
    Open: wrong(Status.Open),
    Disputed: {
      error: "ChannelAdjudicatorChallengePeriodRunning",
      args: () => [], // checked separately at the edges of the period
    },
    Concluded: wrong(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  withdraw: {
    None: wrong(Status.None),
    Open: wrong(Status.Open),
    Disputed: wrong(Status.Disputed),
    Concluded: ok(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
  unlock: {
    None: wrong(Status.None),
    Open: wrong(Status.Open),
    Disputed: wrong(Status.Disputed),
    Concluded: ok(Status.Concluded),
    Closed: wrong(Status.Closed),
  },
};

describe("ChannelAdjudicator state machine", function () {
  for (const action of Object.keys(ACTIONS) as ActionName[]) {
    for (const statusName of STATUS_NAMES) {
      const expected = TABLE[action][statusName];
      const outcome = "status" in expected ? `leaves it ${Status[expected.status]}` : `reverts with ${expected.error}`;
      it(`${action} on a ${statusName} channel ${outcome}`, async function () {
        const scene = await loadFixture(SCENES[statusName]);
        const tx = ACTIONS[action](scene);
        if ("status" in expected) {
          await expect(tx).not.to.be.reverted;
          expect((await scene.ch.info()).status).to.equal(expected.status);
        } else {
          const args = expected.args(scene);
          const assertion = expect(tx).to.be.revertedWithCustomError(scene.fx.adjudicator, expected.error);
          if (args.length > 0) await assertion.withArgs(...args);
          else await assertion;
        }
      });
    }
  }

  describe("the challenge period at its edges", function () {
    const EDGES = [
      { offset: -1n, refute: "ok", conclude: "ChannelAdjudicatorChallengePeriodRunning" },
      { offset: 0n, refute: "ChannelAdjudicatorChallengePeriodOver", conclude: "ok" },
      { offset: 1n, refute: "ChannelAdjudicatorChallengePeriodOver", conclude: "ok" },
    ] as const;
    for (const edge of EDGES) {
      const at = edge.offset === 0n ? "deadline" : edge.offset < 0n ? "deadline - 1" : "deadline + 1";
      it(`at ${at}: refute ${edge.refute === "ok" ? "succeeds" : "fails"}`, async function () {
        const scene = await loadFixture(sceneDisputed);
        const { deadline } = await scene.ch.info();
        await time.setNextBlockTimestamp(deadline + edge.offset);
        const tx = ACTIONS.refute(scene);
        if (edge.refute === "ok") {
          await expect(tx).to.emit(scene.fx.adjudicator, "ChallengeRefuted");
          expect((await scene.ch.info()).deadline).to.equal(deadline);
        } else {
          await expect(tx)
            .to.be.revertedWithCustomError(scene.fx.adjudicator, edge.refute)
            .withArgs(deadline, deadline + edge.offset);
        }
      });
      it(`at ${at}: conclude ${edge.conclude === "ok" ? "succeeds" : "fails"}`, async function () {
        const scene = await loadFixture(sceneDisputed);
        const { deadline } = await scene.ch.info();
        await time.setNextBlockTimestamp(deadline + edge.offset);
        const tx = ACTIONS.conclude(scene);
        if (edge.conclude === "ok") {
          await expect(tx).to.emit(scene.fx.adjudicator, "ChannelConcluded");
          expect((await scene.ch.info()).status).to.equal(Status.Concluded);
        } else {
          await expect(tx)
            .to.be.revertedWithCustomError(scene.fx.adjudicator, edge.conclude)
            .withArgs(deadline, deadline + edge.offset);
        }
      });
    }
  });

  describe("lock expiry at its edges", function () {
    async function concludedWithPendingLock() {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob, undefined, CHALLENGE), [fx.alice, fx.bob]);
      await ch.open(0, 2n * ETH);
      const expiry = BigInt(await time.latest()) + 10_000n;
      const lock: Lock = { sender: 0, receiver: 1, amount: ETH, hashlock: hashlockOf(secret("edge")), expiry };
      await ch.register(ch.state(1n, [ETH, 0n], [lock]));
      await time.increase(CHALLENGE);
      await ch.conclude();
      return { fx, ch, lock };
    }
    const REVEALS = [
      { offset: -1n, paidTo: 1 },
      { offset: 0n, paidTo: 1 },
      { offset: 1n, paidTo: 0 },
    ] as const;
    for (const r of REVEALS) {
      const at = r.offset === 0n ? "expiry" : r.offset < 0n ? "expiry - 1" : "expiry + 1";
      it(`pays the ${r.paidTo === 1 ? "receiver" : "sender"} when the secret is revealed at ${at}`, async function () {
        const { fx, ch, lock } = await loadFixture(concludedWithPendingLock);
        await time.setNextBlockTimestamp(lock.expiry + r.offset);
        await fx.adjudicator.revealSecret(secret("edge"));
        if ((await time.latest()) <= lock.expiry) await time.increaseTo(lock.expiry + 1n);
        await expect(fx.adjudicator.unlock(ch.params, lock, 0, []))
          .to.emit(fx.adjudicator, "LockSettled")
          .withArgs(ch.id, 0, Object.values(lock), r.paidTo);
      });
    }
    it("keeps an unrevealed lock pending at its expiry and refunds it at expiry + 1", async function () {
      const { fx, ch, lock } = await loadFixture(concludedWithPendingLock);
      await time.setNextBlockTimestamp(lock.expiry);
      await expect(fx.adjudicator.unlock(ch.params, lock, 0, []))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLockPending")
        .withArgs(lock.hashlock, lock.expiry);
      await expect(fx.adjudicator.unlock(ch.params, lock, 0, []))
        .to.emit(fx.adjudicator, "LockSettled")
        .withArgs(ch.id, 0, Object.values(lock), 0);
    });
  });

  describe("withdrawal expiry at its edges", function () {
    for (const offset of [-1n, 0n, 1n]) {
      const at = offset === 0n ? "expiry" : offset < 0n ? "expiry - 1" : "expiry + 1";
      it(`${offset <= 0n ? "executes" : "refuses"} a withdrawal at ${at}`, async function () {
        const scene = await loadFixture(sceneOpen);
        const expiry = BigInt(await time.latest()) + 100n;
        const w = { channelId: scene.ch.id, version: 1n, participant: 0 as const, amount: ETH, expiry };
        await time.setNextBlockTimestamp(expiry + offset);
        const tx = scene.fx.adjudicator.partialWithdraw(scene.ch.params, w, scene.ch.signWithdrawal(w));
        if (offset <= 0n) await expect(tx).to.emit(scene.fx.adjudicator, "PartiallyWithdrawn");
        else
          await expect(tx)
            .to.be.revertedWithCustomError(scene.fx.adjudicator, "ChannelAdjudicatorWithdrawalExpired")
            .withArgs(expiry, expiry + 1n);
      });
    }
  });

  describe("top-up expiry at its edges", function () {
    for (const offset of [-1n, 0n, 1n]) {
      const at = offset === 0n ? "expiry" : offset < 0n ? "expiry - 1" : "expiry + 1";
      it(`${offset <= 0n ? "executes" : "refuses"} a top-up at ${at}`, async function () {
        const scene = await loadFixture(sceneOpen);
        const expiry = BigInt(await time.latest()) + 100n;
        const state = scene.ch.state(1n, [scene.holdings + ETH, 0n]);
        await time.setNextBlockTimestamp(expiry + offset);
        const tx = scene.ch.topUp(state, ETH, 0, expiry);
        if (offset <= 0n) await expect(tx).to.emit(scene.fx.adjudicator, "ToppedUp");
        else
          await expect(tx)
            .to.be.revertedWithCustomError(scene.fx.adjudicator, "ChannelAdjudicatorTopUpExpired")
            .withArgs(expiry, expiry + 1n);
      });
    }
  });
});
