import { expect } from "chai";
import fc from "fast-check";
import {
  AmountNotPackableError,
  BilayerError,
  decodeChunk,
  decodeTx,
  encodeChunk,
  encodeTx,
  fromHex,
  initHashing,
  keccak256,
  MAX_CHUNK_BYTES,
  Outcome,
  toHex,
  TX_SIZE,
  txHash,
  TxType,
  type L2Tx,
} from "../../src/protocol";
import { withNonCanonicalAmount } from "../../src/protocol/testing";

const SIG = "0x" + "ab".repeat(32) + "cd".repeat(32);

const amountArb = fc
  .tuple(fc.bigInt({ min: 0n, max: 2n ** 35n - 1n }), fc.integer({ min: 0, max: 31 }))
  .map(([m, e]) => m * 10n ** BigInt(e));
const feeArb = fc
  .tuple(fc.bigInt({ min: 0n, max: 2047n }), fc.integer({ min: 0, max: 31 }))
  .map(([m, e]) => m * 10n ** BigInt(e));
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const hexArb = (n: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => toHex(b));

const txArb: fc.Arbitrary<L2Tx> = fc.oneof(
  fc.record({
    type: fc.constant(TxType.Transfer as const),
    from: u32,
    to: u32,
    amount: amountArb,
    fee: feeArb,
    signature: hexArb(64),
  }),
  fc.record({
    type: fc.constant(TxType.Withdraw as const),
    from: u32,
    amount: amountArb,
    fee: feeArb,
    signature: hexArb(64),
  }),
  fc.record({
    type: fc.constant(TxType.TransferToNew as const),
    from: u32,
    to: hexArb(20),
    amount: amountArb,
    fee: feeArb,
    signature: hexArb(64),
  }),
);

describe("protocol/codec", () => {
  before(async () => {
    await initHashing();
  });

  it("lays out a transfer as type ‖ from ‖ to ‖ amount ‖ fee ‖ sig (80 bytes)", () => {
    const bytes = encodeTx({ type: TxType.Transfer, from: 1, to: 0xdeadbeef, amount: 1000n, fee: 5n, signature: SIG });
    // amount 1000 = mantissa 1000, exponent 0 → 1000 << 5 = 0x7d00; fee 5 << 5 = 0xa0
    expect(toHex(bytes)).to.equal("0x01" + "00000001" + "deadbeef" + "0000007d00" + "00a0" + SIG.slice(2));
    expect(bytes.length).to.equal(80);
  });

  it("has the sizes 80, 76, 96 and 167 and a 5,344-byte maximum chunk", () => {
    expect(TX_SIZE).to.deep.equal({ 1: 80, 2: 76, 3: 96, 4: 167 });
    expect(MAX_CHUNK_BYTES).to.equal(5344);
    const w = encodeTx({ type: TxType.Withdraw, from: 7, amount: 1n, fee: 0n, signature: SIG });
    expect(toHex(w)).to.equal("0x02" + "00000007" + "0000000020" + "0000" + SIG.slice(2));
    const n = encodeTx({
      type: TxType.TransferToNew,
      from: 7,
      to: "0x" + "EE".repeat(20),
      amount: 0n,
      fee: 1n,
      signature: SIG,
    });
    expect(toHex(n)).to.equal("0x03" + "00000007" + "ee".repeat(20) + "0000000000" + "0020" + SIG.slice(2));
  });

  it("round-trips every transaction (property)", () => {
    fc.assert(
      fc.property(txArb, (tx) => {
        const bytes = encodeTx(tx);
        expect(bytes.length).to.equal(TX_SIZE[tx.type]);
        const decoded = decodeTx(bytes, 0);
        expect(decoded).to.deep.equal({
          ok: true,
          tx: { ...tx, ...("to" in tx && typeof tx.to === "string" ? { to: tx.to.toLowerCase() } : {}) },
          size: bytes.length,
        });
        expect(txHash(bytes)).to.equal(toHex(keccak256(bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it("decodes a non-canonical amount to the same value", () => {
    const tx = { type: TxType.Transfer as const, from: 1, to: 2, amount: 5000n, fee: 0n, signature: SIG };
    const bytes = withNonCanonicalAmount(encodeTx(tx), 5000n);
    expect(toHex(bytes)).to.not.equal(toHex(encodeTx(tx)));
    expect(decodeTx(bytes)).to.deep.equal({ ok: true, tx, size: 80 });
  });

  it("reports an unknown type byte and a truncated transaction", () => {
    expect(decodeTx(Uint8Array.of(0))).to.include({ ok: false, reason: Outcome.UnknownType });
    expect(decodeTx(Uint8Array.of(5, 1, 2))).to.include({ ok: false, reason: Outcome.UnknownType });
    const bytes = encodeTx({
      type: TxType.TransferToNew,
      from: 1,
      to: "0x" + "11".repeat(20),
      amount: 1n,
      fee: 0n,
      signature: SIG,
    });
    expect(decodeTx(bytes.subarray(0, 95))).to.include({ ok: false, reason: Outcome.Truncated });
    expect(decodeTx(bytes, 96)).to.include({ ok: false, reason: Outcome.Truncated });
  });

  it("splits chunks with the STF's parsing rules: 32 transactions at most, then trailing", () => {
    const tx: L2Tx = { type: TxType.Withdraw, from: 3, amount: 10n, fee: 1n, signature: SIG };
    const full = encodeChunk(new Array<L2Tx>(32).fill(tx));
    expect(decodeChunk(full)).to.deep.equal({ txs: new Array<L2Tx>(32).fill(tx) });
    const extra = new Uint8Array([...full, 2]);
    expect(decodeChunk(extra).end).to.deep.equal({ index: 32, offset: 32 * 76, reason: Outcome.Trailing });
    expect(decodeChunk(full.subarray(0, 100))).to.deep.equal({
      txs: [tx],
      end: { index: 1, offset: 76, reason: Outcome.Truncated },
    });
    expect(decodeChunk(new Uint8Array(0))).to.deep.equal({ txs: [] });
    expect(() => encodeChunk(new Array<L2Tx>(33).fill(tx))).to.throw(BilayerError);
  });

  it("refuses to encode unpackable amounts, bad signatures, addresses and indices", () => {
    const base = { type: TxType.Transfer as const, from: 1, to: 2, amount: 1n, fee: 0n, signature: SIG };
    expect(() => encodeTx({ ...base, amount: 2n ** 35n })).to.throw(AmountNotPackableError);
    expect(() => encodeTx({ ...base, fee: 2049n })).to.throw(AmountNotPackableError);
    expect(() => encodeTx({ ...base, signature: SIG.slice(0, -2) })).to.throw(BilayerError);
    expect(() => encodeTx({ ...base, from: 2 ** 32 })).to.throw(BilayerError);
    expect(() => encodeTx({ ...base, to: -1 })).to.throw(BilayerError);
    expect(() =>
      encodeTx({ type: TxType.TransferToNew, from: 1, to: "0x1234", amount: 1n, fee: 0n, signature: SIG }),
    ).to.throw(BilayerError);
    expect(fromHex(SIG)).to.have.length(64);
  });
});
