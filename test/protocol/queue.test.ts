import { expect } from "chai";
import { AbiCoder, keccak256 as ethersKeccak, ZeroHash } from "ethers";
import fc from "fast-check";
import {
  BilayerError,
  initHashing,
  nextQueueAcc,
  queueAccumulator,
  queueItemHash,
  QueueKind,
  toHex,
  type QueueItem,
} from "../../src/protocol";

const abi = AbiCoder.defaultAbiCoder();

const itemArb: fc.Arbitrary<QueueItem> = fc.record({
  kind: fc.integer({ min: 0, max: 255 }),
  addr: fc.uint8Array({ minLength: 20, maxLength: 20 }).map(toHex),
  tokenId: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  amount: fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
  account: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  timestamp: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
});

function reference(item: QueueItem): string {
  return ethersKeccak(
    abi.encode(
      ["uint8", "address", "uint32", "uint256", "uint32", "uint64"],
      [item.kind, item.addr, item.tokenId, item.amount, item.account, item.timestamp],
    ),
  );
}

describe("protocol/queue", () => {
  before(async () => {
    await initHashing();
  });

  it("hashes an item as keccak(abi.encode(kind, addr, tokenId, amount, account, timestamp)) (property)", () => {
    fc.assert(
      fc.property(itemArb, (item) => {
        expect(queueItemHash(item)).to.equal(reference(item));
      }),
      { numRuns: 200 },
    );
  });

  it("chains the accumulator from bytes32(0): acc[i+1] = keccak(abi.encode(acc[i], itemHash[i]))", () => {
    const items: QueueItem[] = [
      { kind: QueueKind.Deposit, addr: "0x" + "01".repeat(20), tokenId: 0, amount: 5n, account: 0, timestamp: 10n },
      { kind: QueueKind.ForcedExit, addr: "0x" + "02".repeat(20), tokenId: 0, amount: 0n, account: 3, timestamp: 11n },
    ];
    let acc = ZeroHash;
    for (const item of items) acc = ethersKeccak(abi.encode(["bytes32", "bytes32"], [acc, reference(item)]));
    expect(queueAccumulator(items)).to.equal(acc);
    expect(queueAccumulator([])).to.equal(ZeroHash);
    const afterFirst = nextQueueAcc(ZeroHash, queueItemHash(items[0]));
    expect(queueAccumulator(items.slice(1), afterFirst)).to.equal(acc);
  });

  it("refuses items whose fields do not fit their ABI types", () => {
    const ok: QueueItem = { kind: 0, addr: "0x" + "01".repeat(20), tokenId: 0, amount: 0n, account: 0, timestamp: 0n };
    for (const bad of [
      { ...ok, kind: 256 },
      { ...ok, kind: -1 },
      { ...ok, addr: "0x01" },
      { ...ok, tokenId: 2 ** 32 },
      { ...ok, amount: -1n },
      { ...ok, amount: 2n ** 256n },
      { ...ok, account: 1.5 },
      { ...ok, timestamp: 2n ** 64n },
    ]) {
      expect(() => queueItemHash(bad)).to.throw(BilayerError);
    }
  });
});
