import { TREE_DEPTH } from "../protocol/constants";
import { BilayerError } from "../protocol/errors";
import { hashPair, toHex } from "../protocol/hash";
import { withdrawalLeaf, type Withdrawal } from "../protocol/state";
import { ZERO_HASHES } from "../protocol/tree";

/**
 * The append-only withdrawal tree with its history: a claim on L1 proves a
 * withdrawal against the withdrawals root of a *final* batch, which is
 * usually older than the pending state, so proofs are needed against the
 * tree as it was when it held its first `count` leaves.
 *
 * Nodes whose subtree is complete never change again and are kept; the few
 * nodes on the right edge of an older tree are recomputed from them (at most
 * one partial node per level), so a historical proof costs O(32²) hashes at
 * worst.
 */
export class WithdrawalHistory {
  private readonly records: Withdrawal[] = [];
  /** `complete[h]` holds node(h, i) for every complete subtree i at height h, in order. */
  private readonly complete: Uint8Array[][] = Array.from({ length: TREE_DEPTH + 1 }, () => []);

  /** Number of withdrawals appended. */
  get count(): number {
    return this.records.length;
  }

  /** Withdrawal `index`, or `undefined`. */
  get(index: number): Readonly<Withdrawal> | undefined {
    return this.records[index];
  }

  /** Appends the next withdrawal. */
  append(w: Withdrawal): void {
    const index = this.records.length;
    this.records.push(w);
    this.complete[0].push(withdrawalLeaf(w));
    // Each height at which this leaf completes a subtree gets its new node.
    let position = index;
    for (let h = 0; h < TREE_DEPTH && position % 2 === 1; h++) {
      const level = this.complete[h];
      this.complete[h + 1].push(hashPair(level[position - 1], level[position]));
      position = (position - 1) / 2;
    }
  }

  /** node(h, i) of the tree holding only the first `count` leaves. */
  private node(h: number, i: number, count: number): Uint8Array {
    const span = 2 ** h;
    const first = i * span;
    if (first >= count) return ZERO_HASHES[h];
    if (first + span <= count) return this.complete[h][i];
    return hashPair(this.node(h - 1, 2 * i, count), this.node(h - 1, 2 * i + 1, count));
  }

  /** Root of the tree holding the first `count` withdrawals. */
  root(count = this.count): string {
    this.checkCount(count);
    return toHex(this.node(TREE_DEPTH, 0, count));
  }

  /** The 32 siblings (0x hex) of withdrawal `index` in the tree holding the first `count` withdrawals. */
  proof(index: number, count = this.count): string[] {
    this.checkCount(count);
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new BilayerError("WITHDRAWAL_NOT_IN_TREE", `withdrawal ${index} is not among the first ${count}`, {
        context: { index, count },
      });
    }
    const siblings: string[] = [];
    let position = index;
    for (let h = 0; h < TREE_DEPTH; h++) {
      const sibling = position % 2 === 0 ? position + 1 : position - 1;
      siblings.push(toHex(this.node(h, sibling, count)));
      position = Math.floor(position / 2);
    }
    return siblings;
  }

  private checkCount(count: number): void {
    if (!Number.isInteger(count) || count < 0 || count > this.records.length) {
      throw new BilayerError(
        "WITHDRAWAL_COUNT",
        `the tree never held ${count} withdrawals (it has ${this.records.length})`,
        {
          context: { count, have: this.records.length },
        },
      );
    }
  }
}
