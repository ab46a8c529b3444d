import type { Prechecked } from "./presign";
import { BilayerError } from "../protocol/errors";

/**
 * Transactions that arrived ahead of their sender's nonce, kept per account
 * in nonce order until the gap before them is filled. (A transaction whose
 * nonce is the sender's current one never waits here: the sequencer applies
 * it at once.)
 */
export interface WaitingTx {
  /** The transaction id (its EIP-712 digest, 0x hex). */
  hash: string;
  /** Sender account index. */
  from: number;
  /** The nonce it was signed over. */
  nonce: number;
  /** Packed transaction bytes (PROTOCOL.md §3). */
  bytes: Uint8Array;
  /** Milliseconds since the epoch when it was accepted. */
  receivedAt: number;
  /** Its signer as recovered on the HTTP thread (in memory only; see ./presign.ts). */
  presigned?: Prechecked;
}

/** The mempool cannot take another waiting transaction (for this account, or at all). */
export class MempoolFullError extends BilayerError {
  constructor(
    message: string,
    readonly scope: "account" | "global",
  ) {
    super("MEMPOOL_FULL", message, { context: { scope } });
  }
}

export interface MempoolLimits {
  /** How far ahead of an account's nonce a transaction may be. */
  maxNonceGap: number;
  /** Waiting transactions per account. */
  maxPerAccount: number;
  /** Waiting transactions in all. */
  maxTotal: number;
}

export const DEFAULT_MEMPOOL_LIMITS: MempoolLimits = { maxNonceGap: 64, maxPerAccount: 64, maxTotal: 100_000 };

export class Mempool {
  private readonly byAccount = new Map<number, Map<number, WaitingTx>>();
  private readonly byHash = new Map<string, WaitingTx>();
  readonly limits: MempoolLimits;

  constructor(limits: Partial<MempoolLimits> = {}) {
    this.limits = { ...DEFAULT_MEMPOOL_LIMITS, ...limits };
  }

  /** Number of waiting transactions. */
  get size(): number {
    return this.byHash.size;
  }

  /** The waiting transaction with this id, if any. */
  byId(hash: string): WaitingTx | undefined {
    return this.byHash.get(hash);
  }

  /** The waiting transaction of `from` at `nonce`, if any. */
  at(from: number, nonce: number): WaitingTx | undefined {
    return this.byAccount.get(from)?.get(nonce);
  }

  /** The waiting transactions of one account, in nonce order. */
  forAccount(from: number): WaitingTx[] {
    const m = this.byAccount.get(from);
    return m ? [...m.values()].sort((a, b) => a.nonce - b.nonce) : [];
  }

  /**
   * Checks that `tx` may wait (throws {@link MempoolFullError} otherwise)
   * without adding it. `currentNonce` is the sender's nonce in the pending state.
   * Returns `false` when the very same transaction is already waiting.
   */
  check(tx: WaitingTx, currentNonce: number): boolean {
    if (tx.nonce <= currentNonce) {
      throw new BilayerError("NONCE_TOO_LOW", `nonce ${tx.nonce} is not ahead of the account's nonce ${currentNonce}`, {
        context: { nonce: tx.nonce, accountNonce: currentNonce },
      });
    }
    if (tx.nonce - currentNonce > this.limits.maxNonceGap) {
      const msg = `nonce ${tx.nonce} is more than ${this.limits.maxNonceGap} ahead of the account's nonce ${currentNonce}`;
      throw new BilayerError("NONCE_TOO_HIGH", msg, { context: { nonce: tx.nonce, accountNonce: currentNonce } });
    }
    const existing = this.at(tx.from, tx.nonce);
    if (existing) {
      if (existing.hash === tx.hash) return false;
      // Replacing a waiting transaction at the same nonce is allowed: it has not been sequenced.
      return true;
    }
    const count = this.byAccount.get(tx.from)?.size ?? 0;
    if (count >= this.limits.maxPerAccount) {
      throw new MempoolFullError(`account ${tx.from} already has ${count} transactions waiting`, "account");
    }
    if (this.byHash.size >= this.limits.maxTotal) {
      throw new MempoolFullError(
        `the mempool holds its maximum of ${this.limits.maxTotal} waiting transactions`,
        "global",
      );
    }
    return true;
  }

  /** Adds `tx`, replacing any waiting transaction of the same sender and nonce; returns the replaced one. */
  add(tx: WaitingTx): WaitingTx | undefined {
    let m = this.byAccount.get(tx.from);
    if (!m) {
      m = new Map();
      this.byAccount.set(tx.from, m);
    }
    const replaced = m.get(tx.nonce);
    if (replaced) this.byHash.delete(replaced.hash);
    m.set(tx.nonce, tx);
    this.byHash.set(tx.hash, tx);
    return replaced;
  }

  /** Removes and returns the waiting transaction of `from` at `nonce`. */
  take(from: number, nonce: number): WaitingTx | undefined {
    const m = this.byAccount.get(from);
    const tx = m?.get(nonce);
    if (!m || !tx) return undefined;
    m.delete(nonce);
    if (m.size === 0) this.byAccount.delete(from);
    this.byHash.delete(tx.hash);
    return tx;
  }

  /** Removes and returns every waiting transaction of `from` with a nonce below `nonce` (now unusable). */
  dropBelow(from: number, nonce: number): WaitingTx[] {
    const m = this.byAccount.get(from);
    if (!m) return [];
    const out: WaitingTx[] = [];
    for (const [n, tx] of m) {
      if (n < nonce) {
        out.push(tx);
        m.delete(n);
        this.byHash.delete(tx.hash);
      }
    }
    if (m.size === 0) this.byAccount.delete(from);
    return out.sort((a, b) => a.nonce - b.nonce);
  }

  /** Every waiting transaction, by account then nonce. */
  all(): WaitingTx[] {
    const accounts = [...this.byAccount.keys()].sort((a, b) => a - b);
    return accounts.flatMap((a) => this.forAccount(a));
  }
}
