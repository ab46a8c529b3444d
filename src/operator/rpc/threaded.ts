import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { RpcCode, RpcError } from "../errors";
import type { RpcHandler } from "./server";

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
}

/** A call of a method, forwarded by the HTTP thread. */
export interface ForwardedCall {
  cid: number;
  method: string;
  params: unknown;
}

/** The answer to a forwarded call. */
export type CallReply =
  { cid: number; result: unknown } | { cid: number; error: { code: number; message: string; data?: unknown } };

/** Messages from the HTTP thread. */
export type FromHttpThread =
  | { kind: "listening"; host: string; port: number }
  | { kind: "calls"; calls: ForwardedCall[]; counts: [string, number][] }
  | { kind: "route"; cid: number; path: string };

/** Messages to the HTTP thread. */
export type ToHttpThread =
  { kind: "replies"; replies: CallReply[] } | { kind: "route"; cid: number; answer: RouteAnswer } | { kind: "stop" };

/** What the HTTP thread is started with. */
export interface HttpThreadData {
  host: string;
  port: number;
  maxBodyBytes: number;
  maxBatchLength: number;
  methods: string[];
  routes: string[];
  logLevel: string;
}

/**
 * The JSON-RPC server with its HTTP side on a thread of its own: the worker
 * parses HTTP and JSON, checks the JSON-RPC envelope and writes the answers;
 * this thread runs the methods (where the state is), receiving the calls of
 * each turn of the worker's event loop in one message, in arrival order, and
 * answering them in one message per turn. On a machine with two cores, the
 * HTTP work then no longer competes with the sequencer's.
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
    const data: HttpThreadData = {
      host: this.o.host,
      port: this.o.port,
      maxBodyBytes: this.o.maxBodyBytes,
      maxBatchLength: this.o.maxBatchLength,
      methods: Object.keys(this.o.methods),
      routes: Object.keys(this.o.routes ?? {}),
      logLevel: this.o.logLevel,
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
      for (const call of msg.calls) this.run(call);
    } else if (msg.kind === "route") {
      void this.route(msg.cid, msg.path);
    }
  }

  private run(call: ForwardedCall): void {
    const handler = this.o.methods[call.method];
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve(handler(call.params as Parameters<RpcHandler>[0]));
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
      this.worker?.postMessage({ kind: "replies", replies } satisfies ToHttpThread);
    });
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
