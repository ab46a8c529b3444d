import { expect } from "chai";
import { BilayerError } from "../../src/protocol/errors";
import { Mempool, MempoolFullError, type WaitingTx } from "../../src/operator/mempool";

function tx(from: number, nonce: number, tag = ""): WaitingTx {
  return { hash: `0x${from}-${nonce}${tag}`, from, nonce, bytes: new Uint8Array([from, nonce]), receivedAt: 0 };
}

describe("Mempool", () => {
  it("keeps each account's waiting transactions in nonce order, whatever the arrival order", () => {
    const m = new Mempool();
    for (const n of [5, 2, 4, 3]) m.add(tx(1, n));
    m.add(tx(2, 9));
    expect(m.forAccount(1).map((t) => t.nonce)).to.deep.equal([2, 3, 4, 5]);
    expect(m.all().map((t) => [t.from, t.nonce])).to.deep.equal([
      [1, 2],
      [1, 3],
      [1, 4],
      [1, 5],
      [2, 9],
    ]);
    expect(m.size).to.equal(5);
  });

  it("hands out exactly the transaction at the account's next nonce", () => {
    const m = new Mempool();
    m.add(tx(1, 3));
    expect(m.take(1, 2)).to.equal(undefined);
    expect(m.take(1, 3)?.nonce).to.equal(3);
    expect(m.take(1, 3)).to.equal(undefined);
    expect(m.size).to.equal(0);
    expect(m.byId(tx(1, 3).hash)).to.equal(undefined);
  });

  it("replaces a waiting transaction with another at the same nonce", () => {
    const m = new Mempool();
    m.add(tx(1, 3, "a"));
    expect(m.check(tx(1, 3, "a"), 1)).to.equal(false); // the very same one: nothing to do
    expect(m.check(tx(1, 3, "b"), 1)).to.equal(true);
    expect(m.add(tx(1, 3, "b"))?.hash).to.equal(tx(1, 3, "a").hash);
    expect(m.size).to.equal(1);
    expect(m.byId(tx(1, 3, "a").hash)).to.equal(undefined);
  });

  it("drops the transactions whose nonce was passed", () => {
    const m = new Mempool();
    for (const n of [2, 3, 7]) m.add(tx(1, n));
    expect(m.dropBelow(1, 4).map((t) => t.nonce)).to.deep.equal([2, 3]);
    expect(m.forAccount(1).map((t) => t.nonce)).to.deep.equal([7]);
  });

  it("refuses nonces not ahead of the account, too far ahead, and past its limits", () => {
    const m = new Mempool({ maxNonceGap: 4, maxPerAccount: 2, maxTotal: 3 });
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        return (err as BilayerError).code;
      }
      return "none";
    };
    expect(code(() => m.check(tx(1, 5), 5))).to.equal("NONCE_TOO_LOW");
    expect(code(() => m.check(tx(1, 10), 5))).to.equal("NONCE_TOO_HIGH");
    expect(m.check(tx(1, 9), 5)).to.equal(true);
    m.add(tx(1, 6));
    m.add(tx(1, 7));
    expect(() => m.check(tx(1, 8), 5))
      .to.throw(MempoolFullError)
      .with.property("scope", "account");
    m.add(tx(2, 1));
    expect(() => m.check(tx(3, 1), 0))
      .to.throw(MempoolFullError)
      .with.property("scope", "global");
  });
});
