import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { blsVerifyAggregateRaw } from "../protocol/bls";
import { BilayerError } from "../protocol/errors";

/*
 * Threads that check BLS chunks' aggregate signatures for the verifier's
 * replay (./aggregate-thread.ts), so that the checks of a batch run on the
 * machine's cores while the replay goes on (`Replica.replayChecked`). A
 * check travels packed: count (4 bytes) ‖ messages (32 each) ‖ keys (96
 * each, uncompressed) ‖ aggregate (96, compressed); the answer is whether
 * it holds. A check a thread cannot answer (it failed or exited) is made on
 * the calling thread: every check is answered, and always as
 * `blsVerifyAggregateRaw` answers it.
 */

/** A check to a thread (`holds` unset), or its answer; from a thread, `id` 0 says it is ready. */
export interface AggregateMessage {
  id: number;
  packed: Uint8Array;
  holds?: boolean;
}

/** Threads by default: one per core, at most 4 (the replay's own thread is idle while it waits). */
export const DEFAULT_AGGREGATE_THREADS = Math.min(4, os.availableParallelism());

/** The packed form of a check. */
export function packAggregate(messages: readonly Uint8Array[], keys: readonly Uint8Array[], signature: Uint8Array) {
  const n = messages.length;
  const out = new Uint8Array(4 + n * 128 + 96);
  new DataView(out.buffer).setUint32(0, n);
  messages.forEach((m, i) => out.set(m, 4 + i * 32));
  keys.forEach((k, i) => out.set(k, 4 + n * 32 + i * 96));
  out.set(signature, 4 + n * 128);
  return out;
}

/** Whether the packed check holds (`blsVerifyAggregateRaw` of its parts). */
export function checkPackedAggregate(packed: Uint8Array): boolean {
  const n = new DataView(packed.buffer, packed.byteOffset).getUint32(0);
  if (packed.length !== 4 + n * 128 + 96) return false;
  const messages = Array.from({ length: n }, (_, i) => packed.subarray(4 + i * 32, 4 + (i + 1) * 32));
  const keys = Array.from({ length: n }, (_, i) => packed.subarray(4 + n * 32 + i * 96, 4 + n * 32 + (i + 1) * 96));
  return blsVerifyAggregateRaw(messages, keys, packed.subarray(4 + n * 128));
}

interface Lane {
  worker: Worker;
  alive: boolean;
  /** Settles once the thread has loaded (or failed). */
  ready: Promise<void>;
  pending: Map<number, { packed: Uint8Array; done: (holds: boolean) => void }>;
}

export class AggregatePool {
  private readonly lanes: Lane[] = [];
  private nextId = 0;
  private nextLane = 0;

  constructor(
    threads: number,
    private readonly logger?: Logger,
  ) {
    // Run from TypeScript sources (ts-node), the threads need the same loader.
    const ts = __filename.endsWith(".ts");
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(path.join(__dirname, ts ? "aggregate-thread.ts" : "aggregate-thread.js"), {
        execArgv: ts ? ["-r", "ts-node/register/transpile-only"] : [],
      });
      let loaded = (): void => undefined;
      const lane: Lane = { worker, alive: true, pending: new Map(), ready: new Promise((r) => (loaded = r)) };
      worker.on("message", (msg: AggregateMessage) => {
        if (msg.id === 0) {
          // Loaded: idle from here on, it does not keep the process alive.
          if (lane.pending.size === 0) worker.unref();
          return loaded();
        }
        const job = lane.pending.get(msg.id);
        lane.pending.delete(msg.id);
        job?.done(msg.holds === true);
      });
      const fail = (err: unknown): void => {
        loaded();
        if (!lane.alive) return;
        this.logger?.error({ err }, "an aggregate thread failed; its checks are made on the replay's thread");
        this.retire(lane);
      };
      worker.on("error", fail);
      worker.on("exit", (code) =>
        fail(new BilayerError("THREAD_EXITED", `aggregate thread exited with code ${code}`, { context: { code } })),
      );
      worker.on("messageerror", (err) => {
        fail(err);
        void worker.terminate();
      });
      this.lanes.push(lane);
    }
  }

  /** Settles once every thread has loaded (or failed): checks sent before wait for it. */
  async ready(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.ready));
  }

  /** Number of threads still checking. */
  get threads(): number {
    return this.lanes.filter((l) => l.alive).length;
  }

  /** Whether `signature` aggregates a signature by `keys[i]` of `messages[i]` for each i, checked on a thread. */
  check(messages: readonly Uint8Array[], keys: readonly Uint8Array[], signature: Uint8Array): Promise<boolean> {
    const packed = packAggregate(messages, keys, signature);
    const lanes = this.lanes.filter((l) => l.alive);
    if (lanes.length === 0) return Promise.resolve(checkPackedAggregate(packed));
    const lane = lanes[this.nextLane++ % lanes.length];
    const id = ++this.nextId;
    return new Promise((resolve) => {
      lane.pending.set(id, { packed, done: resolve });
      lane.worker.ref();
      try {
        // A copy goes: `packed` stays here in case the thread cannot answer.
        lane.worker.postMessage({ id, packed } satisfies AggregateMessage);
      } catch (err) {
        this.logger?.warn({ err }, "a check could not be passed to an aggregate thread; made here");
        lane.pending.delete(id);
        resolve(checkPackedAggregate(packed));
      }
    }).finally(() => {
      if (lane.pending.size === 0) lane.worker.unref();
    }) as Promise<boolean>;
  }

  private retire(lane: Lane): void {
    lane.alive = false;
    for (const job of lane.pending.values()) job.done(checkPackedAggregate(job.packed));
    lane.pending.clear();
  }

  /** Ends the threads; checks still out are made on this thread. */
  async stop(): Promise<void> {
    const lanes = this.lanes.splice(0);
    for (const l of lanes) this.retire(l);
    await Promise.all(lanes.map((l) => l.worker.terminate()));
  }
}
