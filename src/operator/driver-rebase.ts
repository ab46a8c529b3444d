/**
 * How the L1 driver follows L1 where it parts from the local sequence (a
 * batch appended by someone else, a forced inclusion, a batch the inbox
 * would refuse): every append of ours still in flight is cancelled, L1's
 * batches are read from the first that differs, and the sequencer adopts
 * them and sequences again what it had after them.
 */
import { fetchBatchChunks } from "../l1/calldata";
import { batchAppended } from "../l1/events";
import { BilayerError } from "../protocol/errors";
import type { DriverOptions, DriverState } from "./driver-state";
import { L1TxLostError, L1TxRevertedError } from "./l1-tx";
import type { AdoptedBatch } from "./sequencer";

export class DriverRebase {
  private readonly o: DriverOptions;

  constructor(private readonly s: DriverState) {
    this.o = s.o;
  }

  /**
   * Brings the local sequence back in line with L1 from batch `k` on: stops
   * every append of ours still in flight (an empty self-transfer takes its
   * nonce), reads L1's batches from `k` with their chunks, and has the
   * sequencer adopt them and sequence again everything it had after them.
   */
  async reconcile(k: number): Promise<void> {
    const { sender, inbox, sequencer } = this.o;
    for (const rec of sender.unconfirmed()) {
      if (rec.purpose.kind !== "append" || rec.mined) continue;
      await sender.cancel(rec);
      try {
        const receipt = await sender.waitMined(rec, () => this.s.stopped);
        if (!sender.isCancellation(rec, receipt))
          this.o.logger.warn({ purpose: rec.purpose }, "an append landed before its cancellation");
      } catch (err) {
        if (!(err instanceof L1TxLostError) && !(err instanceof L1TxRevertedError)) throw err;
      }
    }
    const count = Number(await inbox.batchCount());
    const adopted: AdoptedBatch[] = [];
    try {
      for (let i = k; i < count; i++) adopted.push(await this.readL1Batch(i));
      const needed = Math.max(0, ...adopted.map((b) => b.queueEnd));
      if (needed > sequencer.queueLength) {
        this.o.logger.info(
          { needed, known: sequencer.queueLength },
          "waiting for the queue follower before reconciling",
        );
        return;
      }
      await sequencer.rebase(k, adopted);
    } catch (err) {
      this.s.halt(`cannot follow L1 from batch ${k}: ${(err as Error).message}`);
      return;
    }
    this.s.verified = k + adopted.length;
    for (let i = k; i < this.s.verified; i++) sequencer.releaseChunks(i);
    this.s.diverged = undefined;
  }

  /** Batch `index` as L1 holds it: its record from the event, its chunks from the calldata. */
  private async readL1Batch(index: number): Promise<AdoptedBatch> {
    const { inbox, provider } = this.o;
    const events = await inbox.queryFilter(inbox.filters.BatchAppended(index), this.o.startBlock);
    const event = events[events.length - 1];
    if (!event) throw new BilayerError("L1_BATCH_MISSING", `no BatchAppended event for batch ${index}`);
    const record = batchAppended(event.args);
    const chunks = record.forced
      ? []
      : await fetchBatchChunks(provider, await inbox.getAddress(), {
          ...record,
          transactionHash: event.transactionHash,
        });
    return {
      index,
      queueStart: record.queueStart,
      queueEnd: record.queueEnd,
      chunks,
      feeRecipient: record.feeRecipient,
      commitment: record.commitment,
    };
  }
}
