import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers, network } from "hardhat";
import { ZeroAddress } from "ethers";
import { depositState, hashlockOf, lockProof, ZERO_BYTES32, type Lock } from "../../src/channels/state";
import { deployChannelsFixture, latestTimestamp, makeParams, openFunded, secret, TestChannel } from "./helpers";

const ETH = 10n ** 18n;
enum Status {
  None,
  Open,
  Disputed,
  Concluded,
  Closed,
}

describe("ChannelAdjudicator", function () {
  describe("opening and funding", function () {
    it("opens an ETH channel and funds the opener's deposit in one transaction", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob), [fx.alice, fx.bob]);
      const tx = ch.open(0, 3n * ETH);
      await expect(tx)
        .to.emit(fx.adjudicator, "ChannelOpened")
        .withArgs(ch.id, Object.values(ch.params), 0, 3n * ETH);
      await expect(tx).to.changeEtherBalances([fx.alice.wallet, fx.adjudicator], [-3n * ETH, 3n * ETH]);
      const info = await ch.info();
      expect(info.status).to.equal(Status.Open);
      expect(info.holdings).to.equal(3n * ETH);
      expect(info.funded).to.deep.equal([true, false]);
      expect(info.deposits).to.deep.equal([3n * ETH, 0n]);
      expect(await fx.adjudicator.channelIdOf(ch.params)).to.equal(ch.id);
    });

    it("records each participant's deposit", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob), [fx.alice, fx.bob]);
      await ch.open(1, 2n * ETH);
      await expect(ch.fund(0, 5n * ETH))
        .to.emit(fx.adjudicator, "Deposited")
        .withArgs(ch.id, 0, 5n * ETH, 7n * ETH);
      const info = await ch.info();
      expect(info.deposits).to.deep.equal([5n * ETH, 2n * ETH]);
      expect(info.funded).to.deep.equal([true, true]);
    });

    it("opens without a deposit and lets the opener fund later", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob), [fx.alice, fx.bob]);
      await ch.open(0, 0n);
      expect((await ch.info()).funded).to.deep.equal([false, false]);
      await ch.fund(0, ETH);
      expect((await ch.info()).deposits).to.deep.equal([ETH, 0n]);
    });

    it("allows one unilateral deposit per participant", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await expect(ch.fund(0, ETH))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorFundingClosed")
        .withArgs(ch.id, 0);
      await expect(ch.fund(1, ETH))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorFundingClosed")
        .withArgs(ch.id, 1);
    });

    it("rejects a deposit of zero", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, 0n]);
      await expect(ch.fund(1, 0n)).to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorZeroDeposit");
    });

    it("rejects openers and funders that are not participants", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const params = makeParams(fx.alice, fx.bob);
      await expect(fx.adjudicator.connect(fx.mallory.wallet).open(params, ETH, { value: ETH }))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNotParticipant")
        .withArgs(fx.mallory.address);
      await fx.adjudicator.connect(fx.alice.wallet).open(params, ETH, { value: ETH });
      await expect(fx.adjudicator.connect(fx.mallory.wallet).fund(params, ETH, { value: ETH }))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNotParticipant")
        .withArgs(fx.mallory.address);
    });

    it("rejects ETH that does not match the amount", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const eth = makeParams(fx.alice, fx.bob);
      await expect(fx.adjudicator.connect(fx.alice.wallet).open(eth, ETH, { value: ETH - 1n }))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorValueMismatch")
        .withArgs(ETH, ETH - 1n);
      const tokenParams = makeParams(fx.alice, fx.bob, await fx.token.getAddress());
      await expect(fx.adjudicator.connect(fx.alice.wallet).open(tokenParams, ETH, { value: 1n }))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorValueMismatch")
        .withArgs(0n, 1n);
    });

    it("rejects invalid parameters", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const max = await fx.adjudicator.MAX_CHALLENGE_DURATION_SECONDS();
      const cases = [
        { participants: [fx.alice.address, fx.alice.address], duration: 60n },
        { participants: [fx.alice.address, ZeroAddress], duration: 60n },
        { participants: [fx.alice.address, fx.bob.address], duration: 0n },
        { participants: [fx.alice.address, fx.bob.address], duration: max + 1n },
      ];
      for (const c of cases) {
        const params = { ...makeParams(fx.alice, fx.bob), participants: c.participants as [string, string] };
        params.challengeDuration = c.duration;
        await expect(fx.adjudicator.connect(fx.alice.wallet).open(params, 0n))
          .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidParams")
          .withArgs(c.participants[0], c.participants[1], c.duration);
      }
      const longest = { ...makeParams(fx.alice, fx.bob), challengeDuration: max };
      await expect(fx.adjudicator.connect(fx.alice.wallet).open(longest, 0n)).to.emit(fx.adjudicator, "ChannelOpened");
    });

    it("refuses to open an id twice, even after the channel closed", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await expect(ch.open(1, 0n))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorWrongStatus")
        .withArgs(ch.id, Status.Open);
      await ch.close(ch.state(1n, [ETH, ETH], [], true));
      await expect(ch.open(0, 0n))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorWrongStatus")
        .withArgs(ch.id, Status.Closed);
    });

    it("credits what a fee-on-transfer token actually delivered", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      await fx.token.setFeeBps(100); // 1 %
      const ch = await openFunded(fx, [1000n, 500n], await fx.token.getAddress());
      const info = await ch.info();
      expect(info.deposits).to.deep.equal([990n, 495n]);
      expect(info.holdings).to.equal(1485n);
      expect(await fx.token.balanceOf(await fx.adjudicator.getAddress())).to.equal(1485n);
    });

    describe("opening a token channel funded by both", function () {
      async function tokenChannel() {
        const fx = await loadFixture(deployChannelsFixture);
        const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob, await fx.token.getAddress()), [
          fx.alice,
          fx.bob,
        ]);
        return { fx, ch, expiry: (await latestTimestamp()) + 600n };
      }

      it("pulls the peer's deposit with its consent and is open at once", async function () {
        const { fx, ch, expiry } = await tokenChannel();
        const { funding, sig } = ch.funding(1, 500n, expiry);
        const tx = fx.adjudicator.connect(fx.alice.wallet).openFunded(ch.params, 1000n, funding, sig);
        await expect(tx).to.emit(fx.adjudicator, "ChannelOpened").withArgs(ch.id, Object.values(ch.params), 0, 1000n);
        await expect(tx).to.emit(fx.adjudicator, "Deposited").withArgs(ch.id, 1, 500n, 1500n);
        await expect(tx).to.changeTokenBalances(
          fx.token,
          [fx.alice.wallet, fx.bob.wallet, fx.adjudicator],
          [-1000n, -500n, 1500n],
        );
        const info = await ch.info();
        expect(info.deposits).to.deep.equal([1000n, 500n]);
        expect(info.funded).to.deep.equal([true, true]);
        // Both deposits are made: unilateral funding is over for both.
        await expect(ch.fund(1, 1n))
          .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorFundingClosed")
          .withArgs(ch.id, 1);
      });

      it("works the other way round and credits what a fee-on-transfer token delivered from each", async function () {
        const { fx, ch, expiry } = await tokenChannel();
        await fx.token.setFeeBps(100);
        const { funding, sig } = ch.funding(0, 1000n, expiry);
        await fx.adjudicator.connect(fx.bob.wallet).openFunded(ch.params, 500n, funding, sig);
        const info = await ch.info();
        expect(info.deposits).to.deep.equal([990n, 495n]);
        expect(info.holdings).to.equal(1485n);
      });

      it("uses a consent once: the id never opens again", async function () {
        const { fx, ch, expiry } = await tokenChannel();
        const { funding, sig } = ch.funding(1, 500n, expiry);
        await fx.adjudicator.connect(fx.alice.wallet).openFunded(ch.params, 0n, funding, sig);
        await expect(fx.adjudicator.connect(fx.alice.wallet).openFunded(ch.params, 0n, funding, sig))
          .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorWrongStatus")
          .withArgs(ch.id, Status.Open);
      });

      it("refuses a consent for another channel, by the wrong participant or signer, of zero, or for ETH", async function () {
        const { fx, ch, expiry } = await tokenChannel();
        const asAlice = fx.adjudicator.connect(fx.alice.wallet);
        const other = await TestChannel.create(fx, makeParams(fx.alice, fx.bob, await fx.token.getAddress()), [
          fx.alice,
          fx.bob,
        ]);
        const elsewhere = other.funding(1, 500n, expiry);
        await expect(asAlice.openFunded(ch.params, 0n, elsewhere.funding, elsewhere.sig))
          .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorWrongChannel")
          .withArgs(ch.id, other.id);
        const own = ch.funding(0, 500n, expiry); // alice cannot consent for herself: it must be bob
        await expect(asAlice.openFunded(ch.params, 0n, own.funding, own.sig))
          .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidParticipant")
          .withArgs(0);
        const forged = { ...ch.funding(1, 500n, expiry), sig: ch.funding(0, 500n, expiry).sig };
        const forgedFunding = { ...forged.funding, participant: 1 as const };
        await expect(asAlice.openFunded(ch.params, 0n, forgedFunding, forged.sig)).to.be.revertedWithCustomError(
          fx.adjudicator,
          "ChannelAdjudicatorInvalidSignature",
        );
        const zero = ch.funding(1, 0n, expiry);
        await expect(asAlice.openFunded(ch.params, 0n, zero.funding, zero.sig)).to.be.revertedWithCustomError(
          fx.adjudicator,
          "ChannelAdjudicatorZeroDeposit",
        );
        const eth = await TestChannel.create(fx, makeParams(fx.alice, fx.bob), [fx.alice, fx.bob]);
        const ethConsent = eth.funding(1, 500n, expiry);
        await expect(
          asAlice.openFunded(eth.params, 0n, ethConsent.funding, ethConsent.sig),
        ).to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNotToken");
        expect((await ch.info()).status).to.equal(Status.None);
      });

      for (const offset of [-1n, 0n, 1n]) {
        const at = offset === 0n ? "expiry" : offset < 0n ? "expiry - 1" : "expiry + 1";
        it(`${offset <= 0n ? "takes" : "refuses"} a consent at ${at}`, async function () {
          const { fx, ch, expiry } = await tokenChannel();
          const { funding, sig } = ch.funding(1, 500n, expiry);
          await time.setNextBlockTimestamp(expiry + offset);
          const tx = fx.adjudicator.connect(fx.alice.wallet).openFunded(ch.params, 1n, funding, sig);
          if (offset <= 0n) await expect(tx).to.emit(fx.adjudicator, "Deposited");
          else
            await expect(tx)
              .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorFundingExpired")
              .withArgs(expiry, expiry + 1n);
        });
      }

      it("moves nothing when the peer did not approve the adjudicator", async function () {
        const { fx, ch, expiry } = await tokenChannel();
        await fx.token.connect(fx.bob.wallet).approve(await fx.adjudicator.getAddress(), 0n);
        const { funding, sig } = ch.funding(1, 500n, expiry);
        const before = await fx.token.balanceOf(fx.alice.address);
        await expect(fx.adjudicator.connect(fx.alice.wallet).openFunded(ch.params, 1000n, funding, sig)).to.be.reverted;
        expect(await fx.token.balanceOf(fx.alice.address)).to.equal(before);
        expect((await ch.info()).status).to.equal(Status.None);
      });
    });

    it("refuses holdings above 2^112 - 1", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const max = (1n << 112n) - 1n;
      const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob, await fx.token.getAddress()), [
        fx.alice,
        fx.bob,
      ]);
      await fx.token.mint(fx.alice.address, max);
      await ch.open(0, max);
      await expect(ch.fund(1, 1n))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorHoldingsOverflow")
        .withArgs(max + 1n);
    });
  });

  describe("top-ups and partial withdrawals", function () {
    it("tops up against a co-signed top-up whose state includes the amount", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const s = ch.state(3n, [2n * ETH, 2n * ETH]);
      await expect(ch.topUp(s, 2n * ETH, 0))
        .to.emit(fx.adjudicator, "ToppedUp")
        .withArgs(ch.id, Object.values(s), 2n * ETH, 4n * ETH);
      const info = await ch.info();
      expect(info.holdings).to.equal(4n * ETH);
      expect(info.checkpointed).to.equal(true);
      expect(info.version).to.equal(3n);
    });

    it("rejects a top-up whose state does not add up to the new holdings", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await expect(ch.topUp(ch.state(1n, [2n * ETH, ETH]), 2n * ETH))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorHoldingsMismatch")
        .withArgs(3n * ETH, 4n * ETH);
    });

    it("takes only signatures over the top-up, not over its bare state", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const s = ch.state(1n, [2n * ETH, ETH]);
      const top = { state: s, expiry: (await latestTimestamp()) + 600n };
      await expect(fx.adjudicator.topUp(ch.params, top, ch.sign(s), ETH, { value: ETH }))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidSignature")
        .withArgs(ch.id, 0, (recovered: string) => recovered !== fx.alice.address);
      // ... and a later expiry than the one signed is not the signed top-up.
      const sigs = ch.signTopUp(top);
      await expect(
        fx.adjudicator.topUp(ch.params, { ...top, expiry: top.expiry + 1n }, sigs, ETH, { value: ETH }),
      ).to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidSignature");
    });

    it("refuses an abandoned top-up after its expiry, so the states signed after it stay registrable", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      // Version 2 would add 1 ETH for alice; it was signed but never executed, and expires.
      const abandoned = ch.state(2n, [2n * ETH, ETH]);
      const expiry = (await latestTimestamp()) + 600n;
      const top = { state: abandoned, expiry };
      const sigs = ch.signTopUp(top);
      // The participants go on from version 1 with the old total: alice pays bob 0.5 ETH in version 3.
      const later = ch.state(3n, [ETH / 2n, ETH + ETH / 2n]);
      await time.increaseTo(expiry);
      // Alice tries to void version 3 by executing the abandoned top-up (it would give her back her payment).
      await expect(fx.adjudicator.connect(fx.alice.wallet).topUp(ch.params, top, sigs, ETH, { value: ETH }))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorTopUpExpired")
        .withArgs(expiry, expiry + 1n);
      await expect(ch.register(later)).to.emit(fx.adjudicator, "ChallengeRegistered");
    });

    it("ends unilateral funding and the deposit state once checkpointed", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, 0n]);
      await ch.topUp(ch.state(1n, [ETH, 0n]), 0n); // a pure checkpoint
      await expect(ch.fund(1, ETH))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorFundingClosed")
        .withArgs(ch.id, 1);
      await expect(fx.adjudicator.connect(fx.alice.wallet).registerDeposits(ch.params))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorStaleVersion")
        .withArgs(0n, 1n);
    });

    it("pays a co-signed withdrawal and raises the version floor", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [3n * ETH, ETH]);
      const expiry = BigInt(await time.latest()) + 600n;
      const w = { channelId: ch.id, version: 5n, participant: 1 as const, amount: ETH / 2n, expiry };
      const tx = fx.adjudicator.partialWithdraw(ch.params, w, ch.signWithdrawal(w));
      await expect(tx)
        .to.emit(fx.adjudicator, "PartiallyWithdrawn")
        .withArgs(ch.id, Object.values(w), 4n * ETH - ETH / 2n);
      await expect(tx).to.changeEtherBalance(fx.bob.wallet, ETH / 2n);
      // The withdrawal cannot be replayed, and no state below its version can be registered.
      await expect(fx.adjudicator.partialWithdraw(ch.params, w, ch.signWithdrawal(w)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorStaleVersion")
        .withArgs(5n, 6n);
      const old = ch.state(4n, [3n * ETH, ETH / 2n]);
      await expect(ch.register(old))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorStaleVersion")
        .withArgs(4n, 5n);
      await expect(ch.register(ch.state(5n, [3n * ETH, ETH / 2n]))).to.emit(fx.adjudicator, "ChallengeRegistered");
    });

    it("rejects a withdrawal after its expiry, of more than the holdings, or to a third index", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const now = BigInt(await time.latest());
      const expired = { channelId: ch.id, version: 1n, participant: 0 as const, amount: 1n, expiry: now };
      await expect(fx.adjudicator.partialWithdraw(ch.params, expired, ch.signWithdrawal(expired)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorWithdrawalExpired")
        .withArgs(now, now + 1n);
      const tooMuch = { ...expired, amount: 2n * ETH + 1n, expiry: now + 100n };
      await expect(fx.adjudicator.partialWithdraw(ch.params, tooMuch, ch.signWithdrawal(tooMuch)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInsufficientHoldings")
        .withArgs(2n * ETH + 1n, 2n * ETH);
      const third = { ...expired, expiry: now + 100n, participant: 2 as unknown as 0 };
      await expect(fx.adjudicator.partialWithdraw(ch.params, third, ch.signWithdrawal(third)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidParticipant")
        .withArgs(2);
    });
  });

  describe("cooperative close", function () {
    it("pays both participants at once and burns the id", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [3n * ETH, ETH]);
      const final = ch.state(9n, [ETH, 3n * ETH], [], true);
      const tx = fx.adjudicator.connect(fx.mallory.wallet).close(ch.params, final, ch.sign(final));
      await expect(tx).to.emit(fx.adjudicator, "ChannelClosed").withArgs(ch.id, Object.values(final));
      await expect(tx).to.changeEtherBalances([fx.alice.wallet, fx.bob.wallet], [ETH, 3n * ETH]);
      const info = await ch.info();
      expect(info.status).to.equal(Status.Closed);
      expect(info.holdings).to.equal(0n);
    });

    it("needs a final state without locks", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await expect(ch.close(ch.state(1n, [ETH, ETH])))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNotFinal")
        .withArgs(ch.id, 1n);
      const lock: Lock = { sender: 0, receiver: 1, amount: 1n, hashlock: hashlockOf(secret("x")), expiry: 1n };
      const withLock = ch.state(1n, [ETH - 1n, ETH], [lock], true);
      await expect(ch.close(withLock))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorFinalStateHasLocks")
        .withArgs(1n, withLock.locksRoot);
    });

    it("closes a disputed channel with a final state", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await ch.register(ch.state(4n, [2n * ETH, 0n]));
      await expect(ch.close(ch.state(3n, [0n, 2n * ETH], [], true)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorStaleVersion")
        .withArgs(3n, 4n);
      await expect(ch.close(ch.state(5n, [ETH / 2n, (3n * ETH) / 2n], [], true))).to.changeEtherBalances(
        [fx.alice.wallet, fx.bob.wallet],
        [ETH / 2n, (3n * ETH) / 2n],
      );
      expect((await ch.info()).status).to.equal(Status.Closed);
    });

    it("credits a participant whose receiver reverts and still pays the other", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const rejector = await ethers.deployContract("EtherRejector");
      await network.provider.send("hardhat_setCode", [
        fx.bob.address,
        await ethers.provider.getCode(await rejector.getAddress()),
      ]);
      const final = ch.state(2n, [ETH / 2n, (3n * ETH) / 2n], [], true);
      const tx = fx.adjudicator.close(ch.params, final, ch.sign(final));
      await expect(tx)
        .to.emit(fx.adjudicator, "PayoutCredited")
        .withArgs(ch.id, 1, (3n * ETH) / 2n);
      await expect(tx).to.changeEtherBalances([fx.alice.wallet, fx.bob.wallet], [ETH / 2n, 0n]);
      const info = await ch.info();
      expect(info.status).to.equal(Status.Concluded);
      expect(info.balances).to.deep.equal([0n, (3n * ETH) / 2n]);
      // While bob's code refuses ETH his withdrawal fails; once it accepts, he is paid once.
      await expect(ch.withdraw(1))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorTransferFailed")
        .withArgs(fx.bob.address, (3n * ETH) / 2n);
      await network.provider.send("hardhat_setCode", [fx.bob.address, "0x"]);
      await expect(ch.withdraw(1)).to.changeEtherBalance(fx.bob.wallet, (3n * ETH) / 2n);
      expect((await ch.info()).status).to.equal(Status.Closed);
    });

    it("caps the gas a receiver can burn during a cooperative close", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const rejector = await ethers.deployContract("EtherRejector");
      await network.provider.send("hardhat_setCode", [
        fx.alice.address,
        await ethers.provider.getCode(await rejector.getAddress()),
      ]);
      await network.provider.send("hardhat_setStorageAt", [fx.alice.address, "0x0", "0x" + "01".padStart(64, "0")]);
      const final = ch.state(2n, [ETH, ETH], [], true);
      const tx = await fx.adjudicator.close(ch.params, final, ch.sign(final), { gasLimit: 1_000_000 });
      const receipt = await tx.wait();
      expect(receipt!.gasUsed).to.be.lessThan(250_000n);
      expect((await ch.info()).balances).to.deep.equal([ETH, 0n]);
      await network.provider.send("hardhat_setCode", [fx.alice.address, "0x"]);
    });

    it("credits a participant a token refuses to pay and still pays the other", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [100n, 100n], await fx.token.getAddress());
      await fx.token.setBlocked(fx.alice.address, true);
      const final = ch.state(1n, [150n, 50n], [], true);
      const tx = ch.close(final);
      await expect(tx).to.emit(fx.adjudicator, "PayoutCredited").withArgs(ch.id, 0, 150n);
      await expect(tx).to.changeTokenBalances(fx.token, [fx.alice.wallet, fx.bob.wallet], [0n, 50n]);
      await fx.token.setBlocked(fx.alice.address, false);
      await expect(ch.withdraw(0)).to.changeTokenBalance(fx.token, fx.alice.wallet, 150n);
    });
  });

  describe("disputes", function () {
    it("registers, refutes without moving the deadline, concludes and pays out", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [2n * ETH, 2n * ETH]);
      const stale = ch.state(3n, [3n * ETH, ETH]);
      await ch.register(stale);
      const { deadline } = await ch.info();
      expect(deadline).to.equal(BigInt(await time.latest()) + 3600n);
      await time.increase(1000);
      const newer = ch.state(7n, [ETH, 3n * ETH]);
      await expect(fx.adjudicator.connect(fx.mallory.wallet).refute(ch.params, newer, ch.sign(newer), []))
        .to.emit(fx.adjudicator, "ChallengeRefuted")
        .withArgs(ch.id, Object.values(newer), deadline);
      expect((await ch.info()).deadline).to.equal(deadline);
      await time.increaseTo(deadline);
      await expect(ch.conclude())
        .to.emit(fx.adjudicator, "ChannelConcluded")
        .withArgs(ch.id, 7n, [ETH, 3n * ETH], 0n);
      await expect(ch.withdraw(0)).to.changeEtherBalance(fx.alice.wallet, ETH);
      await expect(ch.withdraw(1)).to.changeEtherBalance(fx.bob.wallet, 3n * ETH);
      const info = await ch.info();
      expect(info.status).to.equal(Status.Closed);
      expect(info.balances).to.deep.equal([0n, 0n]);
    });

    it("returns the deposits when no state was ever signed", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [2n * ETH, ETH]);
      await expect(fx.adjudicator.connect(fx.alice.wallet).registerDeposits(ch.params))
        .to.emit(fx.adjudicator, "ChallengeRegistered")
        .withArgs(ch.id, Object.values(depositState(ch.id, [2n * ETH, ETH])), BigInt(await time.latest()) + 3601n);
      await time.increase(3600);
      await ch.conclude();
      await expect(ch.withdraw(0)).to.changeEtherBalance(fx.alice.wallet, 2n * ETH);
      await expect(ch.withdraw(1)).to.changeEtherBalance(fx.bob.wallet, ETH);
    });

    it("closes an empty channel as soon as its dispute concludes", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob), [fx.alice, fx.bob]);
      await ch.open(1, 0n);
      await fx.adjudicator.connect(fx.bob.wallet).registerDeposits(ch.params);
      await time.increase(3600);
      await expect(ch.conclude()).to.emit(fx.adjudicator, "ChannelConcluded").withArgs(ch.id, 0n, [0n, 0n], 0n);
      expect((await ch.info()).status).to.equal(Status.Closed);
    });

    it("shows the registered state in the channel view", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const lock: Lock = { sender: 1, receiver: 0, amount: 7n, hashlock: hashlockOf(secret("view")), expiry: 99n };
      const state = ch.state(6n, [ETH + 7n, ETH - 14n], [lock]);
      await ch.register(state);
      const info = await ch.info();
      expect(info.status).to.equal(Status.Disputed);
      expect(info.version).to.equal(6n);
      expect(info.deadline).to.equal(BigInt(await time.latest()) + 3600n);
      expect(info.balances).to.deep.equal([ETH + 7n, ETH - 14n]);
      expect(info.locksRoot).to.equal(state.locksRoot);
      expect(info.holdings).to.equal(2n * ETH);
      expect(info.deposits).to.deep.equal([0n, 0n]);
    });

    it("lets only a participant register the deposit state", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, 0n]);
      await expect(fx.adjudicator.connect(fx.mallory.wallet).registerDeposits(ch.params))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorNotParticipant")
        .withArgs(fx.mallory.address);
    });

    it("lets a signed state defeat the deposit state", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [2n * ETH, 0n]);
      await fx.adjudicator.connect(fx.alice.wallet).registerDeposits(ch.params);
      await ch.refute(ch.state(1n, [ETH, ETH]));
      await time.increase(3600);
      await expect(ch.conclude()).to.emit(fx.adjudicator, "ChannelConcluded").withArgs(ch.id, 1n, [ETH, ETH], 0n);
    });

    it("rejects a state whose total differs from the holdings", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await expect(ch.register(ch.state(1n, [ETH, ETH + 1n])))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorHoldingsMismatch")
        .withArgs(2n * ETH + 1n, 2n * ETH);
      const huge = ch.state(1n, [(1n << 255n) + 1n, (1n << 255n) - 1n]);
      await expect(ch.register(huge))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorHoldingsMismatch")
        .withArgs(ethers.MaxUint256, 2n * ETH);
    });

    it("refuses version 0 from signers: it is the deposit state's", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await expect(ch.register(ch.state(0n, [2n * ETH, 0n])))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorStaleVersion")
        .withArgs(0n, 1n);
    });
  });

  describe("hash-locked payments", function () {
    async function concludedWithLocks() {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [10n * ETH, 10n * ETH]);
      const now = BigInt(await time.latest());
      const locks: Lock[] = [
        { sender: 0, receiver: 1, amount: ETH, hashlock: hashlockOf(secret("a")), expiry: now + 10_000n },
        { sender: 1, receiver: 0, amount: 2n * ETH, hashlock: hashlockOf(secret("b")), expiry: now + 10_000n },
        { sender: 0, receiver: 1, amount: 3n * ETH, hashlock: hashlockOf(secret("c")), expiry: now + 20_000n },
      ];
      await ch.register(ch.state(4n, [6n * ETH, 8n * ETH], locks));
      await time.increase(3600);
      await ch.conclude();
      return { fx, ch, locks };
    }

    it("pays a lock to its receiver when the secret was revealed on chain in time", async function () {
      const { fx, ch, locks } = await loadFixture(concludedWithLocks);
      await expect(fx.adjudicator.revealSecret(secret("a")))
        .to.emit(fx.adjudicator, "SecretRevealed")
        .withArgs(locks[0].hashlock, secret("a"), BigInt(await time.latest()) + 1n);
      await expect(fx.adjudicator.unlock(ch.params, locks[0], 0, lockProof(locks, 0)))
        .to.emit(fx.adjudicator, "LockSettled")
        .withArgs(ch.id, 0, Object.values(locks[0]), 1);
      expect((await ch.info()).balances).to.deep.equal([6n * ETH, 9n * ETH]);
      expect(await fx.adjudicator.isLockSettled(ch.id, 0)).to.equal(true);
      expect(await fx.adjudicator.isLockSettled(ch.id, 1)).to.equal(false);
    });

    it("keeps a lock pending until its secret is revealed or it expires", async function () {
      const { fx, ch, locks } = await loadFixture(concludedWithLocks);
      await expect(fx.adjudicator.unlock(ch.params, locks[1], 1, lockProof(locks, 1)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLockPending")
        .withArgs(locks[1].hashlock, locks[1].expiry);
      await time.increaseTo(locks[1].expiry + 1n);
      await expect(fx.adjudicator.unlock(ch.params, locks[1], 1, lockProof(locks, 1)))
        .to.emit(fx.adjudicator, "LockSettled")
        .withArgs(ch.id, 1, Object.values(locks[1]), 1);
    });

    it("settles each lock once and pays everything out in the end", async function () {
      const { fx, ch, locks } = await loadFixture(concludedWithLocks);
      await fx.adjudicator.revealSecret(secret("c"));
      await time.increaseTo(locks[1].expiry + 1n);
      for (let i = 0; i < locks.length; i++) {
        await fx.adjudicator.unlock(ch.params, locks[i], i, lockProof(locks, i));
        await expect(fx.adjudicator.unlock(ch.params, locks[i], i, lockProof(locks, i)))
          .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLockAlreadySettled")
          .withArgs(ch.id, i);
      }
      // a (expired, unrevealed) → alice; b (expired) → bob; c (revealed) → bob.
      expect((await ch.info()).balances).to.deep.equal([7n * ETH, 13n * ETH]);
      await expect(ch.withdraw(0)).to.changeEtherBalance(fx.alice.wallet, 7n * ETH);
      await expect(ch.withdraw(1)).to.changeEtherBalance(fx.bob.wallet, 13n * ETH);
      expect((await ch.info()).status).to.equal(Status.Closed);
    });

    it("rejects a lock that is not in the registered tree", async function () {
      const { fx, ch, locks } = await loadFixture(concludedWithLocks);
      const forged = { ...locks[0], amount: 4n * ETH };
      await expect(fx.adjudicator.unlock(ch.params, forged, 0, lockProof(locks, 0)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidLockProof")
        .withArgs(ch.id, 0);
      // The same lock at another index (with a proof that is too long for it) is not accepted either.
      await expect(fx.adjudicator.unlock(ch.params, locks[0], 4, lockProof(locks, 0)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidLockProof")
        .withArgs(ch.id, 4);
      await expect(fx.adjudicator.unlock(ch.params, { ...locks[0], receiver: 0 }, 0, lockProof(locks, 0)))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidLock")
        .withArgs(0, 0);
    });

    it("refuses a state whose locked total is not the sum of its locks", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const lock: Lock = { sender: 0, receiver: 1, amount: ETH / 2n, hashlock: hashlockOf(secret("z")), expiry: 1n };
      // Signed by both, it promises half an ETH to its lock but locks a whole one: the rest would be stuck forever.
      const state = { ...ch.state(1n, [ETH / 2n, ETH / 2n], [lock]), lockedTotal: ETH };
      await expect(ch.register(state, [lock]))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLocksMismatch")
        .withArgs(state.locksRoot, state.locksRoot, ETH, ETH / 2n);
      // The same as a refutation.
      await ch.register(ch.state(1n, [ETH, ETH]));
      await expect(ch.refute({ ...state, version: 2n }, [lock]))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLocksMismatch")
        .withArgs(state.locksRoot, state.locksRoot, ETH, ETH / 2n);
    });

    it("refuses locks that are not the ones the state commits to", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const now = await latestTimestamp();
      const a: Lock = { sender: 0, receiver: 1, amount: 10n, hashlock: hashlockOf(secret("a")), expiry: now + 99n };
      const b: Lock = { sender: 1, receiver: 0, amount: 20n, hashlock: hashlockOf(secret("b")), expiry: now + 99n };
      const state = ch.state(1n, [ETH - 10n, ETH - 20n], [a, b]);
      const cases: [Lock[], string, bigint][] = [
        [[], ZERO_BYTES32, 0n], // none given
        [[b, a], ch.state(1n, [0n, 0n], [b, a]).locksRoot, 30n], // out of order
        [[a], ch.state(1n, [0n, 0n], [a]).locksRoot, 10n], // one missing
        [[a, { ...b, amount: 21n }], ch.state(1n, [0n, 0n], [a, { ...b, amount: 21n }]).locksRoot, 31n],
      ];
      for (const [locks, root, total] of cases) {
        await expect(ch.register(state, locks))
          .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLocksMismatch")
          .withArgs(state.locksRoot, root, 30n, total);
      }
      // Locks given for a state that has none.
      const plain = ch.state(1n, [ETH, ETH]);
      await expect(ch.register(plain, [a]))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLocksMismatch")
        .withArgs(ZERO_BYTES32, ch.state(1n, [0n, 0n], [a]).locksRoot, 0n, 10n);
      // A lock between the wrong parties can never be resolved, so a state holding one is refused too.
      const bad = { ...a, receiver: 0 as const };
      await expect(ch.register(ch.state(1n, [ETH - 10n, ETH], [bad])))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidLock")
        .withArgs(0, 0);
      await expect(ch.register(state)).to.emit(fx.adjudicator, "ChallengeRegistered");
    });

    it("refuses lock amounts past 2^112 - 1 instead of overflowing their sum", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      const huge: Lock = { sender: 0, receiver: 1, amount: (1n << 256n) - 1n, hashlock: ZERO_BYTES32, expiry: 1n };
      const state = { ...ch.state(1n, [ETH, ETH - 1n], [huge]), lockedTotal: 1n };
      await expect(ch.register(state, [huge, huge]))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorLocksMismatch")
        .withArgs(state.locksRoot, ch.state(1n, [0n, 0n], [huge, huge]).locksRoot, 1n, (1n << 256n) - 1n);
    });

    it("records a secret once", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      await fx.adjudicator.revealSecret(secret("once"));
      const at = BigInt(await time.latest());
      expect(await fx.adjudicator.secretRevealedAt(hashlockOf(secret("once")))).to.equal(at);
      await expect(fx.adjudicator.revealSecret(secret("once")))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorSecretAlreadyRevealed")
        .withArgs(hashlockOf(secret("once")), at);
    });

    it("has no locks to unlock when the registered root is empty", async function () {
      const fx = await loadFixture(deployChannelsFixture);
      const ch = await openFunded(fx, [ETH, ETH]);
      await ch.register(ch.state(1n, [ETH, ETH]));
      await time.increase(3600);
      await ch.conclude();
      const lock: Lock = { sender: 0, receiver: 1, amount: 0n, hashlock: ZERO_BYTES32, expiry: 0n };
      await expect(fx.adjudicator.unlock(ch.params, lock, 0, []))
        .to.be.revertedWithCustomError(fx.adjudicator, "ChannelAdjudicatorInvalidLockProof")
        .withArgs(ch.id, 0);
    });
  });
});
