import { expect } from "chai";
import { ethers, network } from "hardhat";
import { Wallet } from "ethers";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import {
  batchCommitment,
  chunksRoot,
  MAX_BATCH_BYTES,
  MAX_CHUNKS_PER_BATCH,
  MAX_L1_TX_BYTES,
  MAX_QUEUE_ITEMS_PER_BATCH,
} from "../../src/l1/batch";
import { MAX_CHUNK_BYTES } from "../../src/protocol/constants";
import { domainSeparator } from "../../src/protocol/eip712";
import { EthRejecter__factory } from "../../typechain-types";
import { fillQueue, FORCED_INCLUSION_DELAY_SECONDS, loadRollup } from "./helpers/fixtures";
import { largestBatchChunks, nonZeroBytes, widestSignedSize } from "./helpers/mempool";

const GAS_CAP = 16_777_216n;

describe("RollupInbox", function () {
  describe("appendBatch", function () {
    it("stores the commitment fields and emits them", async function () {
      const { deployment, sequencer, alice } = await loadRollup();
      const { inbox, bridge } = deployment.handles;
      for (let i = 0; i < 40; i++) await bridge.connect(alice).depositEth(alice.address, 0, { value: 1n + BigInt(i) });
      const chunks = [nonZeroBytes(80, 1), new Uint8Array(0), nonZeroBytes(3072, 2)];
      const root = chunksRoot(chunks);
      const fields = { chunksRoot: root, queueStart: 0n, queueEnd: 33n, feeRecipient: 9, stepCount: 5 };
      const commitment = batchCommitment(fields);
      await expect(inbox.connect(sequencer).appendBatch(chunks, 33, 9))
        .to.emit(inbox, "BatchAppended")
        .withArgs(0, commitment, root, 0, 33, 3, 5, 9, false);
      expect(await inbox.batchCount()).to.equal(1);
      expect(await inbox.stepCount(0)).to.equal(5);
      expect(await inbox.batchCommitment(0)).to.equal(commitment);
      expect(await inbox.queueConsumed()).to.equal(33);
      const stored = await inbox.batch(0);
      expect([
        stored.chunksRoot,
        stored.queueStart,
        stored.queueEnd,
        stored.chunkCount,
        stored.stepCount,
      ]).to.deep.equal([root, 0n, 33n, 3n, 5n]);
      // The next batch starts where this one ended.
      await inbox.connect(sequencer).appendBatch([], 7, 0);
      const second = await inbox.batch(1);
      expect([second.queueStart, second.queueEnd, second.stepCount]).to.deep.equal([33n, 40n, 1n]);
    });

    it("lets only the sequencer append, and the admin change the sequencer", async function () {
      const { deployment, deployer, sequencer, outsider } = await loadRollup();
      const { inbox } = deployment.handles;
      const role = await inbox.SEQUENCER_ROLE();
      await expect(inbox.connect(outsider).appendBatch(["0x01"], 0, 0))
        .to.be.revertedWithCustomError(inbox, "AccessControlUnauthorizedAccount")
        .withArgs(outsider.address, role);
      await inbox.connect(deployer).grantRole(role, outsider.address);
      await inbox.connect(deployer).revokeRole(role, sequencer.address);
      await expect(inbox.connect(outsider).appendBatch(["0x01"], 0, 0)).to.emit(inbox, "BatchAppended");
      await expect(inbox.connect(sequencer).appendBatch(["0x01"], 0, 0)).to.be.revertedWithCustomError(
        inbox,
        "AccessControlUnauthorizedAccount",
      );
    });

    it("refuses a batch with no step", async function () {
      const { deployment, sequencer } = await loadRollup();
      await expect(deployment.handles.inbox.connect(sequencer).appendBatch([], 0, 0)).to.be.revertedWithCustomError(
        deployment.handles.inbox,
        "RollupInboxEmptyBatch",
      );
    });

    it("refuses to consume queue items that do not exist", async function () {
      const { deployment, sequencer, alice } = await loadRollup();
      const { inbox, bridge } = deployment.handles;
      await bridge.connect(alice).depositEth(alice.address, 0, { value: 1n });
      await expect(inbox.connect(sequencer).appendBatch([], 2, 0))
        .to.be.revertedWithCustomError(inbox, "RollupInboxQueueOverrun")
        .withArgs(2, 1);
    });

    it("refuses a contract caller: its chunks would not be in the transaction's calldata", async function () {
      const { deployment, deployer } = await loadRollup();
      const { inbox } = deployment.handles;
      const relay = await new EthRejecter__factory(deployer).deploy();
      const relayAddress = await relay.getAddress();
      await inbox.connect(deployer).grantRole(await inbox.SEQUENCER_ROLE(), relayAddress);
      const data = inbox.interface.encodeFunctionData("appendBatch", [["0x01"], 0, 0]);
      const refusal = inbox.interface.encodeErrorResult("RollupInboxCallerNotSender", [relayAddress]);
      await expect(relay.execute(await inbox.getAddress(), data))
        .to.be.revertedWithCustomError(relay, "EthRejecterCallFailed")
        .withArgs(refusal);
    });

    it("refuses an account with EIP-7702 delegated code, calling directly or through its code", async function () {
      const { deployment, deployer } = await loadRollup();
      const { inbox } = deployment.handles;
      const code = await new EthRejecter__factory(deployer).deploy();
      const account = Wallet.createRandom().connect(ethers.provider);
      await network.provider.send("hardhat_setBalance", [account.address, ethers.toQuantity(10n ** 18n)]);
      await inbox.connect(deployer).grantRole(await inbox.SEQUENCER_ROLE(), account.address);
      // The same account appends fine while it has no code.
      await inbox.connect(account).appendBatch(["0x01"], 0, 0);
      const authorization = await account.authorize({ address: await code.getAddress(), nonce: 2 });
      await (
        await account.sendTransaction({ type: 4, to: deployer.address, authorizationList: [authorization] })
      ).wait();
      expect(await ethers.provider.getCode(account.address)).to.equal(
        "0xef0100" + (await code.getAddress()).slice(2).toLowerCase(),
      );
      await expect(inbox.connect(account).appendBatch(["0x01"], 0, 0))
        .to.be.revertedWithCustomError(inbox, "RollupInboxCallerNotSender")
        .withArgs(account.address);
      // Through its own code: the transaction goes to the account, whose code calls the inbox.
      const data = inbox.interface.encodeFunctionData("appendBatch", [["0x01"], 0, 0]);
      const viaCode = code.attach(account.address).connect(account) as typeof code;
      await expect(viaCode.execute(await inbox.getAddress(), data))
        .to.be.revertedWithCustomError(code, "EthRejecterCallFailed")
        .withArgs(inbox.interface.encodeErrorResult("RollupInboxCallerNotSender", [account.address]));
      expect(await inbox.batchCount()).to.equal(1);
    });

    it("refuses more queue items than a batch may consume", async function () {
      const { deployment, sequencer } = await loadRollup();
      const { inbox } = deployment.handles;
      await expect(inbox.connect(sequencer).appendBatch([], MAX_QUEUE_ITEMS_PER_BATCH + 1, 0))
        .to.be.revertedWithCustomError(inbox, "RollupInboxTooManyQueueItems")
        .withArgs(MAX_QUEUE_ITEMS_PER_BATCH + 1, MAX_QUEUE_ITEMS_PER_BATCH);
    });

    it("refuses batches past the limits that keep every append within what a public mempool relays", async function () {
      const { deployment, sequencer } = await loadRollup();
      const { inbox } = deployment.handles;
      expect(await inbox.MAX_CHUNKS_PER_BATCH()).to.equal(MAX_CHUNKS_PER_BATCH);
      expect(await inbox.MAX_BATCH_BYTES()).to.equal(MAX_BATCH_BYTES);
      expect(await inbox.MAX_QUEUE_ITEMS_PER_BATCH()).to.equal(MAX_QUEUE_ITEMS_PER_BATCH);
      const tooMany = Array.from({ length: MAX_CHUNKS_PER_BATCH + 1 }, () => "0x01");
      await expect(inbox.connect(sequencer).appendBatch(tooMany, 0, 0))
        .to.be.revertedWithCustomError(inbox, "RollupInboxTooManyChunks")
        .withArgs(MAX_CHUNKS_PER_BATCH + 1, MAX_CHUNKS_PER_BATCH);
      await expect(inbox.connect(sequencer).appendBatch(["0x01", nonZeroBytes(MAX_CHUNK_BYTES + 1, 3)], 0, 0))
        .to.be.revertedWithCustomError(inbox, "RollupInboxChunkTooLarge")
        .withArgs(1, MAX_CHUNK_BYTES + 1, MAX_CHUNK_BYTES);
      // Full chunks and one more: one byte over the limit.
      const full = Math.floor(MAX_BATCH_BYTES / MAX_CHUNK_BYTES);
      const chunks = Array.from({ length: full + 1 }, (_, i) =>
        nonZeroBytes(i < full ? MAX_CHUNK_BYTES : MAX_BATCH_BYTES - full * MAX_CHUNK_BYTES + 1, i),
      );
      await expect(inbox.connect(sequencer).appendBatch(chunks, 0, 0))
        .to.be.revertedWithCustomError(inbox, "RollupInboxBatchTooLarge")
        .withArgs(MAX_BATCH_BYTES + 1, MAX_BATCH_BYTES);
    });

    it("accepts the largest batch, a transaction a public mempool relays, well under the gas cap", async function () {
      const { deployment, sequencer } = await loadRollup();
      const { inbox } = deployment.handles;
      const chunks = largestBatchChunks();
      expect(chunks.reduce((n, c) => n + c.length, 0)).to.equal(MAX_BATCH_BYTES);
      const padding = chunks.reduce((n, c) => n + ((32 - (c.length % 32)) % 32), 0);
      expect(chunks).to.have.length(MAX_CHUNKS_PER_BATCH);
      expect(padding).to.equal((MAX_CHUNKS_PER_BATCH - 1) * 31 + 16);
      const data = inbox.interface.encodeFunctionData("appendBatch", [chunks, MAX_QUEUE_ITEMS_PER_BATCH, 2 ** 32 - 1]);
      const size = await widestSignedSize(await inbox.getAddress(), data);
      console.log(
        `      largest appendBatch: ${size} bytes signed (every field at its widest), limit ${MAX_L1_TX_BYTES}`,
      );
      expect(size).to.be.at.most(MAX_L1_TX_BYTES);
      const receipt = await (await inbox.connect(sequencer).appendBatch(chunks, 0, 0)).wait();
      const gasUsed = receipt?.gasUsed ?? 0n;
      console.log(`      largest batch (${MAX_CHUNKS_PER_BATCH} chunks, ${MAX_BATCH_BYTES} bytes): ${gasUsed} gas`);
      expect(gasUsed).to.be.lessThan((GAS_CAP * 3n) / 4n);
      expect(await inbox.batchCommitment(0)).to.equal(
        batchCommitment({
          chunksRoot: chunksRoot(chunks),
          queueStart: 0n,
          queueEnd: 0n,
          feeRecipient: 0,
          stepCount: MAX_CHUNKS_PER_BATCH,
        }),
      );
    });
  });

  describe("views", function () {
    it("refuses an unknown batch index", async function () {
      const { deployment } = await loadRollup();
      const { inbox } = deployment.handles;
      for (const view of [inbox.batch, inbox.stepCount, inbox.batchCommitment]) {
        await expect(view(0)).to.be.revertedWithCustomError(inbox, "RollupInboxUnknownBatch").withArgs(0, 0);
      }
    });

    it("exposes the EIP-712 domain of L2 signatures: bilayer, 1, this chain, this inbox", async function () {
      const { deployment } = await loadRollup();
      const { inbox } = deployment.handles;
      const { chainId } = await ethers.provider.getNetwork();
      expect(await inbox.domainSeparator()).to.equal(domainSeparator(chainId, deployment.contracts.rollupInbox));
      const domain = await inbox.eip712Domain();
      expect([domain.name, domain.version, domain.chainId, domain.verifyingContract]).to.deep.equal([
        "bilayer",
        "1",
        chainId,
        deployment.contracts.rollupInbox,
      ]);
    });
  });

  describe("forced inclusion", function () {
    async function depositedAt() {
      const fixture = await loadRollup();
      const { bridge } = fixture.deployment.handles;
      await bridge.connect(fixture.alice).depositEth(fixture.alice.address, 0, { value: 5n });
      const queuedAt = await bridge.queueTimestamp(0);
      return { ...fixture, queuedAt, dueAt: queuedAt + FORCED_INCLUSION_DELAY_SECONDS };
    }

    it("lets the sequencer leave an item unconsumed until one second before it is due", async function () {
      const { deployment, sequencer, dueAt } = await depositedAt();
      const { inbox } = deployment.handles;
      await time.setNextBlockTimestamp(dueAt - 1n);
      await expect(inbox.connect(sequencer).appendBatch(["0x"], 0, 0)).to.emit(inbox, "BatchAppended");
    });

    it("refuses a batch that leaves an item unconsumed from the second it is due", async function () {
      for (const offset of [0n, 1n]) {
        const { deployment, sequencer, queuedAt, dueAt } = await depositedAt();
        const { inbox } = deployment.handles;
        await time.setNextBlockTimestamp(dueAt + offset);
        await expect(inbox.connect(sequencer).appendBatch(["0x"], 0, 0))
          .to.be.revertedWithCustomError(inbox, "RollupInboxOverdueItemSkipped")
          .withArgs(0, queuedAt, dueAt);
        await expect(inbox.connect(sequencer).appendBatch(["0x"], 1, 0)).to.emit(inbox, "BatchAppended");
      }
    });

    it("reports overdue items at the delay's edges", async function () {
      const { deployment, dueAt } = await depositedAt();
      const { inbox } = deployment.handles;
      await time.increaseTo(dueAt - 1n);
      expect(await inbox.isOverdue(0)).to.equal(false);
      await time.increaseTo(dueAt);
      expect(await inbox.isOverdue(0)).to.equal(true);
      expect(await inbox.isOverdue(1)).to.equal(false);
    });

    it("lets anyone force-include an overdue item, and no one before it is due", async function () {
      const { deployment, outsider, dueAt } = await depositedAt();
      const { inbox } = deployment.handles;
      await time.setNextBlockTimestamp(dueAt - 1n);
      await expect(inbox.connect(outsider).forceInclude(1))
        .to.be.revertedWithCustomError(inbox, "RollupInboxNothingOverdue")
        .withArgs(0);
      await time.setNextBlockTimestamp(dueAt);
      const empty = chunksRoot([]);
      const commitment = batchCommitment({
        chunksRoot: empty,
        queueStart: 0n,
        queueEnd: 1n,
        feeRecipient: 0,
        stepCount: 1,
      });
      await expect(inbox.connect(outsider).forceInclude(1))
        .to.emit(inbox, "BatchAppended")
        .withArgs(0, commitment, empty, 0, 1, 0, 1, 0, true);
      // Nothing is left to force.
      await expect(inbox.connect(outsider).forceInclude(1))
        .to.be.revertedWithCustomError(inbox, "RollupInboxNothingOverdue")
        .withArgs(1);
    });

    it("makes a forced batch consume every overdue item too", async function () {
      const { deployment, outsider, bob, dueAt } = await depositedAt();
      const { inbox, bridge } = deployment.handles;
      await bridge.connect(bob).requestForcedExit(1);
      const secondQueuedAt = await bridge.queueTimestamp(1);
      await time.setNextBlockTimestamp(secondQueuedAt + FORCED_INCLUSION_DELAY_SECONDS);
      await expect(inbox.connect(outsider).forceInclude(1))
        .to.be.revertedWithCustomError(inbox, "RollupInboxOverdueItemSkipped")
        .withArgs(1, secondQueuedAt, secondQueuedAt + FORCED_INCLUSION_DELAY_SECONDS);
      expect(dueAt).to.be.lessThanOrEqual(secondQueuedAt + FORCED_INCLUSION_DELAY_SECONDS);
      await expect(inbox.connect(outsider).forceInclude(2)).to.emit(inbox, "BatchAppended");
    });

    it("drains a backlog larger than one batch, a full batch at a time", async function () {
      const { deployment, deployer, sequencer, outsider } = await loadRollup();
      const { inbox, bridge } = deployment.handles;
      const total = MAX_QUEUE_ITEMS_PER_BATCH + 5;
      await fillQueue(deployer, deployment.contracts.bridge, deployer.address, total);
      expect(await bridge.queueLength()).to.equal(total);
      await time.increase(FORCED_INCLUSION_DELAY_SECONDS);
      // Fewer than a full batch while items are overdue: refused.
      await expect(inbox.connect(sequencer).appendBatch(["0x"], MAX_QUEUE_ITEMS_PER_BATCH - 1, 0))
        .to.be.revertedWithCustomError(inbox, "RollupInboxOverdueItemSkipped")
        .withArgs(
          MAX_QUEUE_ITEMS_PER_BATCH - 1,
          (t: bigint) => t > 0n,
          (d: bigint) => d > 0n,
        );
      // A full batch is allowed although overdue items remain; the rest follows.
      await expect(inbox.connect(sequencer).appendBatch(["0x"], MAX_QUEUE_ITEMS_PER_BATCH, 0)).to.emit(
        inbox,
        "BatchAppended",
      );
      await expect(inbox.connect(outsider).forceInclude(4)).to.be.revertedWithCustomError(
        inbox,
        "RollupInboxOverdueItemSkipped",
      );
      await expect(inbox.connect(outsider).forceInclude(5)).to.emit(inbox, "BatchAppended");
      expect(await inbox.queueConsumed()).to.equal(total);
      expect(await inbox.stepCount(0)).to.equal(33);
    });
  });
});
