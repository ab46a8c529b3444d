import { expect } from "chai";
import { keccak256 as ethersKeccak } from "ethers";
import fc from "fast-check";
import {
  AmountNotPackableError,
  BilayerError,
  bytesEqual,
  bytesEqualHex,
  concatBytes,
  fromHex,
  initHashing,
  isHashingInitialised,
  keccak256,
  nativeKeccak256,
  normalizeAddress,
  outcomeName,
  Outcome,
  toHex,
} from "../../src/protocol";

describe("protocol/hash", () => {
  it("gives the same Keccak-256 through hash-wasm and the native binding, equal to ethers'", async () => {
    await initHashing();
    expect(isHashingInitialised()).to.equal(true);
    const inputs = [0, 1, 31, 32, 64, 135, 136, 137, 1000].map((n) => Uint8Array.from({ length: n }, (_, i) => i * 7));
    const expected = inputs.map((b) => ethersKeccak(b));
    expect(inputs.map((b) => toHex(keccak256(b)))).to.deep.equal(expected);
    expect(inputs.map((b) => toHex(nativeKeccak256(b)))).to.deep.equal(expected);
    const view = new Uint8Array([9, 9, 1, 2, 3, 9]).subarray(2, 5);
    expect(toHex(keccak256(view))).to.equal(ethersKeccak(Uint8Array.of(1, 2, 3)));
  });

  it("round-trips hex and bytes (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const hex = toHex(bytes);
        expect(hex).to.match(/^0x([0-9a-f]{2})*$/);
        expect(fromHex(hex)).to.deep.equal(bytes);
        expect(fromHex(hex.toUpperCase().replace("0X", "0x"))).to.deep.equal(bytes);
      }),
    );
    expect(() => fromHex("1234")).to.throw(BilayerError);
    expect(() => fromHex("0x123")).to.throw(BilayerError);
    expect(() => fromHex("0xzz")).to.throw(BilayerError);
    expect(() => fromHex("0x1234", 3)).to.throw(BilayerError, /expected 3 bytes/);
    expect(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3))).to.deep.equal(Uint8Array.of(1, 2, 3));
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).to.equal(true);
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1))).to.equal(false);
    expect(bytesEqualHex(Uint8Array.of(0xab, 0x01), "0xAB01")).to.equal(true);
    expect(bytesEqualHex(Uint8Array.of(0xab, 0x01), "0xab02")).to.equal(false);
    expect(bytesEqualHex(Uint8Array.of(0xab, 0x01), "0xab01ff")).to.equal(false);
    expect(bytesEqualHex(Uint8Array.of(0xab, 0x01), "0xabzz")).to.equal(false);
    expect(normalizeAddress("0xAbCd" + "00".repeat(18))).to.equal("0xabcd" + "00".repeat(18));
    expect(() => normalizeAddress("0x1234")).to.throw(BilayerError);
  });

  it("names outcome codes", () => {
    expect(outcomeName(Outcome.Applied)).to.equal("Applied");
    expect(outcomeName(28)).to.equal("UnknownKind");
    expect(outcomeName(99)).to.equal("Unknown(99)");
  });

  it("carries code, context and cause on the one error base class", () => {
    const cause = new Error("root cause");
    const error = new BilayerError("TIMEOUT", "something broke", { context: { value: "1" }, cause });
    expect(error).to.be.instanceOf(Error);
    expect(error.name).to.equal("BilayerError");
    expect(error.code).to.equal("TIMEOUT");
    expect(error.context).to.deep.equal({ value: "1" });
    expect(error.cause).to.equal(cause);
    const packing = new AmountNotPackableError("amount", 3n, 2n);
    expect(packing).to.be.instanceOf(BilayerError);
    expect(packing.name).to.equal("AmountNotPackableError");
  });
});
