import { expect } from "chai";
import fc from "fast-check";
import {
  BilayerError,
  hashPair,
  initHashing,
  keccak256,
  SparseMerkleTree,
  toHex,
  ZERO_HASHES,
} from "../../src/protocol";

const MAX_INDEX = 2 ** 32 - 1;

function leafOf(n: number): Uint8Array {
  const out = keccak256(Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24));
  return out;
}

/** A from-scratch root, written independently of the tree: hash level by level over the sorted keys. */
function referenceRoot(leaves: Map<number, Uint8Array>): Uint8Array {
  let level = new Map(leaves);
  for (let h = 0; h < 32; h++) {
    const next = new Map<number, Uint8Array>();
    for (const index of [...level.keys()].sort((a, b) => a - b)) {
      const parent = Math.floor(index / 2);
      if (next.has(parent)) continue;
      const left = level.get(parent * 2) ?? ZERO_HASHES[h];
      const right = level.get(parent * 2 + 1) ?? ZERO_HASHES[h];
      next.set(parent, hashPair(left, right));
    }
    level = next;
  }
  return level.get(0) ?? ZERO_HASHES[32];
}

describe("protocol/tree", () => {
  before(async () => {
    await initHashing();
  });

  it("has 33 zero hashes, Z[h+1] = keccak(Z[h] ‖ Z[h]), and the empty tree's root is Z[32]", () => {
    expect(ZERO_HASHES).to.have.length(33);
    expect(toHex(ZERO_HASHES[0])).to.equal("0x" + "00".repeat(32));
    expect(toHex(ZERO_HASHES[1])).to.equal("0xad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5");
    expect(ZERO_HASHES[1]).to.deep.equal(keccak256(new Uint8Array(64)));
    for (let h = 0; h < 32; h++)
      expect(ZERO_HASHES[h + 1]).to.deep.equal(keccak256(new Uint8Array([...ZERO_HASHES[h], ...ZERO_HASHES[h]])));
    expect(new SparseMerkleTree().root()).to.deep.equal(ZERO_HASHES[32]);
  });

  it("proves leaves at index 0 and 2^32 − 1", () => {
    const tree = new SparseMerkleTree();
    tree.setLeaf(0, leafOf(1));
    tree.setLeaf(MAX_INDEX, leafOf(2));
    const root = tree.root();
    expect(root).to.deep.equal(
      referenceRoot(
        new Map([
          [0, leafOf(1)],
          [MAX_INDEX, leafOf(2)],
        ]),
      ),
    );
    for (const [index, leaf] of [
      [0, leafOf(1)],
      [MAX_INDEX, leafOf(2)],
    ] as const) {
      const proof = tree.proof(index);
      expect(proof).to.have.length(32);
      expect(SparseMerkleTree.verify(root, leaf, index, proof)).to.equal(true);
      expect(SparseMerkleTree.verify(root, leafOf(3), index, proof)).to.equal(false);
      expect(tree.getLeaf(index)).to.deep.equal(leaf);
    }
    expect(SparseMerkleTree.verify(root, leafOf(1), 1, tree.proof(0))).to.equal(false);
    // The siblings of the two extreme leaves are the other side of the root.
    expect(tree.proof(0)[31]).to.deep.equal(hashPairPathTop(tree, MAX_INDEX));
  });

  it("proves empty leaves with the zero leaf", () => {
    const tree = new SparseMerkleTree();
    tree.setLeaf(5, leafOf(5));
    const root = tree.root();
    for (const index of [0, 4, 6, 1234, MAX_INDEX]) {
      expect(tree.getLeaf(index)).to.deep.equal(ZERO_HASHES[0]);
      expect(SparseMerkleTree.verify(root, ZERO_HASHES[0], index, tree.proof(index))).to.equal(true);
    }
    const emptyProof = new SparseMerkleTree().proof(77);
    expect(emptyProof).to.deep.equal(ZERO_HASHES.slice(0, 32));
  });

  it("keeps the incremental root equal to a from-scratch root after random updates (property)", () => {
    const indexArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: MAX_INDEX }));
    const updateArb = fc.tuple(indexArb, fc.integer({ min: 0, max: 5 }));
    fc.assert(
      fc.property(fc.array(fc.array(updateArb, { maxLength: 20 }), { maxLength: 6 }), (batches) => {
        const tree = new SparseMerkleTree();
        const leaves = new Map<number, Uint8Array>();
        for (const batch of batches) {
          for (const [index, value] of batch) {
            const leaf = value === 0 ? ZERO_HASHES[0] : leafOf(value * 1000 + index);
            tree.setLeaf(index, leaf);
            if (value === 0) leaves.delete(index);
            else leaves.set(index, leaf);
          }
          expect(tree.root()).to.deep.equal(referenceRoot(leaves));
        }
        expect(tree.size).to.equal(leaves.size);
        for (const [index, leaf] of leaves)
          expect(SparseMerkleTree.verify(tree.root(), leaf, index, tree.proof(index))).to.equal(true);
      }),
      { numRuns: 60, seed: 3 },
    );
  });

  it("returns to the empty root when every leaf is cleared", () => {
    const tree = new SparseMerkleTree();
    for (const i of [1, 2, 3, MAX_INDEX]) tree.setLeaf(i, leafOf(i));
    expect(tree.root()).to.not.deep.equal(ZERO_HASHES[32]);
    for (const i of [1, 2, 3, MAX_INDEX]) tree.setLeaf(i, new Uint8Array(32));
    expect(tree.root()).to.deep.equal(ZERO_HASHES[32]);
    expect(tree.size).to.equal(0);
  });

  it("clones without sharing updates", () => {
    const tree = new SparseMerkleTree();
    tree.setLeaf(1, leafOf(1));
    const copy = tree.clone();
    copy.setLeaf(2, leafOf(2));
    tree.setLeaf(3, leafOf(3));
    expect(tree.root()).to.deep.equal(
      referenceRoot(
        new Map([
          [1, leafOf(1)],
          [3, leafOf(3)],
        ]),
      ),
    );
    expect(copy.root()).to.deep.equal(
      referenceRoot(
        new Map([
          [1, leafOf(1)],
          [2, leafOf(2)],
        ]),
      ),
    );
  });

  it("refuses indices outside 0..2^32−1, leaves that are not 32 bytes and proofs of the wrong length", () => {
    const tree = new SparseMerkleTree();
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => tree.setLeaf(bad, leafOf(1))).to.throw(BilayerError);
      expect(() => tree.proof(bad)).to.throw(BilayerError);
    }
    expect(() => tree.setLeaf(1, new Uint8Array(31))).to.throw(BilayerError);
    expect(() => SparseMerkleTree.computeRoot(leafOf(1), 1, ZERO_HASHES.slice(0, 31))).to.throw(BilayerError);
  });
});

/** node(31, 1): the right child of the root, which is leaf 0's top sibling. */
function hashPairPathTop(tree: SparseMerkleTree, index: number): Uint8Array {
  const proof = tree.proof(index);
  let node = tree.getLeaf(index);
  let position = index;
  for (let h = 0; h < 31; h++) {
    node = position % 2 === 0 ? hashPair(node, proof[h]) : hashPair(proof[h], node);
    position = Math.floor(position / 2);
  }
  return node;
}
