import os from "node:os";
import path from "node:path";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { RpcCode, RpcError } from "../errors";
import { presignedAt, type SenderHints } from "../presign";
import type { CallContext, RpcHandler, RpcServerOptions } from "../../common/json-rpc-server";

/** What a GET route answers. */
export interface RouteAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** The in-thread server's options (listening, limits, methods, logger, error mapping), and what threads add. */
export interface ThreadedRpcOptions extends Pick<
  RpcServerOptions,
  "host" | "port" | "maxBodyBytes" | "maxBatchLength" | "maxJsonDepth" | "methods" | "logger" | "mapError"
> {
  /** GET routes by path, answered by this thread. */
  routes?: Readonly<Record<string, () => RouteAnswer | Promise<RouteAnswer>>>;
  /** pino level of the HTTP thread's own log lines. */
  logLevel: string;
  /** Called once per answered request object, with its error code or 0. */
  onResponse?(method: string, code: number): void;
  /** Called on each failure of the HTTP thread (it is also logged, and kept as {@link ThreadedJsonRpcServer.lastFailure}). */
  onThreadFailure?(failure: ThreadFailure): void;
  /** Called each time another HTTP thread serves in place of one that exited. */
  onThreadRestart?(): void;
  /** Limits of the HTTP thread (`node:worker_threads`), e.g. its heap or its stack. */
  resourceLimits?: ResourceLimits;
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

/**
 * Messages from the HTTP thread, numbered: each thread numbers its messages
 * 1, 2, 3, … in the order it posts them, and they arrive in that order, each
 * as a `message` event or, if it cannot be read here, a `messageerror`
 * event. So this thread knows the number of a message it could not read,
 * and reports it (`lost`) for the HTTP thread to answer that message's
 * calls.
 */
export type FromHttpThread = FromHttpThreadBody & { seq: number };

/** {@link FromHttpThread} before it is numbered. */
export type FromHttpThreadBody =
  | { kind: "listening"; host: string; port: number }
  | { kind: "calls"; calls: ForwardedCall[]; counts: [string, number][]; presigned?: Uint8Array }
  | { kind: "route"; cid: number; path: string }
  /** It could not read a message of this thread's; the calls waiting were answered -32603. */
  | { kind: "unreadable"; reason: string }
  /** It failed (an uncaught exception): it answered its calls -32603 and exits. */
  | { kind: "fatal"; reason: string };

/** Messages to the HTTP thread. `hints` are applied before the replies are answered. */
export type ToHttpThread =
  | { kind: "replies"; replies: CallReply[]; hints?: SenderHints }
  | { kind: "route"; cid: number; answer: RouteAnswer }
  /** Its message `seq` could not be read here: its calls did not run. */
  | { kind: "lost"; seq: number }
  | { kind: "stop" };

/** What the HTTP thread is started with. */
export interface HttpThreadData {
  host: string;
  port: number;
  maxBodyBytes: number;
  maxBatchLength: number;
  maxJsonDepth?: number;
  methods: string[];
  routes: string[];
  logLevel: string;
  /** With `presign`: the domain the digests are for, and the number of presign threads. */
  presign?: { domainSeparator: string; threads: number };
}

/** A failure of the HTTP thread, as {@link ThreadedJsonRpcServer.lastFailure} reports it. */
export interface ThreadFailure {
  /**
   * `exit`: the thread exited unasked (another is started on the same port);
   * `messageerror`: a message between the threads could not be read (its
   * calls were answered -32603; the thread serves on).
   */
  event: "exit" | "messageerror";
  reason: string;
  /** When, in ms since the epoch. */
  at: number;
}

/** How long `stop()` waits for the thread to finish its requests, then how long for `terminate()`. */
const STOP_GRACE_MS = 3_000;
const TERMINATE_GRACE_MS = 2_000;
/** Restart delays: none after a thread that served this long, else doubling from the least to the most. */
const RESTART_HEALTHY_MS = 10_000;
const RESTART_MIN_DELAY_MS = 100;
const RESTART_MAX_DELAY_MS = 5_000;

/** One HTTP thread, from its start to its exit. */
interface HttpThread {
  worker: Worker;
  /** Settles with the exit code once it has exited; `exited` is then true. */
  exit: Promise<number>;
  exited: boolean;
  startedAt: number;
  /** Whether it has listened. */
  listened: boolean;
  /** The number of the next message expected from it. */
  nextSeq: number;
  /** Set once it listens. */
  onListening?(msg: { host: string; port: number }): void;
  /** What it said of its failure, or its `error` event. */
  failure?: string;
  /** Replies to post to it on the next turn. */
  outbox: CallReply[];
  flushScheduled: boolean;
  /** Calls of it being run here, their replies not yet posted; and who waits for that to reach 0. */
  running: number;
  onDrained?(): void;
}

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** Whether `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
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
 *
 * Failures of the thread are survived, and no call is left unanswered. A
 * call that cannot be passed here, or read here, is answered -32603 (the
 * others of its message go again, alone: none of them ran); answers that
 * cannot be passed back, or read there, are answered -32603 (the call may
 * have run). A thread that exits unasked is replaced by another on the same
 * port; its calls in flight were answered -32603 where it could still answer
 * them, and their connections closed otherwise. See {@link restarts} and
 * {@link lastFailure}.
 */
export class ThreadedJsonRpcServer {
  private readonly o: ThreadedRpcOptions;
  /** The thread serving now (or starting), until it exits. */
  private thread: HttpThread | undefined;
  /** Where the first thread listened: every later one listens there too. */
  private address: { host: string; port: number } | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelayMs = 0;
  private restartCount = 0;
  private restartedAt: number | undefined;
  private failure: ThreadFailure | undefined;

  constructor(opts: ThreadedRpcOptions) {
    this.o = opts;
  }

  /** How many times the HTTP thread was replaced after it exited unasked. */
  get restarts(): number {
    return this.restartCount;
  }

  /** When another HTTP thread last started serving in place of one that exited (ms since the epoch). */
  get lastRestartAt(): number | undefined {
    return this.restartedAt;
  }

  /** The last failure of the HTTP thread, if any. */
  get lastFailure(): ThreadFailure | undefined {
    return this.failure;
  }

  async start(): Promise<{ host: string; port: number; url: string }> {
    const t = this.spawn(this.o.port);
    const listening = await this.listening(t);
    this.address = listening;
    // What the HTTP thread needs to know about senders before the first call.
    this.post(t, []);
    return { ...listening, url: `http://${listening.host}:${listening.port}` };
  }

  /**
   * Stops the HTTP thread: it stops accepting, finishes its requests (for a
   * moment), and exits; terminated if it does not. Bounded, and prompt when
   * the thread has already exited.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const t = this.thread;
    if (!t || t.exited) return;
    // The calls being run here are answered first: their replies go out before the thread stops serving.
    if (t.running > 0) await within(new Promise<void>((r) => (t.onDrained = r)), STOP_GRACE_MS);
    t.worker.postMessage({ kind: "stop" } satisfies ToHttpThread);
    if (await within(t.exit, STOP_GRACE_MS)) return;
    this.o.logger.warn("the HTTP thread did not stop in time; terminating it");
    if (!(await within(t.worker.terminate(), TERMINATE_GRACE_MS))) {
      this.o.logger.error("the HTTP thread did not terminate in time; leaving it");
    }
  }

  private spawn(port: number): HttpThread {
    const presign = this.o.presign;
    const data: HttpThreadData = {
      host: this.o.host,
      port,
      maxBodyBytes: this.o.maxBodyBytes,
      maxBatchLength: this.o.maxBatchLength,
      ...(this.o.maxJsonDepth !== undefined ? { maxJsonDepth: this.o.maxJsonDepth } : {}),
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
      ...(this.o.resourceLimits ? { resourceLimits: this.o.resourceLimits } : {}),
    });
    let exited!: (code: number) => void;
    const t: HttpThread = {
      worker,
      exit: new Promise<number>((r) => (exited = r)),
      exited: false,
      startedAt: Date.now(),
      listened: false,
      nextSeq: 1,
      outbox: [],
      flushScheduled: false,
      running: 0,
    };
    worker.on("message", (msg: FromHttpThread) => this.onMessage(t, msg));
    worker.on("messageerror", (err) => this.onMessageError(t, err));
    worker.on("error", (err) => {
      t.failure ??= errorText(err);
      this.o.logger.error({ err, reason: errorText(err) }, "the HTTP thread failed");
    });
    worker.once("exit", (code) => {
      t.exited = true;
      exited(code);
      this.onExit(t, code);
    });
    this.thread = t;
    return t;
  }

  /** Resolves once `t` listens; rejects if it exits first. */
  private listening(t: HttpThread): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      t.onListening = resolve;
      void t.exit.then((code) => {
        const why = t.failure ? `: ${t.failure}` : "";
        reject(new RpcError(RpcCode.InternalError, `the HTTP thread exited (${code}) before listening${why}`));
      });
    });
  }

  private onExit(t: HttpThread, code: number): void {
    if (t !== this.thread) return;
    this.thread = undefined;
    // Asked to stop, or the first start failed (start() rejects): nothing to replace.
    if (this.stopping || !this.address) return;
    const served = t.listened;
    const reason = t.failure ?? `exited with code ${code}`;
    this.record({ event: "exit", reason, at: Date.now() });
    // A thread that served a while is replaced at once; one failing again soon, after a growing delay.
    const lived = Date.now() - t.startedAt;
    this.restartDelayMs =
      served && lived >= RESTART_HEALTHY_MS
        ? 0
        : Math.min(RESTART_MAX_DELAY_MS, Math.max(RESTART_MIN_DELAY_MS, this.restartDelayMs * 2));
    this.o.logger.error(
      { reason, code, restarts: this.restartCount, delayMs: this.restartDelayMs, port: this.address.port },
      served
        ? "the HTTP thread exited; starting another on the same port"
        : "the HTTP thread could not start; trying again",
    );
    this.restartTimer = setTimeout(() => void this.restart(), this.restartDelayMs);
  }

  private async restart(): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopping || !this.address) return;
    const t = this.spawn(this.address.port);
    try {
      await this.listening(t);
    } catch {
      return; // onExit has scheduled the next attempt
    }
    if (this.stopping) return; // stop() ends it
    this.restartCount++;
    this.restartedAt = Date.now();
    this.o.logger.warn({ restarts: this.restartCount }, "the HTTP thread is serving again");
    this.o.onThreadRestart?.();
    this.post(t, []);
  }

  private record(failure: ThreadFailure): void {
    this.failure = failure;
    this.o.onThreadFailure?.(failure);
  }

  /** A message of `t` could not be read: the one of the next number, which `t` is told. */
  private onMessageError(t: HttpThread, err: unknown): void {
    if (t !== this.thread) return;
    const seq = t.nextSeq++;
    this.record({
      event: "messageerror",
      reason: `message ${seq} of the HTTP thread: ${errorText(err)}`,
      at: Date.now(),
    });
    this.o.logger.error(
      { err, reason: errorText(err), seq },
      "a message of the HTTP thread could not be read; told it (none of its calls ran: they go again one by one)",
    );
    t.worker.postMessage({ kind: "lost", seq } satisfies ToHttpThread);
  }

  private onMessage(t: HttpThread, msg: FromHttpThread): void {
    // A thread replaced: its clients are gone with it.
    if (t !== this.thread) return;
    t.nextSeq = msg.seq + 1;
    if (msg.kind === "calls") {
      for (const [method, code] of msg.counts) this.o.onResponse?.(method, code);
      // In arrival order: each method's synchronous part (a transaction's whole application) runs now.
      for (const call of msg.calls) {
        const presigned =
          call.presign !== undefined && msg.presigned ? presignedAt(msg.presigned, call.presign) : undefined;
        this.run(t, call, presigned && { presigned });
      }
    } else if (msg.kind === "route") {
      void this.route(t, msg.cid, msg.path);
    } else if (msg.kind === "listening") {
      t.listened = true;
      t.onListening?.(msg);
    } else if (msg.kind === "unreadable") {
      const reason = `the HTTP thread could not read a message of this thread: ${msg.reason}`;
      this.record({ event: "messageerror", reason, at: Date.now() });
      this.o.logger.error({ reason }, "a message to the HTTP thread was lost; its waiting calls were answered -32603");
    } else if (msg.kind === "fatal") {
      t.failure = msg.reason;
    }
  }

  private run(t: HttpThread, call: ForwardedCall, context: CallContext | undefined): void {
    const handler = this.o.methods[call.method];
    t.running++;
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve(handler(call.params as Parameters<RpcHandler>[0], context));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (result) => this.reply(t, { cid: call.cid, result: result === undefined ? null : result }),
      (err: unknown) => {
        const mapped = err instanceof RpcError ? err : this.o.mapError?.(err);
        if (mapped)
          this.reply(t, { cid: call.cid, error: { code: mapped.rpcCode, message: mapped.message, data: mapped.data } });
        else {
          this.o.logger.error({ err, method: call.method }, "internal error in an RPC method");
          this.reply(t, { cid: call.cid, error: { code: RpcCode.InternalError, message: "internal error" } });
        }
      },
    );
  }

  /** Queues a reply for `t`'s next message; dropped if `t` is gone (its calls' clients are). */
  private reply(t: HttpThread, r: CallReply): void {
    if (t !== this.thread) return;
    t.outbox.push(r);
    if (t.flushScheduled) return;
    t.flushScheduled = true;
    setImmediate(() => {
      t.flushScheduled = false;
      const replies = t.outbox;
      t.outbox = [];
      this.post(t, replies);
      t.running -= replies.length;
      if (t.running === 0) t.onDrained?.();
    });
  }

  /**
   * Sends replies, with what changed for senders first (when presigning). If
   * the message cannot be sent (a result that cannot be cloned), the hints
   * and each reply go alone, and a reply that still cannot is answered
   * -32603: the call ran, its answer is lost.
   */
  private post(t: HttpThread, replies: CallReply[]): void {
    if (t !== this.thread) return;
    const hints = this.o.presign?.hints();
    if (!hints && replies.length === 0) return;
    const transfer = hints ? [hints.entries.buffer as ArrayBuffer] : [];
    try {
      t.worker.postMessage({ kind: "replies", replies, ...(hints ? { hints } : {}) } satisfies ToHttpThread, transfer);
      return;
    } catch (err) {
      this.o.logger.error(
        { err, reason: errorText(err), replies: replies.length },
        "replies could not be passed to the HTTP thread; passing them one at a time",
      );
    }
    if (hints) t.worker.postMessage({ kind: "replies", replies: [], hints } satisfies ToHttpThread, transfer);
    for (const r of replies) {
      try {
        t.worker.postMessage({ kind: "replies", replies: [r] } satisfies ToHttpThread);
      } catch (err) {
        this.o.logger.error(
          { err, reason: errorText(err), cid: r.cid },
          "an answer could not be passed to the HTTP thread; answered -32603",
        );
        const message = "internal error: the call ran, but its answer could not be passed on";
        t.worker.postMessage({
          kind: "replies",
          replies: [{ cid: r.cid, error: { code: RpcCode.InternalError, message } }],
        } satisfies ToHttpThread);
      }
    }
  }

  private async route(t: HttpThread, cid: number, path: string): Promise<void> {
    let answer: RouteAnswer;
    try {
      const route = this.o.routes?.[path];
      answer = route ? await route() : { status: 404, contentType: "text/plain", body: "not found\n" };
    } catch (err) {
      this.o.logger.error({ err, path }, "route failed");
      answer = { status: 500, contentType: "text/plain", body: "internal error\n" };
    }
    if (t === this.thread) t.worker.postMessage({ kind: "route", cid, answer } satisfies ToHttpThread);
  }
}
