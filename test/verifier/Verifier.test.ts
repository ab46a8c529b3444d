import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { getAddress, Wallet, type Provider } from "ethers";
import { stepRootsHash } from "../../src/l1/batch";
import { forgeStepRoots, type LieKind } from "../../src/operator/malicious";
import { toHex } from "../../src/protocol/hash";
import type { L2State } from "../../src/protocol/state";
import { L2Client, L2RpcError } from "../../src/operator/client";
import { accountView, withdrawalView } from "../../src/operator/rpc/views";
import type { Account } from "../../src/protocol/state";
import { applyQueueStep } from "../../src/protocol/stf";
import { Verifier } from "../../src/verifier/verifier";
import { defaultVerifierConfig } from "../../src/verifier/config";
import {
  ACCOUNTS,
  appendBatchOne,
  appendTransfers,
  buildWorld,
  CHALLENGE_WINDOW_SECONDS,
  dataDir,
  ETH,
  FORCED_INCLUSION_DELAY_SECONDS,
  LogCapture,
  makeVerifier,
  PROPOSER_BOND,
  removeDataDirs,
  type World,
} from "./helpers";

const HALF_BOND = PROPOSER_BOND / 2n;

/** Batch 0 and batch 1 appended, batch 0 proposed honestly. */
async function batchOneWorld(): Promise<World> {
  const w = await buildWorld();
  await appendBatchOne(w);
  await w.mirror.propose(w.proposer, 0);
  return w;
}

/** The fixture with a mirror of its own (loadFixture restores the chain, not the objects). */
async function loadWorld(): Promise<World> {
  const w = await loadFixture(batchOneWorld);
  // Block times follow the wall clock: pin the next block right after the fixture's, so a slow run (coverage)
  // does not age batch 0 past the window before the test's own batches.
  await time.setNextBlockTimestamp((await time.latest()) + 1);
  return { ...w, mirror: w.mirror.clone() };
}

/** Every account and withdrawal of `state` equals the mirror's tip. */
function expectSameState(state: L2State, expected: L2State): void {
  expect(state.stateRoot()).to.equal(expected.stateRoot());
  expect(state.accountCount).to.equal(expected.accountCount);
  for (let i = 1; i <= expected.accountCount; i++) expect(state.getAccount(i)).to.deep.equal(expected.getAccount(i));
  expect(state.withdrawalCount).to.equal(expected.withdrawalCount);
}

/** The claim arguments of withdrawal `index` against the honest state after batch `k`. */
function claimArgs(w: World, k: number, index: number) {
  const state = w.mirror.stateAfter(k);
  const wd = state.withdrawal(index);
  if (wd === undefined) throw new Error(`no withdrawal ${index}`);
  return [
    k,
    state.header(),
    index,
    wd.recipient,
    wd.tokenId,
    wd.amount,
    state.withdrawalProof(index).map(toHex),
  ] as const;
}

describe("Verifier", function () {
  after(removeDataDirs);

  describe("sync from L1 alone", function () {
    it("rebuilds the L2 state from events and calldata, forced batches included, and agrees with honest proposals", async function () {
      const w = await loadWorld();
      await w.mirror.propose(w.proposer, 1);
      // A deposit the sequencer ignores: once overdue, an outsider force-includes it (batch 2, no chunks).
      await (
        await w.deployment.handles.bridge.connect(w.users.erin).depositEth(w.users.erin.address, 0, { value: ETH })
      ).wait();
      await time.increase(FORCED_INCLUSION_DELAY_SECONDS + 1n);
      await w.mirror.forceInclude(w.outsider, 1);
      await w.mirror.propose(w.proposer, 2);
      await appendTransfers(w, 40);
      await w.mirror.propose(w.proposer, 3);

      const log = new LogCapture();
      const v = await makeVerifier(w, { logger: log.logger });
      await v.tick();
      const status = v.status();
      expectSameState(v.tipState, w.mirror.tip());
      expect(status.batches).to.deep.equal({ replayed: 4, settled: 0, proposed: 4 });
      expect(status.proposals.map((p) => p.verdict)).to.deep.equal(["right", "right", "right", "right"]);
      expect(status.transactionsReplayed).to.equal(5 + 40);
      expect(status.actions).to.deep.equal([]);
      for (let k = 0; k < 4; k++) expect(v.computedRoots(k)).to.deep.equal(w.mirror.roots[k]);
      expect(log.messages().filter((m) => m === "proposal checked: every step root is right")).to.have.length(4);

      // Past the window every proposal is final: the batches settle and their undo records go.
      await time.increase(CHALLENGE_WINDOW_SECONDS);
      await ethers.provider.send("evm_mine", []);
      await v.tick();
      expect(v.status().batches.settled).to.equal(4);
      expect(v.computedRoots(0)).to.equal(undefined);
      await v.stop();
    });
  });

  describe("catches every lie end to end", function () {
    // Each row: a lie of "The rollup on L1" about one step of batch 1 (see appendBatchOne), told by Mallory.
    const lies: { kind: LieKind; step: number }[] = [
      { kind: "wrong-root", step: 2 },
      { kind: "apply-skipped", step: 1 },
      { kind: "skip-applied", step: 1 },
      { kind: "wrong-queue", step: 0 },
      { kind: "forged-withdrawal", step: 1 },
      { kind: "wrong-fee", step: 1 },
      { kind: "wrong-account", step: 1 },
    ];

    for (const lie of lies) {
      it(`${lie.kind}: proven inside the window, rolled back with its successor, slashed, re-proposed and finalized`, async function () {
        const w = await loadWorld();
        const { stateCommitmentChain: chain, fraudVerifier } = w.deployment.handles;
        const forged = forgeStepRoots(
          w.mirror.stateAfter(0),
          w.mirror.batches[1],
          { kind: lie.kind, batch: 1, step: lie.step },
          { beneficiary: w.mallory.address },
        );
        expect(forged.honestRoots).to.deep.equal(w.mirror.roots[1]);
        await w.mirror.propose(w.mallory, 1, forged.stepRoots);
        await appendTransfers(w, 3);
        await w.mirror.propose(w.proposer, 2); // a successor, honest in itself, built on the lie

        const v = await makeVerifier(w);
        const chainBefore = await ethers.provider.getBalance(await chain.getAddress());
        const liar = (await chain.proposal(1)).id;
        await v.tick();

        const proven = await fraudVerifier.queryFilter(fraudVerifier.filters.FraudProven());
        expect(proven).to.have.length(1);
        expect(proven[0].args.batchIndex).to.equal(1n);
        expect(proven[0].args.stepIndex).to.equal(BigInt(lie.step));
        expect(proven[0].args.challenger).to.equal(w.challenger.address);
        expect(proven[0].args.proposedRoot).to.equal(forged.stepRoots[lie.step]);
        expect(proven[0].args.computedRoot).to.equal(w.mirror.roots[1][lie.step]);
        const rolled = await chain.queryFilter(chain.filters.ProposalsRolledBack());
        expect(
          rolled.map((e) => [
            e.args.fromBatch,
            e.args.toBatch,
            e.args.challenger,
            e.args.proposalId,
            e.args.reward,
            e.args.burnt,
          ]),
        ).to.deep.equal([[1n, 3n, w.challenger.address, liar, HALF_BOND, PROPOSER_BOND - HALF_BOND]]);
        // Only the liar's bond is forfeited: the honest successor's stays, refundable.
        expect(await ethers.provider.getBalance(await chain.getAddress())).to.equal(chainBefore - HALF_BOND);
        expect(await chain.proposalCount()).to.equal(1n);
        const [lieProposed] = await chain.queryFilter(chain.filters.StateProposed(1n));
        expect((await ethers.provider.getBlock(proven[0].blockNumber))?.timestamp).to.be.below(
          Number(lieProposed.args.deadline),
        );

        // Next pass: it sees the rollback and proposes the right roots of both batches with its own bond.
        await v.tick();
        expect(await chain.proposalCount()).to.equal(3n);
        for (const k of [1, 2]) {
          const p = await chain.proposal(k);
          expect(p.proposer).to.equal(w.challenger.address);
          expect(p.stepRootsHash).to.equal(stepRootsHash(w.mirror.roots[k]));
        }
        await v.tick();
        expect(v.status().proposals.map((p) => [p.batchIndex, p.verdict, p.proposer])).to.deep.equal([
          [0, "right", w.proposer.address],
          [1, "right", w.challenger.address],
          [2, "right", w.challenger.address],
        ]);

        // Past the window the right roots are final, the batches settle and the verifier takes its bonds back.
        await time.increase(CHALLENGE_WINDOW_SECONDS);
        await ethers.provider.send("evm_mine", []);
        await v.tick();
        expect(await chain.isFinal(2)).to.equal(true);
        expect(v.status().batches.settled).to.equal(3);
        const returned = await chain.queryFilter(chain.filters.BondReturned());
        expect(returned.map((e) => [e.args.batchIndex, e.args.proposer])).to.deep.equal([
          [1n, w.challenger.address],
          [2n, w.challenger.address],
        ]);
        expect(v.status().actions.map((a) => [a.kind, a.batchIndex, a.result])).to.deep.equal([
          ["fraudProof", 1, "succeeded"],
          ["propose", 1, "succeeded"],
          ["propose", 2, "succeeded"],
          ["returnBond", 1, "succeeded"],
          ["returnBond", 2, "succeeded"],
        ]);
        await v.stop();
      });
    }

    it("the thief gets nothing: a forged withdrawal can never be claimed, every user's can", async function () {
      const w = await loadWorld();
      const { stateCommitmentChain: chain, bridge } = w.deployment.handles;
      const stolen = 15n * ETH;
      const forged = forgeStepRoots(
        w.mirror.stateAfter(0),
        w.mirror.batches[1],
        { kind: "forged-withdrawal", batch: 1, step: 2 },
        { beneficiary: w.mallory.address, amount: stolen },
      );
      // The liar's state after batch 1: the honest one plus withdrawal 2, of 15 ETH, to itself.
      const liarState = w.mirror.stateAfter(1);
      liarState.appendWithdrawal({ recipient: w.mallory.address, tokenId: 0, amount: stolen });
      expect(liarState.stateRoot()).to.equal(forged.stepRoots[2]);
      const theft = [
        1,
        liarState.header(),
        2,
        w.mallory.address,
        0,
        stolen,
        liarState.withdrawalProof(2).map(toHex),
      ] as const;

      await w.mirror.propose(w.mallory, 1, forged.stepRoots);
      await expect(bridge.connect(w.mallory).claimWithdrawal(...theft))
        .to.be.revertedWithCustomError(bridge, "BridgeBatchNotFinal")
        .withArgs(1);
      const v = await makeVerifier(w);
      await v.tick();
      expect(await chain.proposalCount()).to.equal(1n);
      await expect(bridge.connect(w.mallory).claimWithdrawal(...theft))
        .to.be.revertedWithCustomError(bridge, "BridgeBatchNotFinal")
        .withArgs(1);
      await v.tick();
      await time.increase(CHALLENGE_WINDOW_SECONDS);
      await ethers.provider.send("evm_mine", []);
      await v.tick();
      expect(await chain.isFinal(1)).to.equal(true);
      await expect(bridge.connect(w.mallory).claimWithdrawal(...theft))
        .to.be.revertedWithCustomError(bridge, "BridgeStateRootMismatch")
        .withArgs(1, w.mirror.roots[1][2], forged.stepRoots[2]);

      // Carol's forced exit (withdrawal 0) and Bob's withdrawal (1) are paid, to the wei.
      await expect(bridge.connect(w.outsider).claimWithdrawal(...claimArgs(w, 1, 0))).to.changeEtherBalance(
        w.users.carol,
        2n * ETH,
      );
      await expect(bridge.connect(w.outsider).claimWithdrawal(...claimArgs(w, 1, 1))).to.changeEtherBalance(
        w.users.bob,
        ETH / 2n,
      );
      expect(await chain.totalBurnt()).to.equal(PROPOSER_BOND - HALF_BOND);
      await v.stop();
    });

    it("retries a fraud proof that failed (a challenger without ETH) until it goes through", async function () {
      const w = await loadWorld();
      const forged = forgeStepRoots(
        w.mirror.stateAfter(0),
        w.mirror.batches[1],
        { kind: "wrong-root", batch: 1, step: 0 },
        { beneficiary: w.mallory.address },
      );
      await w.mirror.propose(w.mallory, 1, forged.stepRoots);
      const broke = Wallet.createRandom(ethers.provider);
      const v = await makeVerifier(w, { signer: broke });
      await v.tick();
      expect(v.status().actions.map((a) => [a.kind, a.result])).to.deep.equal([["fraudProof", "refused"]]);
      expect(v.status().actions[0].detail).to.match(/insufficient funds|balance/i);
      expect(await w.deployment.handles.stateCommitmentChain.proposalCount()).to.equal(2n);
      await ethers.provider.send("hardhat_setBalance", [broke.address, ethers.toQuantity(ETH)]);
      await v.tick(); // too soon: it waits before trying again
      expect(v.status().actions).to.have.length(1);
      await new Promise((r) => setTimeout(r, 2_100));
      await v.tick();
      expect(v.status().actions.map((a) => [a.kind, a.result])).to.deep.equal([
        ["fraudProof", "refused"],
        ["fraudProof", "succeeded"],
      ]);
      expect(await w.deployment.handles.stateCommitmentChain.proposalCount()).to.equal(1n);
      await v.stop();
    });

    it("proposes unproposed batches only in propose mode 'all', never on top of a wrong proposal", async function () {
      const w = await loadWorld();
      const chain = w.deployment.handles.stateCommitmentChain;
      await appendTransfers(w, 5);
      const cautious = await makeVerifier(w); // after-fraud: batches 1 and 2 were never rolled back
      await cautious.tick();
      expect(await chain.proposalCount()).to.equal(1n);
      await cautious.stop();

      const forged = forgeStepRoots(
        w.mirror.stateAfter(0),
        w.mirror.batches[1],
        { kind: "wrong-root", batch: 1, step: 1 },
        { beneficiary: w.mallory.address },
      );
      await w.mirror.propose(w.mallory, 1, forged.stepRoots);
      const watcher = await makeVerifier(w, { config: { propose: "all", challenge: false } });
      await watcher.tick();
      expect(await chain.proposalCount(), "nothing built on the wrong proposal of batch 1").to.equal(2n);
      expect(watcher.status().actions).to.deep.equal([]);
      await watcher.stop();

      const eager = await makeVerifier(w, { config: { propose: "all" } });
      await eager.tick(); // proves batch 1 wrong
      await eager.tick(); // proposes 1 and 2
      expect(await chain.proposalCount()).to.equal(3n);
      for (const k of [1, 2])
        expect((await chain.proposal(k)).stepRootsHash).to.equal(stepRootsHash(w.mirror.roots[k]));
      await eager.stop();
    });

    it("leaves honest proposals alone and refuses to prove a step that is right", async function () {
      const w = await loadWorld();
      await w.mirror.propose(w.proposer, 1);
      const v = await makeVerifier(w, { config: { propose: "all" } });
      await v.tick();
      expect(await w.deployment.handles.stateCommitmentChain.proposalCount()).to.equal(2n);
      expect(v.status().actions).to.deep.equal([]);
      await v.stop();
    });
  });

  describe("catch-up and restart", function () {
    it("a verifier started late, after many batches, catches up and still challenges inside the window", async function () {
      const w = await loadWorld();
      await w.mirror.propose(w.proposer, 1);
      for (let k = 2; k < 30; k++) {
        await appendTransfers(w, 33);
        if (k === 20) {
          const forged = forgeStepRoots(
            w.mirror.stateAfter(19),
            w.mirror.batches[20],
            { kind: "forged-withdrawal", batch: 20, step: 1 },
            { beneficiary: w.mallory.address },
          );
          await w.mirror.propose(w.mallory, k, forged.stepRoots);
        } else {
          await w.mirror.propose(w.proposer, k);
        }
      }
      const { stateCommitmentChain: chain } = w.deployment.handles;
      // Most of the window is gone when the verifier starts; the early batches are already final.
      const deadline = Number(await chain.deadline(20));
      await time.increaseTo(deadline - 120);
      const log = new LogCapture();
      const v = await makeVerifier(w, { logger: log.logger, config: { logRange: 8, progressEveryMs: 0 } });
      await v.tick();
      const proven = await w.deployment.handles.fraudVerifier.queryFilter(
        w.deployment.handles.fraudVerifier.filters.FraudProven(),
      );
      expect(proven.map((e) => [e.args.batchIndex, e.args.stepIndex])).to.deep.equal([[20n, 1n]]);
      expect((await ethers.provider.getBlock(proven[0].blockNumber))?.timestamp).to.be.below(deadline);
      expect(await chain.proposalCount()).to.equal(20n);
      const progress = log.lines.filter((l) => l.msg === "catching up with L1");
      expect(progress.length).to.be.greaterThan(5);
      expect(progress.map((l) => Number(l.percent))).to.satisfy((p: number[]) =>
        p.every((x, i) => i === 0 || x >= p[i - 1]),
      );
      await v.tick();
      expect(await chain.proposalCount()).to.equal(30n);
      await v.tick();
      // The 20 proposals before the lie stood; the lie and its 9 successors were replaced by the verifier's.
      expect(v.status().proposals.map((p) => p.verdict)).to.deep.equal(Array(30).fill("right"));
      expect(v.status().proposals.filter((p) => p.proposer === w.challenger.address)).to.have.length(10);
      expectSameState(v.tipState, w.mirror.tip());
      await v.stop();
    });

    it("a verifier restarted mid-sync resumes from its checkpoint without re-reading or re-replaying anything", async function () {
      const w = await loadWorld();
      await w.mirror.propose(w.proposer, 1);
      for (let k = 2; k < 12; k++) {
        await appendTransfers(w, 20);
        await w.mirror.propose(w.proposer, k);
      }
      const dir = dataDir();
      const first = await makeVerifier(w, { dir, config: { logRange: 6 } });
      const start = first.checkpoint.block;
      await first.tick({ maxRanges: 3 });
      const mid = first.checkpoint;
      expect(mid.block).to.equal(start + 18);
      const replayedFirst = mid.batches;
      expect(replayedFirst).to.be.greaterThan(0).and.lessThan(12);
      await first.stop();

      const second = await makeVerifier(w, { dir, config: { logRange: 6 } });
      expect(second.checkpoint).to.deep.equal(mid);
      expect(second.tipState.stateRoot()).to.equal(mid.stateRoot);
      await second.tick();
      expect(second.firstBlockRead).to.equal(mid.block + 1);
      const metric = async (name: string): Promise<number> =>
        (await second.metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
      expect(await metric("bilayer_verifier_batches_replayed_total")).to.equal(12 - replayedFirst);
      expect(await metric("bilayer_verifier_blocks_read_total")).to.equal(second.checkpoint.block - mid.block);
      expectSameState(second.tipState, w.mirror.tip());
      expect(second.status().proposals.every((p) => p.verdict === "right")).to.equal(true);
      await second.stop();
    });

    it("a restarted verifier proves a lie it saw before the restart, from its stored undo records", async function () {
      const w = await loadWorld();
      const forged = forgeStepRoots(
        w.mirror.stateAfter(0),
        w.mirror.batches[1],
        { kind: "skip-applied", batch: 1, step: 1 },
        { beneficiary: w.mallory.address },
      );
      await w.mirror.propose(w.mallory, 1, forged.stepRoots);
      for (let k = 2; k < 5; k++) await appendTransfers(w, 10);
      const dir = dataDir();
      const watcher = await makeVerifier(w, { dir, signer: null });
      await watcher.tick();
      expect(watcher.status().proposals.map((p) => p.verdict)).to.deep.equal(["right", "wrong"]);
      expect(watcher.status().proposals[1].wrongStep).to.equal(1);
      await watcher.stop();

      const challenger = await makeVerifier(w, { dir });
      await challenger.tick();
      expect(challenger.status().actions.map((a) => [a.kind, a.batchIndex, a.stepIndex, a.result])).to.deep.equal([
        ["fraudProof", 1, 1, "succeeded"],
      ]);
      await challenger.tick();
      expect(await w.deployment.handles.stateCommitmentChain.proposalCount()).to.equal(2n);
      await challenger.stop();
    });
  });

  describe("process", function () {
    it("serves /status, /metrics and /health on 127.0.0.1", async function () {
      const w = await loadWorld();
      const v = await Verifier.start({
        config: { ...defaultVerifierConfig(w.deployment.chainId, dataDir()), port: 0, pollMs: 20 },
        provider: ethers.provider as unknown as Provider,
        signer: w.challenger,
        deployment: w.deployment,
        logger: new LogCapture("silent").logger,
      });
      try {
        expect(v.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
        await v.waitFor((s) => s.batches.replayed === 2 && !s.syncing);
        const status = (await (await fetch(`${v.url}/status`)).json()) as {
          batches: { replayed: number };
          challenger: string;
          proposals: { proposer: string }[];
        };
        expect(status.batches.replayed).to.equal(2);
        // Addresses are EIP-55 checksummed, as everywhere in the API (docs/OPERATOR.md, "JSON types").
        expect(status.challenger).to.equal(w.challenger.address);
        expect(status.proposals.length).to.be.greaterThan(0);
        for (const p of status.proposals) expect(p.proposer).to.equal(getAddress(p.proposer));
        const metrics = await (await fetch(`${v.url}/metrics`)).text();
        expect(metrics).to.match(/bilayer_verifier_batches_replayed_total 2/);
        expect(metrics).to.match(/bilayer_verifier_proposals_checked_total\{verdict="right"\} 1/);
        expect((await fetch(`${v.url}/health`)).status).to.equal(200);
        expect((await fetch(`${v.url}/nope`)).status).to.equal(404);
      } finally {
        await v.stop();
      }
    });

    it("serves a user from its replica: the operator's account, withdrawals and proof shapes, a proof that claims", async function () {
      const w = await loadWorld();
      await w.mirror.propose(w.proposer, 1);
      const v = await Verifier.start({
        config: { ...defaultVerifierConfig(w.deployment.chainId, dataDir()), port: 0, pollMs: 20, propose: "off" },
        provider: ethers.provider as unknown as Provider,
        deployment: w.deployment,
        logger: new LogCapture("silent").logger,
      });
      const client = new L2Client(v.url as string);
      try {
        await v.waitFor((s) => s.batches.replayed === 2 && s.batches.proposed === 2 && !s.syncing);
        const tip = w.mirror.tip();
        const bob = w.users.bob.address;
        // The same JSON as the operator's: one shape module (rpc/views.ts) for both servers.
        expect(await client.call("l2_getAccount", [ACCOUNTS.bob])).to.deep.equal(
          accountView(ACCOUNTS.bob, tip.getAccount(ACCOUNTS.bob) as Account),
        );
        const owned = await client.getAccountsOf(bob.toLowerCase());
        expect(owned.map((a) => a.index)).to.deep.equal([ACCOUNTS.bob]);
        expect(owned[0].owner).to.equal(bob);
        expect(await client.call("l2_getWithdrawals", [bob])).to.deep.equal([
          withdrawalView(1, { tokenId: 0, amount: ETH / 2n }, 1, "proposed"),
        ]);
        const early = await client.getWithdrawalProof(1);
        expect(early.final).to.equal(false);
        // Refusals carry the operator's codes.
        await expect(client.call("l2_getAccount", [999])).to.be.rejectedWith(L2RpcError, /account 999 does not exist/);
        await expect(client.call("l2_getAccount", [w.outsider.address])).to.be.rejectedWith(
          L2RpcError,
          /no L2 account/,
        );
        await expect(client.call("l2_getWithdrawalProof", ["x"])).to.be.rejectedWith(L2RpcError);

        // Past the window: final, and the proof built from the replica is what the bridge accepts.
        await time.increase(CHALLENGE_WINDOW_SECONDS);
        await ethers.provider.send("evm_mine", []);
        v.poke();
        await v.waitFor((s) => s.batches.settled === 2);
        const proof = await client.getWithdrawalProof(1);
        expect(proof.final).to.equal(true);
        expect((await client.getWithdrawals(bob))[0].status).to.equal("final");
        const bridge = w.deployment.handles.bridge.connect(w.outsider);
        await expect(
          bridge.claimWithdrawal(
            proof.batchIndex,
            proof.header,
            proof.withdrawalIndex,
            proof.recipient,
            proof.tokenId,
            proof.amount,
            proof.siblings,
          ),
        ).to.changeEtherBalance(w.users.bob, ETH / 2n);
        // Claimed, as the bridge says (read when asked).
        expect(await client.call("l2_getWithdrawals", [bob])).to.deep.equal([
          withdrawalView(1, { tokenId: 0, amount: ETH / 2n }, 1, "claimed"),
        ]);
      } finally {
        client.close();
        await v.stop();
      }
    });

    it("in propose mode 'all', force-includes overdue queue items when the sequencer is silent, then proposes them", async function () {
      const w = await loadWorld();
      await w.mirror.propose(w.proposer, 1);
      const inbox = w.deployment.handles.inbox;
      await (
        await w.deployment.handles.bridge.connect(w.users.erin).depositEth(w.users.erin.address, 0, { value: ETH })
      ).wait();
      const v = await makeVerifier(w, { config: { propose: "all" } });
      await v.tick();
      expect(await inbox.batchCount(), "not overdue yet: the sequencer's turn").to.equal(2n);
      await time.increase(FORCED_INCLUSION_DELAY_SECONDS + 1n);
      await ethers.provider.send("evm_mine", []);
      await v.tick(); // force-includes
      expect(await inbox.batchCount()).to.equal(3n);
      expect(await inbox.queueConsumed()).to.equal(await w.deployment.handles.bridge.queueLength());
      await v.tick(); // replays the forced batch and proposes it
      await w.mirror.syncQueue();
      const state = w.mirror.tip();
      applyQueueStep(state, w.mirror.queue.slice(7, 8));
      expect(v.tipState.stateRoot()).to.equal(state.stateRoot());
      expect(await w.deployment.handles.stateCommitmentChain.proposalCount()).to.equal(3n);
      expect(v.status().actions.map((a) => a.kind)).to.deep.equal(["forceInclude", "propose"]);
      await v.stop();
    });

    it("refuses a data directory that belongs to another deployment", async function () {
      const w = await loadWorld();
      const dir = dataDir();
      await (await makeVerifier(w, { dir })).stop();
      const other = { ...w, deployment: { ...w.deployment, contracts: { ...w.deployment.contracts } } };
      // Same chain, another inbox: a second deployment.
      const again = await buildWorld();
      other.deployment = again.deployment;
      await expect(makeVerifier(other, { dir })).to.be.rejectedWith(/holds the verifier state of inbox/);
    });

    it("halts, and says why, when a batch's chunks are not in the calldata of a direct inbox call", async function () {
      const w = await loadWorld();
      const provider = ethers.provider as unknown as Provider;
      // A node that reports the append as made through another contract (e.g. a multisig sequencer).
      const proxied = new Proxy(provider, {
        get(target, prop, receiver) {
          if (prop === "getTransaction") {
            return async (hash: string) => {
              const tx = await target.getTransaction(hash);
              return tx === null
                ? null
                : Object.assign(Object.create(Object.getPrototypeOf(tx) as object) as object, tx, {
                    to: w.outsider.address,
                  });
            };
          }
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const v = await Verifier.create({
        config: { ...defaultVerifierConfig(w.deployment.chainId, dataDir()), port: -1 },
        provider: proxied,
        signer: w.challenger,
        deployment: w.deployment,
        logger: new LogCapture("silent").logger,
      });
      await v.tick();
      expect(v.haltReason).to.match(/not to the inbox/);
      expect(v.status().halted).to.match(/batch 0/);
      expect(v.status().batches.replayed).to.equal(0);
      await v.stop();
    });
  });
});
