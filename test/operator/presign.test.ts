import { blsKeyFromSeed, blsRawPublicKey, blsSign } from "../../src/protocol/bls";
import { expect } from "chai";
import { txHash } from "../../src/protocol/codec";
import { txDigest } from "../../src/protocol/eip712";
import { fromHex, keccak256, toHex } from "../../src/protocol/hash";
import { recoverCompactBytes } from "../../src/protocol/signature";
import { RpcCode, type RpcError } from "../../src/operator/errors";
import { RefusedError } from "../../src/operator/refusals";
import { mapApiError } from "../../src/operator/rpc/api";
import {
  copyPresigned,
  packJobs,
  Presigner,
  presignedAt,
  RECORD_BYTES,
  recoverPresigned,
  recoverRecords,
  type BlsPrechecked,
  type Presigned,
  type SenderHints,
} from "../../src/operator/presign";
import { PresignPool } from "../../src/operator/rpc/presign-pool";
import { DOMAIN, fund, sequencer, signed, transfer, transferToNew, users, withdraw, type Harness } from "./fixtures";

const hints = (reset: boolean, ...triples: number[]): SenderHints => ({ reset, entries: Uint32Array.from(triples) });

/** Signer recoveries the sequencer counted, by source. */
async function recoveries(h: Harness): Promise<{ presigned: number; native: number }> {
  const { values } = await h.metrics.signatureRecoveries.get();
  const of = (source: string): number => values.find((v) => v.labels.source === source)?.value ?? 0;
  return { presigned: of("presigned"), native: of("native") };
}

/** What the HTTP thread would hand the sequencer for `bytes` over `nonce`, told account `from`'s token. */
function presignedFor(bytes: Uint8Array, from: number, nonce: number, tokenId = 0): Presigned {
  const p = new Presigner(DOMAIN);
  p.update(hints(true, from, tokenId, nonce));
  const out = p.presign(bytes);
  if (!out) throw new Error("not presigned");
  return out as Presigned;
}

async function rejectsWith(p: Promise<unknown>, code: number): Promise<void> {
  try {
    await p;
  } catch (err) {
    // The sequencer refuses in its own terms (RefusedError); the API maps each refusal to its JSON-RPC code.
    expect(err).to.be.instanceOf(RefusedError);
    const mapped = mapApiError(err) as RpcError;
    expect(mapped.rpcCode, (err as Error).message).to.equal(code);
    return;
  }
  expect.fail(`expected RPC error ${code}`);
}

describe("signature recovery ahead of the sequencer (presign)", () => {
  const [alice, bob, mallory] = users(3, "presign");

  describe("Presigner (the HTTP thread's side)", () => {
    it("digests a transaction over its sender's reported token and nonce, or the nonce it is given", () => {
      const p = new Presigner(DOMAIN);
      p.update(hints(true, 1, 0, 5, 2, 3, 9));
      const bytes = signed(alice, transfer(1, 2, 10n), 5);
      const job = p.job(bytes) as { job: Omit<Presigned, "signer">; from: number; nonce: number } | undefined;
      expect(job?.from).to.equal(1);
      expect(job?.nonce).to.equal(5);
      expect(toHex(job?.job.digest ?? new Uint8Array())).to.equal(toHex(txDigest(DOMAIN, transfer(1, 2, 10n), 0, 5)));
      expect(toHex(job?.job.signature ?? new Uint8Array())).to.equal(toHex(bytes.slice(-64)));
      expect(p.job(bytes, 8)?.nonce).to.equal(8);
      expect(p.job(bytes, undefined, () => 6)?.nonce).to.equal(6);
      const w = signed(bob, withdraw(2, 1n), 9, 3);
      expect(toHex((p.job(w)?.job as Omit<Presigned, "signer">).digest)).to.equal(
        toHex(txDigest(DOMAIN, withdraw(2, 1n), 3, 9)),
      );
      const presigned = p.presign(bytes) as Presigned | undefined;
      expect(presigned && toHex(presigned.signer ?? new Uint8Array())).to.equal(alice.address);
    });

    it("has nothing for an unknown sender or bytes that are not one whole transaction", () => {
      const p = new Presigner(DOMAIN);
      p.update(hints(true, 1, 0, 0));
      expect(p.job(signed(alice, transfer(3, 1, 1n), 0))).to.equal(undefined);
      const bytes = signed(alice, transfer(1, 2, 1n), 0);
      expect(p.job(bytes.subarray(0, 40))).to.equal(undefined);
      expect(p.job(Uint8Array.from([...bytes, 0]))).to.equal(undefined);
      expect(p.job(Uint8Array.from([9, ...bytes.subarray(1)]))).to.equal(undefined);
    });

    it("keeps what it was told until a reset", () => {
      const p = new Presigner(DOMAIN);
      p.update(hints(true, 1, 0, 0, 2, 4, 1));
      p.update(hints(false, 1, 0, 3));
      expect(p.sender(1)).to.deep.equal({ tokenId: 0, nonce: 3 });
      expect(p.sender(2)).to.deep.equal({ tokenId: 4, nonce: 1 });
      p.update(hints(true, 2, 4, 2));
      expect(p.sender(1)).to.equal(undefined);
      expect(p.sender(2)).to.deep.equal({ tokenId: 4, nonce: 2 });
    });
  });

  describe("packed records", () => {
    it("recover to exactly recoverCompactBytes of each, a failed recovery included", () => {
      const good = signed(alice, transfer(1, 2, 10n), 0);
      const garbage = Uint8Array.from([...good.subarray(0, 16), ...new Uint8Array(64).fill(0xff)]);
      const jobs = [good, garbage].map((b) => ({ digest: keccak256(b.subarray(0, 16)), signature: b.slice(-64) }));
      const records = packJobs(jobs);
      expect(records.length).to.equal(2 * RECORD_BYTES);
      expect(presignedAt(records, 0)).to.equal(undefined); // not recovered yet
      recoverRecords(records);
      jobs.forEach((j, i) => {
        const p = presignedAt(records, i) as Presigned | undefined;
        expect(toHex(p?.digest ?? new Uint8Array())).to.equal(toHex(j.digest));
        expect(toHex(p?.signature ?? new Uint8Array())).to.equal(toHex(j.signature));
        const expected = recoverCompactBytes(j.digest, j.signature, 0);
        expect(p?.signer && toHex(p.signer)).to.equal(expected && toHex(expected));
      });
      expect((presignedAt(records, 1) as Presigned).signer).to.equal(null);
      expect(presignedAt(records, 2)).to.equal(undefined);
      expect(presignedAt(records, -1)).to.equal(undefined);
      const copy = copyPresigned(presignedAt(records, 0) as Presigned);
      expect(copy.digest.buffer.byteLength).to.equal(32);
    });

    it("check BLS signatures in one batch, halving it to find the bad ones, on this thread or the pool's", async () => {
      const keys = [1, 2, 3, 4, 5].map((i) => blsKeyFromSeed(new Uint8Array(32).fill(i)));
      const jobs = keys.map((key, i) => {
        const message = keccak256(Uint8Array.of(i));
        // The fourth is signed by another key.
        const signature = blsSign(i === 3 ? keys[0] : key, message);
        return { message, key: blsRawPublicKey(key), signature };
      });
      // Recoveries and BLS checks mix in one message.
      const bytes = signed(alice, transfer(1, 2, 1n), 0);
      const mixed = [...jobs, { digest: txDigest(DOMAIN, transfer(1, 2, 1n), 0, 0), signature: bytes.slice(-64) }];
      const inline = packJobs(mixed);
      recoverRecords(inline);
      const verdicts = jobs.map((_, i) => (presignedAt(inline, i) as BlsPrechecked).holds);
      expect(verdicts).to.deep.equal([true, true, true, false, true]);
      expect(toHex((presignedAt(inline, 5) as Presigned).signer ?? new Uint8Array())).to.equal(alice.address);
      const pool = new PresignPool(2);
      try {
        expect(toHex(await pool.recover(packJobs(mixed)))).to.equal(toHex(inline));
      } finally {
        await pool.stop();
      }
    });

    it("find every bad BLS signature where most are bad, and fail one that is no point without a check", () => {
      const keys = Array.from({ length: 12 }, (_, i) => blsKeyFromSeed(new Uint8Array(32).fill(i + 1)));
      const good = new Set([2, 7]);
      const jobs = keys.map((key, i) => {
        const message = keccak256(Uint8Array.of(i));
        return {
          message,
          key: blsRawPublicKey(key),
          signature: blsSign(good.has(i) ? key : keys[(i + 1) % 12], message),
        };
      });
      jobs[5] = { ...jobs[5], signature: new Uint8Array(96).fill(0xff) }; // not a point
      jobs[9] = { ...jobs[9], key: new Uint8Array(96).fill(1) }; // not a key
      const records = packJobs(jobs);
      recoverRecords(records);
      const verdicts = jobs.map((_, i) => (presignedAt(records, i) as BlsPrechecked).holds);
      expect(verdicts).to.deep.equal(jobs.map((_, i) => good.has(i)));
    });

    it("are recovered by a pool of threads as on this thread, in order, and on this thread once it stops", async () => {
      const jobs = Array.from({ length: 7 }, (_, i) => {
        const bytes = signed(i % 2 === 0 ? alice : bob, transfer(1, 2, BigInt(i + 1)), i);
        return { digest: txDigest(DOMAIN, transfer(1, 2, BigInt(i + 1)), 0, i), signature: bytes.slice(-64) };
      });
      const inline = packJobs(jobs);
      recoverRecords(inline);
      const pool = new PresignPool(2);
      try {
        expect(pool.threads).to.equal(2);
        expect(toHex(await pool.recover(packJobs(jobs)))).to.equal(toHex(inline));
        expect(toHex(await pool.recover(packJobs(jobs.slice(0, 1))))).to.equal(toHex(inline.slice(0, RECORD_BYTES)));
      } finally {
        await pool.stop();
      }
      expect(pool.threads).to.equal(0);
      expect(toHex(await pool.recover(packJobs(jobs)))).to.equal(toHex(inline));
    });
  });

  describe("recoverPresigned", () => {
    const bytes = signed(alice, transfer(1, 2, 10n), 0);
    const digest = txDigest(DOMAIN, transfer(1, 2, 10n), 0, 0);

    it("answers from the record only for the same digest and signature bytes", () => {
      const lie: Presigned = { digest, signature: bytes.slice(-64), signer: fromHex(bob.address, 20) };
      const seen: boolean[] = [];
      const answer = (d: Uint8Array, p: Presigned | undefined): string | null => {
        const s = recoverPresigned(p, d, bytes, 16, (x) => seen.push(x));
        return s && toHex(s);
      };
      // The record is trusted as it is (it comes from the operator's own thread) for exactly its pair...
      expect(answer(digest, lie)).to.equal(bob.address);
      // ...and for anything else the signer is recovered here.
      expect(answer(txDigest(DOMAIN, transfer(1, 2, 10n), 0, 1), lie)).to.not.equal(bob.address);
      expect(answer(digest, { ...lie, signature: new Uint8Array(64) })).to.equal(alice.address);
      expect(answer(digest, { ...lie, digest: digest.subarray(0, 31) })).to.equal(alice.address);
      expect(answer(digest, undefined)).to.equal(alice.address);
      expect(seen).to.deep.equal([true, false, false, false, false]);
    });
  });

  describe("the sequencer", () => {
    let h: Harness;

    beforeEach(async () => {
      h = await sequencer();
      await fund(h, [alice, bob, mallory], 1000n);
    });

    it("uses a recovery made for the transaction's digest and signature instead of its own", async () => {
      const bytes = signed(alice, transfer(1, 2, 10n), 0);
      await h.seq.submit(bytes, undefined, presignedFor(bytes, 1, 0));
      expect(await recoveries(h)).to.deep.equal({ presigned: 1, native: 0 });
      expect(h.seq.getAccount(2)?.balance).to.equal(1010n);
    });

    it("refuses a forged transaction however its recovery claims the owner signed it", async () => {
      const bytes = signed(mallory, transfer(1, 3, 500n), 0);
      const claim: Presigned = {
        // The owner's own signature of another transaction: right digest family, wrong bytes.
        digest: txDigest(DOMAIN, transfer(1, 3, 500n), 0, 1),
        signature: bytes.slice(-64),
        signer: fromHex(alice.address, 20),
      };
      await rejectsWith(h.seq.submit(bytes, undefined, claim), RpcCode.BadSignature);
      const sameDigest: Presigned = { ...claim, digest: txDigest(DOMAIN, transfer(1, 3, 500n), 0, 0) };
      await rejectsWith(
        h.seq.submit(bytes, undefined, { ...sameDigest, signature: signed(alice, transfer(1, 3, 500n), 0).slice(-64) }),
        RpcCode.BadSignature,
      );
      expect(h.seq.getAccount(1)?.balance).to.equal(1000n);
      expect(h.seq.getAccount(1)?.nonce).to.equal(0);
    });

    it("recovers itself when the recovery was for a stale nonce", async () => {
      await h.seq.submit(signed(alice, transfer(1, 2, 1n), 0));
      const bytes = signed(alice, transfer(1, 2, 2n), 1);
      await h.seq.submit(bytes, undefined, presignedFor(bytes, 1, 0));
      expect(await recoveries(h)).to.deep.equal({ presigned: 0, native: 2 });
      expect(h.seq.getAccount(1)?.nonce).to.equal(2);
    });

    it("keeps the recovery of a transaction waiting for its nonce, and uses it when its turn comes", async () => {
      const ahead = signed(alice, transfer(1, 2, 5n), 1);
      const queued = await h.seq.submit(ahead, 1, presignedFor(ahead, 1, 1));
      expect(queued.status).to.equal("queued");
      expect(await recoveries(h)).to.deep.equal({ presigned: 1, native: 0 });
      await h.seq.submit(signed(alice, transfer(1, 2, 1n), 0));
      expect(h.seq.getAccount(1)?.nonce).to.equal(2);
      expect((await h.seq.receipt(txHash(ahead)))?.status).to.equal("pending");
      // The waiting one's recovery answered its check when promoted; the gap-filler was recovered here.
      expect(await recoveries(h)).to.deep.equal({ presigned: 2, native: 1 });
    });

    it("reports every account first, then the senders and new accounts since, and everything again after a reload", async () => {
      const first = h.seq.senderHints();
      expect(first?.reset).to.equal(true);
      expect([...(first?.entries ?? [])]).to.deep.equal([1, 0, 0, 2, 0, 0, 3, 0, 0]);
      expect(h.seq.senderHints()).to.equal(undefined);
      await h.seq.submit(signed(alice, transfer(1, 2, 1n), 0));
      await h.seq.submit(signed(bob, transferToNew(2, "0x" + "77".repeat(20), 1n), 0));
      const next = h.seq.senderHints();
      expect(next?.reset).to.equal(false);
      const triples = [...(next?.entries ?? [])];
      const byIndex = new Map<number, number[]>();
      for (let i = 0; i < triples.length; i += 3) byIndex.set(triples[i], triples.slice(i + 1, i + 3));
      expect(Object.fromEntries(byIndex)).to.deep.equal({ 1: [0, 1], 2: [0, 1], 4: [0, 0] });
      await h.seq.load(h.seq.queueItems(0, h.seq.queueLength));
      const again = h.seq.senderHints();
      expect(again?.reset).to.equal(true);
      expect([...(again?.entries ?? [])]).to.deep.equal([1, 0, 1, 2, 0, 1, 3, 0, 0, 4, 0, 0]);
    });

    it("tracks nothing for hints until asked", async () => {
      await h.seq.submit(signed(alice, transfer(1, 2, 1n), 0));
      expect(h.seq.senderHints()?.reset).to.equal(true);
    });
  });
});
