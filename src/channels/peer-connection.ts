import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { WebSocket, type RawData } from "ws";
import type { Logger } from "pino";
import { nestingDepth } from "../common/json-depth";
import { BilayerError } from "../protocol/errors";
import { PREAUTH_MAX_BYTES, PREAUTH_MAX_FRAME } from "./peer-auth";
import {
  errorObject,
  PeerErrorCode,
  PeerRequestError,
  PeerUnavailableError,
  type PeerErrorObject,
} from "./peer-errors";

/*
 * One WebSocket connection of the peer transport: its frames, its byte
 * budget and its requests waiting for an answer.
 *
 * Every inbound frame is checked; a malformed one is answered with an error,
 * never thrown. After the handshake a frame may also be a JSON array of
 * messages: each side sends what it produced in one turn of its event loop as
 * one frame. Once authenticated, a frame nested deeper than MAX_JSON_DEPTH is
 * refused without being parsed, and each connection has a byte budget
 * (`bytesPerSecond`): past it the socket is paused, so one peer slows down
 * only itself.
 */

/** The deepest JSON nesting parsed (the deepest real message is about 6 levels). */
export const MAX_JSON_DEPTH = 32;
/** The most messages sent in one frame. */
const MAX_BATCH = 1_000;
/** The largest batch frame sent (a single message may be larger, up to the peer's frame limit). */
const MAX_FRAME_BYTES = 1 << 20;
/** Messages handled per turn of the event loop. */
const SLICE = 64;

/**
 * Whether the JSON text in `data` nests deeper than `max`, found by one scan of its bytes (strings skipped: the
 * request bodies' {@link nestingDepth}), so a deeply nested frame is refused before `JSON.parse` spends time on it.
 */
export function jsonDeeperThan(data: Buffer, max: number): boolean {
  return nestingDepth(data, max) > max;
}

/** Handles a request (its result is the answer) or a notification (its result is ignored). */
export type MessageHandler = (from: string, params: unknown) => unknown;

/**
 * What the limits did since start: connections cut off before authentication, refused at the door, throttled,
 * dropped for a frame nested too deep.
 */
export interface TransportStats {
  cutOff: number;
  refusedAtDoor: number;
  throttled: number;
  tooDeep: number;
}

/** What a connection takes from the transport that owns it. */
export interface ConnectionHost {
  readonly log: Logger;
  readonly stats: TransportStats;
  /** The transport's options that bound a connection. */
  readonly opts: { readonly maxPayload?: number; readonly bytesPerSecond?: number };
  /** Handles one received message (hello, auth, request, notification or response). */
  dispatch(conn: Connection, msg: unknown): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

/** One WebSocket connection, before and after authentication. */
export class Connection {
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
    private readonly host: ConnectionHost,
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

  /** Sends this side's hello: its `address`, the nonce the peer is to sign and the `url` it listens on, if any. */
  sendHello(address: string, url: string | undefined): void {
    const hello: Record<string, string> = { address, nonce: this.nonce };
    if (url) hello.url = url;
    this.ws.send(JSON.stringify({ hello }));
  }

  /** Cuts the connection off, unread, once `socket` has carried more than it may before authentication. */
  countPreauth(socket: Socket): void {
    const onData = (chunk: Buffer) => {
      if (this.authenticated) {
        socket.off("data", onData);
        return;
      }
      this.preauthBytes += chunk.length;
      if (this.preauthBytes > PREAUTH_MAX_BYTES) {
        socket.off("data", onData);
        this.host.log.debug({ bytes: this.preauthBytes }, "unauthenticated peer sent too much: cut off");
        this.host.stats.cutOff += 1;
        socket.destroy();
      }
    };
    socket.on("data", onData);
  }

  /** Takes one frame: checked against the limits, parsed, and its messages handled in order. */
  receive(data: RawData, isBinary: boolean): void {
    const bytes = rawToBuffer(data);
    if (!this.authenticated) {
      // Only hello and auth, small, before authentication: anything else is cut off without being parsed.
      if (bytes.length > PREAUTH_MAX_FRAME || ++this.preauthFrames > 2) {
        this.host.stats.cutOff += 1;
        this.ws.terminate();
        return;
      }
    } else {
      this.spend(bytes.length);
      if (jsonDeeperThan(bytes, MAX_JSON_DEPTH)) {
        // No honest peer nests that deep: the frame goes unparsed and the connection is dropped (it reconnects).
        this.host.stats.tooDeep += 1;
        this.host.log.warn(
          { peer: this.peer, bytes: bytes.length },
          "a frame nested too deep: dropping the connection",
        );
        this.ws.terminate();
        return;
      }
    }
    let msg: unknown;
    try {
      if (isBinary) throw new BilayerError("INVALID_FRAME", "binary frame");
      msg = JSON.parse(bytes.toString("utf8"));
    } catch {
      this.reply(null, { code: PeerErrorCode.PARSE_ERROR, message: "frames must be JSON text" });
      return;
    }
    if (Array.isArray(msg) && this.authenticated) {
      if (msg.length > MAX_BATCH) {
        this.reply(null, {
          code: PeerErrorCode.INVALID_REQUEST,
          message: `at most ${MAX_BATCH} messages a frame`,
        });
        return;
      }
      for (const item of msg) this.inbox.push(item);
    } else {
      this.inbox.push(msg);
    }
    if (!this.draining) this.drain();
  }

  /** Takes `bytes` from an authenticated connection's budget; pauses its socket while the budget is spent. */
  private spend(bytes: number): void {
    const rate = this.host.opts.bytesPerSecond ?? 16 << 20;
    const burst = Math.max(rate, this.host.opts.maxPayload ?? 4 << 20);
    const now = Date.now();
    this.budget = Math.min(burst, this.budget + ((now - this.budgetAt) * rate) / 1000);
    this.budgetAt = now;
    this.budget -= bytes;
    if (this.budget >= 0 || this.throttled) return;
    this.throttled = true;
    this.host.stats.throttled += 1;
    this.ws.pause();
    const wait = Math.ceil((-this.budget * 1000) / rate);
    setTimeout(() => {
      this.throttled = false;
      if (this.ws.readyState === WebSocket.OPEN) this.ws.resume();
    }, wait).unref();
  }

  /**
   * Handles received messages in order, `SLICE` at a time, yielding to the event loop in between: a large batch
   * then does not hold up the disk flushes and sends that the messages before it already started.
   */
  private drain(): void {
    this.draining = true;
    const end = Math.min(this.inbox.length, this.inboxHead + SLICE);
    while (this.inboxHead < end) {
      const msg = this.inbox[this.inboxHead];
      this.inbox[this.inboxHead++] = undefined;
      this.host.dispatch(this, msg);
    }
    if (this.inboxHead < this.inbox.length) {
      setImmediate(() => this.drain());
      return;
    }
    this.inbox = [];
    this.inboxHead = 0;
    this.draining = false;
  }

  /** Sends request `id` and resolves with its answer's result (rejects with a {@link PeerRequestError}). */
  request(id: number, method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    if (this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new PeerUnavailableError(this.peer ?? "?", "connection closed"));
    }
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PeerUnavailableError(this.peer ?? "?", `${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.enqueue({ id, method, params });
    });
  }

  /** Settles the request `id` with the answer `m`. */
  settle(id: number, m: Record<string, unknown>): void {
    const pending = this.pending.get(id);
    if (!pending) return; // late answer of a timed-out request
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if ("error" in m) pending.reject(PeerRequestError.fromAnswer(m.error));
    else pending.resolve(m.result);
  }

  /** Rejects every request still waiting for an answer: the connection closed. */
  failPending(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new PeerUnavailableError(this.peer ?? "?", "connection closed"));
    }
    this.pending.clear();
  }

  /**
   * Runs `handler` on a request (`id` given: its result or refusal is the answer) or a notification (`id`
   * undefined: a failure other than a refusal is logged).
   */
  answer(id: number | undefined, method: string, handler: MessageHandler, params: unknown): void {
    const from = this.peer as string;
    let result: unknown;
    try {
      result = handler(from, params);
    } catch (err) {
      if (id !== undefined) this.reply(id, errorObject(err, method, this.host.log));
      else this.logHandlerError(err, method);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value: unknown) => {
          if (id !== undefined) this.reply(id, undefined, value);
        },
        (err: unknown) => {
          if (id !== undefined) this.reply(id, errorObject(err, method, this.host.log));
          else this.logHandlerError(err, method);
        },
      );
    } else if (id !== undefined) {
      this.reply(id, undefined, result);
    }
  }

  private logHandlerError(err: unknown, method: string): void {
    if (!(err instanceof BilayerError)) this.host.log.error({ err, method }, "notification handler failed");
  }

  /** Answers request `id` (`null`: a message without a usable id) with `error`, or else with `result`. */
  reply(id: number | null, error: PeerErrorObject | undefined, result?: unknown): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const frame = error ? { id, error } : { id, result: result === undefined ? null : result };
    this.enqueue(frame);
  }

  /** Terminates a connection that did not answer the last ping, and pings it again. */
  ping(): void {
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  /** Queues `message` for the frame sent at the end of this turn of the event loop. */
  enqueue(message: unknown): void {
    this.outbox.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends the queued messages now. */
  flush(): void {
    this.flushScheduled = false;
    const out = this.outbox;
    this.outbox = [];
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (out.length === 1) {
      this.ws.send(JSON.stringify(out[0]));
      return;
    }
    // One frame per MAX_BATCH messages and at most MAX_FRAME_BYTES (a batch array of their texts), so no frame
    // ever exceeds what the peer takes.
    let parts: string[] = [];
    let size = 2;
    const send = () => {
      if (parts.length === 0) return;
      this.ws.send(parts.length === 1 ? parts[0] : "[" + parts.join(",") + "]");
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
}

function rawToBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return data;
}
