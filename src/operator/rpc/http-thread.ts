/**
 * The HTTP side of {@link ThreadedJsonRpcServer}, run as a worker thread:
 * a {@link JsonRpcServer} whose methods forward each call to the main thread
 * and wait for its answer. Calls are sent in one message per turn of the
 * event loop, in the order they arrived.
 *
 * With `presign`, each `l2_sendTransaction` also gets its signer recovered
 * here (../presign.ts), by a pool of threads, before its turn's message
 * goes: the turns still reach the main thread in order.
 *
 * No failure leaves a call unanswered, nor costs more than the calls that
 * cause it. A turn's message that cannot be sent, or that the main thread
 * could not read (it reports the message's number; none of its calls ran),
 * goes again call by call; a call that fails alone is answered -32603. The
 * calls waiting when a message of the main thread's cannot be read here are
 * answered -32603 (their answers may have been in it), and so are those
 * waiting when this thread fails: it then stops listening, lets the answers
 * out and exits, for the main thread to start another.
 */
import { parentPort, workerData } from "node:worker_threads";
import { initHashing } from "../../protocol/hash";
import { RpcCode, RpcError, type RpcCodeValue } from "../errors";
import { createLogger } from "../log";
import { packJobs, Presigner, type PresignJob } from "../presign";
import { parseSendTransaction } from "./api";
import { PresignPool } from "./presign-pool";
import { JsonRpcServer, type HttpRoute, type RpcHandler, type RpcParams } from "../../common/json-rpc-server";
import { BilayerError } from "../../protocol/errors";
import {
  PRESIGNED_METHOD,
  type ForwardedCall,
  type FromHttpThread,
  type FromHttpThreadBody,
  type HttpThreadData,
  type RouteAnswer,
  type ToHttpThread,
} from "./threaded";

if (!parentPort) throw new BilayerError("NOT_A_WORKER", "http-thread.ts runs as a worker thread");
const port = parentPort;
const data = workerData as HttpThreadData;
const logger = createLogger({ name: "operator-http", level: data.logLevel });

/** The number of the last message posted to the main thread. */
let lastSeq = 0;
/** Posts a message to the main thread, numbered; returns its number. Throws what `postMessage` throws. */
function send(msg: FromHttpThreadBody, transfer: ArrayBuffer[] = []): number {
  const seq = lastSeq + 1;
  port.postMessage({ ...msg, seq } satisfies FromHttpThread, transfer);
  lastSeq = seq;
  return seq;
}

interface Waiting {
  call: ForwardedCall;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  /** The number of the message that took the call to the main thread; 0 while not sent. */
  seq: number;
  /** Whether that message held it alone. */
  alone: boolean;
}

let nextCid = 0;
const waiting = new Map<number, Waiting>();
const routeWaiting = new Map<number, { answer(a: RouteAnswer): void; seq: number }>();
let outbox: ForwardedCall[] = [];
let counts: [string, number][] = [];
let flushScheduled = false;
/** Set once this thread failed: it answers nothing more but errors, and exits. */
let dying = false;

const ROUTE_FAILED: RouteAnswer = { status: 500, contentType: "text/plain", body: "internal error\n" };
/** A call that never reached the main thread. */
const notRun = (): RpcError =>
  new RpcError(RpcCode.InternalError, "internal error: the call could not be passed to the sequencer; it did not run");
/** A call whose answer was lost. */
const unknownOutcome = (): RpcError =>
  new RpcError(
    RpcCode.InternalError,
    "internal error: the answer was lost between the operator's threads; the call may have run " +
      "(sending the same transaction again is safe)",
  );

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

function fail(cid: number, err: RpcError): void {
  const w = waiting.get(cid);
  if (!w) return;
  waiting.delete(cid);
  w.reject(err);
}

/** Answers every call sent to the main thread with `err` (or all waiting, with `unsent`), and every route waiting 500. */
function failAll(err: () => RpcError, unsent: boolean): number {
  let n = 0;
  for (const [cid, w] of waiting) {
    if (w.seq === 0 && !unsent) continue;
    waiting.delete(cid);
    w.reject(err());
    n++;
  }
  for (const r of routeWaiting.values()) r.answer(ROUTE_FAILED);
  routeWaiting.clear();
  return n;
}

const presigner = data.presign && new Presigner(data.presign.domainSeparator);
const pool = data.presign && new PresignPool(data.presign.threads, logger);
if (presigner) void initHashing();
/** The recoveries of this turn's calls (call `presign` = index here). */
let jobs: PresignJob[] = [];
/** The nonce after this turn's previous transaction of a sender (a batch request may hold several). */
const nextNonce = new Map<number, number>();
/** The turns' messages, each sent once its recoveries are in and the one before it has gone. */
let sent: Promise<void> = Promise.resolve();

/** Queues the recovery of a transaction's signer, if its sender is known here. */
function addJob(call: ForwardedCall): void {
  if (!presigner) return;
  try {
    const { bytes, nonce } = parseSendTransaction(call.params as RpcParams);
    const j = presigner.job(bytes, nonce, (from) => nextNonce.get(from));
    if (!j) return;
    nextNonce.set(j.from, j.nonce + 1);
    call.presign = jobs.length;
    jobs.push(j.job);
  } catch {
    // Malformed: the main thread answers it with its error.
  }
}

/**
 * Sends a turn's calls. If the message cannot be sent (a value that cannot
 * be cloned, a stack overflow), they go one by one ({@link sendAlone}); the
 * turn's counts go with the next message. Never throws.
 */
function deliver(calls: ForwardedCall[], turnCounts: [string, number][], presigned?: Uint8Array): void {
  try {
    const msg: FromHttpThreadBody = presigned
      ? { kind: "calls", calls, counts: turnCounts, presigned }
      : { kind: "calls", calls, counts: turnCounts };
    const seq = send(msg, presigned ? [presigned.buffer as ArrayBuffer] : []);
    for (const call of calls) {
      const w = waiting.get(call.cid);
      if (!w) continue;
      w.seq = seq;
      w.alone = calls.length === 1;
    }
    return;
  } catch (err) {
    const reason = errorText(err);
    logger.error(
      { err, reason, calls: calls.length },
      "a turn's calls could not be passed to the main thread; sending them one by one",
    );
  }
  if (turnCounts.length > 0) {
    counts.push(...turnCounts);
    schedule();
  }
  sendAlone(calls);
}

/**
 * Sends each call in a message of its own, without its recovery (only ever
 * a help); one that cannot be sent is answered -32603. Never throws.
 */
function sendAlone(calls: ForwardedCall[]): void {
  for (const call of calls) {
    const w = waiting.get(call.cid);
    if (!w) continue;
    const alone: ForwardedCall = { cid: call.cid, method: call.method, params: call.params };
    try {
      w.seq = send({ kind: "calls", calls: [alone], counts: [] });
      w.alone = true;
    } catch (err) {
      logger.warn(
        { err, reason: errorText(err), method: call.method },
        "a call could not be passed to the main thread; answered -32603",
      );
      fail(call.cid, notRun());
    }
  }
}

/**
 * The main thread could not read message `seq`: none of its calls ran. A
 * call it held alone is answered -32603; the others go again, each alone,
 * in their order (so one call it cannot read costs only that call).
 */
function resend(seq: number): void {
  const again: ForwardedCall[] = [];
  let failed = 0;
  for (const [cid, w] of waiting) {
    if (w.seq !== seq) continue;
    if (!w.alone) {
      again.push(w.call);
      continue;
    }
    fail(cid, notRun());
    failed++;
  }
  for (const [cid, r] of routeWaiting) {
    if (r.seq !== seq) continue;
    routeWaiting.delete(cid);
    r.answer(ROUTE_FAILED);
  }
  logger.error(
    { seq, failed, again: again.length },
    "the main thread could not read a message: a call alone in it answered -32603, the others go again one by one",
  );
  sendAlone(again);
}

function schedule(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(() => {
    flushScheduled = false;
    if (outbox.length === 0 && counts.length === 0) return;
    const calls = outbox;
    const turnCounts = counts;
    const turnJobs = jobs;
    outbox = [];
    counts = [];
    jobs = [];
    nextNonce.clear();
    const recovered = turnJobs.length === 0 || !pool ? undefined : pool.recover(packJobs(turnJobs));
    sent = sent
      .then(async () => deliver(calls, turnCounts, await recovered))
      .catch((err: unknown) => {
        // Not expected (deliver never throws, recover never rejects), but the chain must go on.
        logger.error({ err }, "a turn's calls were not sent; answered -32603");
        for (const call of calls) fail(call.cid, unknownOutcome());
      });
  });
}

function forward(method: string): RpcHandler {
  return (params) =>
    new Promise((resolve, reject) => {
      if (dying) {
        reject(unknownOutcome());
        return;
      }
      const cid = ++nextCid;
      const call: ForwardedCall = { cid, method, params };
      waiting.set(cid, { call, resolve, reject, seq: 0, alone: false });
      outbox.push(call);
      if (method === PRESIGNED_METHOD) addJob(call);
      schedule();
    });
}

function routeProxy(path: string): HttpRoute {
  return async (_req, res) => {
    const cid = ++nextCid;
    const answer = await new Promise<RouteAnswer>((resolve) => {
      if (dying) {
        resolve(ROUTE_FAILED);
        return;
      }
      const entry = { answer: resolve, seq: 0 };
      routeWaiting.set(cid, entry);
      try {
        entry.seq = send({ kind: "route", cid, path });
      } catch (err) {
        logger.error({ err, path }, "a route could not be passed to the main thread");
        routeWaiting.delete(cid);
        resolve(ROUTE_FAILED);
      }
    });
    res.writeHead(answer.status, { "content-type": answer.contentType }).end(answer.body);
  };
}

const server = new JsonRpcServer({
  host: data.host,
  port: data.port,
  maxBodyBytes: data.maxBodyBytes,
  maxBatchLength: data.maxBatchLength,
  ...(data.maxJsonDepth !== undefined ? { maxJsonDepth: data.maxJsonDepth } : {}),
  methods: Object.fromEntries(data.methods.map((m) => [m, forward(m)])),
  routes: Object.fromEntries(data.routes.map((r) => [r, routeProxy(r)])),
  logger,
  onResponse: (method, code) => {
    counts.push([method, code]);
    schedule();
  },
});

port.on("message", (msg: ToHttpThread) => {
  if (msg.kind === "replies") {
    // Before the answers go out: a client's next transaction may be signed over a nonce they report.
    if (msg.hints) presigner?.update(msg.hints);
    for (const r of msg.replies) {
      const w = waiting.get(r.cid);
      if (!w) continue;
      waiting.delete(r.cid);
      if ("error" in r) w.reject(new RpcError(r.error.code as RpcCodeValue, r.error.message, r.error.data));
      else w.resolve(r.result);
    }
  } else if (msg.kind === "route") {
    routeWaiting.get(msg.cid)?.answer(msg.answer);
    routeWaiting.delete(msg.cid);
  } else if (msg.kind === "lost") {
    resend(msg.seq);
  } else if (msg.kind === "stop") {
    void server
      .stop()
      .then(() => pool?.stop())
      .then(() => process.exit(0));
  }
});

// A message of the main thread's that cannot be read held answers to some of the calls sent, or a
// route's: which, it cannot tell. Every call sent is answered -32603 (a later answer to one is dropped).
port.on("messageerror", (err) => {
  const n = failAll(unknownOutcome, false);
  const reason = errorText(err);
  logger.error(
    { err, reason, calls: n },
    "a message of the main thread could not be read; the calls sent answered -32603",
  );
  try {
    send({ kind: "unreadable", reason: errorText(err) });
  } catch {
    // The main thread learns nothing of it; the log has it.
  }
});

/**
 * An uncaught exception or rejection: this thread's state is unknown. It
 * answers every call waiting -32603, stops listening, lets the answers out,
 * and exits (bounded), for the main thread to start another on the port.
 */
function die(err: unknown): void {
  if (dying) return;
  dying = true;
  logger.fatal(
    { err, reason: errorText(err) },
    "the HTTP thread failed; answering its calls -32603 and exiting for another to start",
  );
  try {
    send({ kind: "fatal", reason: errorText(err) });
  } catch {
    // The main thread sees the exit.
  }
  failAll(unknownOutcome, true);
  setTimeout(() => process.exit(1), 2_000);
  void server
    .stop()
    .then(() => pool?.stop())
    .finally(() => process.exit(1));
}
process.on("uncaughtException", die);
process.on("unhandledRejection", die);

server.start().then(
  ({ host, port: bound }) => send({ kind: "listening", host, port: bound }),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
