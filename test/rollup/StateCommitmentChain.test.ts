import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { EthRejecter__factory, ReentrantReceiver__factory, StateCommitmentChain__factory } from "../../typechain-types";
import { stepRootsHash } from "../../src/l1/batch";
import { BondState } from "../../src/operator/bonds";
import { GENESIS_STATE_ROOT } from "../../src/protocol/state";
import { CHALLENGE_WINDOW_SECONDS, loadRollup, PROPOSER_BOND } from "./helpers/fixtures";
import { garbageRoot } from "./helpers/model";

/** The fixture with `batches` one-step batches appended (a chunk each). */
async function withBatches(batches: number) {
  const fixture = await loadRollup();
  const { inbox } = fixture.deployment.handles;
  for (let i = 0; i < batches; i++) await inbox.connect(fixture.sequencer).appendBatch(["0x"], 0, 0);
  return { ...fixture, chain: fixture.deployment.handles.stateCommitmentChain };
}

describe("StateCommitmentChain", function () {
  it("starts from the root of the empty state", async function () {
    const { chain } = await withBatches(0);
    expect(await chain.GENESIS_STATE_ROOT()).to.equal(GENESIS_STATE_ROOT);
    expect(await chain.preStateRoot(0)).to.equal(GENESIS_STATE_ROOT);
    expect(await chain.CHALLENGE_WINDOW_SECONDS()).to.equal(CHALLENGE_WINDOW_SECONDS);
    expect(await chain.PROPOSER_BOND()).to.equal(PROPOSER_BOND);
  });

  it("refuses a challenge window of zero seconds", async function () {
    const { deployer, deployment } = await withBatches(0);
    const factory = new StateCommitmentChain__factory(deployer);
    await expect(
      factory.deploy(deployment.contracts.rollupInbox, deployment.contracts.fraudVerifier, 0, PROPOSER_BOND),
    ).to.be.revertedWithCustomError(factory, "StateCommitmentChainZeroChallengeWindow");
  });

  describe("propose", function () {
    it("records a bonded proposal for the next batch and emits its roots and deadline", async function () {
      const { chain, sequencer, deployment, proposer } = await withBatches(1);
      await deployment.handles.inbox.connect(sequencer).appendBatch(["0x", "0x"], 0, 0);
      const roots = [garbageRoot(1)];
      const at = BigInt(await time.latest()) + 5n;
      await time.setNextBlockTimestamp(at);
      const tx = chain.connect(proposer).propose(0, roots, { value: PROPOSER_BOND });
      await expect(tx)
        .to.emit(chain, "StateProposed")
        .withArgs(0, proposer.address, 0, roots[0], at + CHALLENGE_WINDOW_SECONDS, roots);
      await expect(tx).to.changeEtherBalances([proposer, chain], [-PROPOSER_BOND, PROPOSER_BOND]);
      const p = await chain.proposal(0);
      expect([p.stateRoot, p.stepRootsHash, p.proposer, p.proposedAt, p.id, p.bond]).to.deep.equal([
        roots[0],
        stepRootsHash(roots),
        proposer.address,
        at,
        0n,
        BondState.Held,
      ]);
      expect([...(await chain.bond(0))]).to.deep.equal([proposer.address, 0n, BondState.Held]);
      expect(await chain.isLive(0)).to.equal(true);
      expect(await chain.proposalCount()).to.equal(1);
      expect(await chain.proposalsMade()).to.equal(1);
      expect(await chain.stateRoot(0)).to.equal(roots[0]);
      expect(await chain.preStateRoot(1)).to.equal(roots[0]);
      expect(await chain.deadline(0)).to.equal(at + CHALLENGE_WINDOW_SECONDS);
      // Batch 1 has two steps: its state root is the last one.
      const next = [garbageRoot(2), garbageRoot(3)];
      await expect(chain.connect(proposer).propose(1, next, { value: PROPOSER_BOND }))
        .to.emit(chain, "StateProposed")
        .withArgs(1, proposer.address, 1, next[1], (d: bigint) => d > at, next);
      expect(await chain.stateRoot(1)).to.equal(next[1]);
      expect((await chain.proposal(1)).id).to.equal(1n);
    });

    it("refuses a proposal that skips a batch or repeats one", async function () {
      const { chain, proposer } = await withBatches(3);
      await expect(chain.connect(proposer).propose(1, [garbageRoot(1)], { value: PROPOSER_BOND }))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainNotNextBatch")
        .withArgs(1, 0);
      await chain.connect(proposer).propose(0, [garbageRoot(1)], { value: PROPOSER_BOND });
      await expect(chain.connect(proposer).propose(0, [garbageRoot(1)], { value: PROPOSER_BOND }))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainNotNextBatch")
        .withArgs(0, 1);
      await expect(chain.connect(proposer).propose(2, [garbageRoot(1)], { value: PROPOSER_BOND }))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainNotNextBatch")
        .withArgs(2, 1);
    });

    it("refuses a proposal for a batch not yet appended", async function () {
      const { chain, proposer } = await withBatches(0);
      await expect(chain.connect(proposer).propose(0, [garbageRoot(1)], { value: PROPOSER_BOND }))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainBatchNotAppended")
        .withArgs(0, 0);
    });

    it("refuses a proposal with the wrong number of step roots", async function () {
      const { chain, proposer } = await withBatches(1);
      for (const roots of [[], [garbageRoot(1), garbageRoot(2)]]) {
        await expect(chain.connect(proposer).propose(0, roots, { value: PROPOSER_BOND }))
          .to.be.revertedWithCustomError(chain, "StateCommitmentChainStepCountMismatch")
          .withArgs(0, roots.length, 1);
      }
    });

    it("refuses a proposal without exactly the bond", async function () {
      const { chain, proposer } = await withBatches(1);
      for (const value of [0n, PROPOSER_BOND - 1n, PROPOSER_BOND + 1n]) {
        await expect(chain.connect(proposer).propose(0, [garbageRoot(1)], { value }))
          .to.be.revertedWithCustomError(chain, "StateCommitmentChainWrongBond")
          .withArgs(value, PROPOSER_BOND);
      }
    });
  });

  describe("finality and bonds", function () {
    async function proposed() {
      const fixture = await withBatches(2);
      const { chain, proposer } = fixture;
      await chain.connect(proposer).propose(0, [garbageRoot(1)], { value: PROPOSER_BOND });
      await chain.connect(proposer).propose(1, [garbageRoot(2)], { value: PROPOSER_BOND });
      return { ...fixture, deadline: await chain.deadline(0), deadline1: await chain.deadline(1) };
    }

    it("is not final at deadline - 1, final at deadline and deadline + 1", async function () {
      const { chain, deadline } = await proposed();
      await time.increaseTo(deadline - 1n);
      expect(await chain.isFinal(0)).to.equal(false);
      await time.increaseTo(deadline);
      expect(await chain.isFinal(0)).to.equal(true);
      await time.increaseTo(deadline + 1n);
      expect(await chain.isFinal(0)).to.equal(true);
    });

    it("is never final for a batch without a proposal", async function () {
      const { chain, deadline1 } = await proposed();
      await time.increaseTo(deadline1 + 10n * CHALLENGE_WINDOW_SECONDS);
      expect(await chain.isFinal(1)).to.equal(true);
      expect(await chain.isFinal(2)).to.equal(false);
    });

    it("never makes a proposal final before its parent", async function () {
      const { chain, deadline, deadline1 } = await proposed();
      expect(deadline1).to.be.greaterThanOrEqual(deadline);
      await time.increaseTo(deadline1);
      expect([await chain.isFinal(0), await chain.isFinal(1)]).to.deep.equal([true, true]);
    });

    it("returns the bond of a final proposal once, to its proposer, whoever asks", async function () {
      const { chain, proposer, outsider, deadline } = await proposed();
      await time.setNextBlockTimestamp(deadline - 1n);
      await expect(chain.connect(outsider).returnBond(0))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainNotFinal")
        .withArgs(0, deadline);
      await time.setNextBlockTimestamp(deadline);
      const tx = chain.connect(outsider).returnBond(0);
      await expect(tx).to.emit(chain, "BondReturned").withArgs(0, 0, proposer.address, PROPOSER_BOND);
      await expect(tx).to.changeEtherBalances([proposer, chain], [PROPOSER_BOND, -PROPOSER_BOND]);
      expect((await chain.proposal(0)).bond).to.equal(BondState.Returned);
      await expect(chain.connect(outsider).returnBond(0))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainBondAlreadyReturned")
        .withArgs(0);
      await expect(chain.returnBond(2))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainUnknownProposal")
        .withArgs(2, 2);
    });

    it("pays a bond once to a proposer that re-enters returnBond", async function () {
      const { chain, deployer, outsider } = await withBatches(1);
      const receiver = await new ReentrantReceiver__factory(deployer).deploy();
      const chainAddress = await chain.getAddress();
      const propose = chain.interface.encodeFunctionData("propose", [0, [garbageRoot(1)]]);
      await receiver.execute(chainAddress, propose, { value: PROPOSER_BOND });
      await time.increaseTo(await chain.deadline(0));
      await receiver.arm(chainAddress, chain.interface.encodeFunctionData("returnBond", [0]));
      await expect(chain.connect(outsider).returnBond(0)).to.changeEtherBalance(receiver, PROPOSER_BOND);
      expect(await receiver.reentries()).to.equal(1);
      expect(await receiver.lastReentryResult()).to.equal(
        chain.interface.getError("ReentrancyGuardReentrantCall")?.selector,
      );
      expect(await ethers.provider.getBalance(chainAddress)).to.equal(0n);
    });

    it("keeps the bond when the proposer cannot receive it", async function () {
      const { chain, deployer } = await withBatches(1);
      const rejecter = await new EthRejecter__factory(deployer).deploy();
      const data = chain.interface.encodeFunctionData("propose", [0, [garbageRoot(1)]]);
      await rejecter.execute(await chain.getAddress(), data, { value: PROPOSER_BOND });
      await time.increaseTo(await chain.deadline(0));
      await expect(chain.returnBond(0))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainPaymentFailed")
        .withArgs(await rejecter.getAddress(), PROPOSER_BOND);
      expect(await ethers.provider.getBalance(await chain.getAddress())).to.equal(PROPOSER_BOND);
    });
  });

  describe("rollback", function () {
    it("may only be called by the FraudVerifier", async function () {
      const { chain, proposer, outsider } = await withBatches(1);
      await chain.connect(proposer).propose(0, [garbageRoot(1)], { value: PROPOSER_BOND });
      await expect(chain.connect(outsider).rollback(0, outsider.address))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainCallerNotFraudVerifier")
        .withArgs(outsider.address);
    });
  });

  describe("views", function () {
    it("refuse ids never given out", async function () {
      const { chain } = await withBatches(1);
      await expect(chain.bond(0))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainUnknownProposal")
        .withArgs(0, 0);
      expect(await chain.isLive(0)).to.equal(false);
    });

    it("refuse batches without a live proposal", async function () {
      const { chain } = await withBatches(1);
      for (const view of [chain.proposal, chain.stateRoot, chain.deadline]) {
        await expect(view(0)).to.be.revertedWithCustomError(chain, "StateCommitmentChainNoProposal").withArgs(0, 0);
      }
      await expect(chain.preStateRoot(1))
        .to.be.revertedWithCustomError(chain, "StateCommitmentChainNoProposal")
        .withArgs(0, 0);
    });
  });
});
