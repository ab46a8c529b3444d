/**
 * The one store kit of the services (operator, verifier, channel clients,
 * watchtower): string keys and UTF-8 values on LevelDB (`classic-level`),
 * every write atomic and synced, many writers sharing one fsync (group
 * commit); a memory twin for tests; and the key helpers that make keys sort
 * by number. Each service keeps its own key layout (its `records.ts`).
 */
import { ClassicLevel } from "classic-level";
import { BilayerError } from "../protocol/errors";

/** One write of a group commit: a put of a UTF-8 value or a delete. */
export type StoreOp = { type: "put"; key: string; value: string } | { type: "del"; key: string };

/** The key-value operations the services need; {@link LevelStore} is the durable one. */
export interface KeyValueStore {
  /**
   * Writes `ops` atomically and durably (fsync). Writes issued while a flush
   * is in progress are grouped into the next flush, so many concurrent callers
   * share one synced write (group commit). Resolves once the write is on disk;
   * rejects with {@link StoreWriteError} if it is not.
   */
  write(ops: StoreOp[]): Promise<void>;
  /** The value at `key`, or `undefined`. */
  get(key: string): Promise<string | undefined>;
  /** Every `[key, value]` whose key starts with `prefix` (and is at least `from`), in key order. */
  entries(prefix: string, from?: string): AsyncIterable<[string, string]>;
  /** The same, collected. */
  list(prefix: string, from?: string): Promise<[string, string][]>;
  /** Flushes what is pending and closes the store. */
  close(): Promise<void>;
  /** Whether a failed write has stopped the store: every write fails until {@link reopen}. */
  readonly failed: boolean;
  /**
   * After a failed write: closes the store and opens it again, so that what
   * it holds is exactly what a later open reads back, then accepts writes
   * again. (LevelDB's log is left torn by a failed write; writing on after it
   * on the same handle, the later writes report success and a later open
   * drops them.) Call it before reloading state from the store.
   */
  reopen(): Promise<void>;
}

/** A group-commit write that did not reach the disk. */
export class StoreWriteError extends BilayerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("STORE_WRITE_FAILED", message, { cause: options.cause });
  }
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** Statistics of the group commit, for metrics. */
export interface FlushStats {
  ops: number;
  writers: number;
  ms: number;
}

/** How a {@link LevelStore} groups writes. */
export interface LevelStoreOptions {
  /**
   * The most operations one synced batch takes (whole writes only, so each stays atomic; a single larger write
   * goes alone): a long backlog goes down in several batches whose writers resume in turn. Default: no limit.
   */
  maxBatchOps?: number;
  /**
   * Write only the last operation on each key of a batch (what LevelDB would leave anyway): for stores that
   * rewrite the same keys many times a second (a channel's latest state).
   */
  collapseKeys?: boolean;
}

/** The `[gte, lt)` range of the keys starting with `prefix` (keys are ASCII, so "\xff" bounds it). */
export function prefixRange(prefix: string, from?: string): { gte: string; lt: string } {
  return { gte: from !== undefined && from > prefix ? from : prefix, lt: prefix + "\xff" };
}

async function collect(entries: AsyncIterable<[string, string]>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const entry of entries) out.push(entry);
  return out;
}

/**
 * Durable store on LevelDB (`classic-level`) with group commit: a write is
 * acknowledged only after `batch(..., { sync: true })` returned, and all the
 * writes that arrive while one flush is running go to disk together in the
 * next, which is what lets thousands of acknowledged transactions a second
 * share a few fsyncs.
 */
export class LevelStore implements KeyValueStore {
  private db: ClassicLevel<string, string>;
  /** While `reopen` runs: reads wait for it. */
  private reopening: Promise<void> | undefined;
  private pendingOps: StoreOp[] = [];
  private pendingWaiters: Waiter[] = [];
  private pendingSizes: number[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Set by a failed flush: every later write fails too, until `reopen()`, so the disk never holds a gap. */
  private broken: StoreWriteError | undefined;
  /** Called after every flush; the operator feeds it to its metrics. */
  onFlush: ((stats: FlushStats) => void) | undefined;
  /** Synced batches written, and the operations in them (for benchmarks and metrics). */
  readonly stats = { flushes: 0, ops: 0 };
  private readonly maxBatchOps: number;
  private readonly collapseKeys: boolean;

  private constructor(db: ClassicLevel<string, string>, options: LevelStoreOptions) {
    this.db = db;
    this.maxBatchOps = options.maxBatchOps ?? Infinity;
    this.collapseKeys = options.collapseKeys ?? false;
  }

  /** Opens (creating if needed) the store at directory `location`. */
  static async open(location: string, options: LevelStoreOptions = {}): Promise<LevelStore> {
    return new LevelStore(await LevelStore.openDb(location), options);
  }

  private static async openDb(location: string): Promise<ClassicLevel<string, string>> {
    const db = new ClassicLevel<string, string>(location, { keyEncoding: "utf8", valueEncoding: "utf8" });
    await db.open({ createIfMissing: true });
    return db;
  }

  get location(): string {
    return this.db.location;
  }

  write(ops: StoreOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new StoreWriteError("the store is closed"));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<void>((resolve, reject) => {
      for (const op of ops) this.pendingOps.push(op);
      this.pendingWaiters.push({ resolve, reject });
      this.pendingSizes.push(ops.length);
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    // Let every write issued in the current turn of the event loop join this group.
    await new Promise<void>((r) => setImmediate(r));
    while (this.pendingWaiters.length > 0) {
      const { ops, waiters } = this.takeGroup();
      const started = performance.now();
      try {
        if (this.broken) throw this.broken;
        await this.db.batch(this.collapseKeys ? lastPerKey(ops) : ops, { sync: true });
        this.stats.flushes += 1;
        this.stats.ops += ops.length;
      } catch (err) {
        const failure =
          err instanceof StoreWriteError
            ? err
            : new StoreWriteError(`the store failed to write ${ops.length} records`, { cause: err });
        // Later writes may depend on these (a nonce, a balance): fail them all rather than leave a gap.
        this.broken = failure;
        for (const w of waiters) w.reject(failure);
        continue;
      }
      this.onFlush?.({ ops: ops.length, writers: waiters.length, ms: performance.now() - started });
      for (const w of waiters) w.resolve();
    }
    this.flushing = undefined;
  }

  /** The writes of the next synced batch: every pending one, or as many whole writes as `maxBatchOps` allows. */
  private takeGroup(): { ops: StoreOp[]; waiters: Waiter[] } {
    if (this.maxBatchOps === Infinity) {
      const group = { ops: this.pendingOps, waiters: this.pendingWaiters };
      this.pendingOps = [];
      this.pendingWaiters = [];
      this.pendingSizes = [];
      return group;
    }
    let take = 0;
    let count = 0;
    while (take < this.pendingWaiters.length && (take === 0 || count + this.pendingSizes[take] <= this.maxBatchOps)) {
      count += this.pendingSizes[take];
      take++;
    }
    this.pendingSizes.splice(0, take);
    return { ops: this.pendingOps.splice(0, count), waiters: this.pendingWaiters.splice(0, take) };
  }

  /** Whether a failed write has stopped the store (see {@link reopen}). */
  get failed(): boolean {
    return this.broken !== undefined;
  }

  /** {@inheritDoc KeyValueStore.reopen} Throws (and stays failed) if the store cannot be opened again yet. */
  async reopen(): Promise<void> {
    if (this.closed) throw new StoreWriteError("the store is closed");
    if (this.reopening) return this.reopening;
    this.reopening = (async () => {
      if (this.flushing) await this.flushing;
      const location = this.db.location;
      await this.db.close().catch(() => undefined);
      // Opening recovers the log (dropping a torn last record) into a fresh one; with the disk still full it fails.
      this.db = await LevelStore.openDb(location);
      this.broken = undefined;
    })().finally(() => {
      this.reopening = undefined;
    });
    return this.reopening;
  }

  async get(key: string): Promise<string | undefined> {
    if (this.reopening) await this.reopening.catch(() => undefined);
    return this.db.get(key);
  }

  async *entries(prefix: string, from?: string): AsyncIterable<[string, string]> {
    if (this.reopening) await this.reopening.catch(() => undefined);
    for await (const entry of this.db.iterator(prefixRange(prefix, from))) yield entry;
  }

  list(prefix: string, from?: string): Promise<[string, string][]> {
    return collect(this.entries(prefix, from));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reopening) await this.reopening.catch(() => undefined);
    if (this.flushing) await this.flushing;
    await this.db.close();
  }
}

/** A store kept in memory, for tests and for tools that need no durability. */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  /** When set, the next writes fail with this error (tests of store failures). */
  failWrites: Error | undefined;
  private broken = false;

  get failed(): boolean {
    return this.broken;
  }

  reopen(): Promise<void> {
    if (this.failWrites) return Promise.reject(new StoreWriteError("the store cannot be opened again yet"));
    this.broken = false;
    return Promise.resolve();
  }

  write(ops: StoreOp[]): Promise<void> {
    if (this.failWrites || this.broken) {
      this.broken = true;
      return Promise.reject(new StoreWriteError("the store failed to write", { cause: this.failWrites }));
    }
    for (const op of ops) {
      if (op.type === "put") this.map.set(op.key, op.value);
      else this.map.delete(op.key);
    }
    return Promise.resolve();
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.map.get(key));
  }

  async *entries(prefix: string, from?: string): AsyncIterable<[string, string]> {
    const keys = [...this.map.keys()].filter((k) => k.startsWith(prefix) && (from === undefined || k >= from)).sort();
    for (const k of keys) {
      const v = this.map.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  list(prefix: string, from?: string): Promise<[string, string][]> {
    return collect(this.entries(prefix, from));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Fixed-width lower-case hex of a non-negative integer, so keys sort numerically. */
export function keyNum(n: number | bigint, width = 12): string {
  return n.toString(16).padStart(width, "0");
}

/** Fixed-width decimal of a non-negative integer, so keys sort numerically (the verifier's layout). */
export function decimalKey(n: number | bigint, width = 12): string {
  return n.toString().padStart(width, "0");
}

/**
 * The batch with only the last operation on each key (in the order those last operations came): what LevelDB would
 * leave anyway, for less work.
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
