import { TREE_DEPTH, MAX_UINT32 } from "./constants";
import { BilayerError } from "./errors";
import { hashPair } from "./hash";

/*
 * Positional sparse Merkle tree of depth 32 (PROTOCOL.md §1.1). Only
 * non-empty nodes are stored, one map per height. Updates only touch the
 * leaves: `root()` re-hashes the paths made dirty since the previous call,
 * level by level, so a node shared by several dirty paths is hashed once.
 * Stored node arrays are never mutated in place, so clones may share them.
 */

/** `ZERO_HASHES[h]` is the root of an empty subtree of height `h`; `ZERO_HASHES[32]` the empty tree's root. */
export const ZERO_HASHES: readonly Uint8Array[] = (() => {
  const zeros: Uint8Array[] = [new Uint8Array(32)];
  for (let h = 0; h < TREE_DEPTH; h++) zeros.push(hashPair(zeros[h], zeros[h]));
  return zeros;
})();

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > MAX_UINT32) {
    throw new BilayerError("INVALID_TREE_INDEX", `tree index ${index} is not in 0..2^32-1`, {
      context: { index },
    });
  }
}

function checkWord(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    throw new BilayerError("INVALID_NODE", `${what} must be 32 bytes`, { context: { what } });
  }
}

function isZeroWord(value: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (value[i] !== 0) return false;
  return true;
}

export class SparseMerkleTree {
  /** `levels[h]` maps an index at height h to its node; absent means the empty subtree `ZERO_HASHES[h]`. */
  private readonly levels: Map<number, Uint8Array>[];
  /** Leaf indices written since the last root computation. */
  private dirty: Set<number>;

  constructor() {
    this.levels = Array.from({ length: TREE_DEPTH + 1 }, () => new Map<number, Uint8Array>());
    this.dirty = new Set();
  }

  /** A copy that shares no mutable state with this tree. */
  clone(): SparseMerkleTree {
    const copy = new SparseMerkleTree();
    for (let h = 0; h <= TREE_DEPTH; h++) {
      const level = copy.levels[h];
      for (const [k, v] of this.levels[h]) level.set(k, v);
    }
    copy.dirty = new Set(this.dirty);
    return copy;
  }

  /** Number of non-empty leaves. */
  get size(): number {
    return this.levels[0].size;
  }

  /** Leaf `index` (the zero word when empty). */
  getLeaf(index: number): Uint8Array {
    checkIndex(index);
    return this.levels[0].get(index) ?? ZERO_HASHES[0];
  }

  /** Sets leaf `index`; the zero word empties it. The root is recomputed lazily. */
  setLeaf(index: number, leaf: Uint8Array): void {
    checkIndex(index);
    checkWord(leaf, "leaf");
    this.setLeafUnchecked(index, leaf);
  }

  /** `setLeaf` without argument checks, for callers that already guarantee them (the STF). */
  setLeafUnchecked(index: number, leaf: Uint8Array): void {
    if (isZeroWord(leaf)) this.levels[0].delete(index);
    else this.levels[0].set(index, leaf);
    this.dirty.add(index);
  }

  /** The root, after re-hashing the paths dirtied since the last call. */
  root(): Uint8Array {
    this.flush();
    return this.levels[TREE_DEPTH].get(0) ?? ZERO_HASHES[TREE_DEPTH];
  }

  /** The 32 siblings of leaf `index`: `siblings[h] = node(h, (index >> h) ^ 1)`. */
  proof(index: number): Uint8Array[] {
    checkIndex(index);
    this.flush();
    const siblings: Uint8Array[] = new Array<Uint8Array>(TREE_DEPTH);
    let position = index;
    for (let h = 0; h < TREE_DEPTH; h++) {
      // `position` < 2^32, so a plain subtraction/addition avoids int32 wrap-around of `^`.
      const sibling = position % 2 === 0 ? position + 1 : position - 1;
      siblings[h] = this.levels[h].get(sibling) ?? ZERO_HASHES[h];
      position = Math.floor(position / 2);
    }
    return siblings;
  }

  /** The root implied by `leaf` at `index` with the given siblings. */
  static computeRoot(leaf: Uint8Array, index: number, siblings: readonly Uint8Array[]): Uint8Array {
    checkIndex(index);
    checkWord(leaf, "leaf");
    if (siblings.length !== TREE_DEPTH) {
      throw new BilayerError("INVALID_PROOF", `a proof has ${TREE_DEPTH} siblings, got ${siblings.length}`, {
        context: { length: siblings.length },
      });
    }
    let node = leaf;
    let position = index;
    for (let h = 0; h < TREE_DEPTH; h++) {
      checkWord(siblings[h], `sibling ${h}`);
      node = position % 2 === 0 ? hashPair(node, siblings[h]) : hashPair(siblings[h], node);
      position = Math.floor(position / 2);
    }
    return node;
  }

  /** Whether `leaf` at `index` with `siblings` proves against `root`. */
  static verify(root: Uint8Array, leaf: Uint8Array, index: number, siblings: readonly Uint8Array[]): boolean {
    const computed = SparseMerkleTree.computeRoot(leaf, index, siblings);
    if (computed.length !== root.length) return false;
    for (let i = 0; i < computed.length; i++) if (computed[i] !== root[i]) return false;
    return true;
  }

  /** Re-hashes every dirty path, one level at a time. */
  private flush(): void {
    if (this.dirty.size === 0) return;
    // Sorted indices have sorted parents, so each level dedupes by comparing neighbours.
    let current = Uint32Array.from(this.dirty).sort();
    for (let h = 0; h < TREE_DEPTH; h++) {
      const children = this.levels[h];
      const parents = this.levels[h + 1];
      const zero = ZERO_HASHES[h];
      let count = 0;
      for (let i = 0; i < current.length; i++) {
        const parent = current[i] >>> 1; // index < 2^32: `>>>` is exact
        if (count > 0 && current[count - 1] === parent) continue;
        current[count++] = parent; // in place: parent ≤ index, and slot count ≤ i was already read
        const left = children.get(2 * parent);
        const right = children.get(2 * parent + 1);
        if (left === undefined && right === undefined) parents.delete(parent);
        else parents.set(parent, hashPair(left ?? zero, right ?? zero));
      }
      current = current.subarray(0, count);
    }
    this.dirty.clear();
  }
}
