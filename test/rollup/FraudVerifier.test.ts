import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { chunkProof, stepRootsHash } from "../../src/l1/batch";
import { Outcome } from "../../src/protocol/constants";
import { stateRootOf } from "../../src/protocol/state";
import { applyChunk } from "../../src/protocol/stf";
import { ReentrantReceiver__factory } from "../../typechain-types";
import { BondState } from "../../src/operator/bonds";
import { CHALLENGE_WINDOW_SECONDS, PROPOSER_BOND } from "./helpers/fixtures";
import type { LiarStep } from "./helpers/model";
import { ChunkBuilder, garbageRoot } from "./helpers/model";
import { ACCOUNTS, batchOneScenario, ETH, foreignDomains } from "./helpers/scenario";

type Scenario = Awaited<ReturnType<typeof batchOneScenario>>;

const HALF_BOND = PROPOSER_BOND / 2n;

/** Batch 0 proposed honestly, batch 1 by Mallory with the given roots. */
async function proposeBatchOne(s: Scenario, roots: string[]): Promise<void> {
  await s.model.propose(s.proposer, 0);
  await s.model.propose(s.mallory, 1, roots);
}

/** After a rollback of batch 1: the correct proposal is made, becomes final, and Bob's withdrawal is paid. */
async function proposeCorrectlyAndClaim(s: Scenario): Promise<void> {
  const { stateCommitmentChain: chain, bridge } = s.deployment.handles;
  await s.model.propose(s.proposer, 1);
  await time.increaseTo(await chain.deadline(1));
  const args = s.model.claimArgs(1, 1);
  expect([args[3], args[5]]).to.deep.equal([s.bob.address.toLowerCase(), ETH / 2n]);
  await expect(bridge.connect(s.outsider).claimWithdrawal(...args)).to.changeEtherBalance(s.bob, ETH / 2n);
}

/** Challenges `step` of Mallory's batch-1 proposal and checks the rollback, the slash and the reward. */
async function expectCaught(s: Scenario, roots: string[], step: number): Promise<void> {
  const { stateCommitmentChain: chain, fraudVerifier } = s.deployment.handles;
  const honest = s.model.trace(1).stepRoots[step];
  const burntBefore = await chain.totalBurnt();
  const { id } = await chain.proposal(1);
  const proof = s.model.challenge(s.challenger, 1, step, roots);
  await expect(proof)
    .to.emit(fraudVerifier, "FraudProven")
    .withArgs(1, step, s.challenger.address, roots[step], honest);
  await expect(proof)
    .to.emit(chain, "ProposalsRolledBack")
    .withArgs(1, 2, s.challenger.address, id, HALF_BOND, PROPOSER_BOND - HALF_BOND);
  await expect(proof).to.changeEtherBalances([s.challenger, chain], [HALF_BOND, -HALF_BOND]);
  expect((await chain.bond(id)).state).to.equal(BondState.Forfeited);
  expect(await chain.proposalCount()).to.equal(1);
  expect(await chain.totalBurnt()).to.equal(burntBefore + PROPOSER_BOND - HALF_BOND);
}

describe("FraudVerifier", function () {
  describe("every lie is caught", function () {
    it("a wrong root at any step", async function () {
      const s = await batchOneScenario();
      const honest = s.model.trace(1).stepRoots;
      await s.model.propose(s.proposer, 0);
      for (let step = 0; step < honest.length; step++) {
        const roots = honest.map((root, i) => (i === step ? garbageRoot(step) : root));
        await s.model.propose(s.mallory, 1, roots);
        await expectCaught(s, roots, step);
      }
      await proposeCorrectlyAndClaim(s);
    });

    // Each row mutates the step the way a liar would; the rest of the batch is executed honestly from the lie.
    const lies: { name: string; step: number; liar: (s: Scenario) => LiarStep }[] = [
      {
        name: "a skipped transaction applied (a transfer signed by someone else than the owner)",
        step: 1,
        liar: (s) => (state) => {
          applyChunk(state, s.chunkAForgeryValid, { domainSeparator: s.model.domain, feeRecipient: ACCOUNTS.fees });
        },
      },
      {
        name: "an applied transaction skipped (a withdrawal censored)",
        step: 1,
        liar: (s) => (state) => {
          applyChunk(state, s.chunkAWithoutWithdrawal, {
            domainSeparator: s.model.domain,
            feeRecipient: ACCOUNTS.fees,
          });
        },
      },
      {
        name: "a wrong queue application (a forced exit ignored)",
        step: 0,
        liar: (s) => (state, input) => {
          if (input.kind !== "queue") throw new Error("not a queue step");
          s.model.applyStep(1, state, { kind: "queue", items: input.items.slice(0, 1) });
        },
      },
      {
        name: "a wrong queue application (a deposit credited twice)",
        step: 0,
        liar: (s) => (state, input) => {
          if (input.kind !== "queue") throw new Error("not a queue step");
          const doubled = input.items.map((item) => ({ ...item, amount: item.amount * 2n }));
          s.model.applyStep(1, state, { kind: "queue", items: doubled });
        },
      },
      {
        name: "a forged withdrawal to the proposer",
        step: 2,
        liar: (s) => (state, _input, honest) => {
          honest(state);
          state.appendWithdrawal({ recipient: s.mallory.address, tokenId: 0, amount: 3n * ETH });
        },
      },
      {
        name: "a wrong fee credit (the fees paid to the proposer's account)",
        step: 1,
        liar: (s) => (state) => {
          applyChunk(state, s.chunkA, { domainSeparator: s.model.domain, feeRecipient: ACCOUNTS.mallory });
        },
      },
      {
        name: "a wrong account created (owned by the proposer)",
        step: 1,
        liar: (s) => (state, _input, honest) => {
          honest(state);
          const created = state.getAccount(6);
          if (created === undefined) throw new Error("account 6 was not created");
          state.putAccount(6, { ...created, owner: s.mallory.address });
        },
      },
    ];

    for (const lie of lies) {
      it(lie.name, async function () {
        const s = await batchOneScenario();
        const { stepRoots } = s.model.lie(1, lie.step, lie.liar(s));
        await proposeBatchOne(s, stepRoots);
        await expectCaught(s, stepRoots, lie.step);
        await proposeCorrectlyAndClaim(s);
      });
    }

    it("a signature replayed from another chain or another inbox", async function () {
      const s = await batchOneScenario();
      const { alice, sequencer, model } = s;
      const { otherChain, otherInbox } = await foreignDomains(s.deployment.contracts.rollupInbox);
      await model.propose(s.proposer, 0);
      await model.propose(s.proposer, 1);
      // Batch 2: the same transfer by Alice twice, over her current nonce, each validly signed for another domain.
      const builder = new ChunkBuilder(model.tip(), model.domain);
      builder.add(
        alice,
        { type: 1, from: ACCOUNTS.alice, to: ACCOUNTS.bob, amount: ETH, fee: 0n },
        { domain: otherChain },
      );
      builder.add(
        alice,
        { type: 1, from: ACCOUNTS.alice, to: ACCOUNTS.bob, amount: ETH, fee: 0n },
        { domain: otherInbox, nonce: model.tip().getAccount(ACCOUNTS.alice)?.nonce },
      );
      await model.append(sequencer, [builder.build()], 0, 0);
      const trace = model.trace(2);
      expect(trace.steps[0].outcomes.map((o) => o.code)).to.deep.equal([Outcome.BadSignature, Outcome.BadSignature]);
      for (const foreign of [otherChain, otherInbox]) {
        const { stepRoots } = model.lie(2, 0, (state, input) => {
          if (input.kind !== "chunk") throw new Error("not a chunk step");
          applyChunk(state, input.chunk, { domainSeparator: foreign, feeRecipient: 0 });
        });
        await model.propose(s.mallory, 2, stepRoots);
        await expect(model.challenge(s.challenger, 2, 0, stepRoots))
          .to.emit(s.deployment.handles.fraudVerifier, "FraudProven")
          .withArgs(2, 0, s.challenger.address, stepRoots[0], trace.stepRoots[0]);
      }
      // The honest proposal, with both transfers skipped, stands.
      await model.propose(s.proposer, 2);
      await expect(model.challenge(s.challenger, 2, 0, trace.stepRoots)).to.be.revertedWithCustomError(
        s.deployment.handles.fraudVerifier,
        "FraudVerifierStepCorrect",
      );
      expect(model.stateAfter(2).getAccount(ACCOUNTS.bob)?.balance).to.equal(
        model.stateAfter(1).getAccount(ACCOUNTS.bob)?.balance,
      );
    });
  });

  describe("honest proposals stand", function () {
    it("reverts a proof against any honest step with FraudVerifierStepCorrect", async function () {
      const s = await batchOneScenario();
      await s.model.propose(s.proposer, 0);
      await s.model.propose(s.proposer, 1);
      for (const batch of [0, 1]) {
        const roots = s.model.trace(batch).stepRoots;
        for (let step = 0; step < roots.length; step++) {
          await expect(s.model.challenge(s.challenger, batch, step, roots))
            .to.be.revertedWithCustomError(s.deployment.handles.fraudVerifier, "FraudVerifierStepCorrect")
            .withArgs(batch, step, roots[step]);
        }
      }
    });
  });

  describe("the challenge window", function () {
    it("accepts a proof at deadline - 1 and refuses one at deadline and deadline + 1", async function () {
      for (const offset of [-1n, 0n, 1n]) {
        const s = await batchOneScenario();
        const roots = s.model.trace(1).stepRoots.map((r, i) => (i === 2 ? garbageRoot(7) : r));
        await proposeBatchOne(s, roots);
        const { stateCommitmentChain: chain, fraudVerifier } = s.deployment.handles;
        const deadline = await chain.deadline(1);
        expect(deadline).to.equal(BigInt((await chain.proposal(1)).proposedAt) + CHALLENGE_WINDOW_SECONDS);
        await time.setNextBlockTimestamp(deadline + offset);
        const proof = s.model.challenge(s.challenger, 1, 2, roots);
        if (offset < 0n) {
          await expect(proof).to.emit(fraudVerifier, "FraudProven");
        } else {
          await expect(proof)
            .to.be.revertedWithCustomError(fraudVerifier, "FraudVerifierProposalFinal")
            .withArgs(1, deadline);
        }
      }
    });
  });

  describe("rollback", function () {
    it("deletes every later proposal; only the proven-wrong bond is forfeited, half to the challenger", async function () {
      const s = await batchOneScenario();
      const { model, sequencer } = s;
      const { stateCommitmentChain: chain, fraudVerifier } = s.deployment.handles;
      const lie = model.lie(1, 2, (state, _input, honest) => {
        honest(state);
        state.appendWithdrawal({ recipient: s.mallory.address, tokenId: 0, amount: ETH });
      });
      await proposeBatchOne(s, lie.stepRoots);
      // Two more batches, proposed on top of the lie (their roots follow from the liar's state).
      await model.append(sequencer, [new Uint8Array(0)], 0, 0);
      await model.append(sequencer, [new Uint8Array(0)], 0, 0);
      await model.propose(s.mallory, 2, [lie.post.stateRoot()]);
      await model.propose(s.proposer, 3, [lie.post.stateRoot()]);
      const ids = await Promise.all([1, 2, 3].map(async (k) => (await chain.proposal(k)).id));
      const proof = model.challenge(s.challenger, 1, 2, lie.stepRoots);
      await expect(proof)
        .to.emit(chain, "ProposalsRolledBack")
        .withArgs(1, 4, s.challenger.address, ids[0], HALF_BOND, PROPOSER_BOND - HALF_BOND);
      await expect(proof).to.changeEtherBalance(s.challenger, HALF_BOND);
      expect(await chain.proposalCount()).to.equal(1);
      expect(await chain.totalBurnt()).to.equal(PROPOSER_BOND - HALF_BOND);
      await expect(chain.proposal(2)).to.be.revertedWithCustomError(chain, "StateCommitmentChainNoProposal");
      await expect(model.challenge(s.challenger, 2, 0, [lie.post.stateRoot()]))
        .to.be.revertedWithCustomError(fraudVerifier, "FraudVerifierNoProposal")
        .withArgs(2, 1);
      expect((await Promise.all(ids.map((id) => chain.bond(id)))).map((b) => b.state)).to.deep.equal([
        BondState.Forfeited,
        BondState.Held,
        BondState.Held,
      ]);
      expect(await Promise.all(ids.map((id) => chain.isLive(id)))).to.deep.equal([false, false, false]);
      // Honest proposals replace them; the forfeited bond's other half stays locked.
      for (const batch of [1, 2, 3]) await model.propose(s.proposer, batch);
      expect(await ethers.provider.getBalance(await chain.getAddress())).to.equal(
        4n * PROPOSER_BOND + 2n * PROPOSER_BOND + (PROPOSER_BOND - HALF_BOND),
      );
    });

    it("a liar who proves her own lie loses half her bond, and the honest successors get theirs back in full", async function () {
      // The attack: Mallory proposes batch 1 with one wrong intermediate root and the right final root; an honest
      // proposer builds batches 2 and 3 on it (its final root is right); Mallory proves her own lie.
      const s = await batchOneScenario();
      const { model, sequencer, mallory, proposer, outsider } = s;
      const { stateCommitmentChain: chain } = s.deployment.handles;
      const honest = model.trace(1).stepRoots;
      const lie = honest.map((root, i) => (i === 1 ? garbageRoot(7) : root));
      expect(lie[lie.length - 1]).to.equal(honest[honest.length - 1]);
      await model.append(sequencer, [new Uint8Array(0)], 0, 0);
      await model.append(sequencer, [new Uint8Array(0)], 0, 0);
      await model.propose(proposer, 0);
      const malloryBefore = await ethers.provider.getBalance(mallory.address);
      const proposerBefore = await ethers.provider.getBalance(proposer.address);
      let malloryGas = 0n;
      let proposerGas = 0n;
      const fee = (r: { gasUsed: bigint; gasPrice: bigint } | null): bigint => (r ? r.gasUsed * r.gasPrice : 0n);
      malloryGas += fee(await model.propose(mallory, 1, lie));
      proposerGas += fee(await model.propose(proposer, 2));
      proposerGas += fee(await model.propose(proposer, 3));
      const [liar, second, third] = await Promise.all([1, 2, 3].map(async (k) => (await chain.proposal(k)).id));

      malloryGas += fee(await (await model.challenge(mallory, 1, 1, lie)).wait());
      // Nobody waits for a window to get a removed proposal's bond back: anyone may send it, at once.
      for (const id of [second, third]) {
        await expect(chain.connect(outsider).returnBond(id))
          .to.emit(chain, "BondReturned")
          .withArgs(id, id === second ? 2 : 3, proposer.address, PROPOSER_BOND);
        await expect(chain.connect(outsider).returnBond(id))
          .to.be.revertedWithCustomError(chain, "StateCommitmentChainBondAlreadyReturned")
          .withArgs(id);
      }
      await expect(chain.returnBond(liar))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainBondForfeited")
        .withArgs(liar);

      const malloryNet = (await ethers.provider.getBalance(mallory.address)) - malloryBefore + malloryGas;
      const proposerNet = (await ethers.provider.getBalance(proposer.address)) - proposerBefore + proposerGas;
      expect(malloryNet).to.equal(HALF_BOND - PROPOSER_BOND);
      expect(proposerNet).to.equal(0n);
    });
  });

  it("pays a challenger that re-enters the chain from its reward once", async function () {
    const s = await batchOneScenario();
    const roots = s.model.trace(1).stepRoots.map((r, i) => (i === 2 ? garbageRoot(3) : r));
    await proposeBatchOne(s, roots);
    const { fraudVerifier, stateCommitmentChain: chain } = s.deployment.handles;
    const receiver = await new ReentrantReceiver__factory(s.deployer).deploy();
    const receiverAddress = await receiver.getAddress();
    await receiver.arm(await chain.getAddress(), chain.interface.encodeFunctionData("rollback", [0, receiverAddress]));
    const call = s.model.proofCall(1, 2, roots);
    if (call.kind !== "chunk") throw new Error("not a chunk step");
    const proof = fraudVerifier.interface.encodeFunctionData("proveChunkStep", call.args);
    await expect(receiver.execute(await fraudVerifier.getAddress(), proof)).to.changeEtherBalance(receiver, HALF_BOND);
    expect(await receiver.lastReentryResult()).to.equal(
      chain.interface.getError("ReentrancyGuardReentrantCall")?.selector,
    );
    expect(await chain.proposalCount()).to.equal(1);
  });

  describe("refuses malformed proofs", function () {
    async function lying() {
      const s = await batchOneScenario();
      const roots = s.model.trace(1).stepRoots.map((r, i) => (i === 1 ? garbageRoot(1) : r));
      await proposeBatchOne(s, roots);
      const chunkCall = s.model.proofCall(1, 1, roots);
      const queueCall = s.model.proofCall(1, 0, roots);
      if (chunkCall.kind !== "chunk" || queueCall.kind !== "queue") throw new Error("unexpected step kinds");
      const verifier = s.deployment.handles.fraudVerifier.connect(s.challenger);
      return { ...s, roots, chunk: chunkCall.args, queue: queueCall.args, verifier };
    }

    it("a proof for a batch without a live proposal", async function () {
      const { verifier, chunk, queue } = await lying();
      const [, step, roots, pre, bytes, proof, witness] = chunk;
      await expect(verifier.proveChunkStep(2, step, roots, pre, bytes, proof, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierNoProposal")
        .withArgs(2, 2);
      const [, qStep, qRoots, qPre, items, qWitness] = queue;
      await expect(verifier.proveQueueStep(2, qStep, qRoots, qPre, items, qWitness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierNoProposal")
        .withArgs(2, 2);
    });

    it("step roots that are not the proposal's", async function () {
      const { verifier, chunk, deployment } = await lying();
      const [batch, step, roots, pre, bytes, proof, witness] = chunk;
      const forged = [...roots];
      forged[2] = garbageRoot(99);
      const stored = (await deployment.handles.stateCommitmentChain.proposal(1)).stepRootsHash;
      await expect(verifier.proveChunkStep(batch, step, forged, pre, bytes, proof, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierStepRootsMismatch")
        .withArgs(1, stored, stepRootsHash(forged));
    });

    it("a step of the other kind, or past the last step", async function () {
      const { verifier, chunk, queue } = await lying();
      const [batch, , roots, pre, bytes, proof, witness] = chunk;
      // Step 0's own pre-state, so that only the kind of the step is wrong.
      await expect(verifier.proveChunkStep(batch, 0, roots, queue[3], bytes, proof, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierWrongStep")
        .withArgs(0, 1, 3);
      await expect(verifier.proveChunkStep(batch, 3, roots, pre, bytes, proof, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierWrongStep")
        .withArgs(3, 0, 3);
      const [qBatch, , qRoots, , items, qWitness] = queue;
      await expect(verifier.proveQueueStep(qBatch, 1, qRoots, pre, items, qWitness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierWrongStep")
        .withArgs(1, 0, 1);
    });

    it("a pre-state that is not the step's", async function () {
      const { verifier, chunk, roots } = await lying();
      const [batch, step, , pre, bytes, proof, witness] = chunk;
      const wrong = { ...pre, accountCount: pre.accountCount + 1 };
      await expect(verifier.proveChunkStep(batch, step, roots, wrong, bytes, proof, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierPreStateMismatch")
        .withArgs(roots[0], stateRootOf(wrong));
    });

    it("a chunk that is not the step's", async function () {
      const { verifier, chunk, chunkB, deployment, model } = await lying();
      const [batch, step, roots, pre, bytes, proof, witness] = chunk;
      const chunksRoot = (await deployment.handles.inbox.batch(1)).chunksRoot;
      const tampered = Uint8Array.from(bytes);
      tampered[5] ^= 1;
      await expect(verifier.proveChunkStep(batch, step, roots, pre, tampered, proof, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierChunkMismatch")
        .withArgs(0, chunksRoot, (root: string) => root !== chunksRoot);
      // Chunk B with its own (valid) path, offered as step 1's chunk.
      const otherProof = chunkProof(model.batches[1].chunks, 1);
      await expect(verifier.proveChunkStep(batch, step, roots, pre, chunkB, otherProof, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierChunkMismatch")
        .withArgs(0, chunksRoot, (root: string) => root !== chunksRoot);
    });

    it("queue items that are not the step's", async function () {
      const { verifier, queue, deployment } = await lying();
      const [batch, step, roots, pre, items, witness] = queue;
      await expect(verifier.proveQueueStep(batch, step, roots, pre, items.slice(0, 1), witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierQueueItemCount")
        .withArgs(1, 2);
      const inflated = items.map((item, i) => (i === 0 ? { ...item, amount: item.amount + 1n } : item));
      const expected = await deployment.handles.bridge.queueAccumulator(7);
      await expect(verifier.proveQueueStep(batch, step, roots, pre, inflated, witness))
        .to.be.revertedWithCustomError(verifier, "FraudVerifierQueueMismatch")
        .withArgs(expected, (acc: string) => acc !== expected);
    });

    it("a witness that does not prove against the pre-state", async function () {
      const { verifier, chunk, queue } = await lying();
      const [batch, step, roots, pre, bytes, proof, witness] = chunk;
      const forged = structuredClone(witness);
      forged.accounts[1].account.balance += 1n;
      await expect(verifier.proveChunkStep(batch, step, roots, pre, bytes, proof, forged)).to.be.reverted;
      const [qBatch, qStep, qRoots, qPre, items, qWitness] = queue;
      const short = { ...qWitness, accounts: qWitness.accounts.slice(0, 1) };
      await expect(verifier.proveQueueStep(qBatch, qStep, qRoots, qPre, items, short)).to.be.reverted;
    });
  });
});
