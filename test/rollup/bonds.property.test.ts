// The bond rules as a property (PROTOCOL.md §7.3): over random sequences of honest and lying proposals, proofs
// (self-challenges included), re-proposals, time and bond returns, on the real contracts, no account gains from a
// rollback of its own proposal, no proposal whose roots are all correct loses its bond, and the chain always holds
// exactly the bonds it has not paid out plus what it burnt.
import { expect } from "chai";
import fc from "fast-check";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { ContractTransactionResponse, Wallet } from "ethers";
import { BondState } from "../../src/operator/bonds";
import { CHALLENGE_WINDOW_SECONDS, PROPOSER_BOND, rollupFixture } from "./helpers/fixtures";
import { garbageRoot, RollupModel } from "./helpers/model";

/** Batches appended before any proposal: each a deposit (a queue step) and an empty chunk (a chunk step). */
const BATCHES = 6;
const HALF = PROPOSER_BOND / 2n;

async function withBatches() {
  const fixture = await rollupFixture();
  const { bridge, inbox } = fixture.deployment.handles;
  for (let k = 0; k < BATCHES; k++) {
    await bridge.connect(fixture.alice).depositEth(fixture.alice.address, 0, { value: 1000n + BigInt(k) });
    await inbox.connect(fixture.sequencer).appendBatch(["0x"], 1, 0);
  }
  return fixture;
}

/**
 * A proposal's roots: `checked`, the right roots on a chain the proposer checked (every live proposal right);
 * `careless`, the right roots on whatever is live (the old operator's habit); a lie, a made-up root at `step` (at step
 * 0 the final root stays right, so a careless proposer builds on it).
 */
type Roots = { kind: "checked" } | { kind: "careless" } | { kind: "lie"; step: number; seed: number };
type Action =
  | { t: "propose"; actor: number; roots: Roots }
  | { t: "prove"; actor: number; pick: number }
  | { t: "time"; seconds: number }
  | { t: "return"; actor: number; pick: number };

const actor = fc.integer({ min: 0, max: 2 });
const roots: fc.Arbitrary<Roots> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "checked" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "careless" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("lie" as const), step: fc.integer({ min: 0, max: 1 }), seed: fc.nat() }),
  },
);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("propose" as const), actor, roots }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("prove" as const), actor, pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("time" as const),
      seconds: fc.integer({ min: 1, max: Number(CHALLENGE_WINDOW_SECONDS) / 2 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("return" as const), actor, pick: fc.nat() }) },
);

/** What the test knows of each proposal ever made. */
interface Made {
  id: bigint;
  batch: number;
  proposer: number;
  roots: string[];
  correct: boolean;
}

describe("Bonds (property)", function () {
  let honest: string[][];

  before(async function () {
    const f = await loadFixture(withBatches);
    const model = await RollupModel.fromL1(f.deployment.handles);
    honest = Array.from({ length: BATCHES }, (_, k) => model.trace(k).stepRoots);
  });

  it("no account gains from a rollback of its own proposal, and no proposal with all-correct roots loses its bond", async function () {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 8, maxLength: 32 }), async (actions) => {
        const f = await loadFixture(withBatches);
        const model = await RollupModel.fromL1(f.deployment.handles);
        const chain = f.deployment.handles.stateCommitmentChain;
        const actors: Wallet[] = [f.alice, f.bob, f.mallory];
        const made: Made[] = [];
        const fees = [0n, 0n, 0n];
        const balancesBefore = await Promise.all(actors.map((a) => ethers.provider.getBalance(a.address)));
        const send = async (who: number, tx: Promise<ContractTransactionResponse>): Promise<boolean> => {
          let response: ContractTransactionResponse;
          try {
            response = await tx;
          } catch {
            return false; // refused by the estimate: nothing sent, nothing paid
          }
          const receipt = await response.wait();
          if (receipt) fees[who] += receipt.gasUsed * receipt.gasPrice;
          return receipt?.status === 1;
        };
        /** The live proposals, as L1 holds them. */
        const live = async (): Promise<Made[]> => {
          const count = Number(await chain.proposalCount());
          const out: Made[] = [];
          for (let k = 0; k < count; k++) {
            const id = (await chain.proposal(k)).id;
            out.push(made.find((m) => m.id === id) as Made);
          }
          return out;
        };
        const conserved = async (): Promise<void> => {
          let held = 0n;
          for (const m of made) if ((await chain.bond(m.id)).state === BondState.Held) held += PROPOSER_BOND;
          const balance = await ethers.provider.getBalance(await chain.getAddress());
          expect(balance, "the chain holds its unpaid bonds and what it burnt").to.equal(
            held + (await chain.totalBurnt()),
          );
        };
        const propose = async (who: number, roots: string[]): Promise<void> => {
          const batch = Number(await chain.proposalCount());
          const id = await chain.proposalsMade();
          const ok = await send(who, chain.connect(actors[who]).propose(batch, roots, { value: PROPOSER_BOND }));
          if (!ok) return;
          const correct = roots.every((r, i) => r === honest[batch][i]);
          made.push({ id, batch, proposer: who, roots, correct });
        };
        /** Proves the first wrong step of a live proposal that is not final and whose parent's root is right. */
        const prove = async (who: number, pick: number): Promise<boolean> => {
          const chainLive = await live();
          const now = BigInt(await time.latest()) + 1n;
          const candidates: { m: Made; step: number }[] = [];
          for (const m of chainLive) {
            const parentRight = m.batch === 0 || chainLive[m.batch - 1].roots.at(-1) === honest[m.batch - 1].at(-1);
            const step = m.roots.findIndex((r, i) => r !== honest[m.batch][i]);
            if (step >= 0 && parentRight && now < (await chain.deadline(m.batch))) candidates.push({ m, step });
          }
          if (candidates.length === 0) return false;
          const { m, step } = candidates[pick % candidates.length];
          return send(who, model.challenge(actors[who], m.batch, step, m.roots));
        };

        for (const a of actions) {
          if (a.t === "propose") {
            const batch = Number(await chain.proposalCount());
            if (batch >= BATCHES) continue;
            const r = a.roots;
            if (r.kind === "lie")
              await propose(
                a.actor,
                honest[batch].map((x, i) => (i === r.step ? garbageRoot(r.seed) : x)),
              );
            else if (r.kind === "careless" || !(await live()).some((m) => !m.correct))
              await propose(a.actor, honest[batch]);
          } else if (a.t === "prove") {
            await prove(a.actor, a.pick);
          } else if (a.t === "time") {
            await time.increase(a.seconds);
          } else if (made.length > 0) {
            await send(a.actor, chain.connect(actors[a.actor]).returnBond(made[a.pick % made.length].id));
          }
          await conserved();
        }

        // Settle: prove what can still be proven, wait out the window, take every bond back that can be.
        while (await prove(0, 0));
        await time.increase(CHALLENGE_WINDOW_SECONDS);
        for (const m of made) await send(m.proposer, chain.connect(actors[m.proposer]).returnBond(m.id));
        await conserved();

        const rollbacks = await chain.queryFilter(chain.filters.ProposalsRolledBack());
        const states = new Map<bigint, bigint>();
        for (const m of made) states.set(m.id, (await chain.bond(m.id)).state);
        for (const m of made) {
          if (m.correct) expect(states.get(m.id), `proposal ${m.id} has right roots`).to.equal(BondState.Returned);
          if (states.get(m.id) === BondState.Forfeited) expect(m.correct, `proposal ${m.id} forfeited`).to.equal(false);
        }
        for (let who = 0; who < actors.length; who++) {
          const address = actors[who].address;
          let rewards = 0n;
          for (const r of rollbacks) {
            const forfeited = made.find((m) => m.id === r.args.proposalId) as Made;
            if (r.args.challenger === address) rewards += r.args.reward;
            // What the proposer of the forfeited proposal makes of its rollback: at most the reward, less its bond.
            if (forfeited.proposer === who) {
              const gain = (r.args.challenger === address ? r.args.reward : 0n) - PROPOSER_BOND;
              expect(gain, `account ${who} rolling back its own proposal ${forfeited.id}`).to.be.at.most(
                HALF - PROPOSER_BOND,
              );
            }
          }
          // And nothing else moved its money: every bond not forfeited came back (or is still held), rewards came in.
          const forfeits = made.filter((m) => m.proposer === who && states.get(m.id) === BondState.Forfeited).length;
          const held = made.filter((m) => m.proposer === who && states.get(m.id) === BondState.Held).length;
          const balance = await ethers.provider.getBalance(address);
          expect(balance - balancesBefore[who] + fees[who], `account ${who}`).to.equal(
            rewards - BigInt(forfeits + held) * PROPOSER_BOND,
          );
        }
      }),
      { numRuns: 25 },
    );
  });
});
