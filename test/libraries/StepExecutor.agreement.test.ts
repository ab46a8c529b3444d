// The Solidity step executor and the TypeScript STF (src/protocol) must agree on every step: same post-state, same
// post root, same outcome codes, with the witness the TypeScript side produced accepted unchanged.
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { anyUint } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { expect } from "chai";
import hre, { ethers } from "hardhat";
import { keccak256 } from "ethers";
import fc from "fast-check";
import { initHashing } from "../../src/protocol";
import { namedEdgeVectors, type StepVector } from "../../src/protocol/testing";
import { describeVector, generateVectors, stepVectorArbitrary } from "../protocol/helpers/vectors";
import type { StepExecutorHarness } from "../../typechain-types";

/** Set by `hardhat coverage` (solidity-coverage) on the runtime environment while it runs the tests. */
const UNDER_COVERAGE = (hre as { __SOLIDITY_COVERAGE_RUNNING?: boolean }).__SOLIDITY_COVERAGE_RUNNING === true;

const SEEDED_VECTORS = 144;
// Under coverage every opcode is traced and an eth_call of a full chunk takes ~0.6 s: the seeded vectors (which
// reach every outcome code) still all run, and the arbitrary steps are sampled less. `npm test` runs all 200.
const PROPERTY_RUNS = UNDER_COVERAGE ? 25 : 200;

function replay(harness: StepExecutorHarness, v: StepVector, witness = v.witness) {
  if (v.kind === "chunk") {
    return harness.executeChunk(v.pre, v.domainSeparator, v.feeRecipient, v.chunk ?? "0x", witness);
  }
  return harness.executeQueue(v.pre, v.items ?? [], witness);
}

async function expectAgreement(harness: StepExecutorHarness, v: StepVector): Promise<void> {
  const [post, postRoot, outcomes] = await replay(harness, v);
  const label = describeVector(v);
  expect(
    {
      accountsRoot: post.accountsRoot,
      accountCount: Number(post.accountCount),
      withdrawalsRoot: post.withdrawalsRoot,
      withdrawalCount: post.withdrawalCount,
    },
    `post header of ${label}`,
  ).to.deep.equal({
    accountsRoot: v.post.accountsRoot.toLowerCase(),
    accountCount: v.post.accountCount,
    withdrawalsRoot: v.post.withdrawalsRoot.toLowerCase(),
    withdrawalCount: v.post.withdrawalCount,
  });
  expect(postRoot, `post root of ${label}`).to.equal(v.postRoot.toLowerCase());
  expect(outcomes.map(Number), `outcomes of ${label}`).to.deep.equal(v.outcomes);
}

describe("StepExecutor agrees with src/protocol", function () {
  before(async function () {
    await initHashing();
  });

  async function deploy() {
    return { harness: await ethers.deployContract("StepExecutorHarness") };
  }

  describe("named edge vectors", function () {
    for (const vector of namedEdgeVectors()) {
      it(vector.name, async function () {
        const { harness } = await loadFixture(deploy);
        await expectAgreement(harness, vector);
      });
    }
  });

  it(`agrees on ${SEEDED_VECTORS} seeded random vectors covering every scenario`, async function () {
    const { harness } = await loadFixture(deploy);
    const vectors = generateVectors(20261123, SEEDED_VECTORS);
    const seen = new Set<number>();
    for (const v of vectors) {
      await expectAgreement(harness, v);
      v.outcomes.forEach((o) => seen.add(o));
    }
    // The vectors reach every outcome code of §5.3, so none of the rules goes unchecked.
    const codes = [...Array(16).keys(), ...Array.from({ length: 9 }, (_, i) => 20 + i)];
    expect([...seen].sort((a, b) => a - b)).to.deep.equal(codes);
  });

  it(`agrees on ${PROPERTY_RUNS} arbitrary steps (fast-check)`, async function () {
    const { harness } = await loadFixture(deploy);
    await fc.assert(
      fc.asyncProperty(stepVectorArbitrary(), async (v) => {
        await expectAgreement(harness, v);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  describe("a witness that is not the one the step consumes", function () {
    /** Seeded vectors whose witness has at least `accounts` account and `withdrawals` withdrawal entries. */
    function vectorWith(accounts: number, withdrawals: number): StepVector {
      const v = generateVectors(7, 64).find(
        (x) => x.witness.accounts.length >= accounts && x.witness.withdrawals.length >= withdrawals,
      );
      if (v === undefined) throw new Error("no such vector");
      return v;
    }

    it("reverts on a tampered sibling, naming the entry", async function () {
      const { harness } = await loadFixture(deploy);
      const v = vectorWith(2, 0);
      const w = structuredClone(v.witness);
      w.accounts[1].siblings[5] = keccak256(w.accounts[1].siblings[5]);
      await expect(replay(harness, v, w))
        .to.be.revertedWithCustomError(harness, "StepExecutorInvalidWitness")
        .withArgs(1, anyUint);
    });

    it("reverts on a tampered withdrawal path", async function () {
      const { harness } = await loadFixture(deploy);
      const v = vectorWith(0, 1);
      const w = structuredClone(v.witness);
      w.withdrawals[0][31] = keccak256(w.withdrawals[0][31]);
      await expect(replay(harness, v, w))
        .to.be.revertedWithCustomError(harness, "StepExecutorInvalidWithdrawalWitness")
        .withArgs(0, v.pre.withdrawalCount);
    });

    it("reverts on a missing entry", async function () {
      const { harness } = await loadFixture(deploy);
      const v = vectorWith(1, 1);
      const accounts = { ...v.witness, accounts: v.witness.accounts.slice(0, -1) };
      await expect(replay(harness, v, accounts)).to.be.revertedWithCustomError(harness, "StepExecutorWitnessExhausted");
      const withdrawals = { ...v.witness, withdrawals: v.witness.withdrawals.slice(0, -1) };
      await expect(replay(harness, v, withdrawals)).to.be.revertedWithCustomError(
        harness,
        "StepExecutorWitnessExhausted",
      );
    });

    it("reverts on an extra entry", async function () {
      const { harness } = await loadFixture(deploy);
      const v = vectorWith(1, 1);
      const accounts = { ...v.witness, accounts: [...v.witness.accounts, v.witness.accounts[0]] };
      await expect(replay(harness, v, accounts))
        .to.be.revertedWithCustomError(harness, "StepExecutorWitnessUnused")
        .withArgs(1, 0);
      const withdrawals = { ...v.witness, withdrawals: [...v.witness.withdrawals, v.witness.withdrawals[0]] };
      await expect(replay(harness, v, withdrawals))
        .to.be.revertedWithCustomError(harness, "StepExecutorWitnessUnused")
        .withArgs(0, 1);
    });
  });
});
