import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { BilayerError } from "../protocol/errors";
import { DEFAULT_MAX_JSON_DEPTH, isJsonText, nestingDepth } from "./json-depth";

/**
 * The one small JSON-RPC 2.0 HTTP server of the services: the operator's API
 * (in-thread, and as the HTTP side of the threaded server), the verifier's
 * user API and status routes, the channel daemons' control API.
 */

/** The codes this server answers by itself: JSON-RPC 2.0's own, and -32006 for a body over the limit. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  BodyTooLarge: -32006,
} as const;

/**
 * An error a method answers with, as a JSON-RPC error object: `rpcCode` is the JSON-RPC code, `data` (optional)
 * goes out as the error's `data` member.
 */
export class RpcError extends BilayerError {
  readonly rpcCode: number;
  readonly data: unknown;

  constructor(rpcCode: number, message: string, data?: unknown, options: { cause?: unknown } = {}) {
    super("RPC_ERROR", message, { cause: options.cause, context: { rpcCode } });
    this.rpcCode = rpcCode;
    this.data = data;
  }
}

/** The params of a request: by position, by name, or absent. */
export type RpcParams = unknown[] | Record<string, unknown> | undefined;

/**
 * What a server may hand a method besides its params (the operator's threaded server: for `l2_sendTransaction`
 * its signer, recovered ahead of time, `src/operator/presign.ts`).
 */
export interface CallContext {
  presigned?: unknown;
}

/**
 * A method of the API. Throw {@link RpcError} for errors the caller should
 * see. `context` is only ever a help: the answer must be the same without it.
 */
export type RpcHandler = (params: RpcParams, context?: CallContext) => unknown;

/** A plain HTTP route served beside the JSON-RPC endpoint (metrics, health). */
export type HttpRoute = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface RpcServerOptions {
  /** Interface to listen on; 127.0.0.1 unless you mean to expose the API. */
  host: string;
  /** Port, 0 for any free port. */
  port: number;
  /** Largest accepted HTTP body, in bytes. */
  maxBodyBytes: number;
  /** Largest accepted JSON-RPC batch (array) request. */
  maxBatchLength: number;
  /**
   * Deepest nesting of arrays and objects accepted in a body, checked before
   * it is parsed (default {@link DEFAULT_MAX_JSON_DEPTH}); deeper bodies are
   * answered -32600 (-32700 if they are not JSON either).
   */
  maxJsonDepth?: number;
  methods: Readonly<Record<string, RpcHandler>>;
  /** GET routes by path, e.g. `/metrics`. */
  routes?: Readonly<Record<string, HttpRoute>>;
  logger: Logger;
  /** Called once per answered request object, with its error code or 0. */
  onResponse?(method: string, code: number, ms: number): void;
  /**
   * Maps an error thrown by a handler to the error the caller sees. Errors it
   * returns `undefined` for are internal errors (logged, answered -32603).
   */
  mapError?(err: unknown): RpcError | undefined;
}

interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

type JsonRpcId = string | number | null;

interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: JsonRpcId;
  result?: unknown;
  error?: JsonRpcErrorObject;
}

/** JSON that also writes bigints, as decimal strings. */
export function toJson(value: unknown): string {
  try {
    // The common case has no bigint, and the plain form is faster.
    return JSON.stringify(value);
  } catch {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  }
}

function isValidId(id: unknown): id is JsonRpcId {
  return id === null || typeof id === "string" || (typeof id === "number" && Number.isFinite(id));
}

/**
 * A JSON-RPC 2.0 server over HTTP (POST `/`), built on `node:http` with
 * keep-alive. Single and batch requests, notifications, and every malformed
 * input answered with its JSON-RPC error code; a handler that throws never
 * takes the server down.
 */
export class JsonRpcServer {
  private readonly opts: RpcServerOptions;
  private server: http.Server | undefined;

  constructor(opts: RpcServerOptions) {
    this.opts = opts;
  }

  /** Starts listening; resolves with the bound address. */
  async start(): Promise<{ host: string; port: number; url: string }> {
    const server = http.createServer((req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.opts.logger.error({ err }, "unhandled error while answering an HTTP request");
        if (!res.headersSent)
          this.sendJson(res, 500, this.errorResponse(null, RpcCode.InternalError, "internal error"));
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.on("clientError", (_err, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port, url: `http://${addr.address}:${addr.port}` };
  }

  /** Stops accepting connections and closes the idle ones. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // Connections still mid-request get a moment, then are cut.
      setTimeout(() => server.closeAllConnections(), 1_000).unref();
    });
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET") {
      const route = this.opts.routes?.[path];
      if (route && Object.hasOwn(this.opts.routes ?? {}, path)) return route(req, res);
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (req.method !== "POST" || (path !== "/" && path !== "/rpc")) {
      res.writeHead(405, { "content-type": "text/plain", allow: "POST" }).end("POST JSON-RPC 2.0 requests to /\n");
      return;
    }
    const body = await this.readBody(req, res);
    if (body === undefined) return;
    const maxDepth = this.opts.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
    if (nestingDepth(body, maxDepth) > maxDepth) {
      this.tooDeep(res, body, maxDepth);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      this.sendJson(res, 200, this.errorResponse(null, RpcCode.ParseError, "parse error: the body is not valid JSON"));
      return;
    }
    if (Array.isArray(parsed)) {
      if (parsed.length === 0) {
        this.sendJson(res, 200, this.errorResponse(null, RpcCode.InvalidRequest, "invalid request: empty batch"));
        return;
      }
      if (parsed.length > this.opts.maxBatchLength) {
        const msg = `invalid request: a batch may hold at most ${this.opts.maxBatchLength} requests, got ${parsed.length}`;
        this.sendJson(res, 200, this.errorResponse(null, RpcCode.InvalidRequest, msg));
        return;
      }
      // Started in order — each method does its work up to its first wait synchronously, so a batch of
      // transactions is applied in its order — and awaited together, so they share one durable write.
      const answers = await Promise.all(parsed.map((item) => this.handleOne(item)));
      const out = answers.filter((r): r is JsonRpcResponse => r !== undefined);
      if (out.length === 0) res.writeHead(204).end();
      else this.sendJson(res, 200, out);
      return;
    }
    const r = await this.handleOne(parsed);
    if (r) this.sendJson(res, 200, r);
    else res.writeHead(204).end();
  }

  /** Reads the body, answering 413 (and returning undefined) past the size limit. */
  private readBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<Buffer | undefined> {
    const max = this.opts.maxBodyBytes;
    const tooLarge = (): void => {
      const msg = `body too large: the limit is ${max} bytes`;
      res.setHeader("connection", "close");
      this.sendJson(res, 413, this.errorResponse(null, RpcCode.BodyTooLarge, msg, { limit: max }));
      this.opts.onResponse?.("(http)", RpcCode.BodyTooLarge, 0);
      // Stop reading the rest; the connection closes once the answer is out.
      req.unpipe();
      req.resume();
    };
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > max) {
      tooLarge();
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on("data", (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > max) {
          over = true;
          tooLarge();
          resolve(undefined);
          return;
        }
        chunks.push(c);
      });
      req.on("end", () => {
        if (!over) resolve(Buffer.concat(chunks, size));
      });
      req.on("error", (err) => {
        if (!over) reject(err);
      });
    });
  }

  /**
   * Answers a body nested deeper than `max`, unparsed: -32600 (counted as an
   * `(http)` answer, as a body too large is) if it is JSON, else -32700 as
   * any body that is not JSON.
   */
  private tooDeep(res: http.ServerResponse, body: Buffer, max: number): void {
    if (!isJsonText(body)) {
      this.sendJson(res, 200, this.errorResponse(null, RpcCode.ParseError, "parse error: the body is not valid JSON"));
      return;
    }
    const msg = `invalid request: nested deeper than ${max} levels`;
    this.sendJson(res, 200, this.errorResponse(null, RpcCode.InvalidRequest, msg, { limit: max }));
    this.opts.onResponse?.("(http)", RpcCode.InvalidRequest, 0);
  }

  /** Answers one request object; `undefined` for a notification. */
  private async handleOne(request: unknown): Promise<JsonRpcResponse | undefined> {
    const started = performance.now();
    if (typeof request !== "object" || request === null || Array.isArray(request)) {
      return this.errorResponse(
        null,
        RpcCode.InvalidRequest,
        "invalid request: expected a JSON-RPC 2.0 request object",
      );
    }
    const r = request as Record<string, unknown>;
    const hasId = Object.hasOwn(r, "id");
    const id = hasId && isValidId(r.id) ? r.id : null;
    if (hasId && !isValidId(r.id)) {
      return this.errorResponse(null, RpcCode.InvalidRequest, "invalid request: id must be a string, a number or null");
    }
    if (r.jsonrpc !== "2.0") {
      return this.errorResponse(id, RpcCode.InvalidRequest, 'invalid request: "jsonrpc" must be "2.0"');
    }
    if (typeof r.method !== "string") {
      return this.errorResponse(id, RpcCode.InvalidRequest, 'invalid request: "method" must be a string');
    }
    const params = r.params;
    if (params !== undefined && (typeof params !== "object" || params === null)) {
      return this.errorResponse(id, RpcCode.InvalidRequest, 'invalid request: "params" must be an array or an object');
    }
    const method = r.method;
    const handler = Object.hasOwn(this.opts.methods, method) ? this.opts.methods[method] : undefined;
    if (!handler) {
      this.opts.onResponse?.("(unknown)", RpcCode.MethodNotFound, performance.now() - started);
      return hasId ? this.errorResponse(id, RpcCode.MethodNotFound, `method not found: ${method}`) : undefined;
    }
    let response: JsonRpcResponse;
    try {
      const result = await handler(params as RpcParams);
      response = { jsonrpc: "2.0", id, result: result === undefined ? null : result };
      this.opts.onResponse?.(method, 0, performance.now() - started);
    } catch (err) {
      const mapped = err instanceof RpcError ? err : this.opts.mapError?.(err);
      if (mapped) {
        response = this.errorResponse(id, mapped.rpcCode, mapped.message, mapped.data);
        this.opts.onResponse?.(method, mapped.rpcCode, performance.now() - started);
      } else {
        this.opts.logger.error({ err, method }, "internal error in an RPC method");
        response = this.errorResponse(id, RpcCode.InternalError, "internal error");
        this.opts.onResponse?.(method, RpcCode.InternalError, performance.now() - started);
      }
    }
    return hasId ? response : undefined;
  }

  private errorResponse(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcResponse {
    const error: JsonRpcErrorObject = data === undefined ? { code, message } : { code, message, data };
    return { jsonrpc: "2.0", id, error };
  }

  private sendJson(res: http.ServerResponse, status: number, payload: unknown): void {
    const text = toJson(payload);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }
}
