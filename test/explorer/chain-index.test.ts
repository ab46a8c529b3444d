import { expect } from "chai";
import { ChainIndex } from "../../src/explorer/chain-index";
import type { BatchEvent, RollupEvent } from "../../src/l1/events";
import { encodeTx, txHash } from "../../src/protocol/codec";
import { Outcome, TxType } from "../../src/protocol/constants";
import type { ReplayedBatch } from "../../src/verifier/replica";

const at = (n: number) => ({ blockNumber: n, logIndex: 0, transactionHash: "0x" + n.toString(16).padStart(64, "0") });
const SIG = "0x" + "11".repeat(64);
const transfer = (from: number, to: number, amount: bigint) =>
  encodeTx({ type: TxType.Transfer, from, to, amount, fee: 0n, signature: SIG });

function batch(index: number, chunk: Uint8Array[], codes: Outcome[][]): [BatchEvent, ReplayedBatch] {
  const event = {
    kind: "batch",
    ...at(10 + index),
    index,
    queueStart: 0,
    queueEnd: 0,
    feeRecipient: 0,
    stepCount: chunk.length,
    forced: false,
    chunks: chunk,
  } as unknown as BatchEvent;
  const replayed = {
    stepRoots: chunk.map((_, i) => "0x" + String(index * 10 + i).padStart(64, "0")),
    chunkOutcomes: codes.map((cs) =>
      cs.map((code, i) => ({ index: i, code, reason: code === Outcome.Applied ? "" : "balance" })),
    ),
  } as unknown as ReplayedBatch;
  return [event, replayed];
}

describe("explorer: the index it keeps from the replay", () => {
  it("lets the applied copy of a transaction stand over a skipped one, and counts nonces by what applied", () => {
    const idx = new ChainIndex();
    const t = transfer(1, 2, 5n);
    idx.onEvent(...batch(0, [t], [[Outcome.InsufficientBalance]]));
    expect(idx.tx(txHash(t))).to.include({ outcome: "InsufficientBalance", batch: 0, nonce: 0 });
    const u = transfer(1, 2, 6n);
    idx.onEvent(...batch(1, [new Uint8Array([...u, ...t])], [[Outcome.Applied, Outcome.Applied]]));
    expect(idx.tx(txHash(t))).to.include({ outcome: "Applied", batch: 1, nonce: 1 });
    expect(idx.tx(txHash(u))).to.include({ nonce: 0 });
    expect(idx.txAt(1, 1)?.hash).to.equal(txHash(t));
    expect(idx.txsOf(2).map((x) => x.batch)).to.deep.equal([1, 1, 0]);
  });

  it("marks the proposal proven wrong and those after it rolled back, whichever of the two events comes first", () => {
    for (const order of ["fraud first", "rollback first"]) {
      const idx = new ChainIndex();
      const propose = (k: number, id: bigint): RollupEvent => ({
        kind: "proposal",
        ...at(100 + k),
        batchIndex: k,
        proposalId: id,
        proposer: "0xaa",
        stateRoot: "0x01",
        deadline: 1000,
        stepRoots: ["0x01"],
      });
      for (let k = 0; k < 3; k++) idx.onEvent(propose(k, BigInt(k + 1)));
      const tx = at(200);
      const fraud: RollupEvent = {
        kind: "fraudProven",
        ...tx,
        batchIndex: 1,
        stepIndex: 0,
        challenger: "0xbb",
        proposedRoot: "0x01",
        computedRoot: "0x02",
      };
      const rollback: RollupEvent = {
        kind: "rollback",
        ...tx,
        logIndex: 1,
        fromBatch: 1,
        toBatch: 3,
        challenger: "0xbb",
        proposalId: 2n,
        reward: 5n,
        burnt: 5n,
      };
      for (const e of order === "fraud first" ? [fraud, rollback] : [rollback, fraud]) idx.onEvent(e);
      expect(
        idx.proposals.map((p) => p.fate),
        order,
      ).to.deep.equal(["live", "proven wrong", "rolled back"]);
      expect(idx.disputes[0].rollback, order).to.include({ fromBatch: 1, toBatch: 3, reward: 5n });
      expect(idx.liveCount).to.equal(1);
      // The right roots proposed again: live again.
      idx.onEvent(propose(1, 4n));
      expect(idx.liveProposal(1)?.proposalId).to.equal(4n);
      expect(idx.proposalsOf(1).map((p) => p.fate)).to.deep.equal(["proven wrong", "live"]);
    }
  });
});
