import type { IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { computeAddress, getAddress, SigningKey } from "ethers";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Logger } from "pino";
import pino from "pino";
import { HANDSHAKE_TIMEOUT_MS, HandshakeDoor, takeAuth, takeHello } from "./peer-auth";
import { Connection, type ConnectionHost, type MessageHandler, type TransportStats } from "./peer-connection";
import { PeerErrorCode, PeerUnavailableError } from "./peer-errors";

export { HANDSHAKES_PER_SECOND, MAX_UNAUTHENTICATED, PREAUTH_MAX_BYTES, PREAUTH_MAX_FRAME } from "./peer-auth";
export { jsonDeeperThan, MAX_JSON_DEPTH, type MessageHandler, type TransportStats } from "./peer-connection";
export { PeerErrorCode, PeerRequestError, PeerUnavailableError } from "./peer-errors";

/*
 * The peer transport: JSON messages over WebSocket, request/response matched
 * by id, notifications, mutual authentication by address, reconnection.
 *
 * Frames (one JSON object each):
 *   {"hello": {"address", "nonce", "url"?}}     first frame of each side
 *   {"auth": {"sig"}}                           signature over the other side's nonce (./peer-auth.ts)
 *   {"id", "method", "params"}                  request
 *   {"method", "params"}                        notification
 *   {"id", "result"} | {"id", "error": {"code", "message", "data"?}}   response
 *
 * After the handshake a frame may also be a JSON array of such messages
 * (./peer-connection.ts). Nothing but hello and auth is accepted before the
 * handshake, and the limits on unauthenticated connections (./peer-auth.ts)
 * and on authenticated ones (./peer-connection.ts) mean no host can hold up
 * the event loop a refutation needs.
 */

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

/** WebSocket close code of a connection dropped for a duplicate. */
const CLOSE_DUPLICATE = 4000;
const PING_INTERVAL_MS = 15_000;

/**
 * A node of the peer network: listens for peers, dials the ones it has URLs
 * for, keeps one authenticated connection per peer address and reconnects
 * with backoff when it drops.
 */
export class PeerTransport {
  readonly address: string;
  private readonly key: SigningKey;
  private readonly keyBytes: Uint8Array;
  private readonly door = new HandshakeDoor();
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
  /**
   * What the limits did since start: connections cut off before authentication, refused at the door, throttled,
   * dropped for a frame nested too deep.
   */
  readonly stats: TransportStats = { cutOff: 0, refusedAtDoor: 0, throttled: 0, tooDeep: 0 };
  private pingTimer: NodeJS.Timeout | undefined;
  /** What each connection takes from this transport. */
  private readonly host: ConnectionHost;

  constructor(private readonly opts: TransportOptions) {
    this.key = new SigningKey(opts.privateKey);
    this.keyBytes = Buffer.from(this.key.privateKey.slice(2), "hex");
    this.address = computeAddress(this.key.publicKey);
    this.log = opts.logger ?? pino({ level: "silent" });
    this.host = { log: this.log, stats: this.stats, opts, dispatch: (conn, msg) => this.dispatch(conn, msg) };
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
        return await conn.request(this.nextId++, method, params, timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000);
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
    conn.enqueue({ method, params });
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
    let waiting = 0;
    for (const c of this.all) if (!c.authenticated) waiting++;
    if (!this.door.admits(waiting)) {
      this.stats.refusedAtDoor += 1;
      socket.destroy();
      ws.terminate();
      return;
    }
    const conn = this.attach(ws, undefined, undefined);
    conn.countPreauth(socket);
  }

  private attach(ws: WebSocket, dialer: string | undefined, expected: string | undefined): Connection {
    const conn = new Connection(ws, dialer, expected, this.host);
    this.all.add(conn);
    if (dialer !== undefined) {
      // Counted from `open` on: a data listener added before ws's own would switch the socket to flowing too early.
      ws.once("upgrade", (res: IncomingMessage) => ws.once("open", () => conn.countPreauth(res.socket)));
    }
    const sendHello = () => conn.sendHello(this.address, this.listenUrl);
    if (ws.readyState === WebSocket.OPEN) sendHello();
    else ws.once("open", sendHello);
    if (dialer === undefined) {
      // Inbound: drop connections that never authenticate.
      const timer = setTimeout(() => {
        if (!conn.authenticated) ws.terminate();
      }, HANDSHAKE_TIMEOUT_MS);
      timer.unref();
    }
    ws.on("message", (data: RawData, isBinary: boolean) => conn.receive(data, isBinary));
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

  /** Routes one received message: the handshake's, an answer to a request of ours, or a request to its handler. */
  private dispatch(conn: Connection, msg: unknown): void {
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
      conn.reply(null, { code: PeerErrorCode.INVALID_REQUEST, message: "a message must be a JSON object" });
      return;
    }
    const m = msg as Record<string, unknown>;
    try {
      if ("hello" in m) {
        takeHello(conn, m.hello, this.address, this.keyBytes);
        return this.maybeAuthenticated(conn);
      }
      if ("auth" in m) {
        takeAuth(conn, m.auth, this.address);
        return this.maybeAuthenticated(conn);
      }
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, "peer handshake refused");
      conn.reply(null, { code: PeerErrorCode.UNAUTHENTICATED, message: (err as Error).message });
      conn.flush(); // before the close frame
      conn.rejectHandshake(err);
      conn.ws.close(4001, "authentication failed");
      return;
    }
    const id = m.id;
    const validId = typeof id === "number" && Number.isSafeInteger(id) && id >= 0;
    if (id !== undefined && !validId) {
      conn.reply(null, { code: PeerErrorCode.INVALID_REQUEST, message: "id must be a non-negative integer" });
      return;
    }
    if (typeof m.method !== "string") {
      if (validId && ("result" in m || "error" in m)) return conn.settle(id, m);
      conn.reply(validId ? id : null, {
        code: PeerErrorCode.INVALID_REQUEST,
        message: "a request needs a method",
      });
      return;
    }
    if (!conn.authenticated) {
      if (validId) conn.reply(id, { code: PeerErrorCode.UNAUTHENTICATED, message: "authenticate first" });
      return;
    }
    const handler = this.handlers.get(m.method);
    if (!handler) {
      if (validId) conn.reply(id, { code: PeerErrorCode.METHOD_NOT_FOUND, message: `unknown method ${m.method}` });
      return;
    }
    conn.answer(validId ? id : undefined, m.method, handler, m.params);
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
    this.tell(this.connectedListeners, peer, "peer-connected");
  }

  private closed(conn: Connection): void {
    this.all.delete(conn);
    conn.rejectHandshake(new PeerUnavailableError(conn.claimed ?? "?", "connection closed"));
    conn.failPending();
    const peer = conn.peer;
    if (peer === undefined || this.primary.get(peer) !== conn) return;
    this.primary.delete(peer);
    this.log.debug({ peer }, "peer disconnected");
    this.tell(this.disconnectedListeners, peer, "peer-disconnected");
    if (this.urls.has(peer)) this.scheduleReconnect(peer, this.opts.reconnectMs ?? 200);
  }

  /** Calls each of `listeners` with `peer`; one that throws is logged and does not stop the others. */
  private tell(listeners: ((address: string) => void)[], peer: string, what: string): void {
    for (const l of listeners) {
      try {
        l(peer);
      } catch (err) {
        this.log.error({ err }, `${what} listener failed`);
      }
    }
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
    for (const conn of this.all) conn.ping();
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
