import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { channelId, hashlockOf, lockProof, signStateWithKey, type Lock } from "../../src/channels/state";
import { deployChannelsFixture, makeParams, openFunded, party, secret, TestChannel } from "./helpers";

/* Attacks that must fail, one test each. */

const ETH = 10n ** 18n;

describe("ChannelAdjudicator attacks", function () {
  it("rejects a stale state after a newer one was registered", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    // Bob registers the state that pays him most; alice answers with the latest; bob tries his stale one again.
    await ch.register(ch.state(3n, [0n, 2n * ETH]));
    await ch.refute(ch.state(8n, [2n * ETH, 0n]));
    await expect(ch.refute(ch.state(3n, [0n, 2n * ETH])))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorStaleVersion")
      .withArgs(3n, 9n);
    await time.increase(3600);
    await expect(ch.conclude())
      .to.emit(fx.adjudicator, "ChannelConcluded")
      .withArgs(ch.id, 8n, [2n * ETH, 0n], 0n);
  });

  it("rejects a refutation with the same version", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    await ch.register(ch.state(5n, [ETH, ETH]));
    // Both signed two different states with version 5 (a client bug): the registered one stands.
    await expect(ch.refute(ch.state(5n, [2n * ETH, 0n])))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorStaleVersion")
      .withArgs(5n, 6n);
  });

  it("rejects a state replayed from another channel of the same participants", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const first = await openFunded(fx, [ETH, ETH]);
    const second = await openFunded(fx, [ETH, ETH]);
    const state = first.state(4n, [2n * ETH, 0n]);
    const sigs = first.sign(state);
    await expect(fx.adjudicator.register(second.params, state, sigs, []))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorWrongChannel")
      .withArgs(second.id, first.id);
    // Relabelling the state for the other channel breaks the signatures.
    const relabelled = { ...state, channelId: second.id };
    await expect(fx.adjudicator.register(second.params, relabelled, sigs, []))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidSignature")
      .withArgs(second.id, 0, anyAddressBut(fx.alice.address));
  });

  it("rejects a state replayed from another adjudicator", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    const other = await ethers.deployContract("ChannelAdjudicator");
    const otherAddress = await other.getAddress();
    await other.connect(fx.alice.wallet).open(ch.params, ETH, { value: ETH });
    await other.connect(fx.bob.wallet).fund(ch.params, ETH, { value: ETH });
    const otherId = channelId(ch.params, fx.chainId, otherAddress);
    expect(otherId).to.not.equal(ch.id);

    const state = ch.state(4n, [2n * ETH, 0n]);
    await expect(other.register(ch.params, state, ch.sign(state), []))
      .to.be.revertedWithCustomError(other, "ChannelAdjudicatorWrongChannel")
      .withArgs(otherId, ch.id);
    // Even with the right id, signatures made for the first adjudicator's domain do not verify.
    const relabelled = { ...state, channelId: otherId };
    await expect(other.register(ch.params, relabelled, ch.sign(relabelled), []))
      .to.be.revertedWithCustomError(other, "ChannelAdjudicatorInvalidSignature")
      .withArgs(otherId, 0, anyAddressBut(fx.alice.address));
  });

  it("rejects a state signed for another chain", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    const state = ch.state(4n, [2n * ETH, 0n]);
    const address = await fx.adjudicator.getAddress();
    const otherChain = fx.chainId + 1n;
    const sigs = [
      signStateWithKey(fx.alice.key, state, otherChain, address),
      signStateWithKey(fx.bob.key, state, otherChain, address),
    ] as const;
    await expect(fx.adjudicator.register(ch.params, state, [sigs[0], sigs[1]], []))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidSignature")
      .withArgs(ch.id, 0, anyAddressBut(fx.alice.address));
    // The channel id itself also binds the chain: another chain's channel has another id.
    expect(channelId(ch.params, otherChain, address)).to.not.equal(ch.id);
  });

  it("rejects a state signed by a non-participant", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    const state = ch.state(4n, [0n, 2n * ETH]);
    // Mallory signs in alice's place.
    await expect(fx.adjudicator.register(ch.params, state, ch.sign(state, [fx.mallory, fx.bob]), []))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidSignature")
      .withArgs(ch.id, 0, fx.mallory.address);
    // Or bob signs twice.
    await expect(fx.adjudicator.register(ch.params, state, ch.sign(state, [fx.bob, fx.bob]), []))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidSignature")
      .withArgs(ch.id, 0, fx.bob.address);
  });

  it("rejects the malleated (high-s) twin of a valid signature", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    const state = ch.state(4n, [ETH, ETH]);
    const sigs = ch.sign(state);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const vs = BigInt(sigs[0].vs);
    const s = vs & ((1n << 255n) - 1n);
    const parity = vs >> 255n;
    // (r, n - s) with the other parity also verifies under plain ecrecover. n - s has its top bit set, so in the
    // compact form it collides with the parity bit: the adjudicator reads another s and recovers someone else.
    const malleated = { r: sigs[0].r, vs: ethers.toBeHex(((1n - parity) << 255n) | (n - s), 32) };
    await expect(fx.adjudicator.register(ch.params, state, [malleated, sigs[1]], []))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidSignature")
      .withArgs(ch.id, 0, anyAddressBut(fx.alice.address));
  });

  it("pays a credit once: a double withdrawal fails", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    await ch.register(ch.state(2n, [ETH / 2n, (3n * ETH) / 2n]));
    await time.increase(3600);
    await ch.conclude();
    await expect(ch.withdraw(1)).to.changeEtherBalance(fx.bob.wallet, (3n * ETH) / 2n);
    await expect(ch.withdraw(1))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNothingToWithdraw")
      .withArgs(ch.id, 1);
  });

  it("refunds an expired lock to its sender whoever unlocks it", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    const expiry = BigInt(await time.latest()) + 5000n;
    const lock: Lock = { sender: 0, receiver: 1, amount: ETH / 2n, hashlock: hashlockOf(secret("never")), expiry };
    await ch.register(ch.state(2n, [ETH / 2n, ETH], [lock]));
    await time.increaseTo(expiry + 1n);
    await ch.conclude();
    // Bob, the receiver, unlocks after the expiry without the secret on chain: the amount goes back to alice.
    await expect(fx.adjudicator.connect(fx.bob.wallet).unlock(ch.params, lock, 0, []))
      .to.emit(fx.adjudicator, "LockSettled")
      .withArgs(ch.id, 0, Object.values(lock), 0);
    expect((await ch.info()).balances).to.deep.equal([ETH, ETH]);
    await expect(fx.adjudicator.connect(fx.bob.wallet).unlock(ch.params, lock, 0, []))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLockAlreadySettled")
      .withArgs(ch.id, 0);
  });

  it("ignores a secret revealed after the lock's expiry", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, ETH]);
    const expiry = BigInt(await time.latest()) + 5000n;
    const locks: Lock[] = [
      { sender: 1, receiver: 0, amount: ETH / 4n, hashlock: hashlockOf(secret("late")), expiry },
      { sender: 0, receiver: 1, amount: ETH / 4n, hashlock: hashlockOf(secret("other")), expiry: expiry + 10n ** 6n },
    ];
    await ch.register(ch.state(2n, [(3n * ETH) / 4n, (3n * ETH) / 4n], locks));
    await time.increase(3600);
    await ch.conclude();
    await time.setNextBlockTimestamp(expiry + 1n);
    await fx.adjudicator.revealSecret(secret("late"));
    expect(await fx.adjudicator.secretRevealedAt(locks[0].hashlock)).to.equal(expiry + 1n);
    await expect(fx.adjudicator.connect(fx.alice.wallet).unlock(ch.params, locks[0], 0, lockProof(locks, 0)))
      .to.emit(fx.adjudicator, "LockSettled")
      .withArgs(ch.id, 0, Object.values(locks[0]), 1);
    expect((await ch.info()).balances).to.deep.equal([(3n * ETH) / 4n, ETH]);
  });

  describe("a re-entrant token", function () {
    async function reentrantFixture() {
      const fx = await loadFixture(deployChannelsFixture);
      const token = await ethers.deployContract("ReentrantToken");
      const adjudicatorAddress = await fx.adjudicator.getAddress();
      for (const p of [fx.alice, fx.bob]) {
        await token.mint(p.address, 10n ** 24n);
        await token.connect(p.wallet).approve(adjudicatorAddress, ethers.MaxUint256);
      }
      const params = makeParams(fx.alice, fx.bob, await token.getAddress());
      const ch = await TestChannel.create(fx, params, [fx.alice, fx.bob]);
      await ch.open(0, 100n);
      await ch.fund(1, 100n);
      return { fx, token, ch };
    }

    it("cannot withdraw twice by re-entering withdraw", async function () {
      const { fx, token, ch } = await loadFixture(reentrantFixture);
      await ch.register(ch.state(1n, [150n, 50n]));
      await time.increase(3600);
      await ch.conclude();
      const adjudicatorAddress = await fx.adjudicator.getAddress();
      await token.arm(adjudicatorAddress, fx.adjudicator.interface.encodeFunctionData("withdraw", [ch.params, 0]));
      await expect(ch.withdraw(0)).to.be.revertedWithCustomError(fx.adjudicator, "ReentrancyGuardReentrantCall");
      await token.disarm();
      await expect(ch.withdraw(0)).to.changeTokenBalance(token, fx.alice.wallet, 150n);
      await expect(ch.withdraw(0))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNothingToWithdraw")
        .withArgs(ch.id, 0);
      expect(await token.balanceOf(adjudicatorAddress)).to.equal(50n);
    });

    it("cannot re-enter a cooperative close: the payout becomes a credit", async function () {
      const { fx, token, ch } = await loadFixture(reentrantFixture);
      const final = ch.state(3n, [120n, 80n], [], true);
      const adjudicatorAddress = await fx.adjudicator.getAddress();
      await token.arm(adjudicatorAddress, fx.adjudicator.interface.encodeFunctionData("withdraw", [ch.params, 0]));
      await expect(ch.close(final)).to.emit(fx.adjudicator, "PayoutCredited");
      expect(await token.reentries()).to.equal(0n);
      expect((await ch.info()).balances).to.deep.equal([120n, 80n]);
      await token.disarm();
      await ch.withdraw(0);
      await ch.withdraw(1);
      expect(await token.balanceOf(adjudicatorAddress)).to.equal(0n);
      expect(await token.balanceOf(fx.alice.address)).to.equal(10n ** 24n + 20n);
      expect(await token.balanceOf(fx.bob.address)).to.equal(10n ** 24n - 20n);
    });

    it("cannot re-enter while its deposit is being pulled", async function () {
      const { fx, token } = await loadFixture(reentrantFixture);
      const params = makeParams(fx.alice, fx.bob, await token.getAddress());
      const ch = await TestChannel.create(fx, params, [fx.alice, fx.bob]);
      await ch.open(0, 100n);
      await token.arm(
        await fx.adjudicator.getAddress(),
        fx.adjudicator.interface.encodeFunctionData("registerDeposits", [params]),
      );
      await expect(ch.fund(1, 100n)).to.be.revertedWithCustomError(fx.adjudicator, "ReentrancyGuardReentrantCall");
    });
  });

  it("lets nobody but the participants make unilateral deposits", async function () {
    const fx = await loadFixture(deployChannelsFixture);
    const ch = await openFunded(fx, [ETH, 0n]);
    const stranger = await party("stranger");
    // A stranger cannot spend bob's one unilateral deposit (which would let it grief the channel's funding).
    await expect(fx.adjudicator.connect(stranger.wallet).fund(ch.params, 1n, { value: 1n }))
      .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNotParticipant")
      .withArgs(stranger.address);
  });
});

/** A chai matcher argument predicate: any address other than `address` (a signature recovering to someone else). */
function anyAddressBut(address: string): (value: string) => boolean {
  return (value: string) => value.toLowerCase() !== address.toLowerCase();
}
