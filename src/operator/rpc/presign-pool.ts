import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { BilayerError } from "../../protocol/errors";
import { RECORD_BYTES, recoverRecords } from "../presign";

/** Packed records to recover (to a presign thread), or recovered (from it). */
export interface PresignMessage {
  id: number;
  records: Uint8Array;
}

interface Lane {
  worker: Worker;
  alive: boolean;
  pending: Map<number, (records: Uint8Array | undefined) => void>;
}

/**
 * Threads that recover signatures for the HTTP thread (./presign-thread.ts),
 * so that the recoveries of a burst of transactions run side by side on
 * the machine's cores. With no thread (or none left alive), it recovers on
 * the calling thread.
 */
export class PresignPool {
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
      const worker = new Worker(path.join(__dirname, ts ? "presign-thread.ts" : "presign-thread.js"), {
        execArgv: ts ? ["-r", "ts-node/register/transpile-only"] : [],
      });
      const lane: Lane = { worker, alive: true, pending: new Map() };
      worker.on("message", (msg: PresignMessage) => {
        const done = lane.pending.get(msg.id);
        lane.pending.delete(msg.id);
        done?.(msg.records);
      });
      const fail = (err: unknown): void => {
        if (!lane.alive) return;
        this.logger?.error({ err }, "a presign thread failed; its recoveries are left to the sequencer");
        this.retire(lane);
      };
      worker.on("error", fail);
      worker.on("exit", (code) =>
        fail(new BilayerError("THREAD_EXITED", `presign thread exited with code ${code}`, { context: { code } })),
      );
      // A reply that cannot be read cannot be matched to its recovery: the thread is retired (and ended).
      worker.on("messageerror", (err) => {
        fail(err);
        void worker.terminate();
      });
      this.lanes.push(lane);
    }
  }

  /** Number of threads still recovering. */
  get threads(): number {
    return this.lanes.filter((l) => l.alive).length;
  }

  /**
   * Recovers packed records (../presign.ts), split among the threads; the
   * records of a thread that failed come back not recovered. Never rejects.
   */
  async recover(records: Uint8Array): Promise<Uint8Array> {
    const lanes = this.lanes.filter((l) => l.alive);
    const count = Math.floor(records.length / RECORD_BYTES);
    if (lanes.length === 0) {
      recoverRecords(records);
      return records;
    }
    // Contiguous shares, one per thread, from the thread after the last one used.
    const shares = Math.min(lanes.length, count);
    const per = Math.ceil(count / shares) * RECORD_BYTES;
    if (shares <= 1) return this.send(lanes[this.nextLane++ % lanes.length], records);
    const parts: Promise<Uint8Array>[] = [];
    for (let at = 0; at < records.length; at += per) {
      parts.push(this.send(lanes[this.nextLane++ % lanes.length], records.slice(at, at + per)));
    }
    const out = new Uint8Array(records.length);
    let at = 0;
    for (const part of await Promise.all(parts)) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** The records recovered by `lane` (they are handed over: the caller's copy is detached). */
  private send(lane: Lane, records: Uint8Array): Promise<Uint8Array> {
    const id = ++this.nextId;
    const length = records.length;
    return new Promise((resolve) => {
      // Lost with the thread, or not sent: as many records, none recovered.
      lane.pending.set(id, (recovered) => resolve(recovered ?? new Uint8Array(length)));
      try {
        lane.worker.postMessage({ id, records } satisfies PresignMessage, [records.buffer as ArrayBuffer]);
      } catch (err) {
        this.logger?.warn({ err }, "records could not be passed to a presign thread; left to the sequencer");
        lane.pending.delete(id);
        resolve(new Uint8Array(length));
      }
    });
  }

  private retire(lane: Lane): void {
    lane.alive = false;
    for (const done of lane.pending.values()) done(undefined);
    lane.pending.clear();
  }

  /** Ends the threads; recoveries still out come back not recovered. */
  async stop(): Promise<void> {
    const lanes = this.lanes.splice(0);
    for (const l of lanes) this.retire(l);
    await Promise.all(lanes.map((l) => l.worker.terminate()));
  }
}
