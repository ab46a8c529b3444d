import {
  BLS_CHUNK_HEADER_BYTES,
  BLS_CHUNK_MARKER,
  BLS_MAX_INDEX_WIDTH,
  BLS_MIN_INDEX_WIDTH,
  blsTransferSize,
  MAX_BLS_TRANSFERS_PER_CHUNK,
  Outcome,
} from "./constants";
import { BLS_SIGNATURE_BYTES } from "./bls";
import { BilayerError } from "./errors";
import { packFee, readPackedFee } from "./packing";

/*
 * The BLS chunk format (PROTOCOL.md §5.4): a 100-byte header — marker 0x10,
 * the width of the account indices (1..4 bytes), the fee every transfer pays
 * (16-bit packed) and the aggregate signature (96 bytes, compressed G2) —
 * then up to 40 transfers of `from ‖ to ‖ amount`, the amount 16-bit packed
 * like a fee. No per-transfer signature, no nonce: the nonce is the
 * sender's at its turn.
 */

/** A BLS chunk's header (§5.4). */
export interface BlsChunkHeader {
  /** Bytes per account index, 1..4. */
  width: number;
  /** The fee every transfer of the chunk pays (decoded). */
  fee: bigint;
  /** The aggregate signature, compressed (96 bytes). */
  signature: Uint8Array;
}

/** A BLS transfer as the chunk holds it: no signature, no fee of its own, the nonce implied by the state. */
export interface BlsTransferFields {
  from: number;
  to: number;
  /** Decoded from its 16-bit packed form (the fee format of §2). */
  amount: bigint;
}

/** A BLS chunk split as the STF parses it. */
export interface DecodedBlsChunk {
  /** Absent when the chunk is too short for one (`Truncated`) or names no valid width (`UnknownType`). */
  header?: BlsChunkHeader;
  transfers: BlsTransferFields[];
  /** Why parsing stopped before the end of the bytes, if it did. */
  end?: { index: number; reason: Outcome.UnknownType | Outcome.Truncated | Outcome.Trailing; message: string };
}

function readIndex(bytes: Uint8Array, offset: number, width: number): number {
  let v = 0;
  for (let i = 0; i < width; i++) v = v * 256 + bytes[offset + i];
  return v;
}

/** Splits a BLS chunk with the STF's parsing rules (never throws). `bytes[0]` is the marker. */
export function decodeBlsChunk(bytes: Uint8Array): DecodedBlsChunk {
  if (bytes.length < BLS_CHUNK_HEADER_BYTES) {
    return {
      transfers: [],
      end: { index: 0, reason: Outcome.Truncated, message: `a BLS chunk header needs ${BLS_CHUNK_HEADER_BYTES} bytes` },
    };
  }
  const width = bytes[1];
  if (width < BLS_MIN_INDEX_WIDTH || width > BLS_MAX_INDEX_WIDTH) {
    return { transfers: [], end: { index: 0, reason: Outcome.UnknownType, message: `index width ${width}` } };
  }
  const header: BlsChunkHeader = {
    width,
    fee: readPackedFee(bytes, 2),
    signature: bytes.slice(4, BLS_CHUNK_HEADER_BYTES),
  };
  const size = blsTransferSize(width);
  const transfers: BlsTransferFields[] = [];
  let offset = BLS_CHUNK_HEADER_BYTES;
  while (offset < bytes.length) {
    if (transfers.length === MAX_BLS_TRANSFERS_PER_CHUNK) {
      const message = `${bytes.length - offset} bytes after transfer ${MAX_BLS_TRANSFERS_PER_CHUNK}`;
      return { header, transfers, end: { index: transfers.length, reason: Outcome.Trailing, message } };
    }
    if (bytes.length - offset < size) {
      const message = `a transfer needs ${size} bytes, ${bytes.length - offset} left`;
      return { header, transfers, end: { index: transfers.length, reason: Outcome.Truncated, message } };
    }
    transfers.push({
      from: readIndex(bytes, offset, width),
      to: readIndex(bytes, offset + width, width),
      amount: readPackedFee(bytes, offset + 2 * width),
    });
    offset += size;
  }
  return { header, transfers };
}

/** The narrowest index width (bytes) that holds every index of `transfers`. */
export function blsIndexWidth(transfers: readonly BlsTransferFields[]): number {
  const max = transfers.reduce((m, t) => Math.max(m, t.from, t.to), 0);
  let width = BLS_MIN_INDEX_WIDTH;
  while (width < BLS_MAX_INDEX_WIDTH && max >= 2 ** (8 * width)) width++;
  return width;
}

/**
 * The bytes of a BLS chunk. `header.width` defaults to the narrowest that
 * fits. Throws for more than 40 transfers, an index the width cannot hold,
 * an amount or fee the 16-bit packed form cannot represent exactly
 * (`AMOUNT_NOT_PACKABLE`), or a signature that is not 96 bytes.
 */
export function encodeBlsChunk(
  header: { width?: number; fee: bigint; signature: Uint8Array },
  transfers: readonly BlsTransferFields[],
): Uint8Array {
  if (transfers.length > MAX_BLS_TRANSFERS_PER_CHUNK) {
    throw new BilayerError("CHUNK_TOO_LARGE", `a BLS chunk holds at most ${MAX_BLS_TRANSFERS_PER_CHUNK} transfers`, {
      context: { count: transfers.length },
    });
  }
  const width = header.width ?? blsIndexWidth(transfers);
  if (!Number.isInteger(width) || width < BLS_MIN_INDEX_WIDTH || width > BLS_MAX_INDEX_WIDTH) {
    throw new BilayerError("INVALID_TX", `index width ${width} is not in 1..4`, { context: { width } });
  }
  if (header.signature.length !== BLS_SIGNATURE_BYTES) {
    throw new BilayerError("INVALID_BLS_SIGNATURE", "an aggregate signature is 96 bytes compressed", {
      context: { length: header.signature.length },
    });
  }
  const size = blsTransferSize(width);
  const out = new Uint8Array(BLS_CHUNK_HEADER_BYTES + transfers.length * size);
  out[0] = BLS_CHUNK_MARKER;
  out[1] = width;
  writeU16(out, 2, packFee(header.fee));
  out.set(header.signature, 4);
  transfers.forEach((t, i) => {
    const at = BLS_CHUNK_HEADER_BYTES + i * size;
    writeIndex(out, at, width, t.from);
    writeIndex(out, at + width, width, t.to);
    writeU16(out, at + 2 * width, packFee(t.amount));
  });
  return out;
}

function writeU16(out: Uint8Array, at: number, value: bigint): void {
  out[at] = Number(value >> 8n);
  out[at + 1] = Number(value & 0xffn);
}

function writeIndex(out: Uint8Array, at: number, width: number, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** (8 * width)) {
    throw new BilayerError("INVALID_TX", `index ${index} does not fit ${width} bytes`, { context: { index, width } });
  }
  for (let i = width - 1, v = index; i >= 0; i--, v = Math.floor(v / 256)) out[at + i] = v % 256;
}

/*
 * A BLS transfer as its sender hands it to a sequencer (off chain; the chunk
 * keeps only `from ‖ to ‖ amount`, and the fee and the aggregate once per
 * chunk): 0x10 ‖ from (4) ‖ to (4) ‖ amount (2, packed as a fee) ‖ fee (2,
 * packed) ‖ signature (96, compressed G2) = 109 bytes. Its id is the keccak
 * of these bytes, as a transaction's is of its packed bytes.
 */

/** Bytes of a BLS transfer's envelope. */
export const BLS_ENVELOPE_BYTES = 109;
const ENVELOPE_SIGNATURE = 13;

/** A BLS transfer with its fee and its sender's single signature (§3.2). */
export interface BlsTransferEnvelope extends BlsTransferFields {
  fee: bigint;
  /** The sender's signature of the transfer's message, compressed (96 bytes). */
  signature: Uint8Array;
}

/** Whether `bytes` is a BLS transfer's envelope rather than a packed transaction (its first byte says). */
export function isBlsEnvelope(bytes: Uint8Array): boolean {
  return bytes[0] === BLS_CHUNK_MARKER;
}

/**
 * The envelope of a BLS transfer. Throws `AMOUNT_NOT_PACKABLE` for an amount
 * or fee the 16-bit packed form cannot hold exactly, `INVALID_TX` for an
 * index that is not a u32, `INVALID_BLS_SIGNATURE` for a signature that is not 96 bytes.
 */
export function encodeBlsEnvelope(e: BlsTransferEnvelope): Uint8Array {
  if (e.signature.length !== BLS_SIGNATURE_BYTES) {
    throw new BilayerError("INVALID_BLS_SIGNATURE", "a BLS signature is 96 bytes compressed", {
      context: { length: e.signature.length },
    });
  }
  const out = new Uint8Array(BLS_ENVELOPE_BYTES);
  out[0] = BLS_CHUNK_MARKER;
  writeIndex(out, 1, 4, e.from);
  writeIndex(out, 5, 4, e.to);
  writeU16(out, 9, packFee(e.amount));
  writeU16(out, 11, packFee(e.fee));
  out.set(e.signature, ENVELOPE_SIGNATURE);
  return out;
}

/** The envelope in `bytes`, or why they are not one. */
export function decodeBlsEnvelope(
  bytes: Uint8Array,
): { ok: true; envelope: BlsTransferEnvelope } | { ok: false; message: string } {
  if (bytes.length !== BLS_ENVELOPE_BYTES || bytes[0] !== BLS_CHUNK_MARKER) {
    return { ok: false, message: `a BLS transfer is 0x10 and ${BLS_ENVELOPE_BYTES - 1} bytes, got ${bytes.length}` };
  }
  return {
    ok: true,
    envelope: {
      from: readIndex(bytes, 1, 4),
      to: readIndex(bytes, 5, 4),
      amount: readPackedFee(bytes, 9),
      fee: readPackedFee(bytes, 11),
      signature: bytes.slice(ENVELOPE_SIGNATURE, BLS_ENVELOPE_BYTES),
    },
  };
}
