import { expect } from "chai";
import { decodeDropped, decodeTx, encodeDropped, encodeTx, type StoredTx } from "../../src/operator/records";
import { Outcome } from "../../src/protocol/constants";

// The stored JSON is what a data directory written by an older release holds: the readable
// records must write it byte for byte as before (compact keys, in the same order) and read it back.
describe("operator/records", () => {
  const cases: { name: string; tx: StoredTx; stored: string }[] = [
    {
      name: "a waiting transaction (no sequence number yet)",
      tx: { hash: "0xaa", bytes: "0x01", from: 3, nonce: 7, acceptedAt: 1_700 },
      stored: '{"h":"0xaa","b":"0x01","f":3,"n":7,"at":1700}',
    },
    {
      name: "an applied withdrawal",
      tx: { seq: 12, hash: "0xbb", bytes: "0x03", from: 2, nonce: 0, acceptedAt: 5, withdrawalIndex: 4 },
      stored: '{"s":12,"h":"0xbb","b":"0x03","f":2,"n":0,"at":5,"w":4}',
    },
    {
      name: "an applied transfer to a new account",
      tx: { seq: 0, hash: "0xcc", bytes: "0x02", from: 1, nonce: 9, acceptedAt: 6, createdAccount: 5 },
      stored: '{"s":0,"h":"0xcc","b":"0x02","f":1,"n":9,"at":6,"a":5}',
    },
    {
      name: "a skipped transaction adopted from L1",
      tx: { seq: 3, hash: "0xdd", bytes: "0x01", from: 1, nonce: 1, acceptedAt: 7, outcome: Outcome.BadSignature },
      stored: `{"s":3,"h":"0xdd","b":"0x01","f":1,"n":1,"at":7,"o":${Outcome.BadSignature}}`,
    },
  ];
  for (const c of cases) {
    it(`stores ${c.name} as before and reads it back`, () => {
      expect(encodeTx(c.tx)).to.equal(c.stored);
      expect(decodeTx(c.stored)).to.deep.equal(c.tx);
    });
  }

  it("stores a skipped waiting transaction as before and reads it back", () => {
    const dropped = {
      hash: "0xee",
      from: 4,
      nonce: 2,
      receivedAt: 8,
      code: Outcome.InsufficientBalance,
      reason: "balance",
    };
    const stored = `{"h":"0xee","f":4,"n":2,"at":8,"code":${Outcome.InsufficientBalance},"reason":"balance"}`;
    expect(encodeDropped(dropped)).to.equal(stored);
    expect(decodeDropped(stored)).to.deep.equal(dropped);
  });
});
