import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { computeAddress, concat, getAddress, keccak256, recoverAddress, SigningKey, toUtf8Bytes } from "ethers";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Logger } from "pino";
import pino from "pino";
import { BilayerError } from "../protocol/errors";
import { InvalidMessageError } from "./wire";

/*
 * The peer transport: JSON messages over WebSocket, request/response matched
 * by id, notifications, mutual authentication by address, reconnection.
 *
 * Frames (one JSON object each):
 *   {"hello": {"address", "nonce", "url"?}}     first frame of each side
 *   {"auth": {"sig"}}                           signature over the other side's nonce (below)
 *   {"id", "method", "params"}                  request
 *   {"method", "params"}                        notification
 *   {"id", "result"} | {"id", "error": {"code", "message", "data"?}}   response
 *
 * After the handshake a frame may also be a JSON array of such messages: each
 * side sends what it produced in one turn of its event loop as one frame.
 *
 * A side proves its address by signing
 * keccak256("bilayer-channels/peer/v1" ‖ verifierNonce ‖ signer ‖ verifier),
 * so a signature is good for one connection and one verifier only. Nothing
 * but hello and auth is accepted before that. Every inbound frame is checked;
 * a malformed one is answered with an error, never thrown.
 */

/** JSON-RPC-style error codes of the peer protocol. */
export const RpcCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** The handler refused the request: `data.code` is the {@link BilayerError} code. */
  REFUSED: -32000,
  UNAUTHENTICATED: -32001,
} as const;

/** A peer answered a request with an error. */
export class PeerRequestError extends BilayerError {
  constructor(
    readonly rpcCode: number,
    message: string,
    /** The peer's {@link BilayerError} code, when it sent one. */
    readonly peerCode?: string,
    readonly peerContext?: unknown,
  ) {
    super("PEER_ERROR", message, { context: { rpcCode, peerCode, peerContext } });
  }
}

/** The peer could not be reached, or the connection dropped before the answer. */
export class PeerUnavailableError extends BilayerError {
  constructor(address: string, reason: string) {
    super("PEER_UNAVAILABLE", `peer ${address}: ${reason}`, { context: { address } });
  }
}

/** Handles a request (its result is the answer) or a notification (its result is ignored). */
export type MessageHandler = (from: string, params: unknown) => unknown;

export interface TransportOptions {
  /** The 32-byte private key whose address this side proves. */
  privateKey: string;
  /** Listen on this interface (default 127.0.0.1) when `port` is given. */
  host?: string;
  /** Listen on this port (0: any free port); omit to only dial. */
  port?: number;
  /** The URL peers should dial back (default `ws://host:port`). */
  advertiseUrl?: string;
  /** How long a request waits for its answer (default 30 s). */
  requestTimeoutMs?: number;
  /** First delay of the reconnection backoff (default 200 ms; doubles up to 5 s). */
  reconnectMs?: number;
  /** Largest frame accepted (default 4 MiB). */
  maxPayload?: number;
  logger?: Logger;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

const AUTH_TAG = toUtf8Bytes("bilayer-channels/peer/v1");
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** WebSocket close code of a connection dropped for a duplicate. */
const CLOSE_DUPLICATE = 4000;
/** The most messages sent in one frame. */
const MAX_BATCH = 1_000;
/** Messages handled per turn of the event loop. */
const SLICE = 64;
const PING_INTERVAL_MS = 15_000;

function authDigest(verifierNonce: string, signer: string, verifier: string): string {
  return keccak256(concat([AUTH_TAG, verifierNonce, signer, verifier]));
}

/** One WebSocket connection, before and after authentication. */
class Connection {
  readonly nonce = "0x" + randomBytes(32).toString("hex");
  peer: string | undefined;
  claimed: string | undefined;
  peerUrl: string | undefined;
  authSent = false;
  authReceived = false;
  alive = true;
  /** Closed because another connection to the same peer was kept. */
  replaced = false;
  readonly pending = new Map<number, Pending>();
  /** Messages waiting to go out together in one frame at the end of this turn of the event loop. */
  outbox: unknown[] = [];
  flushScheduled = false;
  /** Messages received and not yet handled, taken a slice at a time so the event loop keeps turning. */
  inbox: unknown[] = [];
  inboxHead = 0;
  draining = false;
  readonly handshake: Promise<string>;
  resolveHandshake!: (address: string) => void;
  rejectHandshake!: (err: unknown) => void;

  constructor(
    readonly ws: WebSocket,
    /** The address of the side that dialed. Known up front for outbound connections. */
    public dialer: string | undefined,
    readonly expected: string | undefined,
  ) {
    this.handshake = new Promise<string>((resolve, reject) => {
      this.resolveHandshake = resolve;
      this.rejectHandshake = reject;
    });
    this.handshake.catch(() => undefined);
  }

  get authenticated(): boolean {
    return this.peer !== undefined;
  }
}

/**
 * A node of the peer network: listens for peers, dials the ones it has URLs
 * for, keeps one authenticated connection per peer address and reconnects
 * with backoff when it drops.
 */
export class PeerTransport {
  readonly address: string;
  private readonly key: SigningKey;
  private readonly log: Logger;
  private server: WebSocketServer | undefined;
  private listenUrl: string | undefined;
  private readonly handlers = new Map<string, MessageHandler>();
  /** The connection in use for each peer address. */
  private readonly primary = new Map<string, Connection>();
  private readonly all = new Set<Connection>();
  private readonly urls = new Map<string, string>();
  private readonly dialing = new Map<string, Promise<Connection>>();
  private readonly retry = new Map<string, { timer: NodeJS.Timeout | undefined; delay: number }>();
  private readonly connectedListeners: ((address: string) => void)[] = [];
  private readonly disconnectedListeners: ((address: string) => void)[] = [];
  private nextId = 1;
  private stopped = false;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: TransportOptions) {
    this.key = new SigningKey(opts.privateKey);
    this.address = computeAddress(this.key.publicKey);
    this.log = opts.logger ?? pino({ level: "silent" });
  }

  /** Starts listening (if a port was given). */
  async start(): Promise<void> {
    if (this.opts.port !== undefined) {
      const host = this.opts.host ?? "127.0.0.1";
      const server = new WebSocketServer({ host, port: this.opts.port, maxPayload: this.opts.maxPayload ?? 4 << 20 });
      await new Promise<void>((resolve, reject) => {
        server.once("listening", resolve);
        server.once("error", reject);
      });
      server.on("error", (err) => this.log.error({ err }, "peer server error"));
      server.on("connection", (ws) => this.attach(ws, undefined, undefined));
      this.server = server;
      const port = (server.address() as AddressInfo).port;
      this.listenUrl = this.opts.advertiseUrl ?? `ws://${host}:${port}`;
    }
    this.pingTimer = setInterval(() => this.pingAll(), PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  /** Closes every connection and the server; pending requests fail. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const r of this.retry.values()) if (r.timer) clearTimeout(r.timer);
    this.retry.clear();
    for (const conn of [...this.all]) conn.ws.terminate();
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** The URL peers dial to reach this node, if it listens. */
  get url(): string | undefined {
    return this.listenUrl;
  }

  /** Registers the handler of `method`. */
  on(method: string, handler: MessageHandler): void {
    this.handlers.set(method, handler);
  }

  /** Called with a peer's address each time a (new) authenticated connection to it is in use. */
  onPeerConnected(listener: (address: string) => void): void {
    this.connectedListeners.push(listener);
  }

  /** Called with a peer's address when its connection drops. */
  onPeerDisconnected(listener: (address: string) => void): void {
    this.disconnectedListeners.push(listener);
  }

  /** Remembers where `address` listens; the transport then keeps a connection to it. */
  setPeerUrl(address: string, url: string): void {
    const a = checksum(address);
    this.urls.set(a, url);
    // When both sides learn each other's URL at once, the lower address dials first and the other waits a little
    // (its dial would only lose the tie-break).
    if (!this.primary.has(a)) this.scheduleReconnect(a, this.address.toLowerCase() < a.toLowerCase() ? 0 : 300);
  }

  peerUrl(address: string): string | undefined {
    return this.urls.get(checksum(address));
  }

  /** Whether an authenticated connection to `address` is open. */
  isConnected(address: string): boolean {
    return this.primary.has(checksum(address));
  }

  /** The authenticated peers. */
  connectedPeers(): string[] {
    return [...this.primary.keys()];
  }

  /** Dials `url` and resolves with the address it proved (checked against `expected` when given). */
  async dial(url: string, expected?: string): Promise<string> {
    const conn = await this.open(url, expected === undefined ? undefined : checksum(expected));
    return conn.peer as string;
  }

  /** Ensures a connection to `address`, dialing its known URL if needed. */
  async connect(address: string): Promise<void> {
    await this.connection(checksum(address));
  }

  /** Sends a request to `address` and resolves with its result (rejects with a {@link PeerRequestError}). */
  async request(address: string, method: string, params: unknown, timeoutMs?: number): Promise<unknown> {
    const peer = checksum(address);
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connection(peer);
      try {
        return await this.send(conn, method, params, timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000);
      } catch (err) {
        // Both sides dialed and this connection lost the tie-break: send again on the one kept. Every method of the
        // peer protocol is idempotent, so a request the peer did see is harmless to repeat.
        if (!(err instanceof PeerUnavailableError) || !conn.replaced || attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
      }
    }
  }

  /** Sends a notification if connected; returns whether it was sent. */
  notify(address: string, method: string, params: unknown): boolean {
    const conn = this.primary.get(checksum(address));
    if (!conn || conn.ws.readyState !== WebSocket.OPEN) return false;
    this.enqueue(conn, { method, params });
    return true;
  }

  // -------------------------------------------------------------------------

  private async connection(address: string): Promise<Connection> {
    if (this.stopped) throw new PeerUnavailableError(address, "the transport is stopped");
    const existing = this.primary.get(address);
    if (existing && existing.ws.readyState === WebSocket.OPEN) return existing;
    const url = this.urls.get(address);
    if (url === undefined) throw new PeerUnavailableError(address, "not connected and no URL known");
    return this.open(url, address);
  }

  private open(url: string, expected: string | undefined): Promise<Connection> {
    const key = expected ?? url;
    const inFlight = this.dialing.get(key);
    if (inFlight) return inFlight;
    const attempt = (async () => {
      const ws = new WebSocket(url, { maxPayload: this.opts.maxPayload ?? 4 << 20, handshakeTimeout: 5_000 });
      const conn = this.attach(ws, this.address, expected);
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", (err) => reject(new PeerUnavailableError(expected ?? url, `cannot connect: ${err.message}`)));
        ws.once("close", () => reject(new PeerUnavailableError(expected ?? url, "connection closed")));
      });
      const timer = setTimeout(
        () => conn.rejectHandshake(new PeerUnavailableError(expected ?? url, "handshake timed out")),
        HANDSHAKE_TIMEOUT_MS,
      );
      try {
        await conn.handshake;
      } catch (err) {
        ws.terminate();
        throw err;
      } finally {
        clearTimeout(timer);
      }
      // A simultaneous dial from the other side may have won the tie-break.
      return this.primary.get(conn.peer as string) ?? conn;
    })();
    this.dialing.set(key, attempt);
    const clear = () => {
      if (this.dialing.get(key) === attempt) this.dialing.delete(key);
    };
    attempt.then(clear, clear);
    return attempt;
  }

  private attach(ws: WebSocket, dialer: string | undefined, expected: string | undefined): Connection {
    const conn = new Connection(ws, dialer, expected);
    this.all.add(conn);
    const sendHello = () => {
      const hello: Record<string, string> = { address: this.address, nonce: conn.nonce };
      if (this.listenUrl) hello.url = this.listenUrl;
      ws.send(JSON.stringify({ hello }));
    };
    if (ws.readyState === WebSocket.OPEN) sendHello();
    else ws.once("open", sendHello);
    if (dialer === undefined) {
      // Inbound: drop connections that never authenticate.
      const timer = setTimeout(() => {
        if (!conn.authenticated) ws.terminate();
      }, HANDSHAKE_TIMEOUT_MS);
      timer.unref();
    }
    ws.on("message", (data: RawData, isBinary: boolean) => this.receive(conn, data, isBinary));
    ws.on("pong", () => {
      conn.alive = true;
    });
    ws.on("error", (err) => this.log.debug({ err: err.message, peer: conn.peer }, "peer socket error"));
    ws.on("close", (code: number) => {
      if (code === CLOSE_DUPLICATE) conn.replaced = true;
      this.closed(conn);
    });
    return conn;
  }

  private receive(conn: Connection, data: RawData, isBinary: boolean): void {
    let msg: unknown;
    try {
      if (isBinary) throw new Error("binary frame");
      msg = JSON.parse(rawToString(data));
    } catch {
      this.reply(conn, null, { code: RpcCodes.PARSE_ERROR, message: "frames must be JSON text" });
      return;
    }
    if (Array.isArray(msg) && conn.authenticated) {
      if (msg.length > MAX_BATCH) {
        this.reply(conn, null, { code: RpcCodes.INVALID_REQUEST, message: `at most ${MAX_BATCH} messages a frame` });
        return;
      }
      for (const item of msg) conn.inbox.push(item);
    } else {
      conn.inbox.push(msg);
    }
    if (!conn.draining) this.drain(conn);
  }

  /**
   * Handles received messages in order, `SLICE` at a time, yielding to the event loop in between: a large batch
   * then does not hold up the disk flushes and sends that the messages before it already started.
   */
  private drain(conn: Connection): void {
    conn.draining = true;
    const end = Math.min(conn.inbox.length, conn.inboxHead + SLICE);
    while (conn.inboxHead < end) {
      const msg = conn.inbox[conn.inboxHead];
      conn.inbox[conn.inboxHead++] = undefined;
      this.dispatch(conn, msg);
    }
    if (conn.inboxHead < conn.inbox.length) {
      setImmediate(() => this.drain(conn));
      return;
    }
    conn.inbox = [];
    conn.inboxHead = 0;
    conn.draining = false;
  }

  private dispatch(conn: Connection, msg: unknown): void {
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
      this.reply(conn, null, { code: RpcCodes.INVALID_REQUEST, message: "a message must be a JSON object" });
      return;
    }
    const m = msg as Record<string, unknown>;
    try {
      if ("hello" in m) return this.onHello(conn, m.hello);
      if ("auth" in m) return this.onAuth(conn, m.auth);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, "peer handshake refused");
      this.reply(conn, null, { code: RpcCodes.UNAUTHENTICATED, message: (err as Error).message });
      this.flush(conn); // before the close frame
      conn.rejectHandshake(err);
      conn.ws.close(4001, "authentication failed");
      return;
    }
    const id = m.id;
    const validId = typeof id === "number" && Number.isSafeInteger(id) && id >= 0;
    if (id !== undefined && !validId) {
      this.reply(conn, null, { code: RpcCodes.INVALID_REQUEST, message: "id must be a non-negative integer" });
      return;
    }
    if (typeof m.method !== "string") {
      if (validId && ("result" in m || "error" in m)) return this.onResponse(conn, id, m);
      this.reply(conn, validId ? id : null, { code: RpcCodes.INVALID_REQUEST, message: "a request needs a method" });
      return;
    }
    if (!conn.authenticated) {
      if (validId) this.reply(conn, id, { code: RpcCodes.UNAUTHENTICATED, message: "authenticate first" });
      return;
    }
    const handler = this.handlers.get(m.method);
    if (!handler) {
      if (validId) this.reply(conn, id, { code: RpcCodes.METHOD_NOT_FOUND, message: `unknown method ${m.method}` });
      return;
    }
    const from = conn.peer as string;
    let result: unknown;
    try {
      result = handler(from, m.params);
    } catch (err) {
      if (validId) this.reply(conn, id, this.errorObject(err, m.method));
      else this.logHandlerError(err, m.method);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value: unknown) => {
          if (validId) this.reply(conn, id, undefined, value);
        },
        (err: unknown) => {
          if (validId) this.reply(conn, id, this.errorObject(err, m.method as string));
          else this.logHandlerError(err, m.method as string);
        },
      );
    } else if (validId) {
      this.reply(conn, id, undefined, result);
    }
  }

  private logHandlerError(err: unknown, method: string): void {
    if (!(err instanceof BilayerError)) this.log.error({ err, method }, "notification handler failed");
  }

  private errorObject(err: unknown, method: string): { code: number; message: string; data?: unknown } {
    if (err instanceof InvalidMessageError) {
      return { code: RpcCodes.INVALID_PARAMS, message: err.message, data: { code: err.code, context: err.context } };
    }
    if (err instanceof BilayerError) {
      return { code: RpcCodes.REFUSED, message: err.message, data: { code: err.code, context: err.context } };
    }
    this.log.error({ err, method }, "request handler failed");
    return { code: RpcCodes.INTERNAL_ERROR, message: "internal error" };
  }

  private reply(
    conn: Connection,
    id: number | null,
    error: { code: number; message: string; data?: unknown } | undefined,
    result?: unknown,
  ): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    const frame = error ? { id, error } : { id, result: result === undefined ? null : result };
    this.enqueue(conn, frame);
  }

  private onHello(conn: Connection, value: unknown): void {
    if (conn.claimed !== undefined) throw new Error("hello sent twice");
    if (typeof value !== "object" || value === null) throw new Error("hello must be an object");
    const h = value as Record<string, unknown>;
    if (typeof h.address !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(h.address)) throw new Error("hello.address");
    if (typeof h.nonce !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(h.nonce)) throw new Error("hello.nonce");
    const claimed = getAddress(h.address.toLowerCase());
    if (claimed === this.address) throw new Error("a node cannot connect to itself");
    if (conn.expected !== undefined && claimed !== conn.expected) {
      throw new Error(`expected peer ${conn.expected}, it says it is ${claimed}`);
    }
    if (h.url !== undefined) {
      if (typeof h.url !== "string" || !/^wss?:\/\/\S{1,500}$/.test(h.url)) throw new Error("hello.url");
      conn.peerUrl = h.url;
    }
    conn.claimed = claimed;
    if (conn.dialer === undefined) conn.dialer = claimed;
    const sig = this.key.sign(authDigest(h.nonce, this.address, claimed)).serialized;
    conn.ws.send(JSON.stringify({ auth: { sig } }));
    conn.authSent = true;
    this.maybeAuthenticated(conn);
  }

  private onAuth(conn: Connection, value: unknown): void {
    if (conn.claimed === undefined) throw new Error("auth before hello");
    if (conn.authReceived) throw new Error("auth sent twice");
    if (typeof value !== "object" || value === null) throw new Error("auth must be an object");
    const sig = (value as Record<string, unknown>).sig;
    if (typeof sig !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(sig)) throw new Error("auth.sig");
    let signer: string;
    try {
      signer = recoverAddress(authDigest(conn.nonce, conn.claimed, this.address), sig);
    } catch {
      throw new Error("auth.sig does not recover");
    }
    if (signer !== conn.claimed) throw new Error("auth.sig is not by the claimed address");
    conn.authReceived = true;
    this.maybeAuthenticated(conn);
  }

  private maybeAuthenticated(conn: Connection): void {
    if (!conn.authSent || !conn.authReceived || conn.authenticated) return;
    const peer = conn.claimed as string;
    conn.peer = peer;
    if (conn.peerUrl !== undefined && !this.urls.has(peer)) this.urls.set(peer, conn.peerUrl);
    const current = this.primary.get(peer);
    if (current && current !== conn && current.ws.readyState === WebSocket.OPEN) {
      // Both sides dialed: keep, on both sides alike, the connection dialed by the lower address (the newest if equal).
      const keepNew =
        (conn.dialer as string).toLowerCase() <= (current.dialer as string).toLowerCase() ||
        current.dialer === conn.dialer;
      if (!keepNew) {
        conn.resolveHandshake(peer);
        conn.replaced = true;
        conn.ws.close(CLOSE_DUPLICATE, "duplicate connection");
        return;
      }
      this.primary.set(peer, conn);
      current.replaced = true;
      current.ws.close(CLOSE_DUPLICATE, "duplicate connection");
    } else {
      this.primary.set(peer, conn);
    }
    const r = this.retry.get(peer);
    if (r?.timer) clearTimeout(r.timer);
    this.retry.delete(peer);
    conn.resolveHandshake(peer);
    this.log.debug({ peer }, "peer connected");
    for (const l of this.connectedListeners) {
      try {
        l(peer);
      } catch (err) {
        this.log.error({ err }, "peer-connected listener failed");
      }
    }
  }

  private send(conn: Connection, method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    if (conn.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new PeerUnavailableError(conn.peer ?? "?", "connection closed"));
    }
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.pending.delete(id);
        reject(new PeerUnavailableError(conn.peer ?? "?", `${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      conn.pending.set(id, { resolve, reject, timer });
      this.enqueue(conn, { id, method, params });
    });
  }

  private enqueue(conn: Connection, message: unknown): void {
    conn.outbox.push(message);
    if (conn.flushScheduled) return;
    conn.flushScheduled = true;
    setImmediate(() => this.flush(conn));
  }

  private flush(conn: Connection): void {
    conn.flushScheduled = false;
    const out = conn.outbox;
    conn.outbox = [];
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    for (let i = 0; i < out.length; i += MAX_BATCH) {
      const part = out.length === 1 ? out[0] : out.slice(i, i + MAX_BATCH);
      conn.ws.send(JSON.stringify(part));
    }
  }

  private onResponse(conn: Connection, id: number, m: Record<string, unknown>): void {
    const pending = conn.pending.get(id);
    if (!pending) return; // late answer of a timed-out request
    conn.pending.delete(id);
    clearTimeout(pending.timer);
    if ("error" in m) {
      const e = m.error as Record<string, unknown> | null;
      const code = typeof e?.code === "number" ? e.code : RpcCodes.INTERNAL_ERROR;
      const message = typeof e?.message === "string" ? e.message : "error";
      const data = e?.data as Record<string, unknown> | undefined;
      const peerCode = typeof data?.code === "string" ? data.code : undefined;
      pending.reject(new PeerRequestError(code, message, peerCode, data?.context));
    } else {
      pending.resolve(m.result);
    }
  }

  private closed(conn: Connection): void {
    this.all.delete(conn);
    conn.rejectHandshake(new PeerUnavailableError(conn.claimed ?? "?", "connection closed"));
    for (const p of conn.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new PeerUnavailableError(conn.peer ?? "?", "connection closed"));
    }
    conn.pending.clear();
    const peer = conn.peer;
    if (peer === undefined || this.primary.get(peer) !== conn) return;
    this.primary.delete(peer);
    this.log.debug({ peer }, "peer disconnected");
    for (const l of this.disconnectedListeners) {
      try {
        l(peer);
      } catch (err) {
        this.log.error({ err }, "peer-disconnected listener failed");
      }
    }
    if (this.urls.has(peer)) this.scheduleReconnect(peer, this.opts.reconnectMs ?? 200);
  }

  private scheduleReconnect(peer: string, delay: number): void {
    if (this.stopped || this.primary.has(peer)) return;
    const existing = this.retry.get(peer);
    if (existing?.timer) return;
    const state = existing ?? { timer: undefined, delay };
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (this.stopped || this.primary.has(peer)) return;
      const url = this.urls.get(peer);
      if (url === undefined) return;
      this.open(url, peer).then(
        () => this.retry.delete(peer),
        () => {
          state.delay = Math.min(Math.max(state.delay * 2, this.opts.reconnectMs ?? 200), 5_000);
          this.retry.set(peer, state);
          this.scheduleReconnect(peer, state.delay);
        },
      );
    }, delay);
    state.timer.unref();
    this.retry.set(peer, state);
  }

  private pingAll(): void {
    for (const conn of this.all) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.ping();
    }
  }
}

const checksums = new Map<string, string>();

/** `getAddress`, memoized: addresses are checksummed on every request, and hashing them each time is not free. */
function checksum(address: string): string {
  let c = checksums.get(address);
  if (c === undefined) {
    c = getAddress(address);
    if (checksums.size > 10_000) checksums.clear();
    checksums.set(address, c);
  }
  return c;
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return data.toString("utf8");
}
