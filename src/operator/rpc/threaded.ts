import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { RpcCode, RpcError } from "../errors";
import { presignedAt, type SenderHints } from "../presign";
import type { CallContext, RpcHandler } from "./server";

/** What a GET route answers. */
export interface RouteAnswer {
  status: number;
  contentType: string;
  body: string;
}

export interface ThreadedRpcOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  maxBatchLength: number;
  methods: Readonly<Record<string, RpcHandler>>;
  /** GET routes by path, answered by this thread. */
  routes?: Readonly<Record<string, () => RouteAnswer | Promise<RouteAnswer>>>;
  logger: Logger;
  /** pino level of the HTTP thread's own log lines. */
  logLevel: string;
  /** Called once per answered request object, with its error code or 0. */
  onResponse?(method: string, code: number): void;
  mapError?(err: unknown): RpcError | undefined;
  /**
   * Recover the signer of each `l2_sendTransaction` before it gets here,
   * and hand it to the method as `context.presigned` (../presign.ts): the
   * inbox's domain separator; the source of what the HTTP thread needs to
   * know about senders (the sequencer's `senderHints`), asked each time
   * answers go to the HTTP thread and sent with them; and how many threads
   * recover (default {@link DEFAULT_PRESIGN_THREADS}; 0: the HTTP thread itself).
   */
  presign?: { domainSeparator: string; hints(): SenderHints | undefined; threads?: number };
}

/**
 * Default number of presign threads: the cores beyond the two that the HTTP
 * thread and this one keep busy, at most 4. On a machine of two cores, none:
 * the HTTP thread recovers the signatures itself, which costs the least CPU
 * in all (a pool's hand-offs and extra threads cost more than they save
 * when there is no idle core to run them; measured with `npm run bench --
 * sequencer`).
 */
export const DEFAULT_PRESIGN_THREADS = Math.min(4, Math.max(0, os.availableParallelism() - 2));

/** The method whose signatures are recovered ahead, with `presign`. */
export const PRESIGNED_METHOD = "l2_sendTransaction";

/** A call of a method, forwarded by the HTTP thread. */
export interface ForwardedCall {
  cid: number;
  method: string;
  params: unknown;
  /** Its record in the message's `presigned` records. */
  presign?: number;
}

/** The answer to a forwarded call. */
export type CallReply =
  { cid: number; result: unknown } | { cid: number; error: { code: number; message: string; data?: unknown } };

/** Messages from the HTTP thread. */
export type FromHttpThread =
  | { kind: "listening"; host: string; port: number }
  | { kind: "calls"; calls: ForwardedCall[]; counts: [string, number][]; presigned?: Uint8Array }
  | { kind: "route"; cid: number; path: string };

/** Messages to the HTTP thread. `hints` are applied before the replies are answered. */
export type ToHttpThread =
  | { kind: "replies"; replies: CallReply[]; hints?: SenderHints }
  | { kind: "route"; cid: number; answer: RouteAnswer }
  | { kind: "stop" };

/** What the HTTP thread is started with. */
export interface HttpThreadData {
  host: string;
  port: number;
  maxBodyBytes: number;
  maxBatchLength: number;
  methods: string[];
  routes: string[];
  logLevel: string;
  /** With `presign`: the domain the digests are for, and the number of presign threads. */
  presign?: { domainSeparator: string; threads: number };
}

/**
 * The JSON-RPC server with its HTTP side on a thread of its own: the worker
 * parses HTTP and JSON, checks the JSON-RPC envelope and writes the answers;
 * this thread runs the methods (where the state is), receiving the calls of
 * each turn of the worker's event loop in one message, in arrival order, and
 * answering them in one message per turn. On a machine with two cores, the
 * HTTP work then no longer competes with the sequencer's. With `presign`,
 * each transaction's signer — the largest part of the sequencer's work — is
 * recovered before the call gets here — by the HTTP thread, or a pool of
 * threads it runs — for the sequencer to use if, and only if, it is for the
 * digest and signature it checks.
 */
export class ThreadedJsonRpcServer {
  private readonly o: ThreadedRpcOptions;
  private worker: Worker | undefined;
  private outbox: CallReply[] = [];
  private flushScheduled = false;

  constructor(opts: ThreadedRpcOptions) {
    this.o = opts;
  }

  async start(): Promise<{ host: string; port: number; url: string }> {
    const presign = this.o.presign;
    const data: HttpThreadData = {
      host: this.o.host,
      port: this.o.port,
      maxBodyBytes: this.o.maxBodyBytes,
      maxBatchLength: this.o.maxBatchLength,
      methods: Object.keys(this.o.methods),
      routes: Object.keys(this.o.routes ?? {}),
      logLevel: this.o.logLevel,
      ...(presign
        ? {
            presign: {
              domainSeparator: presign.domainSeparator,
              threads: Math.max(0, Math.floor(presign.threads ?? DEFAULT_PRESIGN_THREADS)),
            },
          }
        : {}),
    };
    // Run from TypeScript sources (ts-node: tests, Hardhat tasks), the worker needs the same loader.
    const ts = __filename.endsWith(".ts");
    const worker = new Worker(path.join(__dirname, ts ? "http-thread.ts" : "http-thread.js"), {
      workerData: data,
      execArgv: ts ? ["-r", "ts-node/register/transpile-only"] : [],
    });
    this.worker = worker;
    const listening = await new Promise<{ host: string; port: number }>((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new RpcError(RpcCode.InternalError, `the HTTP thread exited (${code}) before listening`));
      worker.once("error", reject);
      worker.once("exit", onExit);
      worker.once("message", (msg: FromHttpThread) => {
        worker.off("error", reject);
        worker.off("exit", onExit);
        if (msg.kind === "listening") resolve(msg);
        else reject(new RpcError(RpcCode.InternalError, "the HTTP thread did not start"));
      });
    });
    worker.on("message", (msg: FromHttpThread) => this.onMessage(msg));
    worker.on("error", (err) => this.o.logger.error({ err }, "the HTTP thread failed"));
    // What the HTTP thread needs to know about senders before the first call.
    this.post([]);
    return { ...listening, url: `http://${listening.host}:${listening.port}` };
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise<void>((r) => worker.once("exit", () => r()));
    worker.postMessage({ kind: "stop" } satisfies ToHttpThread);
    const timer = setTimeout(() => void worker.terminate(), 3_000);
    await exited;
    clearTimeout(timer);
  }

  private onMessage(msg: FromHttpThread): void {
    if (msg.kind === "calls") {
      for (const [method, code] of msg.counts) this.o.onResponse?.(method, code);
      // In arrival order: each method's synchronous part (a transaction's whole application) runs now.
      for (const call of msg.calls) {
        const presigned =
          call.presign !== undefined && msg.presigned ? presignedAt(msg.presigned, call.presign) : undefined;
        this.run(call, presigned && { presigned });
      }
    } else if (msg.kind === "route") {
      void this.route(msg.cid, msg.path);
    }
  }

  private run(call: ForwardedCall, context: CallContext | undefined): void {
    const handler = this.o.methods[call.method];
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve(handler(call.params as Parameters<RpcHandler>[0], context));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (result) => this.reply({ cid: call.cid, result: result === undefined ? null : result }),
      (err: unknown) => {
        const mapped = err instanceof RpcError ? err : this.o.mapError?.(err);
        if (mapped)
          this.reply({ cid: call.cid, error: { code: mapped.rpcCode, message: mapped.message, data: mapped.data } });
        else {
          this.o.logger.error({ err, method: call.method }, "internal error in an RPC method");
          this.reply({ cid: call.cid, error: { code: RpcCode.InternalError, message: "internal error" } });
        }
      },
    );
  }

  private reply(r: CallReply): void {
    this.outbox.push(r);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const replies = this.outbox;
      this.outbox = [];
      this.post(replies);
    });
  }

  /** Sends replies, with what changed for senders first (when presigning). */
  private post(replies: CallReply[]): void {
    const worker = this.worker;
    if (!worker) return;
    const hints = this.o.presign?.hints();
    if (hints) {
      const msg: ToHttpThread = { kind: "replies", replies, hints };
      worker.postMessage(msg, [hints.entries.buffer as ArrayBuffer]);
    } else if (replies.length > 0) {
      worker.postMessage({ kind: "replies", replies } satisfies ToHttpThread);
    }
  }

  private async route(cid: number, path: string): Promise<void> {
    let answer: RouteAnswer;
    try {
      const route = this.o.routes?.[path];
      answer = route ? await route() : { status: 404, contentType: "text/plain", body: "not found\n" };
    } catch (err) {
      this.o.logger.error({ err, path }, "route failed");
      answer = { status: 500, contentType: "text/plain", body: "internal error\n" };
    }
    this.worker?.postMessage({ kind: "route", cid, answer } satisfies ToHttpThread);
  }
}
