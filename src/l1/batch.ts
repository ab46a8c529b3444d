/**
 * TypeScript twins of the rollup contracts' own hashes (PROTOCOL.md §7): the
 * chunk tree of a batch, the batch commitment, the step-roots hash and the
 * step count. Each is tested against its Solidity twin.
 */
import { AbiCoder, concat, getBytes, keccak256 as ethersKeccak256 } from "ethers";
import { MAX_QUEUE_ITEMS_PER_STEP } from "../protocol/constants";
import { hashPair, keccak256, toHex } from "../protocol/hash";

/** Depth of a batch's chunk tree (`ChunkTree.sol`). */
export const CHUNK_TREE_DEPTH = 7;
/** Leaves of the chunk tree (128): room for more chunks than a batch may hold. */
export const CHUNK_TREE_LEAVES = 2 ** CHUNK_TREE_DEPTH;

// The batch limits, twins of `contracts/rollup/BatchLimits.sol`: sized so that every `appendBatch` the inbox
// accepts is a transaction a public mempool relays.

/** geth, reth and Nethermind drop a non-blob transaction larger than this, serialized. */
export const MAX_L1_TX_BYTES = 131_072;
/** The most a signed EIP-1559 transaction adds to its calldata (fields at their widest, empty access list). */
export const L1_TX_ENVELOPE_BYTES = 188;
/** `appendBatch` calldata around its chunks: selector, three head words, the array's length. */
export const APPEND_BATCH_HEAD_BYTES = 4 + 4 * 32;
/** What a chunk adds to that calldata besides its bytes: offset, length, at most 31 bytes of padding. */
export const APPEND_BATCH_BYTES_PER_CHUNK = 2 * 32 + 31;
/** Most chunk bytes in one batch (`RollupInbox.MAX_BATCH_BYTES`; OP's batcher caps calldata batches at 120,000). */
export const MAX_BATCH_BYTES = 120_000;
/** Most chunks in one batch (`RollupInbox.MAX_CHUNKS_PER_BATCH`, 113): what still fits the mempool limit. */
export const MAX_CHUNKS_PER_BATCH = Math.floor(
  (MAX_L1_TX_BYTES - L1_TX_ENVELOPE_BYTES - APPEND_BATCH_HEAD_BYTES - MAX_BATCH_BYTES) / APPEND_BATCH_BYTES_PER_CHUNK,
);
/** Most queue items one batch consumes (`RollupInbox.MAX_QUEUE_ITEMS_PER_BATCH`). */
export const MAX_QUEUE_ITEMS_PER_BATCH = 32 * MAX_QUEUE_ITEMS_PER_STEP;
/** Most steps of one batch: 32 queue steps and a step per chunk. */
export const MAX_STEPS_PER_BATCH = MAX_QUEUE_ITEMS_PER_BATCH / MAX_QUEUE_ITEMS_PER_STEP + MAX_CHUNKS_PER_BATCH;

const ZERO: Uint8Array = new Uint8Array(32);

function chunkBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === "string" ? getBytes(chunk) : chunk;
}

/** Leaf of a chunk in the chunk tree: `keccak(chunk)`. */
export function chunkLeaf(chunk: Uint8Array | string): string {
  return toHex(keccak256(chunkBytes(chunk)));
}

/** The root of the empty subtree of each height 0..CHUNK_TREE_DEPTH. */
const EMPTY_SUBTREES: readonly Uint8Array[] = (() => {
  const zs = [ZERO];
  for (let h = 0; h < CHUNK_TREE_DEPTH; h++) zs.push(hashPair(zs[h], zs[h]));
  return zs;
})();

/**
 * The levels of the chunk tree, leaves first; each level holds only its
 * non-empty nodes. Hashed with the protocol's fast Keccak: the sequencer
 * computes a root on its own thread each time it closes a batch (up to
 * 256 KiB of chunks), where the ethers hasher would cost about as much as a
 * transaction's whole application.
 */
function levels(chunks: readonly (Uint8Array | string)[]): Uint8Array[][] {
  if (chunks.length > CHUNK_TREE_LEAVES) {
    throw new RangeError(`${chunks.length} chunks exceed the ${CHUNK_TREE_LEAVES} leaves of the chunk tree`);
  }
  const result: Uint8Array[][] = [chunks.map((c) => keccak256(chunkBytes(c)))];
  for (let h = 0; h < CHUNK_TREE_DEPTH; h++) {
    const below = result[h];
    const above: Uint8Array[] = [];
    for (let i = 0; i < below.length; i += 2) above.push(hashPair(below[i], below[i + 1] ?? EMPTY_SUBTREES[h]));
    result.push(above);
  }
  return result;
}

/** Root of a batch's chunk tree (leaf i = keccak(chunk i), the rest empty), as lowercase hex. */
export function chunksRoot(chunks: readonly (Uint8Array | string)[]): string {
  const top = levels(chunks)[CHUNK_TREE_DEPTH];
  return toHex(top[0] ?? EMPTY_SUBTREES[CHUNK_TREE_DEPTH]);
}

/** The path of chunk `index` in the chunk tree: `proof[h]` is its sibling at height `h`. */
export function chunkProof(chunks: readonly (Uint8Array | string)[], index: number): string[] {
  if (!Number.isInteger(index) || index < 0 || index >= chunks.length) {
    throw new RangeError(`chunk ${index} is not in a batch of ${chunks.length}`);
  }
  const tree = levels(chunks);
  const proof: string[] = [];
  for (let h = 0; h < CHUNK_TREE_DEPTH; h++) {
    const sibling = (index >> h) ^ 1;
    proof.push(toHex(tree[h][sibling] ?? EMPTY_SUBTREES[h]));
  }
  return proof;
}

/** Number of queue steps for `queueCount` items: ceil(queueCount / 32). */
export function queueStepCount(queueCount: number | bigint): number {
  const n = Number(queueCount);
  return Math.ceil(n / MAX_QUEUE_ITEMS_PER_STEP);
}

/** A batch's step count: its queue steps, then one step per chunk. */
export function batchStepCount(queueCount: number | bigint, chunkCount: number): number {
  return queueStepCount(queueCount) + chunkCount;
}

/** The fields of a batch that its commitment binds. */
export interface BatchCommitmentFields {
  chunksRoot: string;
  queueStart: bigint;
  queueEnd: bigint;
  feeRecipient: number | bigint;
  stepCount: number | bigint;
}

/** `keccak(abi.encode(chunksRoot, queueStart, queueEnd, feeRecipient, stepCount))`. */
export function batchCommitment(fields: BatchCommitmentFields): string {
  return ethersKeccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "uint64", "uint64", "uint32", "uint32"],
      [fields.chunksRoot, fields.queueStart, fields.queueEnd, fields.feeRecipient, fields.stepCount],
    ),
  );
}

/** `keccak(abi.encodePacked(stepRoots))`, what a proposal stores of its roots. */
export function stepRootsHash(stepRoots: readonly string[]): string {
  return ethersKeccak256(concat([...stepRoots]));
}
