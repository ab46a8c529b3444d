import { expect } from "chai";
import { txHash } from "../../src/protocol/codec";
import { toHex } from "../../src/protocol/hash";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { txKey } from "../../src/operator/records";
import { KEY_SNAPSHOT, PREFIX_SNAPSHOT_UNDO, readSnapshotMeta } from "../../src/operator/snapshot";
import { MemoryStore } from "../../src/common/store";
import { QueueFollower } from "../../src/operator/follower";
import { silentLogger } from "../../src/operator/log";
import { Bridge__factory } from "../../typechain-types";
import type { Provider } from "ethers";
import { DOMAIN, fund, sequencer, signed, transfer, transferToNew, users, withdraw, type Harness } from "./fixtures";

/** A sequencer with four closed batches: the deposits (0), then three of transfers and withdrawals (1, 2, 3). */
async function history(store = new MemoryStore()) {
  const [a, b, c] = users(3, "snapshot");
  const h = await sequencer({ store });
  await fund(h, [a, b], 1_000_000n);
  const hashes: string[][] = [];
  const nonces = [0, 0];
  for (let k = 0; k < 3; k++) {
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      sent.push((await h.seq.submit(signed(a, transfer(1, 2, 10n + BigInt(i)), nonces[0]++))).hash);
      sent.push((await h.seq.submit(signed(b, withdraw(2, 7n), nonces[1]++))).hash);
    }
    if (k === 1) sent.push((await h.seq.submit(signed(a, transferToNew(1, c.address, 3n), nonces[0]++))).hash);
    await h.seq.flush();
    hashes.push(sent);
  }
  expect(h.seq.batchCount).to.equal(4);
  const queue = h.seq.queueItems(0, h.seq.queueLength);
  return { h, store, hashes, queue, a, b, c, nonces };
}

/** The state after each batch, from genesis with the STF (`states[k]` is after batch k − 1). */
async function statesOf(h: Harness): Promise<string[]> {
  const state = new L2State();
  const roots = [state.stateRoot()];
  for (let k = 0; k < h.seq.batchCount; k++) {
    const b = await h.seq.closedBatch(k);
    const data = await h.seq.batchData(k);
    applyBatch(state, { ...data, queueItems: data.queueItems, domainSeparator: DOMAIN });
    expect(state.stateRoot()).to.equal(b?.stepRoots[b.stepRoots.length - 1]);
    roots.push(state.stateRoot());
  }
  return roots;
}

describe("Sequencer snapshot (bounded restart)", () => {
  it("moves over confirmed batches, and a restart replays only what came after, answering the rest from the store", async () => {
    const { h, store, hashes, queue, a, b } = await history();
    const before = await Promise.all(hashes.flat().map((x) => h.seq.receipt(x)));
    const proofsBefore = await Promise.all([0, 1, 2, 3].map((i) => h.seq.withdrawalProof(i)));
    const batch1 = await h.seq.closedBatch(1);
    expect(await h.seq.checkpoint(3, 0)).to.equal(3);
    expect(h.seq.snapshotBatches).to.equal(3);
    expect((await readSnapshotMeta(store)).batches).to.equal(3);

    // A restart on the same store: the state from the snapshot, batch 3 replayed.
    const again = await sequencer({ store, queue });
    expect(again.seq.snapshotBatches).to.equal(3);
    expect(again.seq.batchCount).to.equal(4);
    expect(again.seq.status().stateRoot).to.equal(h.seq.status().stateRoot);
    expect(again.seq.status().nextSeq).to.equal(h.seq.status().nextSeq);
    // Receipts of transactions in the snapshot come from their records, the same as before.
    const after = await Promise.all(hashes.flat().map((x) => again.seq.receipt(x)));
    expect(after).to.deep.equal(before);
    expect(after[0]).to.include({ batchIndex: 1, stepIndex: 0, position: 0 });
    // Old batches, withdrawals and proofs read back from the store.
    expect(await again.seq.closedBatch(1)).to.deep.equal(batch1);
    expect(await Promise.all([0, 1, 2, 3].map((i) => again.seq.withdrawalProof(i)))).to.deep.equal(proofsBefore);
    expect(again.seq.withdrawalsTo(b.address).map((w) => w.batchIndex)).to.deep.equal(
      h.seq.withdrawalsTo(b.address).map((w) => w.batchIndex),
    );
    expect(again.seq.accountsOf(a.address)).to.deep.equal([1]);
    // A transaction of the snapshot sent again: its status, never a second copy or an error.
    const old = signed(a, transfer(1, 2, 10n), 0);
    expect(txHash(old)).to.equal(hashes[0][0]);
    expect(await again.seq.submit(old)).to.deep.include({ hash: hashes[0][0], status: "batched", batchIndex: 1 });
    expect(again.seq.status().nextSeq).to.equal(h.seq.status().nextSeq);
  });

  it("rebuilds the pre-state of a batch inside the snapshot from its undo records, and after it by replay", async () => {
    const { h } = await history();
    const roots = await statesOf(h);
    await h.seq.checkpoint(2, 0);
    for (const k of [0, 1, 2, 3]) expect((await h.seq.preStateOf(k)).stateRoot(), `batch ${k}`).to.equal(roots[k]);
    // Undo records exist only for batches not final.
    await h.seq.checkpoint(3, 2);
    for (const k of [2, 3]) expect((await h.seq.preStateOf(k)).stateRoot(), `batch ${k}`).to.equal(roots[k]);
    await expect(h.seq.preStateOf(1)).to.be.rejectedWith(/undo record of batch 1 is gone/);
  });

  it("drops the undo records of final batches, and deletes their transaction records only when told to", async () => {
    const { h, store, hashes, queue } = await history();
    const undoKeys = async (): Promise<string[]> => {
      const keys: string[] = [];
      for await (const [k] of store.entries(PREFIX_SNAPSHOT_UNDO)) keys.push(k);
      return keys;
    };
    const txKeys = async (): Promise<number> => {
      let n = 0;
      for await (const _entry of store.entries("t/")) n++;
      return n;
    };
    await h.seq.checkpoint(3, 1);
    expect(await undoKeys()).to.have.length(2); // batches 1 and 2
    const all = await txKeys();
    await h.seq.checkpoint(4, 2);
    expect(await undoKeys()).to.have.length(2); // batches 2 and 3
    expect(await txKeys()).to.equal(all);
    const receipt = await h.seq.receipt(hashes[0][1]);
    await h.seq.checkpoint(4, 3, { pruneHistory: true });
    expect(await undoKeys()).to.have.length(1);
    expect(await txKeys()).to.equal(all - hashes[0].length - hashes[1].length);
    expect(await store.get(txKey(0))).to.equal(undefined);
    expect((await readSnapshotMeta(store)).prunedBatches).to.equal(3);
    // Their receipts stay; their chunks are gone.
    const again = await sequencer({ store, queue });
    expect(await again.seq.receipt(hashes[0][1])).to.deep.equal(receipt);
    await expect(again.seq.chunksOf(1)).to.be.rejectedWith(/transaction \d+ is missing/);
    expect(await again.seq.chunksOf(3)).to.have.length(1);
  });

  it("refuses to follow L1 below the snapshot (a reorg deeper than the confirmation depth)", async () => {
    const { h } = await history();
    await h.seq.checkpoint(3, 0);
    await expect(h.seq.rebase(2, [])).to.be.rejectedWith(/inside its snapshot/);
    await expect(h.seq.rebase(3, [])).to.be.fulfilled;
  });

  it("reads back only a snapshot whose accounts hash to its root", async () => {
    const { h, store, queue } = await history();
    await h.seq.checkpoint(3, 0);
    const meta = JSON.parse((await store.get(KEY_SNAPSHOT)) as string) as { stateRoot: string };
    await store.write([
      { type: "put", key: KEY_SNAPSHOT, value: JSON.stringify({ ...meta, stateRoot: toHex(new Uint8Array(32)) }) },
    ]);
    await expect(sequencer({ store, queue })).to.be.rejectedWith(/hash to another state root/);
  });

  it("lets the follower load only the queue items after the snapshot, chained from the one before", async () => {
    const { store, queue } = await history();
    const stored = queue.map((q) => ({
      type: "put" as const,
      key: `q/${q.index.toString(16).padStart(12, "0")}`,
      value: JSON.stringify(q),
    }));
    await store.write(stored);
    const follower = new QueueFollower({
      provider: undefined as unknown as Provider,
      bridge: "0x" + "00".repeat(20),
      bridgeInterface: Bridge__factory.createInterface(),
      store,
      startBlock: 1,
      confirmations: 1,
      logRange: 100,
      logger: silentLogger(),
    });
    expect(await follower.load(1)).to.deep.equal(queue.slice(1));
    expect(follower.length).to.equal(queue.length);
    expect((await follower.load(queue.length)).length).to.equal(0);
    expect(follower.length).to.equal(queue.length);
  });
});
