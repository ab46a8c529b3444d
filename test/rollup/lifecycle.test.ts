import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { TxType } from "../../src/protocol/constants";
import { FORCED_INCLUSION_DELAY_SECONDS, loadRollup, PROPOSER_BOND } from "./helpers/fixtures";
import type { RollupFixture } from "./helpers/fixtures";
import { connectRollup } from "../../src/l1/contracts";
import { ChunkBuilder, RollupModel } from "./helpers/model";
import { ETH, FEE } from "./helpers/scenario";

/** The bridge holds exactly the L2 balances, the unpaid withdrawals and the deposits still queued. */
async function expectEscrow(f: RollupFixture & { model: RollupModel }): Promise<void> {
  const bridge = f.deployment.contracts.bridge;
  expect(await ethers.provider.getBalance(bridge), "ETH escrow").to.equal(await f.model.expectedEscrow(0));
  expect(await f.token.balanceOf(bridge), "token escrow").to.equal(await f.model.expectedEscrow(f.tokenId));
}

describe("Rollup life cycle", function () {
  it("deposits, transfers, withdrawals, proposals, finality and claims keep the escrow equal to L2", async function () {
    const f = await loadRollup();
    const { alice, bob, carol, sequencer, proposer, outsider, token, tokenId, model } = f;
    const { bridge, stateCommitmentChain: chain } = f.deployment.handles;
    const tokenAddress = await token.getAddress();
    await expectEscrow(f);

    // Deposits of ETH and of the ERC-20.
    await bridge.connect(alice).depositEth(alice.address, 0, { value: 20n * ETH });
    await expectEscrow(f);
    await bridge.connect(bob).depositToken(tokenAddress, 300n * ETH, bob.address, 0);
    await expectEscrow(f);
    await bridge.connect(sequencer).depositEth(sequencer.address, 0, { value: 1n });
    await bridge.connect(carol).depositToken(tokenAddress, 50n * ETH, carol.address, 0);
    await expectEscrow(f);
    await model.syncQueue();

    // Batch 0: the deposits. Accounts: 1 Alice ETH, 2 Bob token, 3 sequencer ETH (fees), 4 Carol token.
    await model.append(sequencer, [], 4, 0);
    await expectEscrow(f);
    await model.propose(proposer, 0);
    await expectEscrow(f);

    // Batch 1: transfers, including to new accounts, with fees to account 3 (ETH) — Bob's token transfer pays none.
    const b1 = new ChunkBuilder(model.tip(), model.domain);
    b1.add(alice, { type: TxType.TransferToNew, from: 1, to: bob.address, amount: 3n * ETH, fee: FEE });
    b1.add(alice, { type: TxType.TransferToNew, from: 1, to: carol.address, amount: 2n * ETH, fee: FEE });
    b1.add(bob, { type: TxType.Transfer, from: 2, to: 4, amount: 100n * ETH, fee: 0n });
    await model.append(sequencer, [b1.build()], 0, 3);
    await expectEscrow(f);
    await model.propose(proposer, 1);
    // Accounts 5 (Bob ETH) and 6 (Carol ETH) now exist.
    expect(model.accountOf(bob.address, 0)).to.equal(5);

    // Batch 2: withdrawals of ETH and of the token, a deposit in the same batch, and a transfer after it.
    await bridge.connect(carol).depositToken(tokenAddress, 10n * ETH, carol.address, 4);
    await model.syncQueue();
    const b2 = new ChunkBuilder(model.tip(), model.domain);
    b2.add(alice, { type: TxType.Withdraw, from: 1, amount: 5n * ETH, fee: FEE });
    b2.add(bob, { type: TxType.Withdraw, from: 2, amount: 150n * ETH, fee: 0n });
    b2.add(carol, { type: TxType.Withdraw, from: 4, amount: 160n * ETH, fee: 0n });
    b2.add(bob, { type: TxType.Withdraw, from: 5, amount: 3n * ETH, fee: 0n });
    await model.append(sequencer, [b2.build()], 1, 3);
    await expectEscrow(f);
    await model.propose(proposer, 2);
    await expectEscrow(f);
    const state = model.stateAfter(2);
    expect(state.withdrawalCount).to.equal(4n);

    // Nothing can be claimed before the window has passed.
    await expect(bridge.claimWithdrawal(...model.claimArgs(2, 0))).to.be.revertedWithCustomError(
      bridge,
      "BridgeBatchNotFinal",
    );
    await time.increaseTo(await chain.deadline(2));

    // Claims, by the recipients and by anyone on their behalf.
    const expected: [string, bigint, bigint][] = [
      [alice.address, 0n, 5n * ETH],
      [bob.address, BigInt(tokenId), 150n * ETH],
      [carol.address, BigInt(tokenId), 160n * ETH],
      [bob.address, 0n, 3n * ETH],
    ];
    for (let i = 0; i < 4; i++) {
      const args = model.claimArgs(2, i);
      expect([ethers.getAddress(args[3]), BigInt(args[4]), args[5]]).to.deep.equal(expected[i]);
      const claim = bridge.connect(i % 2 === 0 ? outsider : bob).claimWithdrawal(...args);
      if (args[4] === 0) {
        await expect(claim).to.changeEtherBalance(expected[i][0], expected[i][2]);
      } else {
        await expect(claim).to.changeTokenBalance(token, expected[i][0], expected[i][2]);
      }
      await expectEscrow(f);
    }

    // Every bond comes back.
    for (const batch of [0, 1, 2]) {
      await expect(chain.returnBond(batch)).to.changeEtherBalance(proposer, PROPOSER_BOND);
    }
    expect(await ethers.provider.getBalance(await chain.getAddress())).to.equal(0n);
    await expectEscrow(f);
  });

  it("gets a user's whole balance out through a forced exit with no help from the operator", async function () {
    const f = await loadRollup();
    const { alice, bob, sequencer, model } = f;
    const { bridge, inbox } = f.deployment.handles;

    // The operator serves Alice's deposit and a transfer to her, and never proposes anything.
    await bridge.connect(alice).depositEth(alice.address, 0, { value: 4n * ETH });
    await bridge.connect(bob).depositEth(bob.address, 0, { value: 3n * ETH });
    await model.syncQueue();
    await model.append(sequencer, [], 2, 0);
    const pay = new ChunkBuilder(model.tip(), model.domain);
    pay.add(bob, { type: TxType.Transfer, from: 2, to: 1, amount: ETH, fee: 0n });
    await model.append(sequencer, [pay.build()], 0, 0);

    // Alice asks to exit; the sequencer keeps appending other batches and ignores her until it no longer can.
    await bridge.connect(alice).requestForcedExit(1);
    const queuedAt = await bridge.queueTimestamp(2);
    const dueAt = queuedAt + FORCED_INCLUSION_DELAY_SECONDS;
    await time.setNextBlockTimestamp(dueAt - 1n);
    await inbox.connect(sequencer).appendBatch(["0x"], 0, 0);
    await time.setNextBlockTimestamp(dueAt);
    await expect(inbox.connect(sequencer).appendBatch(["0x"], 0, 0))
      .to.be.revertedWithCustomError(inbox, "RollupInboxOverdueItemSkipped")
      .withArgs(2, queuedAt, dueAt);

    // Alice includes her exit herself, rebuilds the state from L1 alone, proposes every batch with a bond,
    // waits out the window, claims her whole balance and takes her bonds back.
    const own = connectRollup(f.deployment.contracts, alice);
    await own.inbox.forceInclude(1);
    const follower = await RollupModel.fromL1(own);
    expect(follower.batches.map((b) => b.chunks.length)).to.deep.equal([0, 1, 1, 0]);
    const exitBatch = follower.batches.length - 1;
    for (let batch = 0; batch <= exitBatch; batch++) await follower.propose(alice, batch);
    await time.increaseTo(await own.stateCommitmentChain.deadline(exitBatch));
    const args = follower.claimArgs(exitBatch, 0);
    expect([ethers.getAddress(args[3]), args[5]]).to.deep.equal([alice.address, 5n * ETH]);
    await expect(own.bridge.claimWithdrawal(...args)).to.changeEtherBalance(alice, 5n * ETH);
    for (let batch = 0; batch <= exitBatch; batch++) {
      await expect(own.stateCommitmentChain.returnBond(batch)).to.changeEtherBalance(alice, PROPOSER_BOND);
    }
    expect(follower.tip().getAccount(1)?.balance).to.equal(0n);
    expect(await ethers.provider.getBalance(f.deployment.contracts.bridge)).to.equal(2n * ETH);
  });
});
