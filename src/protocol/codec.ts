import { MAX_TXS_PER_CHUNK, MAX_UINT32, Outcome, TX_SIZE, TxType, unreachableTxType } from "./constants";
import { BilayerError } from "./errors";
import { fromHex, keccak256, normalizeAddress, toHex } from "./hash";
import { packAmount, packFee, readPackedAmount, readPackedFee } from "./packing";

/*
 * The packed transaction format (PROTOCOL.md §3): a type byte, big-endian
 * fields, packed amount (5 bytes) and fee (2 bytes), and a 64-byte EIP-2098
 * compact signature. Amounts and fees in the objects are the decoded values.
 */

/** Moves `amount` from account `from` to the existing account `to`. */
export interface Transfer {
  type: TxType.Transfer;
  from: number;
  to: number;
  amount: bigint;
  fee: bigint;
  /** 64-byte compact signature as `0x` hex. */
  signature: string;
}

/** Moves `amount` from account `from` to its owner's L1 address, through the withdrawal tree. */
export interface Withdraw {
  type: TxType.Withdraw;
  from: number;
  amount: bigint;
  fee: bigint;
  signature: string;
}

/** Moves `amount` from account `from` to a new account owned by the address `to`. */
export interface TransferToNew {
  type: TxType.TransferToNew;
  from: number;
  /** The new account's owner, a `0x` address. */
  to: string;
  amount: bigint;
  fee: bigint;
  signature: string;
}

/**
 * Binds a BLS public key to account `from` (PROTOCOL.md §3.2), so it can send
 * BLS transfers; a later one replaces it. Signed by the account's owner
 * (ECDSA), like every transaction here.
 */
export interface RegisterKey {
  type: TxType.RegisterKey;
  from: number;
  fee: bigint;
  /** The key, uncompressed: x ‖ y, 48 bytes each, big-endian (96 bytes, `0x` hex). */
  blsKey: string;
  signature: string;
}

/** Any L2 transaction. */
export type L2Tx = Transfer | Withdraw | TransferToNew | RegisterKey;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A transaction before it is signed. */
export type UnsignedTx = DistributiveOmit<L2Tx, "signature">;

/** The result of decoding one transaction. */
export type DecodeResult =
  | { ok: true; tx: L2Tx; size: number }
  | { ok: false; reason: Outcome.UnknownType | Outcome.Truncated; message: string };

/** Size of the transaction whose type byte is `typeByte`, or 0 for an unknown type. */
export function txSizeOf(typeByte: number): number {
  return typeByte >= TxType.Transfer && typeByte <= TxType.RegisterKey ? TX_SIZE[typeByte as TxType] : 0;
}

function checkU32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) {
    throw new BilayerError("INVALID_TX", `${name} ${value} is not a u32`, { context: { [name]: value } });
  }
}

function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

/** Reads a big-endian u32 at `offset`. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
}

function writeFee(out: Uint8Array, offset: number, fee: bigint): void {
  const packedFee = packFee(fee);
  out[offset] = Number(packedFee >> 8n);
  out[offset + 1] = Number(packedFee & 0xffn);
}

function writeAmountAndFee(out: Uint8Array, offset: number, amount: bigint, fee: bigint): void {
  const packedAmount = packAmount(amount);
  for (let i = 0; i < 5; i++) out[offset + i] = Number((packedAmount >> BigInt(8 * (4 - i))) & 0xffn);
  writeFee(out, offset + 5, fee);
}

/** Size of a RegisterKey's key field: x ‖ y of a G1 point, uncompressed. */
export const REGISTER_KEY_KEY_BYTES = 96;

/**
 * The packed bytes of `tx`. Throws `AmountNotPackableError` for an amount or
 * fee the format cannot represent exactly and `BilayerError` for malformed
 * fields. (Indices are not checked against any state: that is the STF's job.)
 */
export function encodeTx(tx: L2Tx): Uint8Array {
  checkU32(tx.from, "from");
  const signature = fromHex(tx.signature, 64);
  const out = new Uint8Array(TX_SIZE[tx.type] ?? 0);
  out[0] = tx.type;
  writeU32(out, 1, tx.from);
  let offset = 5;
  switch (tx.type) {
    case TxType.Transfer:
      checkU32(tx.to, "to");
      writeU32(out, 5, tx.to);
      offset = 9;
      break;
    case TxType.Withdraw:
      break;
    case TxType.TransferToNew:
      out.set(fromHex(normalizeAddress(tx.to), 20), 5);
      offset = 25;
      break;
    case TxType.RegisterKey:
      // No amount: from ‖ fee ‖ key ‖ signature.
      writeFee(out, 5, tx.fee);
      out.set(fromHex(tx.blsKey, REGISTER_KEY_KEY_BYTES), 7);
      out.set(signature, 7 + REGISTER_KEY_KEY_BYTES);
      return out;
    default:
      // tsc names this line when a type joins TxType without a case here.
      checkNever(tx, `unknown transaction type ${String((tx as { type: unknown }).type)}`);
  }
  writeAmountAndFee(out, offset, tx.amount, tx.fee);
  out.set(signature, offset + 7);
  return out;
}

/** Concatenation of the encodings of up to 32 transactions. */
export function encodeChunk(txs: readonly L2Tx[]): Uint8Array {
  if (txs.length > MAX_TXS_PER_CHUNK) {
    throw new BilayerError("CHUNK_TOO_LARGE", `a chunk holds at most ${MAX_TXS_PER_CHUNK} transactions`, {
      context: { count: txs.length },
    });
  }
  const parts = txs.map(encodeTx);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Decodes the transaction starting at `offset` (never throws on any bytes). */
export function decodeTx(bytes: Uint8Array, offset = 0): DecodeResult {
  if (offset >= bytes.length) {
    return { ok: false, reason: Outcome.Truncated, message: `no transaction at offset ${offset}` };
  }
  const type = bytes[offset];
  const size = txSizeOf(type);
  if (size === 0) {
    return { ok: false, reason: Outcome.UnknownType, message: `unknown type byte 0x${type.toString(16)}` };
  }
  if (bytes.length - offset < size) {
    return {
      ok: false,
      reason: Outcome.Truncated,
      message: `type ${type} needs ${size} bytes, ${bytes.length - offset} left`,
    };
  }
  const from = readU32(bytes, offset + 1);
  let tx: L2Tx;
  const known = type as TxType; // txSizeOf gave a size: a type of the table
  switch (known) {
    case TxType.Transfer:
      tx = {
        type: TxType.Transfer,
        from,
        to: readU32(bytes, offset + 5),
        amount: readPackedAmount(bytes, offset + 9),
        fee: readPackedFee(bytes, offset + 14),
        signature: toHex(bytes.subarray(offset + 16, offset + 80)),
      };
      break;
    case TxType.Withdraw:
      tx = {
        type: TxType.Withdraw,
        from,
        amount: readPackedAmount(bytes, offset + 5),
        fee: readPackedFee(bytes, offset + 10),
        signature: toHex(bytes.subarray(offset + 12, offset + 76)),
      };
      break;
    case TxType.TransferToNew:
      tx = {
        type: TxType.TransferToNew,
        from,
        to: toHex(bytes.subarray(offset + 5, offset + 25)),
        amount: readPackedAmount(bytes, offset + 25),
        fee: readPackedFee(bytes, offset + 30),
        signature: toHex(bytes.subarray(offset + 32, offset + 96)),
      };
      break;
    case TxType.RegisterKey:
      tx = {
        type: TxType.RegisterKey,
        from,
        fee: readPackedFee(bytes, offset + 5),
        blsKey: toHex(bytes.subarray(offset + 7, offset + 7 + REGISTER_KEY_KEY_BYTES)),
        signature: toHex(bytes.subarray(offset + 7 + REGISTER_KEY_KEY_BYTES, offset + size)),
      };
      break;
    default:
      // tsc names this line when a type joins TxType without a case here.
      return unreachableTxType(known);
  }
  return { ok: true, tx, size };
}

/** A chunk split as the STF parses it (PROTOCOL.md §5.2). */
export interface DecodedChunk {
  txs: L2Tx[];
  /** Why parsing stopped before the end of the bytes, if it did: `UnknownType`, `Truncated` or `Trailing`. */
  end?: { index: number; offset: number; reason: Outcome.UnknownType | Outcome.Truncated | Outcome.Trailing };
}

/** Splits a chunk into transactions with the STF's parsing rules (never throws). */
export function decodeChunk(bytes: Uint8Array): DecodedChunk {
  const txs: L2Tx[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (txs.length === MAX_TXS_PER_CHUNK) {
      return { txs, end: { index: txs.length, offset, reason: Outcome.Trailing } };
    }
    const decoded = decodeTx(bytes, offset);
    if (!decoded.ok) return { txs, end: { index: txs.length, offset, reason: decoded.reason } };
    txs.push(decoded.tx);
    offset += decoded.size;
  }
  return { txs };
}

/** Keccak-256 of a transaction's packed bytes, as `0x` hex. */
export function txHash(bytes: Uint8Array): string {
  return toHex(keccak256(bytes));
}

/** Throws `INVALID_TX` for a value the types say cannot exist (a transaction object of no known type). */
function checkNever(value: never, message: string): never {
  throw new BilayerError("INVALID_TX", message, { context: { type: (value as { type: unknown }).type } });
}
