import { expect } from "chai";
import { batchIsDue, batchIsFull, chunkIsFull, type OpenBatchShape } from "../../src/operator/sequencer/batch-policy";
import { MAX_TX_SIZE } from "../../src/protocol/constants";

describe("batch policy", () => {
  const limits = { maxAgeMs: 2_000, maxChunks: 3, maxBytes: 1_000 };
  const shape = (s: Partial<OpenBatchShape>): OpenBatchShape => ({
    bytes: 0,
    closedChunks: 0,
    chunkTxs: 0,
    chunkReads: undefined,
    chunkCapacity: 32,
    openedAt: 0,
    ...s,
  });

  it("closes a chunk at its 32nd read, skipped attempts included", () => {
    expect([0, 1, 31, 32, 33].map((r) => chunkIsFull(r))).to.deep.equal([false, false, false, true, true]);
  });

  it("closes a BLS chunk at its 40th transfer", () => {
    expect([32, 39, 40].map((r) => chunkIsFull(r, 40))).to.deep.equal([false, false, true]);
    const last = { closedChunks: 2, chunkTxs: 32, chunkReads: 32 };
    expect(batchIsFull(shape({ ...last, chunkCapacity: 40 }), limits)).to.equal(false);
    expect(batchIsFull(shape({ ...last, chunkReads: 40, chunkTxs: 40, chunkCapacity: 40 }), limits)).to.equal(true);
  });

  const full: [string, Partial<OpenBatchShape>, boolean][] = [
    ["empty", {}, false],
    ["room for one more of the largest type", { bytes: limits.maxBytes - MAX_TX_SIZE }, false],
    ["one byte short of that", { bytes: limits.maxBytes - MAX_TX_SIZE + 1 }, true],
    ["at the byte limit", { bytes: limits.maxBytes }, true],
    ["its last chunk being filled, with room", { closedChunks: 2, chunkTxs: 5, chunkReads: 5 }, false],
    ["its last chunk full", { closedChunks: 2, chunkTxs: 32, chunkReads: 32 }, true],
    ["its last chunk full of reads, some skipped", { closedChunks: 2, chunkTxs: 20, chunkReads: 32 }, true],
    ["every chunk closed and none being filled", { closedChunks: 3 }, true],
    ["every chunk but one closed, none being filled", { closedChunks: 2 }, false],
    ["every chunk but one closed, only skipped attempts in the last", { closedChunks: 2, chunkReads: 32 }, false],
    ["every chunk but one closed, only skipped attempts, few", { closedChunks: 2, chunkReads: 3 }, false],
  ];
  for (const [name, s, expected] of full) {
    it(`${expected ? "closes" : "keeps open"} a batch: ${name}`, () => {
      expect(batchIsFull(shape(s), limits)).to.equal(expected);
    });
  }

  it("closes a batch once it is maxAgeMs old, not before", () => {
    expect(batchIsDue({ openedAt: 1_000 }, limits, 2_999)).to.equal(false);
    expect(batchIsDue({ openedAt: 1_000 }, limits, 3_000)).to.equal(true);
  });
});
