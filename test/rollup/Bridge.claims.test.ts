import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { EthRejecter__factory, ReentrantClaimToken__factory } from "../../typechain-types";
import { toHex } from "../../src/protocol/hash";
import { stateRootOf, withdrawalLeaf } from "../../src/protocol/state";
import { loadRollup } from "./helpers/fixtures";
import { batchOneScenario, ETH } from "./helpers/scenario";

/** Batches 0 and 1 proposed honestly and final. Withdrawal 0: Mallory's exit (1 ETH); 1: Bob's (0.5 ETH). */
async function finalScenario() {
  const s = await batchOneScenario();
  await s.model.propose(s.proposer, 0);
  await s.model.propose(s.proposer, 1);
  const { stateCommitmentChain: chain } = s.deployment.handles;
  return { ...s, bridge: s.deployment.handles.bridge, chain, deadline: await chain.deadline(1) };
}

describe("Bridge claims", function () {
  it("pays a withdrawal of a final batch to its recipient, whoever sends the claim", async function () {
    const { bridge, model, outsider, mallory, deadline } = await finalScenario();
    await time.increaseTo(deadline);
    const claim = bridge.connect(outsider).claimWithdrawal(...model.claimArgs(1, 0));
    await expect(claim).to.emit(bridge, "WithdrawalClaimed").withArgs(0, mallory.address, 0, ETH, 1);
    await expect(claim).to.changeEtherBalances([mallory, bridge], [ETH, -ETH]);
    expect(await bridge.isClaimed(0)).to.equal(true);
    expect(await bridge.isClaimed(1)).to.equal(false);
  });

  it("never pays a withdrawal twice, even against a later final state", async function () {
    const { bridge, chain, model, sequencer, proposer, bob, deadline } = await finalScenario();
    await time.increaseTo(deadline);
    await bridge.claimWithdrawal(...model.claimArgs(1, 1));
    await expect(bridge.claimWithdrawal(...model.claimArgs(1, 1)))
      .to.be.revertedWithCustomError(bridge, "BridgeWithdrawalAlreadyClaimed")
      .withArgs(1);
    await model.append(sequencer, [new Uint8Array(0)], 0, 0);
    await model.propose(proposer, 2);
    await time.increaseTo(await chain.deadline(2));
    await expect(bridge.claimWithdrawal(...model.claimArgs(2, 1)))
      .to.be.revertedWithCustomError(bridge, "BridgeWithdrawalAlreadyClaimed")
      .withArgs(1);
    expect(bob.address).to.equal(ethers.getAddress(model.claimArgs(2, 1)[3]));
  });

  it("refuses a claim while the batch is in its challenge window, and accepts it from the deadline", async function () {
    const { bridge, model, deadline } = await finalScenario();
    await time.setNextBlockTimestamp(deadline - 1n);
    await expect(bridge.claimWithdrawal(...model.claimArgs(1, 0)))
      .to.be.revertedWithCustomError(bridge, "BridgeBatchNotFinal")
      .withArgs(1);
    await time.setNextBlockTimestamp(deadline);
    await expect(bridge.claimWithdrawal(...model.claimArgs(1, 0))).to.emit(bridge, "WithdrawalClaimed");
  });

  it("refuses a claim against a rolled-back root", async function () {
    const s = await batchOneScenario();
    const { bridge, stateCommitmentChain: chain } = s.deployment.handles;
    const lie = s.model.lie(1, 2, (state, _input, honest) => {
      honest(state);
      state.appendWithdrawal({ recipient: s.mallory.address, tokenId: 0, amount: 3n * ETH });
    });
    await s.model.propose(s.proposer, 0);
    await s.model.propose(s.mallory, 1, lie.stepRoots);
    const forged = s.model.claimArgs(1, 2, lie.post);
    await s.model.challenge(s.challenger, 1, 2, lie.stepRoots);
    await time.increaseTo(BigInt(await time.latest()) + 10n * 3600n);
    await expect(bridge.connect(s.mallory).claimWithdrawal(...forged))
      .to.be.revertedWithCustomError(bridge, "BridgeBatchNotFinal")
      .withArgs(1);
    // The honest proposal replaces it; the liar's header no longer matches anything final.
    await s.model.propose(s.proposer, 1);
    await time.increaseTo(await chain.deadline(1));
    await expect(bridge.connect(s.mallory).claimWithdrawal(...forged))
      .to.be.revertedWithCustomError(bridge, "BridgeStateRootMismatch")
      .withArgs(1, s.model.stateAfter(1).stateRoot(), lie.post.stateRoot());
  });

  it("refuses an index beyond the state's withdrawals and a path that does not prove the withdrawal", async function () {
    const { bridge, model, deadline } = await finalScenario();
    await time.increaseTo(deadline);
    const [batch, header, , recipient, tokenId, amount, siblings] = model.claimArgs(1, 1);
    await expect(bridge.claimWithdrawal(batch, header, 2, recipient, tokenId, amount, siblings))
      .to.be.revertedWithCustomError(bridge, "BridgeWithdrawalIndexOutOfRange")
      .withArgs(2, 2);
    const inflated = amount * 2n;
    await expect(bridge.claimWithdrawal(batch, header, 1, recipient, tokenId, inflated, siblings))
      .to.be.revertedWithCustomError(bridge, "BridgeInvalidWithdrawalProof")
      .withArgs(1, toHex(withdrawalLeaf({ recipient, tokenId, amount: inflated })));
    expect(stateRootOf(header)).to.equal(model.stateAfter(1).stateRoot());
  });

  it("pays a re-entrant token once: the re-entry into the claim is refused", async function () {
    const fixture = await loadRollup();
    const { deployer, carol, sequencer, proposer, model } = fixture;
    const { bridge, stateCommitmentChain: chain } = fixture.deployment.handles;
    const token = await new ReentrantClaimToken__factory(deployer).deploy();
    await bridge.registerToken(await token.getAddress());
    await token.mint(carol.address, 1000n);
    await token.connect(carol).approve(await bridge.getAddress(), 1000n);
    await bridge.connect(carol).depositToken(await token.getAddress(), 1000n, carol.address, 0);
    await bridge.connect(carol).requestForcedExit(1);
    await model.syncQueue();
    await model.append(sequencer, [], 2, 0);
    await model.propose(proposer, 0);
    await time.increaseTo(await chain.deadline(0));

    const args = model.claimArgs(0, 0);
    expect([args[4], args[5]]).to.deep.equal([2, 1000n]);
    await token.setHook(
      await bridge.getAddress(),
      await bridge.getAddress(),
      bridge.interface.encodeFunctionData("claimWithdrawal", args),
    );
    const claim = bridge.claimWithdrawal(...args);
    await expect(claim).to.changeTokenBalances(token, [carol, bridge], [1000n, -1000n]);
    expect(await token.reentries()).to.equal(1);
    expect(await token.lastReentrySucceeded()).to.equal(false);
    const selector = bridge.interface.getError("ReentrancyGuardReentrantCall")?.selector;
    expect(await token.lastReentryResult()).to.equal(selector);
    await expect(bridge.claimWithdrawal(...args))
      .to.be.revertedWithCustomError(bridge, "BridgeWithdrawalAlreadyClaimed")
      .withArgs(0);
  });

  it("leaves an ETH withdrawal unpaid and claimable when the recipient refuses ETH", async function () {
    const fixture = await loadRollup();
    const { deployer, sequencer, proposer, model } = fixture;
    const { bridge, stateCommitmentChain: chain } = fixture.deployment.handles;
    const rejecter = await new EthRejecter__factory(deployer).deploy();
    const rejecterAddress = await rejecter.getAddress();
    await bridge.depositEth(rejecterAddress, 0, { value: 7n });
    await rejecter.execute(await bridge.getAddress(), bridge.interface.encodeFunctionData("requestForcedExit", [1]));
    await model.syncQueue();
    await model.append(sequencer, [], 2, 0);
    await model.propose(proposer, 0);
    await time.increaseTo(await chain.deadline(0));
    await expect(bridge.claimWithdrawal(...model.claimArgs(0, 0)))
      .to.be.revertedWithCustomError(bridge, "BridgeEthTransferFailed")
      .withArgs(rejecterAddress, 7n);
    expect(await bridge.isClaimed(0)).to.equal(false);
  });

  it("refuses a withdrawal of a token id that was never registered (only an unchallenged lie can hold one)", async function () {
    const s = await batchOneScenario();
    const { bridge, stateCommitmentChain: chain } = s.deployment.handles;
    const lie = s.model.lie(1, 2, (state, _input, honest) => {
      honest(state);
      state.appendWithdrawal({ recipient: s.mallory.address, tokenId: 99, amount: ETH });
    });
    await s.model.propose(s.proposer, 0);
    await s.model.propose(s.mallory, 1, lie.stepRoots);
    await time.increaseTo(await chain.deadline(1));
    await expect(bridge.claimWithdrawal(...s.model.claimArgs(1, 2, lie.post)))
      .to.be.revertedWithCustomError(bridge, "BridgeUnknownTokenId")
      .withArgs(99);
  });

  it("refuses a claim of more than the bridge holds of the token (only an unchallenged lie can ask for it)", async function () {
    const s = await batchOneScenario();
    const { bridge, stateCommitmentChain: chain } = s.deployment.handles;
    const held = await bridge.outstanding(0);
    const lie = s.model.lie(1, 2, (state, _input, honest) => {
      honest(state);
      state.appendWithdrawal({ recipient: s.mallory.address, tokenId: 0, amount: held + 1n });
    });
    await s.model.propose(s.proposer, 0);
    await s.model.propose(s.mallory, 1, lie.stepRoots);
    await time.increaseTo(await chain.deadline(1));
    await expect(bridge.claimWithdrawal(...s.model.claimArgs(1, 2, lie.post)))
      .to.be.revertedWithCustomError(bridge, "BridgeClaimExceedsOutstanding")
      .withArgs(0, held + 1n, held);
  });

  it("releases the deposit cap as claims pay out: the whole cap goes to L2 and back, then deposits work again", async function () {
    const fixture = await loadRollup();
    const { carol, sequencer, proposer, model, token, tokenId } = fixture;
    const { bridge, stateCommitmentChain: chain } = fixture.deployment.handles;
    const cap = 2n ** 128n - 1n;
    await token.mint(carol.address, cap);
    await bridge.connect(carol).depositToken(await token.getAddress(), cap, carol.address, 0);
    await expect(bridge.connect(carol).depositToken(await token.getAddress(), 1n, carol.address, 0))
      .to.be.revertedWithCustomError(bridge, "BridgeDepositCapExceeded")
      .withArgs(tokenId, cap, 1n);
    // Carol exits the whole balance and claims it on L1.
    await bridge.connect(carol).requestForcedExit(1);
    await model.syncQueue();
    await model.append(sequencer, [], 2, 0);
    await model.propose(proposer, 0);
    await time.increaseTo(await chain.deadline(0));
    await expect(bridge.claimWithdrawal(...model.claimArgs(0, 0))).to.changeTokenBalance(token, carol, cap);
    expect(await bridge.outstanding(tokenId)).to.equal(0n);
    // The cap counts what the bridge holds, not what it ever received: the next round trip is open.
    await bridge.connect(carol).depositToken(await token.getAddress(), cap, carol.address, 1);
    expect(await bridge.outstanding(tokenId)).to.equal(cap);
  });
});
