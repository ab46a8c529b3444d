import { expect } from "chai";
import {
  applyBatch,
  applyChunk,
  fromHex,
  initHashing,
  L2State,
  Outcome,
  outcomeName,
  recoverCompactBytes,
  toHex,
  TxType,
  txDigest,
  type SignerRecovery,
  type UnsignedTx,
} from "../../src/protocol";
import { ChunkBuilder, VECTOR_ADDRESSES, VECTOR_DOMAIN_SEPARATOR } from "../../src/protocol/testing";
import { recoverPresigned, type Presigned } from "../../src/operator/presign";

const A = VECTOR_ADDRESSES;
const E18 = 10n ** 18n;
const DS = VECTOR_DOMAIN_SEPARATOR;
const NEW_OWNER = "0x" + "5a".repeat(20);

function state(): L2State {
  return L2State.fromAccounts([
    { owner: A[0], tokenId: 0, balance: 100n * E18, nonce: 0 },
    { owner: A[1], tokenId: 0, balance: 50n * E18, nonce: 7 },
    { owner: A[2], tokenId: 0, balance: 0n, nonce: 0 },
    { owner: A[3], tokenId: 1, balance: 9n * E18, nonce: 3 },
  ]);
}

const transfer = (from: number, to: number, amount: bigint): UnsignedTx => ({
  type: TxType.Transfer,
  from,
  to,
  amount,
  fee: 0n,
});

/** A hook that records what it is asked and answers natively. */
function recording(): { hook: SignerRecovery; calls: { digest: string; signature: string }[] } {
  const calls: { digest: string; signature: string }[] = [];
  const hook: SignerRecovery = (digest, bytes, sigOffset) => {
    calls.push({ digest: toHex(digest), signature: toHex(bytes.subarray(sigOffset, sigOffset + 64)) });
    return recoverCompactBytes(digest, bytes, sigOffset);
  };
  return { hook, calls };
}

describe("protocol/stf: the signer recovery hook (StepOptions.recoverSigner)", () => {
  before(async () => {
    await initHashing();
  });

  it("is asked once per signature check, with the digest over the sender's token and nonce and the signature's bytes", () => {
    const pre = state();
    const txs: UnsignedTx[] = [
      transfer(1, 2, E18),
      transfer(1, 3, 2n * E18),
      { type: TxType.Withdraw, from: 2, amount: E18, fee: 0n },
      { type: TxType.TransferToNew, from: 4, to: NEW_OWNER, amount: E18, fee: 0n },
    ];
    const builder = new ChunkBuilder(pre, DS, 0);
    const signatures = txs.map((tx) => toHex(builder.add(tx).slice(-64)));
    const chunk = builder.bytes();
    const { hook, calls } = recording();

    const withHook = applyChunk(pre.clone(), chunk, { domainSeparator: DS, feeRecipient: 0 }, { recoverSigner: hook });
    const without = applyChunk(pre.clone(), chunk, { domainSeparator: DS, feeRecipient: 0 });

    expect(withHook).to.deep.equal(without);
    expect(withHook.outcomes.map((o) => outcomeName(o.code))).to.deep.equal(new Array(4).fill("Applied"));
    // Sender token and nonce at the time of each check: account 1 signs nonces 0 and 1.
    const over = [
      [0, 0],
      [0, 1],
      [0, 7],
      [1, 3],
    ];
    expect(calls).to.deep.equal(
      txs.map((tx, i) => ({ digest: toHex(txDigest(DS, tx, over[i][0], over[i][1])), signature: signatures[i] })),
    );
  });

  it("decides the outcome by its answer: a hook that recovers nothing makes a valid signature BadSignature", () => {
    const pre = state();
    const chunk = new ChunkBuilder(pre, DS, 0);
    chunk.add(transfer(1, 2, E18));
    const s = pre.clone();
    const result = applyChunk(
      s,
      chunk.bytes(),
      { domainSeparator: DS, feeRecipient: 0 },
      { recoverSigner: () => null },
    );
    expect(result.outcomes.map((o) => o.code)).to.deep.equal([Outcome.BadSignature]);
    expect(s.stateRoot()).to.equal(pre.stateRoot());
  });

  it("is not asked for a transaction that fails an earlier check", () => {
    const pre = state();
    const builder = new ChunkBuilder(pre, DS, 0);
    builder.add(transfer(3, 1, E18)); // account 3 holds nothing
    builder.add(transfer(1, 9, E18)); // no account 9
    const { hook, calls } = recording();
    const result = applyChunk(
      pre.clone(),
      builder.bytes(),
      { domainSeparator: DS, feeRecipient: 0 },
      { recoverSigner: hook },
    );
    expect(result.outcomes.map((o) => o.code)).to.deep.equal([Outcome.InsufficientBalance, Outcome.RecipientMissing]);
    expect(calls).to.deep.equal([]);
  });

  it("reaches every chunk step of applyBatch", () => {
    const pre = state();
    const first = new ChunkBuilder(pre, DS, 0);
    first.add(transfer(1, 2, E18));
    const { hook, calls } = recording();
    const batch = { queueItems: [], chunks: [first.bytes(), first.bytes()], feeRecipient: 0, domainSeparator: DS };
    const withHook = applyBatch(pre.clone(), batch, { recoverSigner: hook });
    expect(withHook).to.deep.equal(applyBatch(pre.clone(), batch));
    // The second chunk replays the transfer over nonce 0: the account is at nonce 1 by then.
    expect(calls.map((c) => c.digest)).to.deep.equal([
      toHex(txDigest(DS, transfer(1, 2, E18), 0, 0)),
      toHex(txDigest(DS, transfer(1, 2, E18), 0, 1)),
    ]);
    expect(withHook.steps[1].outcomes.map((o) => o.code)).to.deep.equal([Outcome.BadSignature]);
  });

  describe("answered from a pre-recovered signer (the operator's recoverPresigned)", () => {
    const ctx = { domainSeparator: DS, feeRecipient: 0 };
    const owner = fromHex(A[0], 20);

    /** Account 1's transfer, signed by another key than its owner's. */
    function forged(): { pre: L2State; chunk: Uint8Array; signature: Uint8Array } {
      const pre = state();
      const builder = new ChunkBuilder(pre, DS, 0);
      const bytes = builder.add(transfer(1, 2, 40n * E18), "otherKey");
      return { pre, chunk: builder.bytes(), signature: bytes.slice(-64) };
    }

    function run(pre: L2State, chunk: Uint8Array, p: Presigned): { outcome: Outcome; root: string; used: boolean[] } {
      const s = pre.clone();
      const used: boolean[] = [];
      const hook: SignerRecovery = (digest, bytes, sigOffset) =>
        recoverPresigned(p, digest, bytes, sigOffset, (presigned) => used.push(presigned));
      const result = applyChunk(s, chunk, ctx, { recoverSigner: hook });
      return { outcome: result.outcomes[0].code, root: s.stateRoot(), used };
    }

    it("does not trust a signer recovered for another digest, even with the same signature bytes", () => {
      const { pre, chunk, signature } = forged();
      // Claims the owner signed — but for the digest of another nonce.
      const lie: Presigned = { digest: txDigest(DS, transfer(1, 2, 40n * E18), 0, 1), signature, signer: owner };
      const r = run(pre, chunk, lie);
      expect(outcomeName(r.outcome)).to.equal("BadSignature");
      expect(r.root).to.equal(pre.stateRoot());
      expect(r.used).to.deep.equal([false]);
    });

    it("does not trust a signer recovered from other signature bytes, even for the same digest", () => {
      const { pre, chunk } = forged();
      const digest = txDigest(DS, transfer(1, 2, 40n * E18), 0, 0);
      const lie: Presigned = { digest, signature: new Uint8Array(64).fill(7), signer: owner };
      const r = run(pre, chunk, lie);
      expect(outcomeName(r.outcome)).to.equal("BadSignature");
      expect(r.root).to.equal(pre.stateRoot());
      expect(r.used).to.deep.equal([false]);
    });

    it("does not trust a record whose signer is not 20 bytes", () => {
      const { pre, chunk, signature } = forged();
      const digest = txDigest(DS, transfer(1, 2, 40n * E18), 0, 0);
      const r = run(pre, chunk, { digest, signature, signer: new Uint8Array(32) });
      expect(outcomeName(r.outcome)).to.equal("BadSignature");
      expect(r.used).to.deep.equal([false]);
    });

    it("uses a recovery made for exactly this digest and these signature bytes, with the native outcome", () => {
      const pre = state();
      const builder = new ChunkBuilder(pre, DS, 0);
      const bytes = builder.add(transfer(1, 2, 40n * E18));
      const digest = txDigest(DS, transfer(1, 2, 40n * E18), 0, 0);
      const signature = bytes.slice(-64);
      const p: Presigned = { digest, signature, signer: recoverCompactBytes(digest, signature, 0) };
      const r = run(pre, builder.bytes(), p);
      const native = pre.clone();
      applyChunk(native, builder.bytes(), ctx);
      expect(outcomeName(r.outcome)).to.equal("Applied");
      expect(r.root).to.equal(native.stateRoot());
      expect(r.used).to.deep.equal([true]);
    });
  });
});
