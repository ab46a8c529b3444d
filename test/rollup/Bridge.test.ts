import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { FeeOnTransferToken__factory, MockERC20__factory, ReentrantClaimToken__factory } from "../../typechain-types";
import { queueAccumulator, queueItemHash, QueueKind } from "../../src/protocol/queue";
import { loadRollup } from "./helpers/fixtures";

describe("Bridge", function () {
  describe("token registration", function () {
    it("assigns token ids 1, 2, ... in registration order, to anyone", async function () {
      const { deployment, deployer, outsider, tokenId } = await loadRollup();
      const { bridge } = deployment.handles;
      expect(tokenId).to.equal(1);
      const second = await new MockERC20__factory(deployer).deploy("Second", "TWO");
      await expect(bridge.connect(outsider).registerToken(await second.getAddress()))
        .to.emit(bridge, "TokenRegistered")
        .withArgs(await second.getAddress(), 2);
      expect(await bridge.tokenCount()).to.equal(2);
      expect(await bridge.tokenOf(2)).to.equal(await second.getAddress());
      expect(await bridge.tokenOf(0)).to.equal(ethers.ZeroAddress);
    });

    it("refuses a token registered twice", async function () {
      const { deployment, token } = await loadRollup();
      await expect(deployment.handles.bridge.registerToken(await token.getAddress()))
        .to.be.revertedWithCustomError(deployment.handles.bridge, "BridgeTokenAlreadyRegistered")
        .withArgs(await token.getAddress(), 1);
    });

    it("refuses an address without code", async function () {
      const { deployment, outsider } = await loadRollup();
      await expect(deployment.handles.bridge.registerToken(outsider.address))
        .to.be.revertedWithCustomError(deployment.handles.bridge, "BridgeTokenNotContract")
        .withArgs(outsider.address);
    });
  });

  describe("deposits", function () {
    it("queues an ETH deposit with the block timestamp and the chained accumulator", async function () {
      const { deployment, alice, bob } = await loadRollup();
      const { bridge } = deployment.handles;
      const amount = ethers.parseEther("2");
      const at = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(at);
      const expectedItem = {
        kind: QueueKind.Deposit,
        addr: bob.address,
        tokenId: 0,
        amount,
        account: 7,
        timestamp: BigInt(at),
      };
      const acc = queueAccumulator([expectedItem]);
      const deposit = bridge.connect(alice).depositEth(bob.address, 7, { value: amount });
      await expect(deposit)
        .to.emit(bridge, "QueueItemAppended")
        .withArgs(0, QueueKind.Deposit, bob.address, 0, amount, 7, at, acc);
      await expect(deposit).to.changeEtherBalances([alice, bridge], [-amount, amount]);
      expect(await bridge.queueLength()).to.equal(1);
      expect(await bridge.queueAccumulator(0)).to.equal(ethers.ZeroHash);
      expect(await bridge.queueAccumulator(1)).to.equal(acc);
      expect(await bridge.queueTimestamp(0)).to.equal(at);
      expect(await bridge.outstanding(0)).to.equal(amount);
      expect(queueItemHash(expectedItem)).to.not.equal(ethers.ZeroHash);
    });

    it("keeps the accumulator of every prefix, matching the TypeScript queue", async function () {
      const { deployment, alice, bob, token, tokenId, model } = await loadRollup();
      const { bridge } = deployment.handles;
      await bridge.connect(alice).depositEth(alice.address, 0, { value: 5n });
      await bridge.connect(bob).depositToken(await token.getAddress(), 1000n, bob.address, 3);
      await bridge.connect(bob).requestForcedExit(2);
      await model.syncQueue();
      expect(model.queue.map((item) => [item.kind, item.tokenId, item.amount, item.account])).to.deep.equal([
        [QueueKind.Deposit, 0, 5n, 0],
        [QueueKind.Deposit, tokenId, 1000n, 3],
        [QueueKind.ForcedExit, 0, 0n, 2],
      ]);
      for (let i = 0; i <= 3; i++) {
        expect(await bridge.queueAccumulator(i)).to.equal(queueAccumulator(model.queue.slice(0, i)));
      }
    });

    it("refuses to read past the end of the queue", async function () {
      const { deployment, alice } = await loadRollup();
      const { bridge } = deployment.handles;
      await bridge.connect(alice).depositEth(alice.address, 0, { value: 1n });
      await expect(bridge.queueAccumulator(2))
        .to.be.revertedWithCustomError(bridge, "BridgeQueueIndexOutOfRange")
        .withArgs(2, 1);
      await expect(bridge.queueTimestamp(1))
        .to.be.revertedWithCustomError(bridge, "BridgeQueueIndexOutOfRange")
        .withArgs(1, 1);
    });

    it("credits an ERC-20 deposit and pulls the tokens", async function () {
      const { deployment, alice, token, tokenId } = await loadRollup();
      const { bridge } = deployment.handles;
      const deposit = bridge.connect(alice).depositToken(await token.getAddress(), 12345n, alice.address, 0);
      await expect(deposit).to.emit(bridge, "QueueItemAppended");
      await expect(deposit).to.changeTokenBalances(token, [alice, bridge], [-12345n, 12345n]);
      expect(await bridge.outstanding(tokenId)).to.equal(12345n);
    });

    it("credits what a fee-on-transfer token actually delivered, not what was asked", async function () {
      const { deployment, deployer, alice } = await loadRollup();
      const { bridge } = deployment.handles;
      const fot = await new FeeOnTransferToken__factory(deployer).deploy(100); // 1 %
      await bridge.registerToken(await fot.getAddress());
      await fot.mint(alice.address, 10_000n);
      await fot.connect(alice).approve(await bridge.getAddress(), 10_000n);
      const block = await ethers.provider.getBlock("latest");
      const at = BigInt((block?.timestamp ?? 0) + 1);
      await time.setNextBlockTimestamp(at);
      await expect(bridge.connect(alice).depositToken(await fot.getAddress(), 10_000n, alice.address, 0))
        .to.emit(bridge, "QueueItemAppended")
        .withArgs(0, QueueKind.Deposit, alice.address, 2, 9_900n, 0, at, (acc: string) => acc !== ethers.ZeroHash);
      expect(await fot.balanceOf(await bridge.getAddress())).to.equal(9_900n);
      expect(await bridge.outstanding(2)).to.equal(9_900n);
    });

    it("credits a token that re-enters the deposit once: the re-entry is refused", async function () {
      const { deployment, deployer, alice } = await loadRollup();
      const { bridge } = deployment.handles;
      const token = await new ReentrantClaimToken__factory(deployer).deploy();
      const tokenAddress = await token.getAddress();
      await bridge.registerToken(tokenAddress);
      await token.mint(alice.address, 1000n);
      await token.connect(alice).approve(await bridge.getAddress(), 1000n);
      const reentry = bridge.interface.encodeFunctionData("depositToken", [tokenAddress, 50n, alice.address, 0]);
      await token.setHook(alice.address, await bridge.getAddress(), reentry);
      await bridge.connect(alice).depositToken(tokenAddress, 100n, alice.address, 0);
      expect(await token.reentries()).to.equal(1);
      expect(await token.lastReentryResult()).to.equal(
        bridge.interface.getError("ReentrancyGuardReentrantCall")?.selector,
      );
      expect(await bridge.queueLength()).to.equal(1);
      expect(await bridge.outstanding(2)).to.equal(100n);
      expect(await token.balanceOf(await bridge.getAddress())).to.equal(100n);
    });

    it("refuses a deposit of a token that is not registered", async function () {
      const { deployment, deployer, alice } = await loadRollup();
      const { bridge } = deployment.handles;
      const other = await new MockERC20__factory(deployer).deploy("Other", "OTH");
      await other.mint(alice.address, 100n);
      await other.connect(alice).approve(await bridge.getAddress(), 100n);
      await expect(bridge.connect(alice).depositToken(await other.getAddress(), 100n, alice.address, 0))
        .to.be.revertedWithCustomError(bridge, "BridgeTokenNotRegistered")
        .withArgs(await other.getAddress());
    });

    it("refuses deposits of nothing and deposits to the zero address", async function () {
      const { deployment, alice, token } = await loadRollup();
      const { bridge } = deployment.handles;
      await expect(bridge.connect(alice).depositEth(alice.address, 0)).to.be.revertedWithCustomError(
        bridge,
        "BridgeZeroDeposit",
      );
      await expect(
        bridge.connect(alice).depositToken(await token.getAddress(), 0n, alice.address, 0),
      ).to.be.revertedWithCustomError(bridge, "BridgeZeroDeposit");
      await expect(
        bridge.connect(alice).depositEth(ethers.ZeroAddress, 0, { value: 1n }),
      ).to.be.revertedWithCustomError(bridge, "BridgeInvalidRecipient");
    });

    it("refuses a deposit that would raise what the bridge holds of a token above 2^128 - 1", async function () {
      const { deployment, alice, bob, token, tokenId } = await loadRollup();
      const { bridge } = deployment.handles;
      const cap = 2n ** 128n - 1n;
      await token.mint(alice.address, cap);
      await bridge.connect(alice).depositToken(await token.getAddress(), cap - 10n, alice.address, 0);
      await expect(bridge.connect(bob).depositToken(await token.getAddress(), 11n, bob.address, 0))
        .to.be.revertedWithCustomError(bridge, "BridgeDepositCapExceeded")
        .withArgs(tokenId, cap - 10n, 11n);
      await bridge.connect(bob).depositToken(await token.getAddress(), 10n, bob.address, 0);
      expect(await bridge.outstanding(tokenId)).to.equal(cap);
    });
  });

  describe("forced exits", function () {
    it("queues (msg.sender, account) with no token and no amount", async function () {
      const { deployment, carol } = await loadRollup();
      const { bridge } = deployment.handles;
      await expect(bridge.connect(carol).requestForcedExit(5))
        .to.emit(bridge, "QueueItemAppended")
        .withArgs(
          0,
          QueueKind.ForcedExit,
          carol.address,
          0,
          0,
          5,
          (t: bigint) => t > 0n,
          (a: string) => a.length === 66,
        );
    });

    it("refuses account 0, which never exists", async function () {
      const { deployment, carol } = await loadRollup();
      await expect(deployment.handles.bridge.connect(carol).requestForcedExit(0)).to.be.revertedWithCustomError(
        deployment.handles.bridge,
        "BridgeInvalidAccount",
      );
    });
  });

  it("has no way to receive ETH other than a deposit", async function () {
    const { deployment, alice } = await loadRollup();
    await expect(alice.sendTransaction({ to: deployment.contracts.bridge, value: 1n })).to.be.reverted;
  });
});
