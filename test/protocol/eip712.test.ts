import { expect } from "chai";
import { Signature, TypedDataEncoder, Wallet } from "ethers";
import fc from "fast-check";
import secp256k1 from "secp256k1";
import {
  AmountNotPackableError,
  BilayerError,
  domainSeparator,
  eip712Domain,
  EIP712_TYPES,
  encodeType,
  fromHex,
  initHashing,
  PRIMARY_TYPE,
  publicKeyToAddress,
  recoverCompact,
  SECP256K1_HALF_N,
  SECP256K1_N,
  signTx,
  signTxWithKey,
  toCompactSignature,
  toHex,
  txDigest,
  TxType,
  typedMessage,
  type UnsignedTx,
} from "../../src/protocol";
import { compactSignature, craftSigner, NOT_ON_CURVE_X } from "../../src/protocol/testing";

const INBOX = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const CHAIN = 31337n;
const wallet = new Wallet("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const OWNER = wallet.address.toLowerCase();

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const u256 = fc.bigInt({ min: 0n, max: 2n ** 256n - 1n });
const unsignedArb: fc.Arbitrary<UnsignedTx> = fc.oneof(
  fc.record({ type: fc.constant(TxType.Transfer as const), from: u32, to: u32, amount: u256, fee: u256 }),
  fc.record({ type: fc.constant(TxType.Withdraw as const), from: u32, amount: u256, fee: u256 }),
  fc.record({
    type: fc.constant(TxType.TransferToNew as const),
    from: u32,
    to: fc.uint8Array({ minLength: 20, maxLength: 20 }).map(toHex),
    amount: u256,
    fee: u256,
  }),
);

function ethersDigest(chainId: bigint, inbox: string, tx: UnsignedTx, tokenId: number, nonce: number): string {
  const { types, message } = typedMessage(tx, tokenId, nonce);
  return TypedDataEncoder.hash(eip712Domain(chainId, inbox), types, message);
}

describe("protocol/eip712", () => {
  before(async () => {
    await initHashing();
  });

  it("declares exactly the types of PROTOCOL.md §3.1", () => {
    expect(encodeType("Transfer")).to.equal(
      "Transfer(uint32 from,uint32 to,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)",
    );
    expect(encodeType("Withdraw")).to.equal(
      "Withdraw(uint32 from,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)",
    );
    expect(encodeType("TransferToNew")).to.equal(
      "TransferToNew(uint32 from,address to,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)",
    );
    for (const name of Object.keys(EIP712_TYPES) as (keyof typeof EIP712_TYPES)[]) {
      expect(TypedDataEncoder.from({ [name]: EIP712_TYPES[name] }).encodeType(name)).to.equal(encodeType(name));
    }
    expect(PRIMARY_TYPE[TxType.TransferToNew]).to.equal("TransferToNew");
  });

  it("computes the domain separator as ethers does", () => {
    expect(domainSeparator(CHAIN, INBOX)).to.equal(TypedDataEncoder.hashDomain(eip712Domain(CHAIN, INBOX)));
    expect(domainSeparator(1n, INBOX.toLowerCase())).to.equal(TypedDataEncoder.hashDomain(eip712Domain(1n, INBOX)));
    expect(eip712Domain(CHAIN, INBOX.toLowerCase())).to.deep.equal({
      name: "bilayer",
      version: "1",
      chainId: CHAIN,
      verifyingContract: INBOX,
    });
  });

  it("computes the digest equal to ethers' TypedDataEncoder.hash (property)", () => {
    const separator = domainSeparator(CHAIN, INBOX);
    fc.assert(
      fc.property(unsignedArb, u32, u32, (tx, tokenId, nonce) => {
        expect(toHex(txDigest(separator, tx, tokenId, nonce))).to.equal(ethersDigest(CHAIN, INBOX, tx, tokenId, nonce));
      }),
      { numRuns: 200 },
    );
  });

  it("accepts an ethers Wallet.signTypedData signature through recoverCompact", async () => {
    const separator = domainSeparator(CHAIN, INBOX);
    for (const tx of [
      { type: TxType.Transfer as const, from: 1, to: 2, amount: 10n ** 18n, fee: 300n },
      { type: TxType.Withdraw as const, from: 4_000_000_000, amount: 5n, fee: 0n },
      { type: TxType.TransferToNew as const, from: 3, to: "0x" + "42".repeat(20), amount: 7n * 10n ** 30n, fee: 2047n },
    ]) {
      const { types, message } = typedMessage(tx, 9, 12);
      const sig65 = await wallet.signTypedData(eip712Domain(CHAIN, INBOX), types, message);
      const compact = toCompactSignature(sig65);
      expect(compact).to.equal(Signature.from(sig65).compactSerialized);
      expect(recoverCompact(txDigest(separator, tx, 9, 12), fromHex(compact))).to.equal(OWNER);
      expect(await signTx(wallet, CHAIN, INBOX, tx, 9, 12)).to.equal(compact);
      // libsecp256k1 and ethers both sign deterministically (RFC 6979, low s).
      expect(signTxWithKey(wallet.privateKey, separator, tx, 9, 12)).to.equal(compact);
    }
  });

  it("does not recover the owner once any field, the chain id or the inbox changes", async () => {
    const tx = { type: TxType.Transfer as const, from: 1, to: 2, amount: 1000n, fee: 10n };
    const sig = fromHex(await signTx(wallet, CHAIN, INBOX, tx, 5, 6));
    const separator = domainSeparator(CHAIN, INBOX);
    const variants: [string, Uint8Array][] = [
      ["from", txDigest(separator, { ...tx, from: 3 }, 5, 6)],
      ["to", txDigest(separator, { ...tx, to: 3 }, 5, 6)],
      ["amount", txDigest(separator, { ...tx, amount: 1001n }, 5, 6)],
      ["fee", txDigest(separator, { ...tx, fee: 11n }, 5, 6)],
      ["tokenId", txDigest(separator, tx, 6, 6)],
      ["nonce", txDigest(separator, tx, 5, 7)],
      ["type", txDigest(separator, { type: TxType.Withdraw, from: 1, amount: 1000n, fee: 10n }, 5, 6)],
      ["chain id", txDigest(domainSeparator(1n, INBOX), tx, 5, 6)],
      ["inbox", txDigest(domainSeparator(CHAIN, "0x" + "00".repeat(19) + "01"), tx, 5, 6)],
    ];
    expect(recoverCompact(txDigest(separator, tx, 5, 6), sig)).to.equal(OWNER);
    for (const [what, digest] of variants) expect(recoverCompact(digest, sig), what).to.not.equal(OWNER);
  });

  it("refuses to sign an amount or fee that cannot be packed", async () => {
    const tx = { type: TxType.Withdraw as const, from: 1, amount: 2n ** 35n, fee: 0n };
    expect(() => signTxWithKey(wallet.privateKey, domainSeparator(CHAIN, INBOX), tx, 0, 0)).to.throw(
      AmountNotPackableError,
    );
    let error: unknown;
    await signTx(wallet, CHAIN, INBOX, tx, 0, 0).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(AmountNotPackableError);
  });
});

describe("protocol/signature", () => {
  before(async () => {
    await initHashing();
  });

  const digest = fromHex("0x" + "5a".repeat(32));

  it("accepts s = n/2 and rejects s = n/2 + 1 even when ecrecover would find the owner", () => {
    const atHalf = craftSigner(digest, SECP256K1_HALF_N);
    expect(recoverCompact(digest, fromHex(atHalf.signature))).to.equal(atHalf.owner);
    const aboveHalf = craftSigner(digest, SECP256K1_HALF_N + 1n);
    expect(recoverCompact(digest, fromHex(aboveHalf.signature))).to.equal(null);
    // The raw curve recovery (no low-s rule, as the bare precompile) does find the owner.
    const raw = secp256k1.ecdsaRecover(fromHex(aboveHalf.signature), 0, digest, false);
    expect(publicKeyToAddress(raw)).to.equal(aboveHalf.owner);
  });

  it("rejects r = 0, r ≥ n, s = 0 and an r with no curve point", () => {
    const s = 12345n;
    for (const r of [0n, SECP256K1_N, SECP256K1_N + 1n, 2n ** 256n - 1n, NOT_ON_CURVE_X]) {
      expect(recoverCompact(digest, compactSignature(r, s, 0)), `r = ${r}`).to.equal(null);
    }
    expect(
      recoverCompact(
        digest,
        compactSignature(0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n, 0n, 0),
      ),
    ).to.equal(null);
    expect(recoverCompact(digest, new Uint8Array(63))).to.equal(null);
  });

  it("reads the recovery parity from the top bit of vs", () => {
    const key = fromHex(wallet.privateKey);
    const { signature, recid } = secp256k1.ecdsaSign(digest, key);
    const compact = signature.slice();
    compact[32] |= recid << 7;
    expect(recoverCompact(digest, compact)).to.equal(OWNER);
    compact[32] ^= 0x80;
    expect(recoverCompact(digest, compact)).to.not.equal(OWNER);
  });

  it("converts 65-byte signatures to the compact form", () => {
    const r = "11".repeat(32);
    const s = "22".repeat(32);
    expect(toCompactSignature(`0x${r}${s}1b`)).to.equal(`0x${r}${s}`);
    expect(toCompactSignature(`0x${r}${s}1c`)).to.equal(`0x${r}a2${"22".repeat(31)}`);
    expect(toCompactSignature(`0x${r}${s}01`)).to.equal(`0x${r}a2${"22".repeat(31)}`);
    expect(() => toCompactSignature(`0x${r}${s}1d`)).to.throw(BilayerError);
    expect(() => toCompactSignature(`0x${r}${"f2".repeat(32)}1b`)).to.throw(BilayerError);
    expect(() => toCompactSignature(`0x${r}${s}`)).to.throw(BilayerError);
  });
});
