import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { createHash, randomBytes } from "node:crypto";
import { ethers } from "hardhat";
import { Wallet } from "ethers";
import type { BLSHarness } from "../../typechain-types";
import {
  BLS_DST,
  BLS_P,
  blsAggregate,
  blsHashToG2,
  blsKeyFromSeed,
  blsSign,
  blsVerifyAggregate,
  blsVerifyEach,
  deriveBlsKey,
  g1ToEip2537,
  g2ToEip2537,
  isBlsPublicKey,
  type BlsKeyPair,
} from "../../src/protocol/bls";
import { fromHex, toHex } from "../../src/protocol/hash";

const sha256 = (data: Uint8Array): Uint8Array => createHash("sha256").update(data).digest();

/** RFC 9380 §5.3.1 expand_message_xmd with SHA-256, written from the RFC: the on-chain expander's reference. */
function expandMessageXmd(msg: Uint8Array, dst: Uint8Array, lenInBytes: number): Uint8Array {
  const ell = Math.ceil(lenInBytes / 32);
  const dstPrime = new Uint8Array([...dst, dst.length]);
  const msgPrime = new Uint8Array([...new Uint8Array(64), ...msg, lenInBytes >> 8, lenInBytes & 0xff, 0, ...dstPrime]);
  const b0 = sha256(msgPrime);
  const out: number[] = [];
  let prev = sha256(new Uint8Array([...b0, 1, ...dstPrime]));
  out.push(...prev);
  for (let i = 2; i <= ell; i++) {
    const x = b0.map((v, k) => v ^ prev[k]);
    prev = sha256(new Uint8Array([...x, i, ...dstPrime]));
    out.push(...prev);
  }
  return new Uint8Array(out.slice(0, lenInBytes));
}

const hex = (b: Uint8Array) => toHex(b);
const keysOf = (pairs: BlsKeyPair[]) => hex(new Uint8Array(pairs.flatMap((k) => [...g1ToEip2537(k.publicKey)])));

/** A point on the G1 curve (y² = x³ + 4) that is outside the prime-order subgroup, in the EIP-2537 layout. */
function g1PointOutsideSubgroup(): Uint8Array {
  const pow = (b: bigint, e: bigint): bigint => {
    let r = 1n;
    b %= BLS_P;
    for (; e > 0n; e >>= 1n, b = (b * b) % BLS_P) if (e & 1n) r = (r * b) % BLS_P;
    return r;
  };
  for (let x = 1n; ; x++) {
    const z = (x * x * x + 4n) % BLS_P;
    const y = pow(z, (BLS_P + 1n) / 4n);
    if ((y * y) % BLS_P !== z) continue;
    const out = new Uint8Array(128);
    out.set(fromHex("0x" + x.toString(16).padStart(96, "0")), 16);
    out.set(fromHex("0x" + y.toString(16).padStart(96, "0")), 80);
    return out; // the subgroup has index ~2^126 in the curve: the first point found is outside it
  }
}

describe("BLS (EIP-2537) and its TypeScript twin", function () {
  const keys = Array.from({ length: 32 }, (_, i) => blsKeyFromSeed(sha256(new TextEncoder().encode(`bls key ${i}`))));
  const messages = keys.map((_, i) => sha256(new TextEncoder().encode(`message ${i}`)));
  const signatures = keys.map((k, i) => blsSign(k, messages[i]));
  const aggregate = blsAggregate(signatures);

  async function deploy(): Promise<BLSHarness> {
    return (await ethers.getContractFactory("BLSHarness")).deploy();
  }

  it("expands a message as RFC 9380 expand_message_xmd (SHA-256) does", async function () {
    const h = await loadFixture(deploy);
    for (const m of [new Uint8Array(32), messages[0], randomBytes(32)]) {
      const expected = expandMessageXmd(m, new TextEncoder().encode(BLS_DST), 256);
      expect(await h.expandMessage(m)).to.equal(hex(expected));
    }
  });

  it("hashes to G2 byte for byte as blst does", async function () {
    const h = await loadFixture(deploy);
    for (const m of [new Uint8Array(32), messages[1], randomBytes(32), new Uint8Array(32).fill(0xff)]) {
      expect(await h.hashToG2(m)).to.equal(hex(blsHashToG2(m)));
    }
  });

  it("compresses G1 and G2 points as blst does, infinity included", async function () {
    const h = await loadFixture(deploy);
    for (const k of keys.slice(0, 8)) expect(await h.compressG1(g1ToEip2537(k.publicKey))).to.equal(hex(k.publicKey));
    for (const s of signatures.slice(0, 8)) expect(await h.compressG2(g2ToEip2537(s))).to.equal(hex(s));
    expect(await h.compressG1(new Uint8Array(128))).to.equal("0xc0" + "00".repeat(47));
    expect(await h.compressG2(new Uint8Array(256))).to.equal("0xc0" + "00".repeat(95));
    expect(await h.compressG1(new Uint8Array(127))).to.equal("0x");
  });

  // Each case: what the chain and the TypeScript twin must both answer.
  const cases: { name: string; keys: BlsKeyPair[]; messages: Uint8Array[]; signature: Uint8Array; valid: boolean }[] = [
    { name: "32 distinct messages by 32 keys", keys, messages, signature: aggregate, valid: true },
    {
      name: "a single signature",
      keys: keys.slice(0, 1),
      messages: messages.slice(0, 1),
      signature: signatures[0],
      valid: true,
    },
    {
      name: "one signature of another message",
      keys,
      messages,
      signature: blsAggregate([...signatures.slice(0, 31), blsSign(keys[31], messages[0])]),
      valid: false,
    },
    {
      name: "two keys swapped",
      keys: [keys[1], keys[0], ...keys.slice(2)],
      messages,
      signature: aggregate,
      valid: false,
    },
    { name: "one signature left out", keys, messages, signature: blsAggregate(signatures.slice(1)), valid: false },
    {
      name: "one message changed",
      keys,
      messages: [randomBytes(32), ...messages.slice(1)],
      signature: aggregate,
      valid: false,
    },
  ];
  for (const c of cases) {
    it(`verifies an aggregate: ${c.name} → ${c.valid ? "valid" : "invalid"}, on chain and off`, async function () {
      const h = await loadFixture(deploy);
      expect(
        blsVerifyAggregate(
          c.messages,
          c.keys.map((k) => k.publicKey),
          c.signature,
        ),
      ).to.equal(c.valid);
      const [ok, gas] = await h.verifyAggregateGas(keysOf(c.keys), c.messages, g2ToEip2537(c.signature));
      expect(ok).to.equal(c.valid);
      if (c.keys.length === 32) expect(gas).to.be.lessThan(3_300_000n); // ~3.1M: 32 hashes to G2 and 33 pairs
    });
  }

  it("answers false, within a bounded gas, for points the precompiles refuse", async function () {
    const h = await loadFixture(deploy);
    const sig = g2ToEip2537(aggregate);
    const offCurve = sig.slice();
    offCurve[255] ^= 1; // y.c1 changed: off the curve
    expect(await h.isOnCurveG2(sig)).to.equal(true);
    expect(await h.isOnCurveG2(offCurve)).to.equal(false);
    const [ok, gas] = await h.verifyAggregateGas(keysOf(keys.slice(0, 4)), messages.slice(0, 4), offCurve, {
      gasLimit: 2_000_000,
    });
    expect(ok).to.equal(false);
    expect(gas).to.be.lessThan(600_000n);
    const tooLong = new Uint8Array([...p(0), 0]);
    expect(await h.verifyAggregate(keysOf(keys.slice(0, 1)), messages.slice(0, 1), tooLong)).to.equal(false);
    expect(await h.verifyAggregate("0x", [], sig)).to.equal(false);
    function p(i: number) {
      return g2ToEip2537(signatures[i]);
    }
  });

  it("checks a key is on the curve and in its subgroup", async function () {
    const h = await loadFixture(deploy);
    const key = g1ToEip2537(keys[0].publicKey);
    expect(await h.isOnCurveG1(key)).to.equal(true);
    expect(await h.isInSubgroupG1(key)).to.equal(true);
    const offCurve = key.slice();
    offCurve[127] ^= 1;
    expect(await h.isOnCurveG1(offCurve)).to.equal(false);
    const outside = g1PointOutsideSubgroup();
    expect(await h.isOnCurveG1(outside)).to.equal(true);
    expect(await h.isInSubgroupG1(outside)).to.equal(false);
    expect(isBlsPublicKey(fromHex(await h.compressG1(outside)))).to.equal(false);
    expect(isBlsPublicKey(keys[0].publicKey)).to.equal(true);
  });

  it("batch-verifies single signatures off chain, and fails the batch for one bad signature", function () {
    const pks = keys.map((k) => k.publicKey);
    expect(blsVerifyEach(messages, pks, signatures)).to.equal(true);
    const bad = [...signatures];
    bad[17] = signatures[16];
    expect(blsVerifyEach(messages, pks, bad)).to.equal(false);
    expect(blsVerifyEach(messages.slice(0, 16), pks.slice(0, 16), bad.slice(0, 16))).to.equal(true);
  });

  it("derives a wallet's BLS key again from the wallet alone, one key per wallet and rollup", async function () {
    const domain = { name: "bilayer", version: "1", chainId: 31337, verifyingContract: Wallet.createRandom().address };
    const wallet = Wallet.createRandom();
    const first = await deriveBlsKey(wallet, domain);
    const again = await deriveBlsKey(new Wallet(wallet.privateKey), domain);
    expect(hex(again.publicKey)).to.equal(hex(first.publicKey));
    expect(isBlsPublicKey(first.publicKey)).to.equal(true);
    const otherChain = await deriveBlsKey(wallet, { ...domain, chainId: 1 });
    const otherInbox = await deriveBlsKey(wallet, { ...domain, verifyingContract: Wallet.createRandom().address });
    const otherWallet = await deriveBlsKey(Wallet.createRandom(), domain);
    const seen = new Set([first, otherChain, otherInbox, otherWallet].map((k) => hex(k.publicKey)));
    expect(seen.size).to.equal(4);
    const m = messages[3];
    expect(blsVerifyAggregate([m], [again.publicKey], blsSign(first, m))).to.equal(true);
  });
});
