import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { concat, dataLength, dataSlice, hexlify, randomBytes, Wallet, ZeroAddress, ZeroHash } from "ethers";
import { encodeTx, type RawTx, unpack } from "./helpers/encoding";

const TRUNCATED = 2;
const UNKNOWN_TYPE = 1;
const OK = 0;

function sig(): string {
  return hexlify(randomBytes(64));
}

const U32_MAX = (1n << 32n) - 1n;

const SAMPLES: RawTx[] = [
  { type: "transfer", from: 1n, to: 2n, amount: (123n << 5n) | 18n, fee: (5n << 5n) | 14n, sig: sig() },
  { type: "transfer", from: U32_MAX, to: U32_MAX, amount: (1n << 40n) - 1n, fee: (1n << 16n) - 1n, sig: sig() },
  { type: "withdraw", from: 77n, amount: 1n << 5n, fee: 0n, sig: sig() },
  { type: "transferToNew", from: 3n, to: Wallet.createRandom().address, amount: 31n, fee: 1n << 5n, sig: sig() },
  { type: "transferToNew", from: 0n, to: ZeroAddress, amount: 0n, fee: 0n, sig: "0x" + "00".repeat(64) },
];

describe("TxCodec", function () {
  async function deploy() {
    return { codec: await ethers.deployContract("TxCodecHarness") };
  }

  it("knows the size of each type", async function () {
    const { codec } = await loadFixture(deploy);
    expect(await codec.txSize(1)).to.equal(80n);
    expect(await codec.txSize(2)).to.equal(76n);
    expect(await codec.txSize(3)).to.equal(96n);
    expect(await codec.txSize(4)).to.equal(167n);
    for (const t of [0, 5, 0x10, 0x81, 255]) expect(await codec.txSize(t)).to.equal(0n);
  });

  it("decodes every type back to back at its offset, with unpacked amounts", async function () {
    const { codec } = await loadFixture(deploy);
    const encoded = SAMPLES.map(encodeTx);
    expect(encoded.map(dataLength)).to.deep.equal([80, 80, 76, 96, 96]);
    const chunk = concat(encoded);
    let offset = 0n;
    for (const t of SAMPLES) {
      const [status, d, next] = await codec.decode(chunk, offset);
      expect(status).to.equal(OK);
      expect(d.txType).to.equal({ transfer: 1n, withdraw: 2n, transferToNew: 3n }[t.type]);
      expect(d.from).to.equal(t.from);
      expect(d.to).to.equal(t.type === "transfer" ? t.to : 0n);
      expect(d.toAddress).to.equal(t.type === "transferToNew" ? ethers.getAddress(t.to) : ZeroAddress);
      expect(d.amount).to.equal(unpack(t.amount));
      expect(d.fee).to.equal(unpack(t.fee));
      expect(d.r).to.equal(dataSlice(t.sig, 0, 32));
      expect(d.vs).to.equal(dataSlice(t.sig, 32, 64));
      offset += BigInt(dataLength(encodeTx(t)));
      expect(next).to.equal(offset);
    }
  });

  it("reports Truncated when fewer bytes than the type's size are left", async function () {
    const { codec } = await loadFixture(deploy);
    for (const t of SAMPLES.slice(1, 4)) {
      const encoded = encodeTx(t);
      const prefix = hexlify(randomBytes(5));
      for (const cut of [1, dataLength(encoded) - 1]) {
        const chunk = concat([prefix, dataSlice(encoded, 0, cut)]);
        const [status, d, next] = await codec.decode(chunk, 5);
        expect(status).to.equal(TRUNCATED);
        expect(next).to.equal(5n);
        expect(d.from).to.equal(0n);
        expect(d.r).to.equal(ZeroHash);
      }
      // One byte more is a whole transaction.
      expect((await codec.decode(concat([prefix, encoded]), 5))[0]).to.equal(OK);
    }
  });

  it("reports UnknownType for any other type byte, however long the rest", async function () {
    const { codec } = await loadFixture(deploy);
    for (const type of ["0x00", "0x05", "0x10", "0x80", "0xff"]) {
      for (const rest of [0, 200]) {
        const [status, , next] = await codec.decode(concat([type, hexlify(randomBytes(rest))]), 0);
        expect(status).to.equal(UNKNOWN_TYPE);
        expect(next).to.equal(0n);
      }
    }
  });

  it("rejects an offset at or past the end", async function () {
    const { codec } = await loadFixture(deploy);
    const chunk = encodeTx(SAMPLES[2]);
    await expect(codec.decode(chunk, 76))
      .to.be.revertedWithCustomError(codec, "TxCodecOffsetOutOfRange")
      .withArgs(76, 76);
    await expect(codec.decode("0x", 0)).to.be.revertedWithCustomError(codec, "TxCodecOffsetOutOfRange").withArgs(0, 0);
  });
});
