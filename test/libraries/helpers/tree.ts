// A sparse positional Merkle tree of depth 32 (PROTOCOL §1.1) for building test witnesses, with ethers only.
import { concat, keccak256, ZeroHash } from "ethers";

export const DEPTH = 32;

/** Z[h]: the root of an empty subtree of height h, Z[0] = 0. */
export const ZERO_HASHES: readonly string[] = (() => {
  const z = [ZeroHash];
  for (let h = 0; h < DEPTH; h++) z.push(keccak256(concat([z[h], z[h]])));
  return z;
})();

export function hashPair(left: string, right: string): string {
  return keccak256(concat([left, right]));
}

/** The root from a leaf, its index and its path, as §1.1 defines it. */
export function rootFromPath(leaf: string, index: bigint, siblings: readonly string[]): string {
  let node = leaf;
  for (let h = 0; h < DEPTH; h++) {
    node = ((index >> BigInt(h)) & 1n) === 0n ? hashPair(node, siblings[h]) : hashPair(siblings[h], node);
  }
  return node;
}

/** The node at `height` on the path of `index` computed from a leaf and its path. */
export function nodeFromPath(leaf: string, index: bigint, siblings: readonly string[], height: number): string {
  let node = leaf;
  for (let h = 0; h < height; h++) {
    node = ((index >> BigInt(h)) & 1n) === 0n ? hashPair(node, siblings[h]) : hashPair(siblings[h], node);
  }
  return node;
}

/** Stores only non-empty nodes; every other node is Z[h]. */
export class SparseTree {
  private readonly levels: Map<bigint, string>[] = Array.from({ length: DEPTH + 1 }, () => new Map());

  node(height: number, index: bigint): string {
    return this.levels[height].get(index) ?? ZERO_HASHES[height];
  }

  leaf(index: bigint): string {
    return this.node(0, index);
  }

  root(): string {
    return this.node(DEPTH, 0n);
  }

  /** siblings[h] = node(h, (index >> h) ^ 1). */
  path(index: bigint): string[] {
    const siblings: string[] = [];
    for (let h = 0; h < DEPTH; h++) siblings.push(this.node(h, (index >> BigInt(h)) ^ 1n));
    return siblings;
  }

  set(index: bigint, leaf: string): void {
    if (index < 0n || index >= 1n << BigInt(DEPTH)) throw new Error(`index ${index} out of range`);
    this.put(0, index, leaf);
    let node = leaf;
    for (let h = 0; h < DEPTH; h++) {
      const i = index >> BigInt(h);
      node = (i & 1n) === 0n ? hashPair(node, this.node(h, i ^ 1n)) : hashPair(this.node(h, i ^ 1n), node);
      this.put(h + 1, i >> 1n, node);
    }
  }

  clone(): SparseTree {
    const copy = new SparseTree();
    this.levels.forEach((level, h) => level.forEach((v, k) => copy.levels[h].set(k, v)));
    return copy;
  }

  private put(height: number, index: bigint, value: string): void {
    if (value === ZERO_HASHES[height]) this.levels[height].delete(index);
    else this.levels[height].set(index, value);
  }
}
