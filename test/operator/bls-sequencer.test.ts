import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { LevelStore } from "../../src/common/store";
import { batchCommitment, chunksRoot } from "../../src/l1/batch";
import { signBlsTransfer } from "../../src/operator/client";
import { RpcCode, type RpcError } from "../../src/operator/errors";
import { RefusedError } from "../../src/operator/refusals";
import { mapApiError, parseSendTransaction } from "../../src/operator/rpc/api";
import {
  blsAggregate,
  blsKeyFromSeed,
  blsRawPublicKey,
  blsSign,
  blsVerifyAggregateRaw,
  type BlsKeyPair,
} from "../../src/protocol/bls";
import { blsMessageOf } from "../../src/operator/presign";
import { decodeTx, PREFIX_TX } from "../../src/operator/records";
import { decodeBlsChunk, decodeBlsEnvelope, encodeBlsChunk } from "../../src/protocol/bls-chunk";
import { txHash } from "../../src/protocol/codec";
import { BLS_CHUNK_MARKER, TxType } from "../../src/protocol/constants";
import { blsTransferDigest } from "../../src/protocol/eip712";
import { fromHex, toHex } from "../../src/protocol/hash";
import {
  CHAIN_ID,
  checkAgainstStf,
  DOMAIN,
  fund,
  INBOX,
  sequencer,
  signed,
  transfer,
  users,
  type Harness,
  type User,
} from "./fixtures";

const ETH = 10n ** 18n;

async function refused(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(RefusedError);
    return mapApiError(err) as RpcError;
  }
  throw new Error("expected a refusal");
}

const keyOf = (i: number): BlsKeyPair => blsKeyFromSeed(fromHex("0x" + (i + 1).toString(16).padStart(64, "0")));

/** A BLS transfer's envelope signed with `key` over `nonce` (on `chainId`, default the test chain's). */
function bls(key: BlsKeyPair, from: number, to: number, amount: bigint, nonce: number, fee = 0n, chainId = CHAIN_ID) {
  return fromHex(signBlsTransfer(key, { from, to, amount, fee }, { chainId, inbox: INBOX, tokenId: 0, nonce }));
}

/** Funds `who` (accounts 1..n) and registers key `keys[i]` for each, as their owner signs it. */
async function withKeys(h: Harness, who: User[], keys: BlsKeyPair[]): Promise<void> {
  await fund(h, who, ETH);
  for (const [i, u] of who.entries()) {
    const tx = { type: TxType.RegisterKey, from: i + 1, fee: 0n, blsKey: toHex(blsRawPublicKey(keys[i])) } as const;
    await h.seq.submit(signed(u, tx, 0));
  }
}

/** Batch `index` as L1 holds it: `chunks`, no queue items (the queue at `q`), no fee recipient. */
function onL1(q: number, index: number, chunks: Uint8Array[]) {
  return {
    index,
    queueStart: q,
    queueEnd: q,
    chunks,
    feeRecipient: 0,
    commitment: batchCommitment({
      chunksRoot: chunksRoot(chunks),
      queueStart: BigInt(q),
      queueEnd: BigInt(q),
      feeRecipient: 0,
      stepCount: chunks.length,
    }),
  };
}

describe("Sequencer: BLS transfers", () => {
  const people = users(3, "bls-seq");
  const keys = people.map((_, i) => keyOf(i));

  it("sequences BLS transfers into BLS chunks beside signed ones: one fee per chunk, 40 transfers at most", async () => {
    const h = await sequencer({ feeRecipient: 3 });
    await withKeys(h, people, keys);
    // 45 at fee 0 (40 + 5: two chunks), then a signed transfer, then 3 at another fee, then 2 at fee 0 again.
    for (let n = 1; n <= 45; n++) expect((await h.seq.submit(bls(keys[0], 1, 2, 10n, n))).status).to.equal("pending");
    await h.seq.submit(signed(people[1], transfer(2, 3, 7n), 1));
    for (let n = 46; n <= 48; n++) await h.seq.submit(bls(keys[0], 1, 3, 1000n, n, 2n));
    for (let n = 2; n <= 3; n++) await h.seq.submit(bls(keys[1], 2, 1, 5n, n));
    await h.seq.flush();
    expect(h.seq.getAccount(1)).to.include({ nonce: 49, balance: ETH - 450n - 3000n - 6n + 10n });
    const k = h.seq.batchCount - 1;
    const chunks = await h.seq.chunksOf(k);
    const kinds = chunks.map((c) =>
      c[0] === BLS_CHUNK_MARKER ? `bls:${decodeBlsChunk(c).transfers.length}` : "signed",
    );
    expect(kinds).to.deep.equal(["signed", "bls:40", "bls:5", "signed", "bls:3", "bls:2"]);
    // The narrowest width (1 byte): 100 + 4 bytes per transfer.
    expect(chunks[1].length).to.equal(100 + 40 * 4);
    const b = h.seq.batch(k);
    expect(b?.bytes).to.equal(chunks.reduce((n, c) => n + c.length, 0));
    expect(b?.bls?.map((x) => x.chunk)).to.deep.equal([1, 2, 4, 5]);
    await checkAgainstStf(h.seq);
  });

  it("cuts nothing short for a refused signature: not the chunk being filled, nor the batch in its last chunk", async () => {
    const h = await sequencer({ limits: { maxChunks: 2 } });
    await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
    await h.seq.flush();
    const batches = h.seq.batchCount;
    const forgedBls = () => refused(h.seq.submit(bls(keys[1], 1, 2, 1n, 1))); // account 1, account 2's key
    const forgedSigned = () => refused(h.seq.submit(signed(people[0], transfer(2, 1, 1n), 2))); // account 2, 1's owner
    await h.seq.submit(signed(people[1], transfer(2, 1, 1n), 1));
    expect((await forgedBls()).rpcCode).to.equal(RpcCode.BadSignature); // in a signed chunk
    await h.seq.submit(bls(keys[0], 1, 2, 1n, 1)); // the batch's second (and last) chunk
    expect((await forgedSigned()).rpcCode).to.equal(RpcCode.BadSignature); // in a BLS chunk, the last one
    expect((await refused(h.seq.submit(bls(keys[0], 1, 2, 1n, 3)))).rpcCode).to.equal(RpcCode.BadSignature);
    await h.seq.submit(bls(keys[0], 1, 2, 1n, 2));
    expect((await forgedSigned()).rpcCode).to.equal(RpcCode.BadSignature);
    await h.seq.flush();
    expect(h.seq.batchCount).to.equal(batches + 1);
    const chunks = await h.seq.chunksOf(batches);
    expect(
      chunks.map((c) => (c[0] === BLS_CHUNK_MARKER ? `bls:${decodeBlsChunk(c).transfers.length}` : "signed")),
    ).to.deep.equal(["signed", "bls:2"]);
    await checkAgainstStf(h.seq);
  });

  it("checks again a BLS transfer checked ahead over another nonce, within a budget of such checks", async () => {
    const h = await sequencer({ checkBudget: { perSecond: 0, burst: 2 } });
    await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
    await h.seq.flush();
    const native = async (): Promise<number> =>
      (await h.metrics.signatureRecoveries.get()).values.find((v) => v.labels.source === "native")?.value ?? 0;
    /** What the HTTP thread would hand in for `bytes` had it guessed `nonce`. */
    const aheadAt = (bytes: Uint8Array, nonce: number) => {
      const d = decodeBlsEnvelope(bytes);
      if (!d.ok) throw new Error(d.message);
      const message = blsMessageOf(DOMAIN, d.envelope, 0, nonce);
      const key = blsRawPublicKey(keys[0]);
      return {
        message,
        key,
        signature: d.envelope.signature,
        holds: blsVerifyAggregateRaw([message], [key], d.envelope.signature),
      };
    };
    const start = await native();
    // Held over nonce 5: it cannot hold over the account's 1 — refused with no check and nothing spent.
    const early = bls(keys[0], 1, 2, 1n, 5);
    expect((await refused(h.seq.submit(early, undefined, aheadAt(early, 5)))).rpcCode).to.equal(RpcCode.BadSignature);
    expect(await native()).to.equal(start);
    // Failed over a stale guess (0): checked again, and applied.
    const first = bls(keys[0], 1, 2, 1n, 1);
    expect((await h.seq.submit(first, undefined, aheadAt(first, 0))).status).to.equal("pending");
    const forged = bls(keys[1], 1, 2, 1n, 2);
    expect((await refused(h.seq.submit(forged, undefined, aheadAt(forged, 3)))).rpcCode).to.equal(RpcCode.BadSignature);
    expect(await native()).to.equal(start + 2);
    // The budget spent: refused, to be sent again, with no check.
    const second = bls(keys[0], 1, 2, 1n, 2);
    const limited = await refused(h.seq.submit(second, undefined, aheadAt(second, 0)));
    expect(limited.rpcCode).to.equal(RpcCode.Unavailable);
    expect(limited.data).to.include({ reason: "CHECK_LIMIT", nonce: 2 });
    expect(await native()).to.equal(start + 2);
    expect((await h.seq.submit(second, undefined, aheadAt(second, 2))).status).to.equal("pending");
    // A refused signed transaction is not tried over other nonces either: one signed ahead is not found and queued.
    const ahead = await refused(h.seq.submit(signed(people[1], transfer(2, 1, 1n), 2)));
    expect(ahead.rpcCode).to.equal(RpcCode.BadSignature);
    expect(ahead.message).to.match(/other nonces not tried/);
    await checkAgainstStf(h.seq);
  });

  it("refuses what the STF would skip or what its sender did not sign, and queues one signed ahead", async () => {
    const h = await sequencer();
    await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
    await fund(h, [people[2]], ETH); // account 3: no key
    expect((await refused(h.seq.submit(bls(keys[2], 3, 1, 1n, 0)))).message).to.match(/has no BLS key/);
    const wrongKey = await refused(h.seq.submit(bls(keys[1], 1, 2, 1n, 1)));
    expect(wrongKey.rpcCode).to.equal(RpcCode.BadSignature);
    expect(wrongKey.message).to.match(/the BLS key of account 1/);
    const otherChain = await refused(h.seq.submit(bls(keys[0], 1, 2, 1n, 1, 0n, CHAIN_ID + 1n)));
    expect(otherChain.rpcCode).to.equal(RpcCode.BadSignature);
    expect((await refused(h.seq.submit(bls(keys[0], 1, 9, 1n, 1)))).rpcCode).to.equal(RpcCode.UnknownAccount);
    expect((await refused(h.seq.submit(bls(keys[0], 1, 2, 2n * ETH, 1)))).rpcCode).to.equal(
      RpcCode.InsufficientBalance,
    );
    // Not tried against other nonces (each try is a pairing on the sequencer's thread): a bad signature.
    const used = await refused(h.seq.submit(bls(keys[0], 1, 2, 1n, 0)));
    expect(used.rpcCode).to.equal(RpcCode.BadSignature);
    expect((await refused(h.seq.submit(bls(keys[0], 1, 2, 1n, 0), 0))).rpcCode).to.equal(RpcCode.WrongNonce);
    // Signed over nonce 2 while the account is at 1: it waits, and goes in once nonce 1 does.
    const ahead = await h.seq.submit(bls(keys[0], 1, 2, 3n, 2), 2);
    expect(ahead.status).to.equal("queued");
    await h.seq.submit(bls(keys[0], 1, 2, 4n, 1));
    expect(h.seq.getAccount(1)?.nonce).to.equal(3);
    expect((await h.seq.receipt(ahead.hash))?.outcome).to.equal("Applied");
    // The same envelope again: where it stands, not a second copy.
    expect((await h.seq.submit(bls(keys[0], 1, 2, 4n, 1))).status).to.equal("pending");
    await h.seq.flush();
    await checkAgainstStf(h.seq);
  });

  it("takes a typed blsTransfer through the API's params, and refuses an amount that does not pack", () => {
    const envelope = bls(keys[0], 1, 2, 1200n, 0, 10n);
    const signature = toHex(envelope.subarray(13));
    const typed = parseSendTransaction([{ type: "blsTransfer", from: 1, to: 2, amount: "1200", fee: "10", signature }]);
    expect(toHex(typed.bytes)).to.equal(toHex(envelope));
    expect(() =>
      parseSendTransaction([{ type: "blsTransfer", from: 1, to: 2, amount: "123456", fee: "0", signature }]),
    ).to.throw(/does not pack .* the nearest below is 123400/);
  });

  it("follows a key rotation: a transfer signed with the old key after it is refused", async () => {
    const h = await sequencer();
    await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
    await h.seq.submit(bls(keys[0], 1, 2, 1n, 1));
    const next = keyOf(7);
    await h.seq.submit(
      signed(people[0], { type: TxType.RegisterKey, from: 1, fee: 0n, blsKey: toHex(blsRawPublicKey(next)) }, 2),
    );
    expect((await refused(h.seq.submit(bls(keys[0], 1, 2, 1n, 3)))).rpcCode).to.equal(RpcCode.BadSignature);
    await h.seq.submit(bls(next, 1, 2, 1n, 3));
    await h.seq.flush();
    await checkAgainstStf(h.seq);
  });

  describe("after a restart", () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-bls-seq-"));
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("rebuilds closed BLS chunks byte for byte and the open one's transfers, and goes on", async () => {
      const h = await sequencer({ store: await LevelStore.open(dir) });
      await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
      for (let n = 1; n <= 12; n++) await h.seq.submit(bls(keys[0], 1, 2, 10n, n));
      await h.seq.flush();
      const closed = h.seq.batchCount - 1;
      const chunks = (await h.seq.chunksOf(closed)).map(toHex);
      const open: string[] = [];
      for (let n = 1; n <= 3; n++) open.push((await h.seq.submit(bls(keys[1], 2, 1, 1n, n))).hash);
      const root = h.seq.status().stateRoot;
      const queue = h.seq.queueItems(0, h.seq.queueLength);
      await h.store.close();

      const r = await sequencer({ store: await LevelStore.open(dir), queue });
      expect(r.seq.status()).to.deep.include({ stateRoot: root });
      expect(r.seq.status().batches.open?.txs).to.equal(3);
      expect((await r.seq.chunksOf(closed)).map(toHex)).to.deep.equal(chunks);
      for (const hash of open) expect((await r.seq.receipt(hash))?.outcome).to.equal("Applied");
      await r.seq.submit(bls(keys[1], 2, 1, 1n, 4));
      await r.seq.flush();
      await checkAgainstStf(r.seq);
      await r.store.close();
    });
  });

  it("adopts its own BLS chunk appended late (after another's batch) with its transfers applied where they are", async () => {
    const h = await sequencer();
    await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
    await h.seq.flush(); // batch 1: the registrations
    const mine = [];
    for (let n = 1; n <= 3; n++) mine.push((await h.seq.submit(bls(keys[0], 1, 2, 10n, n))).hash);
    await h.seq.flush(); // our batch 2, sent to L1 — where another batch 2 lands first, and ours after it as 3
    const ours = await h.seq.chunksOf(2);
    const message = blsTransferDigest(DOMAIN, { from: 2, to: 1, amount: 5n, fee: 0n }, 0, 1);
    const theirs = encodeBlsChunk({ fee: 0n, signature: blsAggregate([blsSign(keys[1], message)]) }, [
      { from: 2, to: 1, amount: 5n },
    ]);
    const q = h.seq.queueLength;
    const result = await h.seq.rebase(2, [onL1(q, 2, [theirs]), onL1(q, 3, ours)]);
    expect(result).to.deep.equal({ resequenced: 0, dropped: 0 });
    for (const hash of mine) expect(await h.seq.receipt(hash)).to.include({ outcome: "Applied", batchIndex: 3 });
    expect(h.seq.getAccount(1)).to.include({ nonce: 4, balance: ETH - 30n + 5n });
    await checkAgainstStf(h.seq);
  });

  it("adopts its own BLS chunk appended late that now fails, and re-sequences its transfers after it", async () => {
    const h = await sequencer();
    await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
    await h.seq.flush();
    const mine = [];
    for (let n = 1; n <= 3; n++) mine.push((await h.seq.submit(bls(keys[0], 1, 2, 10n, n))).hash);
    await h.seq.flush();
    const ours = await h.seq.chunksOf(2);
    // Another batch 2 lands first with a transfer of account 1's at nonce 1 (its key's: the same message as our
    // first, but for the amount): our chunk's messages are then over nonces one behind, and its aggregate fails.
    const message = blsTransferDigest(DOMAIN, { from: 1, to: 2, amount: 7n, fee: 0n }, 0, 1);
    const theirs = encodeBlsChunk({ fee: 0n, signature: blsAggregate([blsSign(keys[0], message)]) }, [
      { from: 1, to: 2, amount: 7n },
    ]);
    const q = h.seq.queueLength;
    const result = await h.seq.rebase(2, [onL1(q, 2, [theirs]), onL1(q, 3, ours)]);
    // Our first is over a nonce now used; the other two apply after the adopted batches.
    expect(result).to.deep.equal({ resequenced: 2, dropped: 1 });
    expect(await h.seq.receipt(mine[0])).to.include({ status: "skipped" });
    for (const hash of mine.slice(1))
      expect(await h.seq.receipt(hash)).to.include({ status: "pending", outcome: "Applied" });
    expect(h.seq.getAccount(1)).to.include({ nonce: 4, balance: ETH - 7n - 20n });
    // Every transfer stored has an id of its own: the skipped ones of the adopted chunk are not ours.
    const ids: string[] = [];
    for await (const [, v] of h.store.entries(PREFIX_TX)) ids.push(decodeTx(v).hash);
    expect(new Set(ids).size).to.equal(ids.length);
    await h.seq.flush();
    await checkAgainstStf(h.seq, [3]);
  });

  it("adopts another sequencer's BLS chunk from L1, and re-sequences its own transfers after it", async () => {
    const h = await sequencer();
    await withKeys(h, people.slice(0, 2), keys.slice(0, 2));
    await h.seq.flush(); // batch 1: the registrations
    const mine = await h.seq.submit(bls(keys[0], 1, 2, 10n, 1));
    // On L1, batch 2 holds someone else's BLS chunk: account 2 sent 5 to account 1 at nonce 1.
    const message = blsTransferDigest(DOMAIN, { from: 2, to: 1, amount: 5n, fee: 0n }, 0, 1);
    const chunk = encodeBlsChunk({ fee: 0n, signature: blsAggregate([blsSign(keys[1], message)]) }, [
      { from: 2, to: 1, amount: 5n },
    ]);
    const result = await h.seq.rebase(2, [onL1(h.seq.queueLength, 2, [chunk])]);
    expect(result).to.deep.equal({ resequenced: 1, dropped: 0 });
    expect(h.seq.getAccount(2)).to.include({ nonce: 2 });
    expect(h.seq.getAccount(1)).to.include({ nonce: 2, balance: ETH - 10n + 5n });
    expect((await h.seq.chunksOf(2)).map(toHex)).to.deep.equal([toHex(chunk)]);
    expect(await h.seq.receipt(mine.hash)).to.include({ status: "pending", outcome: "Applied" });
    const adopted = await h.seq.receipt(txHash((await h.seq.chunksOf(2))[0]));
    expect(adopted).to.equal(undefined); // the chunk is not a transaction: its transfer has an id of its own
    await h.seq.flush();
    await checkAgainstStf(h.seq);
  });
});
