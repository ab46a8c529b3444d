import { CHUNK_TREE_DEPTH, MAX_CHUNKS_PER_BATCH } from "../l1/batch";
import { hashPair, keccak256, toHex } from "../protocol/hash";

const ZERO: Uint8Array = new Uint8Array(32);

/**
 * The root of a batch's chunk tree — the same value as `chunksRoot` of
 * ../l1/batch.ts (the twin of `ChunkTree.sol`; tested equal) — hashed with
 * the protocol's fast Keccak. The sequencer computes it on its own thread
 * each time it closes a batch (up to 256 KiB of chunks), where the ethers
 * hasher would cost about as much as a transaction's whole application.
 */
export function chunksRootOf(chunks: readonly Uint8Array[]): string {
  if (chunks.length > MAX_CHUNKS_PER_BATCH) {
    throw new RangeError(`${chunks.length} chunks exceed the ${MAX_CHUNKS_PER_BATCH} a batch holds`);
  }
  let level = chunks.map((c) => keccak256(c));
  let empty: Uint8Array = ZERO;
  for (let h = 0; h < CHUNK_TREE_DEPTH; h++) {
    const above: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) above.push(hashPair(level[i], level[i + 1] ?? empty));
    level = above;
    empty = hashPair(empty, empty);
  }
  return toHex(level[0] ?? empty);
}
