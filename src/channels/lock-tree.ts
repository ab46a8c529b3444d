import { BilayerError } from "../protocol/errors";
import { hashPair, ZERO_BYTES32 } from "../protocol/hash";
import { bytesOf, hexOf, keccak, putBytes32, putUint, U256_MAX, U64_MAX, U8_MAX } from "./state-bytes";
import type { ChannelState, Lock } from "./state";

/*
 * Hash-locked payments and the tree a state commits to them by, the twin of
 * contracts/channels/LockTree.sol (docs/CHANNELS.md §5): a lock's leaf, the
 * positional Merkle tree of a state's locks (padded with zero leaves to a
 * power of two), its root and the proofs `unlock` takes.
 */

/** `keccak256(secret)` of a 32-byte secret. */
export function hashlockOf(secret: string): string {
  return hexOf(keccak(bytesOf(secret, 32, "secret")));
}

function lockLeafBytes(lock: Lock): Uint8Array {
  const out = Buffer.alloc(5 * 32);
  putUint(out, 0, BigInt(lock.sender), U8_MAX, "sender");
  putUint(out, 32, BigInt(lock.receiver), U8_MAX, "receiver");
  putUint(out, 64, lock.amount, U256_MAX, "amount");
  putBytes32(out, 96, lock.hashlock, "hashlock");
  putUint(out, 128, lock.expiry, U64_MAX, "expiry");
  return keccak(out);
}

/** A lock's leaf: `keccak256(abi.encode(sender, receiver, amount, hashlock, expiry))`. */
export function lockLeaf(lock: Lock): string {
  return hexOf(lockLeafBytes(lock));
}

/** The sum of the locks' amounts: a state's `lockedTotal`. */
export function lockedTotalOf(locks: readonly Lock[]): bigint {
  let total = 0n;
  for (const lock of locks) total += lock.amount;
  return total;
}

const ZERO_NODE = new Uint8Array(32);

/** Every level of the tree over `leaves`, from the padded leaves (level 0) to the root. */
function treeLevels(leaves: Uint8Array[]): Uint8Array[][] {
  let width = 1;
  while (width < leaves.length) width *= 2;
  let level = leaves.slice();
  while (level.length < width) level.push(ZERO_NODE);
  const levels = [level];
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(hashPair(level[i], level[i + 1]));
    levels.push(next);
    level = next;
  }
  return levels;
}

/** The root of the positional Merkle tree of `locks` (`ZERO_BYTES32` for none, the leaf itself for one). */
export function locksRoot(locks: readonly Lock[]): string {
  if (locks.length === 0) return ZERO_BYTES32;
  const levels = treeLevels(locks.map(lockLeafBytes));
  return hexOf(levels[levels.length - 1][0]);
}

/** The Merkle path of `locks[index]`, bottom-up, for `unlock`. */
export function lockProof(locks: readonly Lock[], index: number): string[] {
  if (!Number.isInteger(index) || index < 0 || index >= locks.length) {
    throw new BilayerError("INVALID_CHANNEL_DATA", `lock index ${index} out of range 0..${locks.length - 1}`, {
      context: { index, count: locks.length },
    });
  }
  const levels = treeLevels(locks.map(lockLeafBytes));
  const proof: string[] = [];
  for (let h = 0; h < levels.length - 1; h++) proof.push(hexOf(levels[h][(index >> h) ^ 1]));
  return proof;
}

/** The root reached from `lock` at `index` along `proof` (`LockTree.rootFromProof`); `ZERO_BYTES32` if `index` does not fit. */
export function lockRootFromProof(lock: Lock, index: bigint, proof: readonly string[]): string {
  if (index < 0n || index >> BigInt(proof.length) !== 0n) return ZERO_BYTES32;
  let node = lockLeafBytes(lock);
  for (let h = 0; h < proof.length; h++) {
    const sibling = bytesOf(proof[h], 32, `proof[${h}]`);
    node = (index >> BigInt(h)) & 1n ? hashPair(sibling, node) : hashPair(node, sibling);
  }
  return hexOf(node);
}

/** Whether `state` commits to exactly `locks`: its root and locked total match them. */
export function stateCommitsToLocks(state: ChannelState, locks: readonly Lock[]): boolean {
  return state.locksRoot.toLowerCase() === locksRoot(locks) && state.lockedTotal === lockedTotalOf(locks);
}
