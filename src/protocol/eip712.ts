import { getAddress, type Signer, type TypedDataDomain, type TypedDataField } from "ethers";
import secp256k1 from "secp256k1";
import { MAX_UINT256, MAX_UINT32, TxType, unreachableTxType } from "./constants";
import { REGISTER_KEY_KEY_BYTES, type L2Tx, type UnsignedTx } from "./codec";
import { BilayerError } from "./errors";
import {
  fromHex,
  keccak256,
  keccakUtf8,
  normalizeAddress,
  toHex,
  writeAddressWord,
  writeUint256,
  writeUint32Word,
} from "./hash";
import { packAmount, packFee } from "./packing";
import { toCompactSignature } from "./signature";

/*
 * EIP-712 signing of L2 transactions (PROTOCOL.md §3.1). `txDigest` is the
 * fast path: the struct hash is built from a precomputed type hash and
 * hand-written 32-byte words, then hashed with our keccak. It is tested
 * equal to ethers' `TypedDataEncoder.hash`, which `signTx` uses.
 */

/** Domain name. */
export const EIP712_NAME = "bilayer";
/** Domain version. */
export const EIP712_VERSION = "1";

/** The EIP-712 types of the transactions, in ethers' format. */
export const EIP712_TYPES: Readonly<
  Record<"Transfer" | "Withdraw" | "TransferToNew" | "RegisterKey", TypedDataField[]>
> = {
  Transfer: [
    { name: "from", type: "uint32" },
    { name: "to", type: "uint32" },
    { name: "tokenId", type: "uint32" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint32" },
  ],
  Withdraw: [
    { name: "from", type: "uint32" },
    { name: "tokenId", type: "uint32" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint32" },
  ],
  TransferToNew: [
    { name: "from", type: "uint32" },
    { name: "to", type: "address" },
    { name: "tokenId", type: "uint32" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint32" },
  ],
  RegisterKey: [
    { name: "from", type: "uint32" },
    { name: "tokenId", type: "uint32" },
    { name: "blsKey", type: "bytes" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint32" },
  ],
};

/** The EIP-712 primary type name of each transaction type. */
export const PRIMARY_TYPE: Readonly<Record<TxType, keyof typeof EIP712_TYPES>> = {
  [TxType.Transfer]: "Transfer",
  [TxType.Withdraw]: "Withdraw",
  [TxType.TransferToNew]: "TransferToNew",
  [TxType.RegisterKey]: "RegisterKey",
};

/** `Name(type1 name1,...)`, as EIP-712 `encodeType` (no referenced types here). */
export function encodeType(primaryType: keyof typeof EIP712_TYPES): string {
  return `${primaryType}(${EIP712_TYPES[primaryType].map((f) => `${f.type} ${f.name}`).join(",")})`;
}

/** `keccak(encodeType(...))` of each transaction type. */
export const TYPE_HASHES: Readonly<Record<TxType, Uint8Array>> = {
  [TxType.Transfer]: keccakUtf8(encodeType("Transfer")),
  [TxType.Withdraw]: keccakUtf8(encodeType("Withdraw")),
  [TxType.TransferToNew]: keccakUtf8(encodeType("TransferToNew")),
  [TxType.RegisterKey]: keccakUtf8(encodeType("RegisterKey")),
};

/**
 * The message a BLS transfer's sender signs with its BLS key (PROTOCOL.md
 * §3.2): an EIP-712 digest in the rollup's domain, so it binds the chain, the
 * inbox, the sender and its nonce. Not a wallet signature: there is no
 * ethers type for it.
 */
export const BLS_TRANSFER_TYPE =
  "BlsTransfer(uint32 from,uint32 to,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)";
const BLS_TRANSFER_TYPE_HASH = keccakUtf8(BLS_TRANSFER_TYPE);

const DOMAIN_TYPE_HASH = keccakUtf8(
  "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
);

/** The EIP-712 domain of the `RollupInbox` at `inbox` on chain `chainId`, for ethers. */
export function eip712Domain(chainId: bigint, inbox: string): TypedDataDomain {
  return { name: EIP712_NAME, version: EIP712_VERSION, chainId, verifyingContract: getAddress(inbox) };
}

/** The domain separator (`0x` hex) of the `RollupInbox` at `inbox` on chain `chainId`. */
export function domainSeparator(chainId: bigint, inbox: string): string {
  if (typeof chainId !== "bigint" || chainId < 0n || chainId > MAX_UINT256) {
    throw new BilayerError("INVALID_DOMAIN", `chain id ${String(chainId)} is not a u256`, {
      context: { chainId: String(chainId) },
    });
  }
  const bytes = new Uint8Array(160);
  const view = new DataView(bytes.buffer);
  bytes.set(DOMAIN_TYPE_HASH, 0);
  bytes.set(keccakUtf8(EIP712_NAME), 32);
  bytes.set(keccakUtf8(EIP712_VERSION), 64);
  writeUint256(view, 96, chainId);
  writeAddressWord(bytes, 128, normalizeAddress(inbox));
  return toHex(keccak256(bytes));
}

/** What ethers' `signer.signTypedData(domain, types, message)` needs for one transaction. */
export interface TypedMessage {
  primaryType: keyof typeof EIP712_TYPES;
  types: Record<string, TypedDataField[]>;
  message: Record<string, number | bigint | string>;
}

/** The typed-data message of `tx` signed over the sender's `tokenId` and current `nonce`. */
export function typedMessage(tx: UnsignedTx | L2Tx, tokenId: number, nonce: number): TypedMessage {
  const primaryType = PRIMARY_TYPE[tx.type];
  if (primaryType === undefined) {
    throw new BilayerError("INVALID_TX", `unknown transaction type ${String(tx.type)}`, { context: { type: tx.type } });
  }
  const message: Record<string, number | bigint | string> = { from: tx.from };
  if (tx.type === TxType.RegisterKey) {
    Object.assign(message, { tokenId, blsKey: tx.blsKey, fee: tx.fee, nonce });
    return { primaryType, types: { [primaryType]: EIP712_TYPES[primaryType] }, message };
  }
  if (tx.type === TxType.Transfer) message.to = tx.to;
  if (tx.type === TxType.TransferToNew) message.to = getAddress(tx.to);
  message.tokenId = tokenId;
  message.amount = tx.amount;
  message.fee = tx.fee;
  message.nonce = nonce;
  return { primaryType, types: { [primaryType]: EIP712_TYPES[primaryType] }, message };
}

// Hot path ------------------------------------------------------------------

const structScratch: Record<TxType, { bytes: Uint8Array; view: DataView }> = {
  [TxType.Transfer]: scratchFor(TxType.Transfer, 7),
  [TxType.Withdraw]: scratchFor(TxType.Withdraw, 6),
  [TxType.TransferToNew]: scratchFor(TxType.TransferToNew, 7),
  [TxType.RegisterKey]: scratchFor(TxType.RegisterKey, 6),
};
const blsTransferScratch = (() => {
  const bytes = new Uint8Array(32 * 7);
  bytes.set(BLS_TRANSFER_TYPE_HASH, 0);
  return { bytes, view: new DataView(bytes.buffer) };
})();

function scratchFor(type: TxType, words: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(32 * words);
  bytes.set(TYPE_HASHES[type], 0);
  return { bytes, view: new DataView(bytes.buffer) };
}

const digestScratch = new Uint8Array(66);
digestScratch[0] = 0x19;
digestScratch[1] = 0x01;

/**
 * @internal The digest from raw fields. `to` is the recipient index of a
 * Transfer; `toAddress` the 20 recipient bytes of a TransferToNew, or the
 * 32-byte keccak of the key of a RegisterKey (which has no amount).
 */
export function digestFields(
  domainSep: Uint8Array,
  type: TxType,
  from: number,
  to: number,
  toAddress: Uint8Array | null,
  tokenId: number,
  amount: bigint,
  fee: bigint,
  nonce: number,
): Uint8Array {
  const { bytes, view } = structScratch[type];
  writeUint32Word(bytes, view, 32, from);
  let offset: number;
  switch (type) {
    case TxType.Transfer:
      writeUint32Word(bytes, view, 64, to);
      offset = 96;
      break;
    case TxType.Withdraw:
      offset = 64;
      break;
    case TxType.TransferToNew:
      bytes.fill(0, 64, 76);
      bytes.set(toAddress as Uint8Array, 76);
      offset = 96;
      break;
    case TxType.RegisterKey:
      writeUint32Word(bytes, view, 64, tokenId);
      bytes.set(toAddress as Uint8Array, 96);
      writeUint256(view, 128, fee);
      writeUint32Word(bytes, view, 160, nonce);
      return finishDigest(domainSep, bytes);
    default:
      return unreachableTxType(type);
  }
  writeUint32Word(bytes, view, offset, tokenId);
  writeUint256(view, offset + 32, amount);
  writeUint256(view, offset + 64, fee);
  writeUint32Word(bytes, view, offset + 96, nonce);
  return finishDigest(domainSep, bytes);
}

function finishDigest(domainSep: Uint8Array, struct: Uint8Array): Uint8Array {
  digestScratch.set(domainSep, 2);
  digestScratch.set(keccak256(struct), 34);
  return keccak256(digestScratch);
}

/** @internal The message of a BLS transfer (§3.2) from raw fields: its 32-byte EIP-712 digest. */
export function blsTransferDigestFields(
  domainSep: Uint8Array,
  from: number,
  to: number,
  tokenId: number,
  amount: bigint,
  fee: bigint,
  nonce: number,
): Uint8Array {
  const { bytes, view } = blsTransferScratch;
  writeUint32Word(bytes, view, 32, from);
  writeUint32Word(bytes, view, 64, to);
  writeUint32Word(bytes, view, 96, tokenId);
  writeUint256(view, 128, amount);
  writeUint256(view, 160, fee);
  writeUint32Word(bytes, view, 192, nonce);
  return finishDigest(domainSep, bytes);
}

/** The message a BLS transfer's sender signs (§3.2), given its account's `tokenId` and current `nonce`. */
export function blsTransferDigest(
  domainSep: string | Uint8Array,
  transfer: { from: number; to: number; amount: bigint; fee: bigint },
  tokenId: number,
  nonce: number,
): Uint8Array {
  const separator = domainBytes(domainSep);
  checkU32(transfer.from, "from");
  checkU32(transfer.to, "to");
  checkU32(tokenId, "tokenId");
  checkU32(nonce, "nonce");
  checkU256(transfer.amount, "amount");
  checkU256(transfer.fee, "fee");
  return blsTransferDigestFields(separator, transfer.from, transfer.to, tokenId, transfer.amount, transfer.fee, nonce);
}

function checkU32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) {
    throw new BilayerError("INVALID_TX", `${name} ${value} is not a u32`, { context: { [name]: value } });
  }
}

function checkU256(value: bigint, name: string): void {
  if (typeof value !== "bigint" || value < 0n || value > MAX_UINT256) {
    throw new BilayerError("INVALID_TX", `${name} ${String(value)} is not a u256`, {
      context: { [name]: String(value) },
    });
  }
}

function domainBytes(domainSep: string | Uint8Array): Uint8Array {
  if (typeof domainSep !== "string") {
    if (domainSep.length !== 32) {
      throw new BilayerError("INVALID_DOMAIN", "a domain separator is 32 bytes", { context: {} });
    }
    return domainSep;
  }
  return fromHex(domainSep, 32);
}

/** The EIP-712 digest the sender signs for `tx`, given its account's `tokenId` and current `nonce`. */
export function txDigest(
  domainSep: string | Uint8Array,
  tx: UnsignedTx | L2Tx,
  tokenId: number,
  nonce: number,
): Uint8Array {
  const separator = domainBytes(domainSep);
  checkU32(tx.from, "from");
  checkU32(tokenId, "tokenId");
  checkU32(nonce, "nonce");
  if (tx.type !== TxType.RegisterKey) checkU256(tx.amount, "amount");
  checkU256(tx.fee, "fee");
  switch (tx.type) {
    case TxType.RegisterKey:
      return digestFields(
        separator,
        tx.type,
        tx.from,
        0,
        keccak256(fromHex(tx.blsKey, REGISTER_KEY_KEY_BYTES)),
        tokenId,
        0n,
        tx.fee,
        nonce,
      );
    case TxType.Transfer:
      checkU32(tx.to, "to");
      return digestFields(separator, tx.type, tx.from, tx.to, null, tokenId, tx.amount, tx.fee, nonce);
    case TxType.Withdraw:
      return digestFields(separator, tx.type, tx.from, 0, null, tokenId, tx.amount, tx.fee, nonce);
    case TxType.TransferToNew:
      return digestFields(
        separator,
        tx.type,
        tx.from,
        0,
        fromHex(normalizeAddress(tx.to), 20),
        tokenId,
        tx.amount,
        tx.fee,
        nonce,
      );
    default:
      throw new BilayerError("INVALID_TX", `unknown transaction type ${String((tx as { type: unknown }).type)}`, {
        context: { type: (tx as { type: unknown }).type },
      });
  }
}

/** Refuses amounts and fees that could never appear in a transaction (`AmountNotPackableError`). */
function checkPackable(tx: UnsignedTx | L2Tx): void {
  if (tx.type !== TxType.RegisterKey) packAmount(tx.amount);
  packFee(tx.fee);
}

/**
 * Signs `unsignedTx` with an ethers signer (wallet, hardware, JSON-RPC) and
 * returns the 64-byte compact signature as `0x` hex.
 */
export async function signTx(
  signer: Signer,
  chainId: bigint,
  inbox: string,
  unsignedTx: UnsignedTx,
  tokenId: number,
  nonce: number,
): Promise<string> {
  checkPackable(unsignedTx);
  const { types, message } = typedMessage(unsignedTx, tokenId, nonce);
  const signature = await signer.signTypedData(eip712Domain(chainId, inbox), types, message);
  return toCompactSignature(signature);
}

/**
 * Signs synchronously with a raw private key through native libsecp256k1
 * (RFC 6979, low s): for benchmarks, load generators and test vectors.
 */
export function signTxWithKey(
  privateKey: Uint8Array | string,
  domainSep: string | Uint8Array,
  unsignedTx: UnsignedTx,
  tokenId: number,
  nonce: number,
): string {
  checkPackable(unsignedTx);
  const key = typeof privateKey === "string" ? fromHex(privateKey, 32) : privateKey;
  const { signature, recid } = secp256k1.ecdsaSign(txDigest(domainSep, unsignedTx, tokenId, nonce), key);
  if (recid > 1) {
    // Needs an R with x ≥ n (probability ~2^-127); EIP-2098 and ecrecover cannot express it.
    throw new BilayerError("UNSIGNABLE", "signature needs recovery id > 1", { context: { recid } });
  }
  signature[32] |= recid << 7;
  return toHex(signature);
}
