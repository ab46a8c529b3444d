import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ethers } from "hardhat";
import fc from "fast-check";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { ChunkTreeHarness__factory } from "../../typechain-types";
import { deployRollup } from "../../scripts/deploy";
import {
  batchCommitment,
  batchStepCount,
  chunkLeaf,
  chunkProof,
  chunksRoot,
  CHUNK_TREE_LEAVES,
  stepRootsHash,
} from "../../src/l1/batch";
import {
  DEFAULT_DEPLOYMENTS_DIR,
  DeploymentFileError,
  deploymentPath,
  readRollupDeployment,
  writeRollupDeployment,
} from "../../src/l1/deployments";
import type { RollupDeployment } from "../../src/l1/deployments";
import { readBatches } from "../../src/l1/reader";
import {
  CHALLENGE_WINDOW_SECONDS,
  FORCED_INCLUSION_DELAY_SECONDS,
  loadRollup,
  PROPOSER_BOND,
} from "./helpers/fixtures";

async function harnessFixture() {
  const [deployer] = await ethers.getSigners();
  return new ChunkTreeHarness__factory(deployer).deploy();
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-l1-"));
}

describe("src/l1 and the deploy script", function () {
  describe("deployRollup", function () {
    it("deploys the four contracts wired to each other and records them", async function () {
      const { deployment, deploymentsDir, deployer, sequencer } = await loadRollup();
      const { bridge, inbox, stateCommitmentChain, fraudVerifier } = deployment.handles;
      const { contracts } = deployment;
      expect(await bridge.STATE_COMMITMENT_CHAIN()).to.equal(contracts.stateCommitmentChain);
      expect(await inbox.BRIDGE()).to.equal(contracts.bridge);
      expect(await stateCommitmentChain.INBOX()).to.equal(contracts.rollupInbox);
      expect(await stateCommitmentChain.FRAUD_VERIFIER()).to.equal(contracts.fraudVerifier);
      expect(await fraudVerifier.STATE_COMMITMENT_CHAIN()).to.equal(contracts.stateCommitmentChain);
      expect(await fraudVerifier.INBOX()).to.equal(contracts.rollupInbox);
      expect(await fraudVerifier.BRIDGE()).to.equal(contracts.bridge);
      expect(await inbox.FORCED_INCLUSION_DELAY_SECONDS()).to.equal(FORCED_INCLUSION_DELAY_SECONDS);
      expect(await inbox.hasRole(await inbox.SEQUENCER_ROLE(), sequencer.address)).to.equal(true);
      expect(await inbox.hasRole(await inbox.DEFAULT_ADMIN_ROLE(), deployer.address)).to.equal(true);
      expect(await inbox.hasRole(await inbox.SEQUENCER_ROLE(), deployer.address)).to.equal(false);

      expect(deployment.file).to.equal(deploymentPath("hardhat", deploymentsDir));
      const read = readRollupDeployment("hardhat", deploymentsDir);
      const { handles: _handles, file: _file, ...record } = deployment;
      expect(read).to.deep.equal(record);
      expect(read.params).to.deep.equal({
        challengeWindowSeconds: CHALLENGE_WINDOW_SECONDS,
        forcedInclusionDelaySeconds: FORCED_INCLUSION_DELAY_SECONDS,
        proposerBond: PROPOSER_BOND,
        admin: deployer.address,
        sequencer: sequencer.address,
      });
    });

    it("takes a separate admin and can skip writing the file", async function () {
      const [, , , , , admin, sequencer] = await ethers.getSigners();
      const deployer = (await ethers.getSigners())[7];
      const deployment = await deployRollup(
        deployer,
        {
          challengeWindowSeconds: 10n,
          forcedInclusionDelaySeconds: 5n,
          proposerBond: 0n,
          sequencer: sequencer.address,
          admin: admin.address,
        },
        { write: false },
      );
      expect(deployment.file).to.equal(undefined);
      expect(deployment.network).to.equal("chain-31337");
      const { inbox } = deployment.handles;
      expect(await inbox.hasRole(await inbox.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
      expect(await inbox.hasRole(await inbox.DEFAULT_ADMIN_ROLE(), deployer.address)).to.equal(false);
    });
  });

  describe("deployment files", function () {
    const sample: RollupDeployment = {
      network: "testnet",
      chainId: 11155111n,
      deployer: "0x1111111111111111111111111111111111111111",
      startBlock: 42,
      contracts: {
        bridge: "0x2222222222222222222222222222222222222222",
        rollupInbox: "0x3333333333333333333333333333333333333333",
        stateCommitmentChain: "0x4444444444444444444444444444444444444444",
        fraudVerifier: "0x5555555555555555555555555555555555555555",
      },
      params: {
        challengeWindowSeconds: 604800n,
        forcedInclusionDelaySeconds: 86400n,
        proposerBond: 10n ** 18n,
        admin: "0x6666666666666666666666666666666666666666",
        sequencer: "0x7777777777777777777777777777777777777777",
      },
    };

    it("round-trips the rollup section and keeps the other sections of the file", async function () {
      const dir = tempDir();
      const file = deploymentPath("testnet", dir);
      fs.writeFileSync(
        file,
        JSON.stringify({ network: "testnet", chainId: "11155111", channels: { adjudicator: "0xabc" } }),
      );
      expect(writeRollupDeployment(sample, dir)).to.equal(file);
      const json = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
      expect(json.channels).to.deep.equal({ adjudicator: "0xabc" });
      expect((json.rollup as { params: { proposerBond: string } }).params.proposerBond).to.equal("1000000000000000000");
      expect(readRollupDeployment("testnet", dir)).to.deep.equal(sample);
    });

    it("defaults to BILAYER_DEPLOYMENTS_DIR when it is set", async function () {
      const dir = tempDir();
      const saved = process.env.BILAYER_DEPLOYMENTS_DIR;
      process.env.BILAYER_DEPLOYMENTS_DIR = dir;
      try {
        expect(writeRollupDeployment(sample)).to.equal(path.join(dir, "testnet.json"));
        expect(readRollupDeployment("testnet")).to.deep.equal(sample);
      } finally {
        if (saved === undefined) delete process.env.BILAYER_DEPLOYMENTS_DIR;
        else process.env.BILAYER_DEPLOYMENTS_DIR = saved;
      }
      expect(deploymentPath("testnet")).to.equal(path.join(DEFAULT_DEPLOYMENTS_DIR, "testnet.json"));
    });

    it("refuses to write over a file of another chain", async function () {
      const dir = tempDir();
      fs.writeFileSync(deploymentPath("testnet", dir), JSON.stringify({ chainId: "1" }));
      expect(() => writeRollupDeployment(sample, dir)).to.throw(DeploymentFileError, "another chain");
    });

    it("reports a missing, malformed or incomplete file", async function () {
      const dir = tempDir();
      const write = (value: unknown) =>
        fs.writeFileSync(deploymentPath("testnet", dir), typeof value === "string" ? value : JSON.stringify(value));
      expect(() => readRollupDeployment("testnet", dir)).to.throw(DeploymentFileError, "no deployment file");
      write("{ not json");
      expect(() => readRollupDeployment("testnet", dir)).to.throw(DeploymentFileError, "not JSON");
      write([1, 2]);
      expect(() => readRollupDeployment("testnet", dir)).to.throw(DeploymentFileError, "not a JSON object");
      write({ chainId: "5" });
      expect(() => readRollupDeployment("testnet", dir)).to.throw(DeploymentFileError, "no rollup section");
      write({ chainId: "5", rollup: { contracts: {} } });
      expect(() => readRollupDeployment("testnet", dir)).to.throw(DeploymentFileError, "lacks contracts or params");
      fs.rmSync(deploymentPath("testnet", dir));
      writeRollupDeployment(sample, dir);
      const good = JSON.parse(fs.readFileSync(deploymentPath("testnet", dir), "utf8")) as {
        chainId: string;
        rollup: { startBlock: unknown; contracts: Record<string, unknown>; params: Record<string, unknown> };
      };
      for (const [mutate, message] of [
        [(j: typeof good) => (j.rollup.contracts.bridge = "0x12"), "rollup.contracts.bridge is not an address"],
        [(j: typeof good) => (j.rollup.params.proposerBond = "-1"), "rollup.params.proposerBond is not"],
        [(j: typeof good) => (j.rollup.startBlock = "seven"), "startBlock is not a block number"],
        [(j: typeof good) => (j.chainId = "0x1"), "chainId is not"],
      ] as const) {
        const copy = structuredClone(good);
        mutate(copy);
        write(copy);
        expect(() => readRollupDeployment("testnet", dir)).to.throw(DeploymentFileError, message);
      }
      expect(() => deploymentPath("../etc/passwd", dir)).to.throw(DeploymentFileError, "invalid network name");
    });
  });

  describe("chunk tree and commitments", function () {
    it("computes the chunk root and paths exactly as ChunkTree.sol", async function () {
      const harness = await loadFixture(harnessFixture);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: CHUNK_TREE_LEAVES }),
          fc.nat(),
          async (chunks, pick) => {
            const root = chunksRoot(chunks);
            expect(await harness.root(chunks.map(chunkLeaf))).to.equal(root);
            if (chunks.length > 0) {
              const index = pick % chunks.length;
              expect(await harness.computeRoot(chunkLeaf(chunks[index]), index, chunkProof(chunks, index))).to.equal(
                root,
              );
            }
          },
        ),
        { numRuns: 60 },
      );
      const full = Array.from({ length: CHUNK_TREE_LEAVES }, (_, i) => Uint8Array.of(i));
      expect(await harness.root(full.map(chunkLeaf))).to.equal(chunksRoot(full));
      expect(await harness.computeRoot(chunkLeaf(full[127]), 127, chunkProof(full, 127))).to.equal(chunksRoot(full));
    });

    it("refuses more chunks than the tree holds, on both sides", async function () {
      const harness = await loadFixture(harnessFixture);
      const leaves = Array.from({ length: CHUNK_TREE_LEAVES + 1 }, () => ethers.ZeroHash);
      await expect(harness.root(leaves))
        .to.be.revertedWithCustomError(harness, "ChunkTreeTooManyLeaves")
        .withArgs(CHUNK_TREE_LEAVES + 1, CHUNK_TREE_LEAVES);
      expect(() => chunksRoot(leaves)).to.throw(RangeError);
      expect(() => chunkProof([new Uint8Array(1)], 1)).to.throw(RangeError);
    });

    it("matches the inbox's commitment and the chain's step-roots hash", async function () {
      const { deployment, sequencer, alice, proposer } = await loadRollup();
      const { inbox, bridge, stateCommitmentChain } = deployment.handles;
      for (let i = 0; i < 3; i++) await bridge.connect(alice).depositEth(alice.address, 0, { value: 1n });
      const chunks = ["0x0102", "0x", "0xff"];
      await inbox.connect(sequencer).appendBatch(chunks, 3, 4);
      const stepCount = batchStepCount(3, chunks.length);
      expect(stepCount).to.equal(4);
      expect(await inbox.batchCommitment(0)).to.equal(
        batchCommitment({ chunksRoot: chunksRoot(chunks), queueStart: 0n, queueEnd: 3n, feeRecipient: 4, stepCount }),
      );
      const roots = [1, 2, 3, 4].map((i) => ethers.zeroPadValue(ethers.toBeHex(i), 32));
      await stateCommitmentChain.connect(proposer).propose(0, roots, { value: PROPOSER_BOND });
      expect((await stateCommitmentChain.proposal(0)).stepRootsHash).to.equal(stepRootsHash(roots));
    });
  });

  describe("reading batches from L1", function () {
    it("recovers every batch's chunks from calldata, forced batches included", async function () {
      const { deployment, sequencer, alice, model } = await loadRollup();
      const { inbox, bridge } = deployment.handles;
      await bridge.connect(alice).depositEth(alice.address, 0, { value: 1n });
      await model.append(sequencer, [Uint8Array.of(1, 2, 3), new Uint8Array(0)], 1, 7);
      await ethers.provider.send("evm_increaseTime", [Number(FORCED_INCLUSION_DELAY_SECONDS)]);
      await bridge.connect(alice).requestForcedExit(1);
      await ethers.provider.send("evm_increaseTime", [Number(FORCED_INCLUSION_DELAY_SECONDS)]);
      await inbox.connect(alice).forceInclude(1);
      const batches = await readBatches(inbox, { fromBlock: deployment.startBlock });
      expect(
        batches.map((b) => [b.index, b.queueStart, b.queueEnd, b.feeRecipient, b.forced, b.stepCount]),
      ).to.deep.equal([
        [0, 0, 1, 7, false, 3],
        [1, 1, 2, 0, true, 1],
      ]);
      expect(batches[0].chunks).to.deep.equal([Uint8Array.of(1, 2, 3), new Uint8Array(0)]);
      expect(batches[1].chunks).to.deep.equal([]);
      expect(batches[0].commitment).to.equal(await inbox.batchCommitment(0));
    });
  });
});
