import { expect } from "chai";
import fc from "fast-check";
import {
  AmountNotPackableError,
  BilayerError,
  floorToPackableAmount,
  floorToPackableFee,
  isPackableAmount,
  isPackableFee,
  MAX_PACKABLE_AMOUNT,
  MAX_PACKABLE_FEE,
  packAmount,
  packFee,
  readPackedAmount,
  readPackedFee,
  unpackAmount,
  unpackFee,
} from "../../src/protocol";

const pack = (mantissa: bigint, exponent: bigint): bigint => (mantissa << 5n) | exponent;

describe("protocol/packing", () => {
  it("packs zero as mantissa 0, exponent 0", () => {
    expect(packAmount(0n)).to.equal(0n);
    expect(packFee(0n)).to.equal(0n);
    expect(unpackAmount(0n)).to.equal(0n);
  });

  it("picks the smallest exponent", () => {
    expect(packAmount(1000n)).to.equal(pack(1000n, 0n));
    expect(packAmount(10n ** 18n)).to.equal(pack(10n ** 10n, 8n));
    expect(packAmount(2n ** 35n - 1n)).to.equal(pack(2n ** 35n - 1n, 0n));
    expect(packAmount(2n ** 34n * 10n)).to.equal(pack(2n ** 34n, 1n));
    expect(() => packAmount(2n ** 35n * 10n)).to.throw(AmountNotPackableError);
    expect(packAmount(10n ** 40n)).to.equal(pack(10n ** 10n, 30n));
    expect(packFee(2047n)).to.equal(pack(2047n, 0n));
    expect(packFee(20470n)).to.equal(pack(2047n, 1n));
  });

  it("packs the maximum values and refuses anything above them", () => {
    expect(packAmount(MAX_PACKABLE_AMOUNT)).to.equal(pack(2n ** 35n - 1n, 31n));
    expect(MAX_PACKABLE_AMOUNT).to.equal((2n ** 35n - 1n) * 10n ** 31n);
    expect(packFee(MAX_PACKABLE_FEE)).to.equal(pack(2047n, 31n));
    expect(() => packAmount(MAX_PACKABLE_AMOUNT + 1n)).to.throw(AmountNotPackableError);
    expect(() => packAmount(MAX_PACKABLE_AMOUNT + 10n ** 31n)).to.throw(AmountNotPackableError);
    expect(() => packFee(MAX_PACKABLE_FEE + 10n ** 31n)).to.throw(AmountNotPackableError);
  });

  it("refuses values it cannot represent exactly, naming the value and never rounding", () => {
    expect(() => packAmount(2n ** 35n)).to.throw(AmountNotPackableError, /amount 34359738368 cannot be packed/);
    expect(() => packAmount(10n ** 18n + 1n)).to.throw(/the largest packable value below it is 1000000000000000000/);
    expect(() => packFee(2048n)).to.throw(AmountNotPackableError, /fee 2048/);
    expect(() => packFee(20480n)).to.throw(AmountNotPackableError);
    expect(() => packAmount(-1n)).to.throw(AmountNotPackableError);
    try {
      packFee(2049n);
      expect.fail("packed 2049 as a fee");
    } catch (error) {
      expect(error).to.be.instanceOf(BilayerError);
      expect((error as BilayerError).code).to.equal("AMOUNT_NOT_PACKABLE");
      expect((error as BilayerError).context).to.deep.include({ kind: "fee", value: "2049", nearestBelow: "2047" });
    }
    expect(isPackableAmount(2n ** 35n)).to.equal(false);
    expect(isPackableFee(2048n)).to.equal(false);
    expect(isPackableFee(2040n)).to.equal(true);
  });

  it("decodes non-canonical encodings to the same value", () => {
    expect(unpackAmount(pack(100n, 1n))).to.equal(1000n);
    expect(unpackAmount(pack(1n, 3n))).to.equal(1000n);
    expect(unpackAmount(pack(0n, 31n))).to.equal(0n);
    expect(unpackFee(pack(20n, 2n))).to.equal(2000n);
    expect(packAmount(unpackAmount(pack(1n, 3n)))).to.equal(pack(1000n, 0n));
  });

  it("refuses a packed value wider than its field", () => {
    expect(() => unpackAmount(2n ** 40n)).to.throw(BilayerError);
    expect(() => unpackFee(2n ** 16n)).to.throw(BilayerError);
    expect(() => unpackAmount(-1n)).to.throw(BilayerError);
  });

  it("round-trips every bit pattern through decode → encode → decode (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }), (packed) => {
        const value = unpackAmount(packed);
        const canonical = packAmount(value);
        expect(unpackAmount(canonical)).to.equal(value);
        expect(canonical & 31n).to.be.at.most(packed & 31n);
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setBigUint64(0, packed << 24n);
        expect(readPackedAmount(bytes, 0)).to.equal(value);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), (packed) => {
        const value = unpackFee(BigInt(packed));
        expect(unpackFee(packFee(value))).to.equal(value);
        expect(readPackedFee(Uint8Array.of(packed >> 8, packed & 0xff), 0)).to.equal(value);
      }),
      { numRuns: 2000 },
    );
  });

  it("floors to the largest packable value (checked against brute force for fees)", () => {
    const packable = new Set<bigint>();
    for (let e = 0n; e <= 4n; e++) for (let m = 0n; m < 2048n; m++) packable.add(m * 10n ** e);
    const sorted = [...packable].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2_000_000n }), (v) => {
        let best = 0n;
        for (const p of sorted) if (p <= v) best = p;
        expect(floorToPackableFee(v)).to.equal(best);
      }),
      { numRuns: 500 },
    );
    expect(floorToPackableAmount(2n ** 35n)).to.equal(2n ** 35n - 1n);
    expect(floorToPackableAmount(10n ** 50n)).to.equal(MAX_PACKABLE_AMOUNT);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 160n }), (v) => {
        const floor = floorToPackableAmount(v);
        expect(floor <= v).to.equal(true);
        expect(isPackableAmount(floor)).to.equal(true);
      }),
    );
  });
});
