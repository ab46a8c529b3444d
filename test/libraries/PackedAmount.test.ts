import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { AMOUNT_MANTISSA_BITS, FEE_MANTISSA_BITS, pack } from "./helpers/encoding";

describe("PackedAmount", function () {
  async function deploy() {
    return { packed: await ethers.deployContract("PackedAmountHarness") };
  }

  it("decodes zero and the maxima", async function () {
    const { packed } = await loadFixture(deploy);
    expect(await packed.unpackAmount(0)).to.equal(0n);
    expect(await packed.unpackFee(0)).to.equal(0n);
    expect(await packed.unpackAmount((1n << 40n) - 1n)).to.equal(((1n << 35n) - 1n) * 10n ** 31n);
    expect(await packed.unpackFee((1n << 16n) - 1n)).to.equal(((1n << 11n) - 1n) * 10n ** 31n);
  });

  it("decodes mantissa × 10^exponent for every exponent", async function () {
    const { packed } = await loadFixture(deploy);
    for (let e = 0n; e < 32n; e++) {
      for (const m of [0n, 1n, 7n, (1n << 11n) - 1n]) {
        expect(await packed.unpackFee((m << 5n) | e)).to.equal(m * 10n ** e);
      }
      for (const m of [1n, 123456789n, (1n << 35n) - 1n]) {
        expect(await packed.unpackAmount((m << 5n) | e)).to.equal(m * 10n ** e);
      }
    }
  });

  it("decodes non-canonical encodings to the same value", async function () {
    const { packed } = await loadFixture(deploy);
    // 1000 = 1000·10^0 = 100·10^1 = 10·10^2 = 1·10^3
    for (let e = 0n; e <= 3n; e++) {
      expect(await packed.unpackAmount(((1000n / 10n ** e) << 5n) | e)).to.equal(1000n);
      expect(await packed.unpackFee(((1000n / 10n ** e) << 5n) | e)).to.equal(1000n);
    }
  });

  it("round-trips the canonical packing of exact values", async function () {
    const { packed } = await loadFixture(deploy);
    const amounts = [
      1n,
      10n ** 18n,
      123n * 10n ** 15n,
      (1n << 35n) - 1n,
      34359738370n,
      ((1n << 35n) - 1n) * 10n ** 31n,
    ];
    for (const v of amounts) expect(await packed.unpackAmount(pack(v, AMOUNT_MANTISSA_BITS))).to.equal(v);
    const fees = [1n, 2047n, 20470n, 5n * 10n ** 14n, 2047n * 10n ** 31n];
    for (const v of fees) expect(await packed.unpackFee(pack(v, FEE_MANTISSA_BITS))).to.equal(v);
    // The smallest exponent that fits: 20470 = 2047·10^1; 20480 = 2048·10^1 needs 12 bits and is not a multiple of
    // 100, so it is not packable as a fee.
    expect(pack(20470n, FEE_MANTISSA_BITS)).to.equal((2047n << 5n) | 1n);
    expect(() => pack(20480n, FEE_MANTISSA_BITS)).to.throw();
    expect(pack(2048n * 10n ** 9n, AMOUNT_MANTISSA_BITS)).to.equal(((2048n * 10n ** 7n) << 5n) | 2n);
  });
});
