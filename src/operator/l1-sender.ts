/**
 * The operator's L1 sender: one nonce after the other, intent stored before
 * each broadcast, stuck transactions replaced, reorged ones re-sent. What an
 * attempt pays is in `l1-fees.ts`, the node's side (broadcast, receipts) in
 * `l1-broadcast.ts`, the records and errors in `l1-tx.ts`.
 */
import type { Provider, TransactionReceipt, Wallet } from "ethers";
import { BilayerError } from "../protocol/errors";
import { broadcast, errorText, findReceipt, isKnown, isRefusal } from "./l1-broadcast";
import { gasLimitFor, initialFees, replacementFees, signAttempt } from "./l1-fees";
import {
  L1SendBlockedError,
  L1TxLostError,
  L1TxRevertedError,
  L1TxTooLargeError,
  purposeLabel,
  type L1TxRecord,
  type SenderBlocked,
  type TxPurpose,
} from "./l1-tx";
import type { Logger } from "./log";
import type { OperatorMetrics } from "./metrics";
import { keyNum, type KeyValueStore } from "../common/store";

// What the rest of the operator imports from here: the transaction records and errors, and these two.
export * from "./l1-tx";
export { isRefusal } from "./l1-broadcast";
export { TX_GAS_CAP } from "./l1-fees";

export interface L1SenderOptions {
  provider: Provider;
  wallet: Wallet;
  store: KeyValueStore;
  logger: Logger;
  metrics: OperatorMetrics;
  /** A mined transaction is final (and forgotten) once this many blocks deep (1 = in a block). */
  confirmations: number;
  /** Re-send with higher fees when not mined after this long. */
  stuckAfterMs: number;
  /** Percentage added to both fee caps on each replacement (at least 10, the usual node rule). */
  feeBumpPercent: number;
  /** Never offer more than this per gas (wei). */
  maxFeePerGasCap: bigint;
  /** Poll interval while waiting for a receipt. */
  pollMs: number;
  /**
   * Called with the receipt of each transaction once it is `confirmations` deep, before it is forgotten (so a crash
   * in between calls it again after the restart).
   */
  onConfirmed?: (rec: L1TxRecord, receipt: TransactionReceipt) => Promise<void>;
}

const PREFIX = "l1tx/";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends the operator's L1 transactions one nonce after the other, from a
 * local key: each is signed, stored, then broadcast; a transaction still not
 * mined after `stuckAfterMs` is replaced by one with higher fees (same nonce,
 * so only one of them can ever land); a mined transaction that vanishes from
 * the chain (a reorg) is broadcast again; after a crash, `recover()` picks up
 * every transaction not yet final.
 */
export class L1Sender {
  private readonly o: L1SenderOptions;
  private readonly records = new Map<number, L1TxRecord>();
  private nextNonce = 0;
  private chainId = 0n;
  private blockedBy: SenderBlocked | undefined;

  constructor(opts: L1SenderOptions) {
    this.o = opts;
  }

  get address(): string {
    return this.o.wallet.address;
  }

  /** Why the node refuses the operator's transactions, while it does. */
  get blocked(): SenderBlocked | undefined {
    return this.blockedBy;
  }

  /** Transactions sent and not yet final, by nonce. */
  unconfirmed(): L1TxRecord[] {
    return [...this.records.values()].sort((a, b) => a.nonce - b.nonce);
  }

  /** The unconfirmed transaction for `purpose` that has not reverted, if any. */
  find(purpose: TxPurpose): L1TxRecord | undefined {
    for (const r of this.records.values()) {
      if (r.mined?.status === 0 || r.cancelled) continue;
      if (purposeLabel(r.purpose) === purposeLabel(purpose)) return r;
    }
    return undefined;
  }

  /**
   * Loads the stored transactions and re-broadcasts those whose nonce the
   * chain has not used yet. Call once before anything else.
   */
  async recover(): Promise<void> {
    this.chainId = (await this.o.provider.getNetwork()).chainId;
    for await (const [, value] of this.o.store.entries(PREFIX)) {
      const rec = JSON.parse(value) as L1TxRecord;
      this.records.set(rec.nonce, rec);
    }
    const latest = await this.o.provider.getTransactionCount(this.address, "latest");
    const pending = await this.o.provider.getTransactionCount(this.address, "pending");
    let next = Math.max(latest, pending);
    for (const rec of this.unconfirmed()) next = Math.max(next, rec.nonce + 1);
    this.nextNonce = next;
    // Whatever the node lost (it restarted, or refused one) goes out again, in nonce order.
    await this.reconcile();
  }

  /**
   * Makes sure the node knows every transaction of ours not yet mined, in
   * nonce order: one it does not know is broadcast again (a refused one, once
   * the cause is gone — funds, fees — goes through this way, same nonce). It
   * stops at the first the node refuses, which {@link blocked} then reports:
   * a later nonce would only be refused as a gap.
   */
  async reconcile(): Promise<void> {
    const pendingRecs = this.unconfirmed().filter((r) => !r.mined);
    if (pendingRecs.length === 0) {
      this.blockedBy = undefined;
      return;
    }
    const latest = await this.o.provider.getTransactionCount(this.address, "latest");
    for (const rec of pendingRecs) {
      if (rec.nonce < latest || (await isKnown(this.o.provider, rec))) continue;
      this.o.logger.info(
        { nonce: rec.nonce, purpose: rec.purpose },
        "the L1 node does not know this transaction; sending it again",
      );
      try {
        await this.rebroadcast(rec);
      } catch (err) {
        this.block(rec, err);
        return;
      }
    }
    this.blockedBy = undefined;
  }

  private block(rec: L1TxRecord, err: unknown): never {
    const reason = errorText(err).trim().split("\n")[0].slice(0, 300);
    if (this.blockedBy?.nonce !== rec.nonce || this.blockedBy.reason !== reason) {
      this.o.logger.error(
        { nonce: rec.nonce, purpose: rec.purpose, reason },
        "the L1 node refuses this transaction; it is kept and sent again once the node takes it",
      );
      this.blockedBy = { nonce: rec.nonce, purpose: rec.purpose, reason, since: this.blockedBy?.since ?? Date.now() };
    }
    this.o.metrics.l1Transactions.inc({ purpose: rec.purpose.kind, event: "refused" });
    throw new L1SendBlockedError(this.blockedBy);
  }

  /**
   * Signs, stores (durably) and broadcasts a transaction; returns its record.
   * Throws before storing anything if the transaction would revert, needs
   * more gas than the per-transaction cap, or is larger than a public mempool
   * relays ({@link L1TxTooLargeError}); throws {@link L1SendBlockedError}
   * without signing anything while the node refuses an earlier transaction,
   * and after storing it when the node refuses this one (it goes out again,
   * same nonce, once the node takes it).
   */
  async send(purpose: TxPurpose, to: string, data: string, value: bigint): Promise<L1TxRecord> {
    await this.reconcile();
    if (this.blockedBy) throw new L1SendBlockedError(this.blockedBy);
    const estimate = await this.o.provider.estimateGas({ from: this.address, to, data, value });
    const gasLimit = gasLimitFor(purpose, estimate);
    // Someone else may have used this key since (a shared dev account): never reuse a spent nonce.
    this.nextNonce = Math.max(this.nextNonce, await this.o.provider.getTransactionCount(this.address, "pending"));
    const fees = await initialFees(this.o.provider, this.o.maxFeePerGasCap);
    const rec: L1TxRecord = {
      nonce: this.nextNonce,
      purpose,
      to,
      data,
      value: value.toString(),
      gasLimit: gasLimit.toString(),
      attempts: [],
    };
    const attempt = await signAttempt(this.o.wallet, this.chainId, rec, fees);
    rec.attempts.push(attempt);
    // Intent first: after a crash the signed transaction is re-sent, never a second one for the same purpose.
    await this.persist(rec);
    this.records.set(rec.nonce, rec);
    this.nextNonce++;
    try {
      await broadcast(this.o.provider, this.o.logger, rec, attempt);
    } catch (err) {
      if (isRefusal(err)) {
        // The node answered no to the only copy there is: nobody has it, so its nonce is free for what comes next
        // (an append, say, while a proposal's bond cannot be paid).
        await this.forget(rec);
        this.nextNonce = rec.nonce;
      }
      this.block(rec, err);
    }
    this.o.metrics.l1Transactions.inc({ purpose: purpose.kind, event: "sent" });
    this.o.logger.info(
      { nonce: rec.nonce, hash: attempt.hash, purpose, gasLimit: rec.gasLimit },
      "L1 transaction sent",
    );
    return rec;
  }

  /**
   * Waits until one attempt of `rec` is mined, replacing it with higher fees
   * whenever it has waited `stuckAfterMs`. Resolves with the receipt; throws
   * {@link L1TxRevertedError} if it reverted.
   */
  async waitMined(rec: L1TxRecord, shouldStop: () => boolean = () => false): Promise<TransactionReceipt> {
    let spentElsewhere = 0;
    for (;;) {
      const receipt = await findReceipt(this.o.provider, rec);
      if (receipt) {
        await this.markMined(rec, receipt);
        if (receipt.status !== 1) {
          this.o.metrics.l1Transactions.inc({ purpose: rec.purpose.kind, event: "reverted" });
          throw new L1TxRevertedError(rec, receipt);
        }
        return receipt;
      }
      if (shouldStop()) throw new BilayerError("STOPPING", "the operator is stopping");
      const used = await this.o.provider.getTransactionCount(this.address, "latest");
      if (used > rec.nonce && ++spentElsewhere >= 5) {
        // The nonce is spent and none of our attempts has a receipt: another transaction took it.
        await this.forget(rec);
        this.o.metrics.l1Transactions.inc({ purpose: rec.purpose.kind, event: "lost" });
        throw new L1TxLostError(rec);
      }
      if (used <= rec.nonce && !(await isKnown(this.o.provider, rec))) {
        // The node lost it or refused it (and maybe one before it): send again, in order. Throws while refused.
        await this.reconcile();
        if (this.blockedBy) throw new L1SendBlockedError(this.blockedBy);
      }
      const last = rec.attempts[rec.attempts.length - 1];
      if (Date.now() - last.sentAt >= this.o.stuckAfterMs) {
        const count = await this.o.provider.getTransactionCount(this.address, "latest");
        // The nonce is used but by none of our receipts yet: a receipt is about to show, do not replace.
        if (count <= rec.nonce) {
          try {
            await this.replace(rec);
          } catch (err) {
            if (err instanceof L1TxTooLargeError) throw err;
            this.block(rec, err);
          }
        } else last.sentAt = Date.now();
      }
      await sleep(this.o.pollMs);
    }
  }

  /**
   * Follows every unconfirmed transaction: forgets those `confirmations`
   * deep, and re-broadcasts any whose block left the chain (a reorg).
   * Returns the purposes that were re-broadcast after a reorg.
   */
  async poll(): Promise<TxPurpose[]> {
    if (this.records.size === 0) return [];
    const head = await this.o.provider.getBlockNumber();
    const reorged: TxPurpose[] = [];
    for (const rec of this.unconfirmed()) {
      const receipt = rec.mined
        ? await this.o.provider.getTransactionReceipt(rec.mined.hash)
        : await findReceipt(this.o.provider, rec);
      if (!receipt) {
        if (!rec.mined) continue; // still pending: `waitMined` looks after it
        this.o.logger.warn(
          { nonce: rec.nonce, hash: rec.mined.hash, purpose: rec.purpose },
          "L1 transaction left the chain (reorg); re-broadcasting",
        );
        this.o.metrics.l1Transactions.inc({ purpose: rec.purpose.kind, event: "reorged" });
        delete rec.mined;
        await this.persist(rec);
        await this.rebroadcast(rec);
        reorged.push(rec.purpose);
        continue;
      }
      // Newly seen, or seen again in another block after a reorg.
      if (!rec.mined || receipt.blockHash !== rec.mined.blockHash) await this.markMined(rec, receipt);
      if (head - receipt.blockNumber + 1 >= this.o.confirmations) {
        await this.o.onConfirmed?.(rec, receipt);
        await this.forget(rec);
        this.o.metrics.l1Transactions.inc({ purpose: rec.purpose.kind, event: "confirmed" });
        this.o.metrics.l1GasUsed.inc({ purpose: rec.purpose.kind }, Number(receipt.gasUsed));
      }
    }
    return reorged;
  }

  private async forget(rec: L1TxRecord): Promise<void> {
    this.records.delete(rec.nonce);
    await this.o.store.write([{ type: "del", key: PREFIX + keyNum(rec.nonce) }]);
  }

  private async markMined(rec: L1TxRecord, receipt: TransactionReceipt): Promise<void> {
    rec.mined = {
      hash: receipt.hash,
      blockNumber: receipt.blockNumber,
      blockHash: receipt.blockHash,
      status: receipt.status ?? 0,
      gasUsed: receipt.gasUsed.toString(),
    };
    await this.persist(rec);
  }

  /**
   * Replaces a transaction not yet mined with an empty transfer to self at
   * the same nonce and higher fees, so that its purpose cannot land any more
   * (unless the original is mined first: `waitMined` tells which).
   */
  async cancel(rec: L1TxRecord): Promise<void> {
    if (rec.mined || rec.cancelled) return;
    rec.cancelled = true;
    this.o.logger.warn({ nonce: rec.nonce, purpose: rec.purpose }, "cancelling an L1 transaction");
    await this.replace(rec);
  }

  /** Whether `receipt` is of one of the cancelling attempts of `rec`. */
  isCancellation(rec: L1TxRecord, receipt: TransactionReceipt): boolean {
    return (
      receipt.to?.toLowerCase() === this.address.toLowerCase() && rec.to.toLowerCase() !== this.address.toLowerCase()
    );
  }

  /** Replaces a stuck transaction with a copy paying `feeBumpPercent` more. */
  private async replace(rec: L1TxRecord): Promise<void> {
    const last = rec.attempts[rec.attempts.length - 1];
    const fees = await replacementFees(this.o.provider, last, this.o.feeBumpPercent, this.o.maxFeePerGasCap);
    if (fees === undefined) {
      this.o.logger.warn(
        { nonce: rec.nonce, cap: this.o.maxFeePerGasCap.toString() },
        "L1 transaction stuck at the fee cap; not bumping",
      );
      last.sentAt = Date.now();
      await this.rebroadcast(rec);
      return;
    }
    const attempt = await signAttempt(this.o.wallet, this.chainId, rec, fees);
    rec.attempts.push(attempt);
    await this.persist(rec);
    await broadcast(this.o.provider, this.o.logger, rec, attempt);
    this.o.metrics.l1Transactions.inc({ purpose: rec.purpose.kind, event: "replaced" });
    this.o.logger.warn(
      { nonce: rec.nonce, hash: attempt.hash, maxFeePerGas: attempt.maxFeePerGas, purpose: rec.purpose },
      "L1 transaction stuck; replaced with higher fees",
    );
  }

  /** Broadcasts the latest attempt again (after a restart or a reorg). */
  private async rebroadcast(rec: L1TxRecord): Promise<void> {
    const last = rec.attempts[rec.attempts.length - 1];
    await broadcast(this.o.provider, this.o.logger, rec, last);
    this.o.metrics.l1Transactions.inc({ purpose: rec.purpose.kind, event: "rebroadcast" });
  }

  private async persist(rec: L1TxRecord): Promise<void> {
    await this.o.store.write([{ type: "put", key: PREFIX + keyNum(rec.nonce), value: JSON.stringify(rec) }]);
  }
}
