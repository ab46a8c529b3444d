import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import secp256k1 from "secp256k1";
import { computeAddress, getAddress, SigningKey } from "ethers";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Logger } from "pino";
import pino from "pino";
import { BilayerError } from "../protocol/errors";
import { keccak256 } from "../protocol/hash";
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
 *
 * Authenticate before parsing: an unauthenticated connection may send at most
 * two frames of at most PREAUTH_MAX_FRAME bytes and PREAUTH_MAX_BYTES in all
 * (counted on the socket, before any frame is assembled); past that it is cut
 * off unread. At most MAX_UNAUTHENTICATED connections wait in the handshake at
 * once, and at most HANDSHAKES_PER_SECOND new ones are taken. Once
 * authenticated, a frame nested deeper than MAX_JSON_DEPTH is refused without
 * being parsed, and each connection has a byte budget (`bytesPerSecond`):
 * past it the socket is paused, so one peer slows down only itself. The
 * handshake's signatures run on the native secp256k1 binding. No host can so
 * hold up the event loop a refutation needs.
 */

/** JSON-RPC-style error codes of the peer protocol. */
export const PeerErrorCode = {
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
  /** Largest frame accepted from an authenticated peer (default 4 MiB). */
  maxPayload?: number;
  /** Bytes per second an authenticated connection may send before its socket is paused (default 16 MiB). */
  bytesPerSecond?: number;
  logger?: Logger;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

const AUTH_TAG = Buffer.from("bilayer-channels/peer/v1");
const HANDSHAKE_TIMEOUT_MS = 5_000;
/** The largest frame taken before authentication (hello and auth are about 250 bytes each). */
export const PREAUTH_MAX_FRAME = 1024;
/** The most bytes an unauthenticated connection may send, counted on the socket. */
export const PREAUTH_MAX_BYTES = 8192;
/** Connections in the handshake at once; more are cut off at once. */
export const MAX_UNAUTHENTICATED = 64;
/** New inbound connections taken per second; more are cut off at once. */
export const HANDSHAKES_PER_SECOND = 200;
/** The deepest JSON nesting parsed (the deepest real message is about 6 levels). */
export const MAX_JSON_DEPTH = 32;

/** WebSocket close code of a connection dropped for a duplicate. */
const CLOSE_DUPLICATE = 4000;
/** The most messages sent in one frame. */
const MAX_BATCH = 1_000;
/** The largest batch frame sent (a single message may be larger, up to the peer's frame limit). */
const MAX_FRAME_BYTES = 1 << 20;
/** Messages handled per turn of the event loop. */
const SLICE = 64;
const PING_INTERVAL_MS = 15_000;

function authDigest(verifierNonce: string, signer: string, verifier: string): Uint8Array {
  return keccak256(
    Buffer.concat([
      AUTH_TAG,
      Buffer.from(verifierNonce.slice(2), "hex"),
      Buffer.from(signer.slice(2), "hex"),
      Buffer.from(verifier.slice(2), "hex"),
    ]),
  );
}

/** A 65-byte `r ‖ s ‖ v` signature of `digest` (v = 27 + recovery id), as hex, on the native binding. */
function signDigest(key: Uint8Array, digest: Uint8Array): string {
  const { signature, recid } = secp256k1.ecdsaSign(digest, key);
  return "0x" + Buffer.from(signature).toString("hex") + (27 + recid).toString(16);
}

/** The address that made the 65-byte signature `sig` of `digest`, or `undefined` if none. */
function recoverSigner(digest: Uint8Array, sig: string): string | undefined {
  const bytes = Buffer.from(sig.slice(2), "hex");
  const v = bytes[64];
  const recid = v >= 27 ? v - 27 : v;
  if (recid !== 0 && recid !== 1) return undefined;
  try {
    const publicKey = secp256k1.ecdsaRecover(bytes.subarray(0, 64), recid, digest, false);
    return getAddress(
      "0x" +
        Buffer.from(keccak256(publicKey.subarray(1)))
          .subarray(12)
          .toString("hex"),
    );
  } catch {
    return undefined;
  }
}

/**
 * Whether the JSON text in `data` nests deeper than `max`, found by one scan of its bytes (strings skipped), so a
 * deeply nested frame is refused before `JSON.parse` spends time on it.
 */
export function jsonDeeperThan(data: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
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
  /** Bytes received on the socket before authentication, and frames. */
  preauthBytes = 0;
  preauthFrames = 0;
  /** The byte budget of an authenticated connection: what it may still send now, and when that was computed. */
  budget = Number.POSITIVE_INFINITY; // full (capped to the burst) at the first message
  budgetAt = Date.now();
  /** The socket is paused until the budget refills. */
  throttled = false;
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
  private readonly keyBytes: Uint8Array;
  /** New inbound connections taken in the current second. */
  private handshakeWindow = { second: 0, count: 0 };
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
  /** What the limits did since start: connections cut off before authentication, refused at the door, throttled. */
  readonly stats = { cutOff: 0, refusedAtDoor: 0, throttled: 0, tooDeep: 0 };
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: TransportOptions) {
    this.key = new SigningKey(opts.privateKey);
    this.keyBytes = Buffer.from(this.key.privateKey.slice(2), "hex");
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
      server.on("connection", (ws, req: IncomingMessage) => this.accept(ws, req.socket));
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

  /** An inbound connection: taken only within the limits on waiting and new handshakes. */
  private accept(ws: WebSocket, socket: Socket): void {
    const second = Math.floor(Date.now() / 1000);
    if (this.handshakeWindow.second !== second) this.handshakeWindow = { second, count: 0 };
    let waiting = 0;
    for (const c of this.all) if (!c.authenticated) waiting++;
    if (++this.handshakeWindow.count > HANDSHAKES_PER_SECOND || waiting >= MAX_UNAUTHENTICATED) {
      this.stats.refusedAtDoor += 1;
      socket.destroy();
      ws.terminate();
      return;
    }
    const conn = this.attach(ws, undefined, undefined);
    this.countPreauth(conn, socket);
  }

  /** Cuts an unauthenticated connection off, unread, once its socket has carried more than it may. */
  private countPreauth(conn: Connection, socket: Socket): void {
    const onData = (chunk: Buffer) => {
      if (conn.authenticated) {
        socket.off("data", onData);
        return;
      }
      conn.preauthBytes += chunk.length;
      if (conn.preauthBytes > PREAUTH_MAX_BYTES) {
        socket.off("data", onData);
        this.log.debug({ bytes: conn.preauthBytes }, "unauthenticated peer sent too much: cut off");
        this.stats.cutOff += 1;
        socket.destroy();
      }
    };
    socket.on("data", onData);
  }

  private attach(ws: WebSocket, dialer: string | undefined, expected: string | undefined): Connection {
    const conn = new Connection(ws, dialer, expected);
    this.all.add(conn);
    if (dialer !== undefined) {
      // Counted from `open` on: a data listener added before ws's own would switch the socket to flowing too early.
      ws.once("upgrade", (res: IncomingMessage) => ws.once("open", () => this.countPreauth(conn, res.socket)));
    }
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
    const bytes = rawToBuffer(data);
    if (!conn.authenticated) {
      // Only hello and auth, small, before authentication: anything else is cut off without being parsed.
      if (bytes.length > PREAUTH_MAX_FRAME || ++conn.preauthFrames > 2) {
        this.stats.cutOff += 1;
        conn.ws.terminate();
        return;
      }
    } else {
      this.spend(conn, bytes.length);
      if (jsonDeeperThan(bytes, MAX_JSON_DEPTH)) {
        // No honest peer nests that deep: the frame goes unparsed and the connection is dropped (it reconnects).
        this.stats.tooDeep += 1;
        this.log.warn({ peer: conn.peer, bytes: bytes.length }, "a frame nested too deep: dropping the connection");
        conn.ws.terminate();
        return;
      }
    }
    let msg: unknown;
    try {
      if (isBinary) throw new BilayerError("INVALID_FRAME", "binary frame");
      msg = JSON.parse(bytes.toString("utf8"));
    } catch {
      this.reply(conn, null, { code: PeerErrorCode.PARSE_ERROR, message: "frames must be JSON text" });
      return;
    }
    if (Array.isArray(msg) && conn.authenticated) {
      if (msg.length > MAX_BATCH) {
        this.reply(conn, null, {
          code: PeerErrorCode.INVALID_REQUEST,
          message: `at most ${MAX_BATCH} messages a frame`,
        });
        return;
      }
      for (const item of msg) conn.inbox.push(item);
    } else {
      conn.inbox.push(msg);
    }
    if (!conn.draining) this.drain(conn);
  }

  /** Takes `bytes` from an authenticated connection's budget; pauses its socket while the budget is spent. */
  private spend(conn: Connection, bytes: number): void {
    const rate = this.opts.bytesPerSecond ?? 16 << 20;
    const burst = Math.max(rate, this.opts.maxPayload ?? 4 << 20);
    const now = Date.now();
    conn.budget = Math.min(burst, conn.budget + ((now - conn.budgetAt) * rate) / 1000);
    conn.budgetAt = now;
    conn.budget -= bytes;
    if (conn.budget >= 0 || conn.throttled) return;
    conn.throttled = true;
    this.stats.throttled += 1;
    conn.ws.pause();
    const wait = Math.ceil((-conn.budget * 1000) / rate);
    setTimeout(() => {
      conn.throttled = false;
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.resume();
    }, wait).unref();
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
      this.reply(conn, null, { code: PeerErrorCode.INVALID_REQUEST, message: "a message must be a JSON object" });
      return;
    }
    const m = msg as Record<string, unknown>;
    try {
      if ("hello" in m) return this.onHello(conn, m.hello);
      if ("auth" in m) return this.onAuth(conn, m.auth);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, "peer handshake refused");
      this.reply(conn, null, { code: PeerErrorCode.UNAUTHENTICATED, message: (err as Error).message });
      this.flush(conn); // before the close frame
      conn.rejectHandshake(err);
      conn.ws.close(4001, "authentication failed");
      return;
    }
    const id = m.id;
    const validId = typeof id === "number" && Number.isSafeInteger(id) && id >= 0;
    if (id !== undefined && !validId) {
      this.reply(conn, null, { code: PeerErrorCode.INVALID_REQUEST, message: "id must be a non-negative integer" });
      return;
    }
    if (typeof m.method !== "string") {
      if (validId && ("result" in m || "error" in m)) return this.onResponse(conn, id, m);
      this.reply(conn, validId ? id : null, {
        code: PeerErrorCode.INVALID_REQUEST,
        message: "a request needs a method",
      });
      return;
    }
    if (!conn.authenticated) {
      if (validId) this.reply(conn, id, { code: PeerErrorCode.UNAUTHENTICATED, message: "authenticate first" });
      return;
    }
    const handler = this.handlers.get(m.method);
    if (!handler) {
      if (validId)
        this.reply(conn, id, { code: PeerErrorCode.METHOD_NOT_FOUND, message: `unknown method ${m.method}` });
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
      return {
        code: PeerErrorCode.INVALID_PARAMS,
        message: err.message,
        data: { code: err.code, context: err.context },
      };
    }
    if (err instanceof BilayerError) {
      return { code: PeerErrorCode.REFUSED, message: err.message, data: { code: err.code, context: err.context } };
    }
    this.log.error({ err, method }, "request handler failed");
    return { code: PeerErrorCode.INTERNAL_ERROR, message: "internal error" };
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
    if (conn.claimed !== undefined) throw new BilayerError("HANDSHAKE_INVALID", "hello sent twice");
    if (typeof value !== "object" || value === null)
      throw new BilayerError("HANDSHAKE_INVALID", "hello must be an object");
    const h = value as Record<string, unknown>;
    if (typeof h.address !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(h.address))
      throw new BilayerError("HANDSHAKE_INVALID", "hello.address");
    if (typeof h.nonce !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(h.nonce))
      throw new BilayerError("HANDSHAKE_INVALID", "hello.nonce");
    const claimed = getAddress(h.address.toLowerCase());
    if (claimed === this.address) throw new BilayerError("HANDSHAKE_INVALID", "a node cannot connect to itself");
    if (conn.expected !== undefined && claimed !== conn.expected) {
      throw new BilayerError("HANDSHAKE_INVALID", `expected peer ${conn.expected}, it says it is ${claimed}`);
    }
    if (h.url !== undefined) {
      if (typeof h.url !== "string" || !/^wss?:\/\/\S{1,500}$/.test(h.url))
        throw new BilayerError("HANDSHAKE_INVALID", "hello.url");
      conn.peerUrl = h.url;
    }
    conn.claimed = claimed;
    if (conn.dialer === undefined) conn.dialer = claimed;
    const sig = signDigest(this.keyBytes, authDigest(h.nonce, this.address, claimed));
    conn.ws.send(JSON.stringify({ auth: { sig } }));
    conn.authSent = true;
    this.maybeAuthenticated(conn);
  }

  private onAuth(conn: Connection, value: unknown): void {
    if (conn.claimed === undefined) throw new BilayerError("HANDSHAKE_INVALID", "auth before hello");
    if (conn.authReceived) throw new BilayerError("HANDSHAKE_INVALID", "auth sent twice");
    if (typeof value !== "object" || value === null)
      throw new BilayerError("HANDSHAKE_INVALID", "auth must be an object");
    const sig = (value as Record<string, unknown>).sig;
    if (typeof sig !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(sig))
      throw new BilayerError("HANDSHAKE_INVALID", "auth.sig");
    const signer = recoverSigner(authDigest(conn.nonce, conn.claimed, this.address), sig);
    if (signer === undefined) throw new BilayerError("HANDSHAKE_INVALID", "auth.sig does not recover");
    if (signer !== conn.claimed) throw new BilayerError("HANDSHAKE_INVALID", "auth.sig is not by the claimed address");
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
    if (out.length === 1) {
      conn.ws.send(JSON.stringify(out[0]));
      return;
    }
    // One frame per MAX_BATCH messages and at most MAX_FRAME_BYTES (a batch array of their texts), so no frame
    // ever exceeds what the peer takes.
    let parts: string[] = [];
    let size = 2;
    const send = () => {
      if (parts.length === 0) return;
      conn.ws.send(parts.length === 1 ? parts[0] : "[" + parts.join(",") + "]");
      parts = [];
      size = 2;
    };
    for (const message of out) {
      const text = JSON.stringify(message);
      if (parts.length > 0 && (parts.length >= MAX_BATCH || size + text.length + 1 > MAX_FRAME_BYTES)) send();
      parts.push(text);
      size += text.length + 1;
    }
    send();
  }

  private onResponse(conn: Connection, id: number, m: Record<string, unknown>): void {
    const pending = conn.pending.get(id);
    if (!pending) return; // late answer of a timed-out request
    conn.pending.delete(id);
    clearTimeout(pending.timer);
    if ("error" in m) {
      const e = m.error as Record<string, unknown> | null;
      const code = typeof e?.code === "number" ? e.code : PeerErrorCode.INTERNAL_ERROR;
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

function rawToBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return data;
}
