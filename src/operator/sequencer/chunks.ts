import { BLS_CHUNK_HEADER_BYTES, blsTransferSize } from "../../protocol/constants";
import { BLS_ENVELOPE_BYTES, isBlsEnvelope } from "../../protocol/bls-chunk";
import { BilayerError } from "../../protocol/errors";
import { concatBytes, fromHex } from "../../protocol/hash";
import type { BatchRecord } from "../records";

/*
 * A BLS chunk is rebuilt from its transfers' envelopes (`../../protocol/bls-chunk.ts`) and its header: each
 * transfer is its envelope's `from` and `to` at the chunk's index width and its amount's two bytes as they are
 * (so a chunk adopted from L1 rebuilds byte for byte, whatever packing its amounts used).
 */

/** The BLS chunk of `header` (100 bytes) over the transfers of `envelopes`. */
export function blsChunkOfEnvelopes(header: Uint8Array, envelopes: readonly Uint8Array[]): Uint8Array {
  const width = header[1];
  const size = blsTransferSize(width);
  const out = new Uint8Array(BLS_CHUNK_HEADER_BYTES + envelopes.length * size);
  out.set(header.subarray(0, BLS_CHUNK_HEADER_BYTES), 0);
  envelopes.forEach((e, k) => {
    if (e.length !== BLS_ENVELOPE_BYTES || !isBlsEnvelope(e)) {
      throw new BilayerError(
        "STORE_CORRUPT",
        `the operator's store does not replay: transfer ${k} is not a BLS transfer`,
      );
    }
    const at = BLS_CHUNK_HEADER_BYTES + k * size;
    // from and to are 4 bytes in the envelope: their low `width` bytes (the width holds every index).
    out.set(e.subarray(5 - width, 5), at);
    out.set(e.subarray(9 - width, 9), at + width);
    out.set(e.subarray(9, 11), at + 2 * width);
  });
  return out;
}

/**
 * Chunk `i` of closed batch `b`, rebuilt from the stored bytes of its transactions: a chunk of signed
 * transactions is their bytes end to end; a BLS chunk is its transfers under the header the batch record keeps.
 */
export function chunkOfRecords(b: BatchRecord, i: number, parts: readonly Uint8Array[]): Uint8Array {
  const bls = b.bls?.find((c) => c.chunk === i);
  if (!bls) return concatBytes(...parts);
  return blsChunkOfEnvelopes(fromHex(bls.header, BLS_CHUNK_HEADER_BYTES), parts);
}
