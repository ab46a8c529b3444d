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
import { blsAggregate, blsKeyFromSeed, blsRawPublicKey, blsSign, type BlsKeyPair } from "../../src/protocol/bls";
import { decodeBlsChunk, encodeBlsChunk } from "../../src/protocol/bls-chunk";
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
    const q = h.seq.queueLength;
    const commitment = batchCommitment({
      chunksRoot: chunksRoot([chunk]),
      queueStart: BigInt(q),
      queueEnd: BigInt(q),
      feeRecipient: 0,
      stepCount: 1,
    });
    const result = await h.seq.rebase(2, [
      { index: 2, queueStart: q, queueEnd: q, chunks: [chunk], feeRecipient: 0, commitment },
    ]);
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
