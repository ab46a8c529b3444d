import { expect } from "chai";
import fc from "fast-check";
import { fromHex, initHashing, toHex } from "../../src/protocol/hash";
import { withdrawalLeaf } from "../../src/protocol/state";
import { SparseMerkleTree } from "../../src/protocol/tree";
import { WithdrawalHistory } from "../../src/operator/withdrawals";

const w = (i: number) => ({
  recipient: "0x" + (i + 1).toString(16).padStart(40, "0"),
  tokenId: i % 3,
  amount: BigInt(i) * 1000n + 1n,
});

describe("WithdrawalHistory", () => {
  before(async () => {
    await initHashing();
  });

  it("proves any withdrawal against the tree as it was at any earlier size", () => {
    const history = new WithdrawalHistory();
    const total = 45;
    for (let i = 0; i < total; i++) history.append(w(i));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: total }), fc.nat(), (count, seed) => {
        const index = seed % count;
        // the tree holding only the first `count` withdrawals, built from scratch
        const tree = new SparseMerkleTree();
        for (let i = 0; i < count; i++) tree.setLeaf(i, withdrawalLeaf(w(i)));
        expect(history.root(count)).to.equal(toHex(tree.root()));
        const siblings = history.proof(index, count);
        expect(siblings).to.deep.equal(tree.proof(index).map(toHex));
        expect(
          SparseMerkleTree.verify(
            tree.root(),
            withdrawalLeaf(w(index)),
            index,
            siblings.map((s) => fromHex(s)),
          ),
        ).to.equal(true);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses a withdrawal outside the tree of that size, and a size it never had", () => {
    const history = new WithdrawalHistory();
    history.append(w(0));
    history.append(w(1));
    expect(() => history.proof(1, 1)).to.throw(/not among the first 1/);
    expect(() => history.proof(0, 3)).to.throw(/never held 3/);
    expect(history.root(0)).to.equal(toHex(new SparseMerkleTree().root()));
  });
});
