/**
 * The HTTP side of {@link ThreadedJsonRpcServer}, run as a worker thread:
 * a {@link JsonRpcServer} whose methods forward each call to the main thread
 * and wait for its answer. Calls are sent in one message per turn of the
 * event loop, in the order they arrived.
 */
import { parentPort, workerData } from "node:worker_threads";
import { RpcError, type RpcCodeValue } from "../errors";
import { createLogger } from "../log";
import { JsonRpcServer, type HttpRoute, type RpcHandler } from "./server";
import type { ForwardedCall, FromHttpThread, HttpThreadData, RouteAnswer, ToHttpThread } from "./threaded";

const port = parentPort;
if (!port) throw new Error("http-thread.ts runs as a worker thread");
const data = workerData as HttpThreadData;
const send = (msg: FromHttpThread): void => port.postMessage(msg);

let nextCid = 0;
const waiting = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
const routeWaiting = new Map<number, (answer: RouteAnswer) => void>();
let outbox: ForwardedCall[] = [];
let counts: [string, number][] = [];
let flushScheduled = false;

function schedule(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(() => {
    flushScheduled = false;
    if (outbox.length === 0 && counts.length === 0) return;
    send({ kind: "calls", calls: outbox, counts });
    outbox = [];
    counts = [];
  });
}

function forward(method: string): RpcHandler {
  return (params) =>
    new Promise((resolve, reject) => {
      const cid = ++nextCid;
      waiting.set(cid, { resolve, reject });
      outbox.push({ cid, method, params });
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
  logger: createLogger({ name: "operator-http", level: data.logLevel }),
  onResponse: (method, code) => {
    counts.push([method, code]);
    schedule();
  },
});

port.on("message", (msg: ToHttpThread) => {
  if (msg.kind === "replies") {
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
    void server.stop().then(() => process.exit(0));
  }
});

server.start().then(
  ({ host, port: bound }) => send({ kind: "listening", host, port: bound }),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
