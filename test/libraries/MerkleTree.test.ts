import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { hexlify, keccak256, randomBytes, ZeroHash } from "ethers";
import { hashPair, nodeFromPath, rootFromPath, SparseTree, ZERO_HASHES } from "./helpers/tree";

const MAX_INDEX = (1n << 32n) - 1n;

function randomLeaf(): string {
  return hexlify(randomBytes(32));
}

describe("MerkleTree", function () {
  async function deploy() {
    const tree = await ethers.deployContract("MerkleTreeHarness");
    return { tree };
  }

  describe("zero", function () {
    it("returns Z[h] = keccak(Z[h-1] ‖ Z[h-1]) for every height 0..32", async function () {
      const { tree } = await loadFixture(deploy);
      let z = ZeroHash;
      for (let h = 0; h <= 32; h++) {
        expect(await tree.zero(h)).to.equal(z);
        z = hashPair(z, z);
      }
      expect(await tree.emptyRoot()).to.equal(ZERO_HASHES[32]);
    });

    it("rejects a height above the root", async function () {
      const { tree } = await loadFixture(deploy);
      await expect(tree.zero(33)).to.be.revertedWithCustomError(tree, "MerkleTreeHeightOutOfRange").withArgs(33);
    });
  });

  describe("computeRoot and verify", function () {
    it("gives the empty root for an empty leaf at index 0 and 2^32 − 1", async function () {
      const { tree } = await loadFixture(deploy);
      const empty = new SparseTree();
      for (const index of [0n, MAX_INDEX]) {
        const path = empty.path(index);
        expect(path).to.deep.equal(ZERO_HASHES.slice(0, 32));
        expect(await tree.computeRoot(ZeroHash, index, path)).to.equal(ZERO_HASHES[32]);
        expect(await tree.computeRootMemory(ZeroHash, index, path)).to.equal(ZERO_HASHES[32]);
        expect(await tree.verify(ZERO_HASHES[32], ZeroHash, index, path)).to.equal(true);
      }
    });

    it("proves every leaf and empty leaf of a tree that uses index 0 and 2^32 − 1", async function () {
      const { tree } = await loadFixture(deploy);
      const t = new SparseTree();
      const filled = [0n, 1n, 2n, 77n, 1n << 20n, (1n << 31n) + 5n, MAX_INDEX - 1n, MAX_INDEX];
      for (const i of filled) t.set(i, randomLeaf());
      const root = t.root();
      for (const i of [...filled, 3n, 76n, 1n << 31n, MAX_INDEX - 2n]) {
        const leaf = t.leaf(i);
        const path = t.path(i);
        expect(rootFromPath(leaf, i, path)).to.equal(root);
        expect(await tree.computeRoot(leaf, i, path)).to.equal(root);
        expect(await tree.computeRootMemory(leaf, i, path)).to.equal(root);
        expect(await tree.verify(root, leaf, i, path)).to.equal(true);
        expect(await tree.verifyMemory(root, leaf, i, path)).to.equal(true);
      }
    });

    it("rejects a wrong leaf, a wrong index, a wrong sibling and an index of 2^32", async function () {
      const { tree } = await loadFixture(deploy);
      const t = new SparseTree();
      for (const i of [5n, 6n, 900n]) t.set(i, randomLeaf());
      const root = t.root();
      const path = t.path(6n);
      const leaf = t.leaf(6n);
      expect(await tree.verify(root, leaf, 6n, path)).to.equal(true);
      expect(await tree.verify(root, randomLeaf(), 6n, path)).to.equal(false);
      expect(await tree.verify(root, leaf, 7n, path)).to.equal(false);
      for (const h of [0, 9, 31]) {
        const bad = [...path];
        bad[h] = keccak256(bad[h]);
        expect(await tree.verify(root, leaf, 6n, bad)).to.equal(false);
        expect(await tree.verifyMemory(root, leaf, 6n, bad)).to.equal(false);
      }
      // Index 2^32 + 6 has the same low 32 bits as 6: it must not be accepted as an alias.
      expect(await tree.verify(root, leaf, (1n << 32n) + 6n, path)).to.equal(false);
      expect(await tree.verifyMemory(root, leaf, (1n << 32n) + 6n, path)).to.equal(false);
      await expect(tree.computeRoot(leaf, 1n << 32n, path))
        .to.be.revertedWithCustomError(tree, "MerkleTreeIndexOutOfRange")
        .withArgs(1n << 32n);
      await expect(tree.computeRootMemory(leaf, 1n << 32n, path))
        .to.be.revertedWithCustomError(tree, "MerkleTreeIndexOutOfRange")
        .withArgs(1n << 32n);
    });
  });

  describe("two writes against one root", function () {
    it("corrects the second path at the divergence height, for indices differing at every height", async function () {
      const { tree } = await loadFixture(deploy);
      const base = new SparseTree();
      for (let k = 0; k < 24; k++) base.set(BigInt(hexlify(randomBytes(4))), randomLeaf());
      for (let d = 0; d < 32; d++) {
        // a and b agree above bit d, differ at bit d, and differ arbitrarily below it.
        const a = BigInt(hexlify(randomBytes(4)));
        const low = d === 0 ? 0n : BigInt(hexlify(randomBytes(4))) & ((1n << BigInt(d)) - 1n);
        const b = (((a >> BigInt(d)) ^ 1n) << BigInt(d)) | low;
        const t = base.clone();
        if (d % 2 === 0) t.set(b, randomLeaf()); // half the time b is an existing leaf, else an empty slot
        const pathA = t.path(a);
        const pathB = t.path(b);
        const leafA = randomLeaf();
        const leafB = randomLeaf();
        expect(await tree.divergenceHeight(a, b)).to.equal(d);

        const afterA = t.clone();
        afterA.set(a, leafA);
        const [rootA, nodeA] = await tree.computeRootAndNode(leafA, a, pathA, d);
        expect(rootA).to.equal(afterA.root());
        expect(nodeA).to.equal(afterA.node(d, a >> BigInt(d)));
        expect(await tree.computeNode(leafA, a, pathA, d)).to.equal(nodeA);
        expect(nodeFromPath(leafA, a, pathA, d)).to.equal(nodeA);

        const afterBoth = afterA.clone();
        afterBoth.set(b, leafB);
        expect(await tree.computeRootReplacing(leafB, b, pathB, d, nodeA)).to.equal(afterBoth.root());
        // Without the fix-up the second write would lose the first.
        expect(await tree.computeRoot(leafB, b, pathB)).to.not.equal(afterBoth.root());
      }
    });

    it("rejects heights at or above the root", async function () {
      const { tree } = await loadFixture(deploy);
      const path = new SparseTree().path(1n);
      await expect(tree.computeRootAndNode(ZeroHash, 1n, path, 32))
        .to.be.revertedWithCustomError(tree, "MerkleTreeHeightOutOfRange")
        .withArgs(32);
      await expect(tree.computeRootReplacing(ZeroHash, 1n, path, 32, ZeroHash))
        .to.be.revertedWithCustomError(tree, "MerkleTreeHeightOutOfRange")
        .withArgs(32);
      await expect(tree.computeNode(ZeroHash, 1n, path, 33))
        .to.be.revertedWithCustomError(tree, "MerkleTreeHeightOutOfRange")
        .withArgs(33);
      expect(await tree.computeNode(ZeroHash, 1n, path, 32)).to.equal(ZERO_HASHES[32]);
      await expect(tree.computeNode(ZeroHash, 1n << 32n, path, 3))
        .to.be.revertedWithCustomError(tree, "MerkleTreeIndexOutOfRange")
        .withArgs(1n << 32n);
      expect(await tree.divergenceHeight(1n, 1n << 31n)).to.equal(31n);
    });

    it("rejects an index of 2^32 in either write", async function () {
      const { tree } = await loadFixture(deploy);
      const path = new SparseTree().path(1n);
      await expect(tree.computeRootAndNode(ZeroHash, 1n << 32n, path, 3))
        .to.be.revertedWithCustomError(tree, "MerkleTreeIndexOutOfRange")
        .withArgs(1n << 32n);
      await expect(tree.computeRootReplacing(ZeroHash, 1n << 32n, path, 3, ZeroHash))
        .to.be.revertedWithCustomError(tree, "MerkleTreeIndexOutOfRange")
        .withArgs(1n << 32n);
      // The largest index is in range for both.
      const [root] = await tree.computeRootAndNode(ZeroHash, MAX_INDEX, path, 3);
      expect(root).to.equal(rootFromPath(ZeroHash, MAX_INDEX, path));
      expect(await tree.computeRootReplacing(ZeroHash, MAX_INDEX, path, 3, path[3])).to.equal(root);
    });
  });
});
