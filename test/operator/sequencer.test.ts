import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { txHash } from "../../src/protocol/codec";
import { SparseMerkleTree } from "../../src/protocol/tree";
import { fromHex } from "../../src/protocol/hash";
import { withdrawalLeaf } from "../../src/protocol/state";
import { RpcCode, type RpcError } from "../../src/operator/errors";
import { RefusedError } from "../../src/operator/refusals";
import { mapApiError } from "../../src/operator/rpc/api";
import { queueItemOf } from "../../src/operator/records";
import { LevelStore } from "../../src/common/store";
import { batchCommitment, chunksRoot } from "../../src/l1/batch";
import { nextQueueAcc, queueItemHash } from "../../src/protocol/queue";
import {
  checkAgainstStf,
  deposits,
  fund,
  sequencer,
  signed,
  transfer,
  transferToNew,
  users,
  withdraw,
  type Harness,
} from "./fixtures";

const ETH = 10n ** 18n;

async function rejectsWith(p: Promise<unknown>, code: number): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    // The sequencer refuses in its own terms (RefusedError); the API maps each refusal to its JSON-RPC code.
    expect(err).to.be.instanceOf(RefusedError);
    const mapped = mapApiError(err) as RpcError;
    expect(mapped.rpcCode, (err as Error).message).to.equal(code);
    return mapped;
  }
  throw new Error(`expected a refusal with RPC code ${code}`);
}

describe("Sequencer", () => {
  const [a, b, c, d] = users(4);

  it("applies deposits at batch open, creating accounts 1..n in queue order", async () => {
    const h = await sequencer();
    await fund(h, [a, b, c], ETH);
    expect(h.seq.batchCount).to.equal(1);
    expect(h.seq.getAccount(1)).to.include({ owner: a.address, balance: ETH, nonce: 0 });
    expect(h.seq.getAccount(3)?.owner).to.equal(c.address);
    expect(h.seq.accountsOf(b.address)).to.deep.equal([2]);
    await checkAgainstStf(h.seq);
  });

  it("cuts transactions into chunks of 32 whose step roots are the STF's own", async () => {
    const h = await sequencer({ feeRecipient: 3 });
    await fund(h, [a, b, c], 100n * ETH);
    const nonces = [0, 0, 0];
    const senders = [a, b, c];
    for (let i = 0; i < 100; i++) {
      const s = i % 3;
      await h.seq.submit(signed(senders[s], transfer(s + 1, ((s + 1) % 3) + 1, ETH / 100n, 10n ** 9n), nonces[s]++));
    }
    // the fee recipient (account 3) also sends, mid-chunk, and withdraws; one transfer creates an account
    await h.seq.submit(signed(c, withdraw(3, ETH, 10n ** 9n), nonces[2]++));
    await h.seq.submit(signed(a, transferToNew(1, d.address, ETH, 0n), nonces[0]++));
    await h.seq.flush();
    const batch = h.seq.batch(1);
    expect(batch?.endSeq).to.equal(102);
    expect(batch?.chunkEnds).to.deep.equal([32, 64, 96, 102]);
    expect(batch?.stepRoots).to.have.length(4);
    const state = await checkAgainstStf(h.seq);
    expect(state.stateRoot()).to.equal(h.seq.status().stateRoot);
    expect(h.seq.accountsOf(d.address)).to.deep.equal([4]);
  });

  it("acknowledges a transaction only once the store has it, and answers its receipt", async () => {
    const h = await sequencer();
    await fund(h, [a, b], ETH);
    const tx = signed(a, transfer(1, 2, 1000n), 0);
    const r = await h.seq.submit(tx);
    expect(r).to.deep.equal({ hash: txHash(tx), status: "pending", from: 1, nonce: 0 });
    expect(await h.store.get("t/000000000000")).to.contain(r.hash);
    expect(await h.seq.receipt(r.hash)).to.include({ status: "pending", outcome: "Applied", seq: 0 });
    await h.seq.flush();
    expect(await h.seq.receipt(r.hash)).to.include({ status: "batched", batchIndex: 1, stepIndex: 0, position: 0 });
    h.seq.setL1Heads({ appended: 2, proposed: 2, final: 1 });
    expect((await h.seq.receipt(r.hash))?.status).to.equal("proposed");
    h.seq.setL1Heads({ appended: 2, proposed: 2, final: 2 });
    expect((await h.seq.receipt(r.hash))?.status).to.equal("final");
    expect(await h.seq.receipt("0x" + "00".repeat(32))).to.equal(undefined);
  });

  it("answers a resubmitted transaction with its first hash instead of an error", async () => {
    const h = await sequencer();
    await fund(h, [a, b], ETH);
    const tx = signed(a, transfer(1, 2, 1000n), 0);
    const first = await h.seq.submit(tx);
    const again = await h.seq.submit(tx);
    expect(again.hash).to.equal(first.hash);
    expect(h.seq.getAccount(1)?.nonce).to.equal(1);
  });

  it("keeps a transaction signed ahead of the account's nonce until the gap is filled", async () => {
    const h = await sequencer();
    await fund(h, [a, b], ETH);
    const later = await h.seq.submit(signed(a, transfer(1, 2, 7n), 1));
    expect(later.status).to.equal("queued");
    expect((await h.seq.receipt(later.hash))?.status).to.equal("queued");
    expect(h.seq.getAccount(1)).to.deep.include({ nonce: 0, waitingNonces: [1] });
    await h.seq.submit(signed(a, transfer(1, 2, 5n), 0));
    expect(h.seq.getAccount(1)?.nonce).to.equal(2);
    expect(h.seq.getAccount(2)?.balance).to.equal(ETH + 12n);
    expect(await h.seq.receipt(later.hash)).to.include({ status: "pending", nonce: 1, outcome: "Applied" });
  });

  it("skips a waiting transaction that no longer fits the balance when its turn comes, with the reason", async () => {
    const h = await sequencer();
    await fund(h, [a, b], 100n);
    const waiting = await h.seq.submit(signed(a, transfer(1, 2, 60n), 1), 1);
    await h.seq.submit(signed(a, transfer(1, 2, 50n), 0));
    const r = await h.seq.receipt(waiting.hash);
    expect(r).to.include({ status: "skipped", outcome: "InsufficientBalance" });
    expect(h.seq.getAccount(1)).to.include({ nonce: 1, balance: 50n });
  });

  it("refuses what the STF would skip, with the API's error codes", async () => {
    const h = await sequencer();
    await fund(h, [a, b], 1000n);
    await rejectsWith(h.seq.submit(signed(b, transfer(1, 2, 1n), 0)), RpcCode.BadSignature);
    await rejectsWith(h.seq.submit(signed(a, transfer(1, 9, 1n), 0)), RpcCode.UnknownAccount);
    await rejectsWith(h.seq.submit(signed(c, transfer(7, 1, 1n), 0)), RpcCode.UnknownAccount);
    await rejectsWith(h.seq.submit(signed(a, transfer(1, 2, 1001n), 0)), RpcCode.InsufficientBalance);
    const fee = await rejectsWith(h.seq.submit(signed(a, transfer(1, 2, 1n, 1n), 0)), RpcCode.TxRejected);
    expect(fee.data).to.include({ reason: "FeeRecipientMismatch" });
    await h.seq.submit(signed(a, transfer(1, 2, 1n), 0));
    // signed over nonce 0 again: already used
    const used = await rejectsWith(h.seq.submit(signed(a, transfer(1, 2, 2n), 0)), RpcCode.WrongNonce);
    expect(used.data).to.deep.include({ nonce: 0, accountNonce: 1 });
    await rejectsWith(h.seq.submit(signed(a, transfer(1, 2, 2n), 500), 500), RpcCode.WrongNonce);
    await rejectsWith(h.seq.submit(Uint8Array.from([9, 1, 2])), RpcCode.InvalidParams);
    expect(h.seq.getAccount(1)).to.include({ nonce: 1, balance: 999n });
  });

  it("refuses a transfer between accounts of different tokens", async () => {
    const h = await sequencer();
    await fund(h, [a], 1000n, 0);
    await fund(h, [b], 1000n, 1);
    const err = await rejectsWith(h.seq.submit(signed(a, transfer(1, 2, 1n), 0)), RpcCode.TxRejected);
    expect(err.data).to.include({ reason: "TokenMismatch" });
  });

  it("closes a batch by age, and by size before it would exceed the byte limit", async () => {
    // Room is kept for the largest transaction (a 167-byte RegisterKey): a batch closes over 871 − 167 = 704 bytes.
    const h = await sequencer({ limits: { maxAgeMs: 1_000, maxBytes: 871 } });
    await fund(h, [a, b], ETH);
    for (let n = 0; n < 12; n++) await h.seq.submit(signed(a, transfer(1, 2, 1n), n));
    // 80-byte transfers: a batch takes 9 (720 bytes; a 10th might not fit)
    expect(h.seq.batchCount).to.equal(2);
    expect(h.seq.batch(1)?.endSeq).to.equal(9);
    h.seq.tick(Date.now() + 500);
    expect(h.seq.batchCount).to.equal(2);
    h.seq.tick(Date.now() + 1_000);
    await h.seq.flush();
    expect(h.seq.batchCount).to.equal(3);
    expect(h.seq.batch(2)).to.include({ firstSeq: 9, endSeq: 12 });
    await checkAgainstStf(h.seq);
  });

  it("never exceeds the byte or chunk limit when the transaction that fills a batch releases a waiting one", async () => {
    // 80-byte transfers, 271 bytes a batch: a batch closes once a 167-byte transaction might not fit (over 104 bytes).
    const h = await sequencer({ limits: { maxBytes: 271 } });
    await fund(h, [a, b], ETH);
    await h.seq.submit(signed(b, transfer(2, 1, 1n), 0)); // 80 bytes: the batch stays open
    expect(await h.seq.submit(signed(a, transfer(1, 2, 1n), 1), 1)).to.include({ status: "queued" });
    await h.seq.submit(signed(a, transfer(1, 2, 1n), 0)); // 160 bytes: full; it releases nonce 1
    await h.seq.flush();
    for (let k = 0; k < h.seq.batchCount; k++) expect(h.seq.batch(k)?.bytes, `batch ${k}`).to.be.at.most(271);
    expect(h.seq.batch(1)).to.include({ bytes: 160 });
    // The same with the chunk limit: one chunk of 32 a batch.
    const c = await sequencer({ limits: { maxChunks: 1 } });
    await fund(c, [a, b], ETH);
    for (let n = 0; n < 31; n++) await c.seq.submit(signed(b, transfer(2, 1, 1n), n));
    expect(await c.seq.submit(signed(a, transfer(1, 2, 1n), 1), 1)).to.include({ status: "queued" });
    await c.seq.submit(signed(a, transfer(1, 2, 1n), 0)); // the 32nd: full; it releases nonce 1
    await c.seq.flush();
    for (let k = 0; k < c.seq.batchCount; k++) {
      expect(c.seq.batch(k)?.chunkEnds.length, `batch ${k}`).to.be.at.most(1);
    }
    await checkAgainstStf(h.seq);
    await checkAgainstStf(c.seq);
  });

  it("applies queue items that arrive while a batch has transactions in the next batch", async () => {
    const h = await sequencer();
    await fund(h, [a], ETH);
    await h.seq.submit(signed(a, transfer(1, 1, 1n), 0));
    await fund(h, [b], ETH); // closes batch 1 (a's transfer), then batch 2 holds b's deposit
    expect(h.seq.batch(1)).to.include({ queueStart: 1, queueEnd: 1, endSeq: 1 });
    expect(h.seq.batch(2)).to.include({ queueStart: 1, queueEnd: 2, firstSeq: 1, endSeq: 1 });
    await checkAgainstStf(h.seq);
  });

  it("serves withdrawal proofs against a batch's header", async () => {
    const h = await sequencer();
    await fund(h, [a, b], ETH);
    await h.seq.submit(signed(a, withdraw(1, 100n), 0));
    await h.seq.submit(signed(b, withdraw(2, 200n), 0));
    await rejectsWith(h.seq.withdrawalProof(0), RpcCode.WithdrawalNotFound);
    await h.seq.flush();
    for (const index of [0, 1]) {
      const p = await h.seq.withdrawalProof(index);
      expect(p.batchIndex).to.equal(1);
      const leaf = withdrawalLeaf({ recipient: p.recipient, tokenId: p.tokenId, amount: p.amount });
      expect(
        SparseMerkleTree.verify(
          fromHex(p.header.withdrawalsRoot),
          leaf,
          index,
          p.siblings.map((s) => fromHex(s)),
        ),
      ).to.equal(true);
    }
    expect((await h.seq.withdrawalProof(1)).amount).to.equal(200n);
    await rejectsWith(h.seq.withdrawalProof(2), RpcCode.WithdrawalNotFound);
  });

  it("rebases on L1's batches: adopts them, then sequences its own again, reporting those now skipped", async () => {
    const h = await sequencer();
    await fund(h, [a, b], 1000n);
    const doomed = await h.seq.submit(signed(a, transfer(1, 2, 600n), 0));
    const fine = await h.seq.submit(signed(b, transfer(2, 1, 5n), 0));
    // Meanwhile on L1: a forced exit of account 1, force-included as batch 1 before the operator appended.
    const [exit] = deposits([a.address], 0n, 2, h.seq.queueItems(1, 2)[0].accumulator);
    exit.kind = 1;
    exit.account = 1;
    exit.accumulator = nextQueueAcc(h.seq.queueItems(1, 2)[0].accumulator, queueItemHash(queueItemOf(exit)));
    h.seq.addQueueItems([exit]);
    const commitment = batchCommitment({
      chunksRoot: chunksRoot([]),
      queueStart: 2n,
      queueEnd: 3n,
      feeRecipient: 0,
      stepCount: 1,
    });
    const result = await h.seq.rebase(1, [
      { index: 1, queueStart: 2, queueEnd: 3, chunks: [], feeRecipient: 0, commitment },
    ]);
    expect(result).to.deep.equal({ resequenced: 1, dropped: 1 });
    expect(h.seq.batch(1)).to.include({ queueStart: 2, queueEnd: 3, commitment });
    const skipped = await h.seq.receipt(doomed.hash);
    expect(skipped).to.include({ status: "skipped", outcome: "InsufficientBalance" });
    expect(skipped?.reason).to.match(/re-sequenced after L1 batch 1/);
    expect(await h.seq.receipt(fine.hash)).to.include({ status: "pending", outcome: "Applied" });
    expect(h.seq.getAccount(1)).to.include({ balance: 5n, nonce: 0 });
    expect((await h.seq.withdrawalProof(0)).amount).to.equal(1000n);
    await h.seq.flush();
    await checkAgainstStf(h.seq);
  });

  describe("after a restart", () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-seq-"));
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    async function reopen(h: Harness): Promise<Harness> {
      const queue = h.seq.queueItems(0, h.seq.queueLength);
      await h.store.close();
      return sequencer({ store: await LevelStore.open(dir), queue });
    }

    it("rebuilds the same state, batches, open batch, receipts and waiting transactions from the store", async () => {
      const h = await sequencer({ store: await LevelStore.open(dir) });
      await fund(h, [a, b], ETH);
      const hashes: string[] = [];
      for (let n = 0; n < 40; n++) hashes.push((await h.seq.submit(signed(a, transfer(1, 2, 3n), n))).hash);
      await h.seq.flush();
      for (let n = 0; n < 5; n++) hashes.push((await h.seq.submit(signed(b, withdraw(2, 1n), n))).hash);
      const waiting = await h.seq.submit(signed(b, transfer(2, 1, 1n), 6), 6);
      const before = h.seq.status();
      const batches = [h.seq.batch(0), h.seq.batch(1)];

      const r = await reopen(h);
      expect(r.seq.status()).to.deep.include({
        stateRoot: before.stateRoot,
        nextSeq: 45,
        accountCount: 2,
        withdrawalCount: 5,
      });
      expect(r.seq.status().batches.open?.txs).to.equal(5);
      expect([r.seq.batch(0), r.seq.batch(1)]).to.deep.equal(batches);
      for (const hash of hashes) expect((await r.seq.receipt(hash))?.outcome).to.equal("Applied");
      expect((await r.seq.receipt(waiting.hash))?.status).to.equal("queued");
      // and goes on: nonce 5 fills the gap before the waiting one
      await r.seq.submit(signed(b, withdraw(2, 1n), 5));
      expect(r.seq.getAccount(2)?.nonce).to.equal(7);
      await r.seq.flush();
      await checkAgainstStf(r.seq);
      await r.store.close();
    });

    it("refuses a store whose batches do not replay to their step roots", async () => {
      const h = await sequencer({ store: await LevelStore.open(dir) });
      await fund(h, [a, b], ETH);
      await h.seq.submit(signed(a, transfer(1, 2, 3n), 0));
      await h.seq.flush();
      const rec = JSON.parse((await h.store.get("b/00000001")) as string) as { stepRoots: string[] };
      rec.stepRoots[0] = "0x" + "11".repeat(32);
      await h.store.write([{ type: "put", key: "b/00000001", value: JSON.stringify(rec) }]);
      const queue = h.seq.queueItems(0, h.seq.queueLength);
      await h.store.close();
      const store = await LevelStore.open(dir);
      try {
        await sequencer({ store, queue });
        expect.fail("loaded a corrupt store");
      } catch (err) {
        expect((err as Error).message).to.match(/other step roots/);
      } finally {
        await store.close();
      }
    });
  });
});
