import type { KeyValueStore, StoreOp } from "../../common/store";
import { RefusedError } from "../refusals";
import {
  batchKey,
  encodeDropped,
  encodeTx,
  hashKey,
  KEY_OPEN,
  txKey,
  waitingKey,
  type BatchRecord,
  type DroppedTx,
  type OpenBatchRecord,
  type StoredTx,
} from "../records";

/**
 * The sequencer's write-ahead journal: the store operations of everything that happened, buffered in the order it
 * happened and written as one group commit. What is on disk is therefore always a prefix of what was applied; a
 * restart replays it (./replay.ts). A transaction is acknowledged only once the commit holding it resolves; a
 * batch is handed to the batcher only once its record is durable.
 */
export class Journal {
  /** Store operations in the order the events happened, written by the next `commit()`. */
  private buffered: StoreOp[] = [];
  /** Batches closed since the last `commit()`: durable once it resolves. */
  private closed: BatchRecord[] = [];
  /** Settles once the latest write issued has (resolved or failed). */
  private lastCommit: Promise<void> = Promise.resolve();
  /** Highest sequence number + 1 whose write resolved: what this process acknowledged. */
  acknowledgedSeq = 0;
  /** Closed batches whose record is on disk. */
  durableBatches = 0;
  /** Called after a batch is closed and durably stored. */
  onBatchDurable: ((batch: BatchRecord) => void) | undefined;

  /**
   * `nextSeq()`: the sequence number after the last one applied (what a commit makes durable); `failed(err)`:
   * starts the recovery from a failed write.
   */
  constructor(
    private readonly store: KeyValueStore,
    private readonly nextSeq: () => number,
    private readonly failed: (err: unknown) => void,
  ) {}

  /** Forgets what is buffered (the state is being rebuilt from the store). */
  reset(): void {
    this.buffered = [];
    this.closed = [];
  }

  /** Whether anything waits for the next commit. */
  get pending(): boolean {
    return this.buffered.length > 0;
  }

  /** An accepted transaction, under its sequence number. */
  putTx(t: StoredTx & { seq: number }): void {
    this.buffered.push({ type: "put", key: txKey(t.seq), value: encodeTx(t) });
  }

  /** A transaction waiting for an earlier nonce. */
  putWaiting(t: StoredTx): void {
    this.buffered.push({ type: "put", key: waitingKey(t.from, t.nonce), value: encodeTx(t) });
  }

  delWaiting(from: number, nonce: number): void {
    this.buffered.push({ type: "del", key: waitingKey(from, nonce) });
  }

  /** A waiting transaction skipped when its turn came. */
  putDropped(d: DroppedTx): void {
    this.buffered.push({ type: "put", key: hashKey(d.hash), value: encodeDropped(d) });
  }

  /** The batch being filled (what a restart re-opens). */
  putOpen(rec: OpenBatchRecord): void {
    this.buffered.push({ type: "put", key: KEY_OPEN, value: JSON.stringify(rec) });
  }

  /** A closed batch, replacing the open one; handed to `onBatchDurable` once durable. */
  putClosed(rec: BatchRecord): void {
    this.buffered.push(
      { type: "put", key: batchKey(rec.index), value: JSON.stringify(rec) },
      { type: "del", key: KEY_OPEN },
    );
    this.closed.push(rec);
  }

  /**
   * Writes everything buffered, in order, as one durable group-commit write. Batches closed in it become durable
   * (and are handed to the batcher) once it resolves. A failure starts the recovery.
   */
  commit(): Promise<void> {
    const ops = this.buffered;
    const closed = this.closed;
    this.buffered = [];
    this.closed = [];
    const upTo = this.nextSeq();
    const written = this.store.write(ops).then(
      () => {
        this.acknowledgedSeq = Math.max(this.acknowledgedSeq, upTo);
        for (const rec of closed) {
          this.durableBatches = Math.max(this.durableBatches, rec.index + 1);
          this.onBatchDurable?.(rec);
        }
      },
      (err: unknown) => {
        this.failed(err);
        throw err;
      },
    );
    // Writes complete in the order they were issued: once this one settles, everything before it has too.
    this.lastCommit = written.catch(() => undefined);
    return written;
  }

  /** `commit()` for a caller waiting to acknowledge: a failure becomes the API's store error. */
  async commitOrFail(): Promise<void> {
    try {
      await this.commit();
    } catch (err) {
      throw new RefusedError("STORE_FAILED", "the transaction could not be stored durably and was not accepted", {
        cause: err,
      });
    }
  }

  /** `commit()` with nobody waiting (timers): a failure is handled by the recovery it starts. */
  commitInBackground(): void {
    if (this.buffered.length === 0) return;
    this.commit().catch(() => undefined);
  }

  /** Settles once every write issued so far has. */
  async written(): Promise<void> {
    await this.lastCommit;
  }
}
