import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { concat, dataSlice, Signature, toBeHex, TypedDataEncoder, Wallet, ZeroAddress, ZeroHash } from "ethers";
import type { StepExecutorHarness } from "../../typechain-types";
import { bilayerDomain, compact, TRANSFER_TO_NEW_TYPES, TRANSFER_TYPES, WITHDRAW_TYPES } from "./helpers/encoding";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

const TRANSFER = { from: 7n, to: 9n, tokenId: 2n, amount: 10n ** 18n, fee: 10n ** 15n, nonce: 4n };
const WITHDRAW = { from: 7n, tokenId: 2n, amount: 10n ** 18n, fee: 10n ** 15n, nonce: 4n };
const TRANSFER_TO_NEW = { from: 7n, to: Wallet.createRandom().address, tokenId: 2n, amount: 1n, fee: 0n, nonce: 0n };

function transferDigest(h: StepExecutorHarness): Promise<string> {
  const t = TRANSFER;
  return h.transferDigest(t.from, t.to, t.tokenId, t.amount, t.fee, t.nonce);
}

function transferToNewDigest(h: StepExecutorHarness): Promise<string> {
  const t = TRANSFER_TO_NEW;
  return h.transferToNewDigest(t.from, t.to, t.tokenId, t.amount, t.fee, t.nonce);
}

function split(sig: string): [string, string] {
  return [dataSlice(sig, 0, 32), dataSlice(sig, 32, 64)];
}

describe("TxSignatures", function () {
  async function deploy() {
    const harness = await ethers.deployContract("StepExecutorHarness");
    const { chainId } = await ethers.provider.getNetwork();
    const domain = bilayerDomain(chainId, await harness.getAddress());
    const wallet = new Wallet("0x" + "11".repeat(32));
    return { harness, domain, wallet, chainId };
  }

  it("uses the bilayer domain and the §3.1 type strings", async function () {
    const { harness, domain } = await loadFixture(deploy);
    expect(await harness.domainSeparator()).to.equal(TypedDataEncoder.hashDomain(domain));
    expect(await transferDigest(harness)).to.equal(TypedDataEncoder.hash(domain, TRANSFER_TYPES, TRANSFER));
    expect(
      await harness.withdrawDigest(WITHDRAW.from, WITHDRAW.tokenId, WITHDRAW.amount, WITHDRAW.fee, WITHDRAW.nonce),
    ).to.equal(TypedDataEncoder.hash(domain, WITHDRAW_TYPES, WITHDRAW));
    expect(await transferToNewDigest(harness)).to.equal(
      TypedDataEncoder.hash(domain, TRANSFER_TO_NEW_TYPES, TRANSFER_TO_NEW),
    );
    const structHash = TypedDataEncoder.hashStruct("Transfer", TRANSFER_TYPES, TRANSFER);
    expect(await harness.typedDataDigest(TypedDataEncoder.hashDomain(domain), structHash)).to.equal(
      TypedDataEncoder.hash(domain, TRANSFER_TYPES, TRANSFER),
    );
  });

  it("accepts an ethers signTypedData signature in compact form, for each type", async function () {
    const { harness, domain, wallet } = await loadFixture(deploy);
    const cases = [
      [TRANSFER_TYPES, TRANSFER, await transferDigest(harness)],
      [
        WITHDRAW_TYPES,
        WITHDRAW,
        await harness.withdrawDigest(WITHDRAW.from, WITHDRAW.tokenId, WITHDRAW.amount, WITHDRAW.fee, WITHDRAW.nonce),
      ],
      [TRANSFER_TO_NEW_TYPES, TRANSFER_TO_NEW, await transferToNewDigest(harness)],
    ] as const;
    for (const [types, value, digest] of cases) {
      const [r, vs] = split(compact(await wallet.signTypedData(domain, types, value)));
      expect(await harness.recoverSigner(digest, r, vs)).to.equal(wallet.address);
      expect(await harness.isValidSignature(digest, r, vs, wallet.address)).to.equal(true);
      expect(await harness.isValidSignature(digest, r, vs, Wallet.createRandom().address)).to.equal(false);
    }
  });

  it("rejects the signature once any field, the chain id or the verifying contract changes", async function () {
    const { harness, domain, wallet, chainId } = await loadFixture(deploy);
    const digest = await transferDigest(harness);
    const valid = async (d: typeof domain, value: typeof TRANSFER): Promise<boolean> => {
      const [r, vs] = split(compact(await wallet.signTypedData(d, TRANSFER_TYPES, value)));
      return harness.isValidSignature(digest, r, vs, wallet.address);
    };
    expect(await valid(domain, TRANSFER)).to.equal(true);
    for (const key of Object.keys(TRANSFER) as (keyof typeof TRANSFER)[]) {
      expect(await valid(domain, { ...TRANSFER, [key]: TRANSFER[key] + 1n }), key).to.equal(false);
    }
    expect(await valid({ ...domain, chainId: chainId + 1n }, TRANSFER)).to.equal(false);
    expect(await valid({ ...domain, verifyingContract: Wallet.createRandom().address }, TRANSFER)).to.equal(false);
    expect(await valid({ ...domain, name: "bilayer2" }, TRANSFER)).to.equal(false);
    expect(await valid({ ...domain, version: "2" }, TRANSFER)).to.equal(false);
  });

  it("rejects high s, zero r, zero s and r at or above the curve order", async function () {
    const { harness, domain, wallet } = await loadFixture(deploy);
    const digest = await transferDigest(harness);
    const sig = Signature.from(await wallet.signTypedData(domain, TRANSFER_TYPES, TRANSFER));
    const parity = BigInt(sig.yParity);
    const vs = (s: bigint): string => toBeHex((parity << 255n) | s, 32);
    const rawEcrecover = async (r: string, s: bigint): Promise<string> =>
      ethers.provider.call({
        to: toBeHex(1, 20),
        data: concat([digest, toBeHex(27n + parity, 32), r, toBeHex(s, 32)]),
      });

    expect(await harness.recoverSigner(digest, sig.r, vs(BigInt(sig.s)))).to.equal(wallet.address);
    // In the compact form s < 2^255, so the high-s range is (n/2, 2^255): the precompile recovers an address
    // there, and the signature is still refused.
    for (const s of [HALF_N + 1n, (1n << 255n) - 1n]) {
      expect(await rawEcrecover(sig.r, s)).to.not.equal("0x");
      expect(await harness.recoverSigner(digest, sig.r, vs(s))).to.equal(ZeroAddress);
    }
    // s = n/2 is the largest s allowed: it recovers some key (not the wallet's).
    const atHalf = await harness.recoverSigner(digest, sig.r, vs(HALF_N));
    expect(atHalf).to.not.equal(ZeroAddress);
    expect(atHalf).to.not.equal(wallet.address);
    expect(await harness.recoverSigner(digest, ZeroHash, vs(BigInt(sig.s)))).to.equal(ZeroAddress);
    expect(await harness.recoverSigner(digest, sig.r, vs(0n))).to.equal(ZeroAddress);
    for (const r of [N, N + 1n, (1n << 256n) - 1n]) {
      expect(await harness.recoverSigner(digest, toBeHex(r, 32), vs(BigInt(sig.s)))).to.equal(ZeroAddress);
    }
    // Owner address(0) never matches, not even for an invalid signature.
    expect(await harness.isValidSignature(digest, ZeroHash, ZeroHash, ZeroAddress)).to.equal(false);
  });
});
