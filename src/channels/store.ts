import { ClassicLevel } from "classic-level";
import { BilayerError } from "../protocol/errors";

/** One write: a put of a UTF-8 value or a delete. */
export type StoreOp = { type: "put"; key: string; value: string } | { type: "del"; key: string };

/** A write that did not reach the disk; the store refuses every later write. */
export class ChannelStoreError extends BilayerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("STORE_WRITE_FAILED", message, { cause: options.cause });
  }
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The durable store of a channel client or watchtower: LevelDB (`classic-level`)
 * with group commit. `write` resolves only after `batch(..., { sync: true })`
 * returned, and every write issued while a flush runs goes to disk with the
 * next one, so thousands of channel updates a second share a few fsyncs.
 * Writes reach the disk, and their promises resolve, in the order they were
 * issued.
 */
export class ChannelStore {
  private pendingOps: StoreOp[] = [];
  private pendingWaiters: Waiter[] = [];
  private pendingSizes: number[] = [];
  /** The most operations a synced batch takes (unless a single write is larger). */
  maxBatchOps = 1_000_000;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private broken: ChannelStoreError | undefined;
  /** Number of synced batches written, and of operations in them (for benchmarks and metrics). */
  readonly stats = { flushes: 0, ops: 0 };

  private constructor(private readonly db: ClassicLevel<string, string>) {}

  /** Opens (creating if needed) the store in directory `location`. */
  static async open(location: string): Promise<ChannelStore> {
    const db = new ClassicLevel<string, string>(location, { keyEncoding: "utf8", valueEncoding: "utf8" });
    await db.open({ createIfMissing: true });
    return new ChannelStore(db);
  }

  get location(): string {
    return this.db.location;
  }

  /** Writes `ops` atomically and durably; resolves once they are on disk. */
  write(ops: StoreOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new ChannelStoreError("the store is closed"));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<void>((resolve, reject) => {
      for (const op of ops) this.pendingOps.push(op);
      this.pendingWaiters.push({ resolve, reject });
      this.pendingSizes.push(ops.length);
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    // Every write issued in this turn of the event loop joins the first group.
    await new Promise<void>((r) => setImmediate(r));
    while (this.pendingWaiters.length > 0) {
      // At most about `maxBatchOps` per synced batch (whole writes only, so each stays atomic): a long backlog
      // goes down in several batches whose writers resume in turn, instead of all at once after one long flush.
      let take = 0;
      let count = 0;
      while (take < this.pendingWaiters.length && (take === 0 || count + this.pendingSizes[take] <= this.maxBatchOps)) {
        count += this.pendingSizes[take];
        take++;
      }
      const ops = this.pendingOps.splice(0, count);
      const waiters = this.pendingWaiters.splice(0, take);
      this.pendingSizes.splice(0, take);
      try {
        if (this.broken) throw this.broken;
        await this.db.batch(lastPerKey(ops), { sync: true });
        this.stats.flushes += 1;
        this.stats.ops += ops.length;
      } catch (err) {
        // A later write may build on these: fail everything from here on rather than leave a gap on disk.
        this.broken =
          err instanceof ChannelStoreError
            ? err
            : new ChannelStoreError(`the store failed to write ${ops.length} records`, { cause: err });
        for (const w of waiters) w.reject(this.broken);
        continue;
      }
      for (const w of waiters) w.resolve();
    }
    this.flushing = undefined;
  }

  /** Whether a failed write has stopped the store. */
  get failed(): boolean {
    return this.broken !== undefined;
  }

  async get(key: string): Promise<string | undefined> {
    return this.db.get(key);
  }

  /** Every `[key, value]` whose key starts with `prefix`, in key order. */
  async entries(prefix: string): Promise<[string, string][]> {
    const out: [string, string][] = [];
    // Keys are ASCII, so "\xff" bounds the prefix range.
    for await (const entry of this.db.iterator({ gte: prefix, lt: prefix + "\xff" })) out.push(entry);
    return out;
  }

  /** Waits for pending writes, then closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushing) await this.flushing;
    await this.db.close();
  }
}

/**
 * The batch with only the last operation on each key (in the order those last operations came): what LevelDB would
 * leave anyway, for less work. A channel's latest state is written once per flush however many updates it took.
 */
function lastPerKey(ops: StoreOp[]): StoreOp[] {
  if (ops.length < 2) return ops;
  const last = new Map<string, number>();
  for (let i = 0; i < ops.length; i++) last.set(ops[i].key, i);
  if (last.size === ops.length) return ops;
  const out: StoreOp[] = [];
  for (let i = 0; i < ops.length; i++) if (last.get(ops[i].key) === i) out.push(ops[i]);
  return out;
}

/** A version as fixed-width hex, so keys sort by version. */
export function versionKey(version: bigint): string {
  return version.toString(16).padStart(16, "0");
}
