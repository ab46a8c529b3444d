/**
 * The HTTP side of {@link ThreadedJsonRpcServer}, run as a worker thread:
 * a {@link JsonRpcServer} whose methods forward each call to the main thread
 * and wait for its answer. Calls are sent in one message per turn of the
 * event loop, in the order they arrived.
 *
 * With `presign`, each `l2_sendTransaction` also gets its signer recovered
 * here (../presign.ts), by a pool of threads, before its turn's message
 * goes: the turns still reach the main thread in order.
 */
import { parentPort, workerData } from "node:worker_threads";
import { initHashing } from "../../protocol/hash";
import { RpcError, type RpcCodeValue } from "../errors";
import { createLogger } from "../log";
import { packJobs, Presigner, type PresignJob } from "../presign";
import { parseSendTransaction } from "./api";
import { PresignPool } from "./presign-pool";
import { JsonRpcServer, type HttpRoute, type RpcHandler, type RpcParams } from "./server";
import {
  PRESIGNED_METHOD,
  type ForwardedCall,
  type FromHttpThread,
  type HttpThreadData,
  type RouteAnswer,
  type ToHttpThread,
} from "./threaded";

const port = parentPort;
if (!port) throw new Error("http-thread.ts runs as a worker thread");
const data = workerData as HttpThreadData;
const send = (msg: FromHttpThread, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);
const logger = createLogger({ name: "operator-http", level: data.logLevel });

let nextCid = 0;
const waiting = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
const routeWaiting = new Map<number, (answer: RouteAnswer) => void>();
let outbox: ForwardedCall[] = [];
let counts: [string, number][] = [];
let flushScheduled = false;

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
    if (turnJobs.length === 0 || !pool) {
      sent = sent.then(() => send({ kind: "calls", calls, counts: turnCounts }));
      return;
    }
    const recovered = pool.recover(packJobs(turnJobs));
    sent = sent.then(async () => {
      const presigned = await recovered;
      send({ kind: "calls", calls, counts: turnCounts, presigned }, [presigned.buffer as ArrayBuffer]);
    });
  });
}

function forward(method: string): RpcHandler {
  return (params) =>
    new Promise((resolve, reject) => {
      const cid = ++nextCid;
      waiting.set(cid, { resolve, reject });
      const call: ForwardedCall = { cid, method, params };
      outbox.push(call);
      if (method === PRESIGNED_METHOD) addJob(call);
      schedule();
    });
}

function routeProxy(path: string): HttpRoute {
  return async (_req, res) => {
    const cid = ++nextCid;
    const answer = await new Promise<RouteAnswer>((resolve) => {
      routeWaiting.set(cid, resolve);
      send({ kind: "route", cid, path });
    });
    res.writeHead(answer.status, { "content-type": answer.contentType }).end(answer.body);
  };
}

const server = new JsonRpcServer({
  host: data.host,
  port: data.port,
  maxBodyBytes: data.maxBodyBytes,
  maxBatchLength: data.maxBatchLength,
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
    routeWaiting.get(msg.cid)?.(msg.answer);
    routeWaiting.delete(msg.cid);
  } else if (msg.kind === "stop") {
    void server
      .stop()
      .then(() => pool?.stop())
      .then(() => process.exit(0));
  }
});

server.start().then(
  ({ host, port: bound }) => send({ kind: "listening", host, port: bound }),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
