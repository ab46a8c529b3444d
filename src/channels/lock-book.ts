import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { LevelStore, StoreOp } from "../common/store";
import type { ClientChannel } from "./client-channel";
import type { ClientContext, ClientServices } from "./client-context";
import {
  decodeInvoice,
  decodeLockMeta,
  decodeLocksRecord,
  decodeRoute,
  encodeInvoice,
  encodeLockMeta,
  encodeLocksRecord,
  encodeRoute,
  keyParts,
  lockId,
  storeKey,
  storePrefix,
  type InvoiceRecord,
  type LockMeta,
  type LockStatus,
  type RouteRecord,
} from "./records";
import { errText, refused } from "./errors";
import { offeredLockFate, type LockFate } from "./settlement";
import { hashlockOf, ZERO_BYTES32, type Lock } from "./state";
import { findLock, type ChannelUpdate, type Snapshot } from "./updates";
import { asBytes32, type ForwardMemo } from "./wire";

/*
 * The lock book: everything this client knows of its hash locks — the secrets it knows and when they reached the
 * chain, what it does with each lock (`LockMeta`), its invoices and route payments, the locks behind every locks
 * root it signed — kept in memory and in the store together, and the settlement rule (./settlement.ts) applied to
 * the locks it offered. ./payments.ts decides what to do with them; this file only knows them.
 */

/** The outcome of a payment over a route. */
export interface RouteResult {
  hashlock: string;
  status: "completed" | "refunded";
  /** The payee's secret: the proof of payment (only when completed). */
  secret?: string;
  /** Why the payment was refunded. */
  reason?: string;
}

/** What this client knows of its locks and secrets. */
export class LockBook {
  /** Secrets this client knows, by hashlock. */
  readonly secrets = new Map<string, string>();
  /** When each secret was revealed on chain, by hashlock, as far as this client has read. */
  readonly revealed = new Map<string, bigint>();
  /** What this client does with each of its locks, by {@link lockId}. */
  readonly lockMetas = new Map<string, LockMeta>();
  readonly invoices = new Map<string, InvoiceRecord>();
  /** Route payments this client sends, by hashlock. */
  readonly routes = new Map<string, RouteRecord>();
  /** Who waits for each route payment to finish. */
  private readonly routeWaiters = new Map<string, ((r: RouteResult) => void)[]>();
  /** Hashlocks whose secret this client is revealing on chain. */
  private readonly revealing = new Set<string>();
  /** The locks behind each locks root this client signed or adopted, by {@link lockId} of channel and root. */
  private readonly locksByRoot = new Map<string, Lock[]>();
  /** `channelId:hashlock` of locks this client is about to hand to the engine (their records are being written). */
  readonly offering = new Set<string>();
  /** `channelId:hashlock` of offered locks read from the registry as expired without their secret. */
  private readonly confirmedExpired = new Set<string>();

  private readonly services: ClientServices;

  constructor(private readonly ctx: ClientContext) {
    this.services = ctx.services;
  }

  private get store(): LevelStore {
    return this.services.store;
  }

  private get log(): Logger {
    return this.services.log;
  }

  /** Reads the book back from the store. */
  async load(): Promise<void> {
    for (const [k, v] of await this.store.list(storePrefix.secret)) this.secrets.set(keyParts(k).id, v);
    for (const [, v] of await this.store.list(storePrefix.lockMeta)) {
      const meta = decodeLockMeta(v);
      this.lockMetas.set(lockId(meta.channelId, meta.hashlock), meta);
    }
    for (const [k, v] of await this.store.list(storePrefix.locks)) {
      const { id, rest } = keyParts(k);
      this.locksByRoot.set(lockId(id, rest ?? ""), decodeLocksRecord(v));
    }
    for (const [, v] of await this.store.list(storePrefix.invoice)) {
      const inv = decodeInvoice(v);
      this.invoices.set(inv.hashlock, inv);
    }
    for (const [, v] of await this.store.list(storePrefix.route)) {
      const r = decodeRoute(v);
      this.routes.set(r.hashlock, r);
    }
  }

  /** The fate of a lock this client offered in `channelId` (./settlement.ts), as far as it knows now. */
  lockFate(channelId: string, hashlock: string): LockFate | undefined {
    const chan = this.ctx.chan(channelId);
    const meta = this.meta(chan.id, hashlock.toLowerCase());
    return meta?.role === "sender" ? this.fateOf(chan, meta) : undefined;
  }

  /** An invoice this client created. */
  invoice(hashlock: string): InvoiceRecord | undefined {
    return this.invoices.get(hashlock.toLowerCase());
  }

  /** A route payment sent by this client. */
  routePayment(hashlock: string): RouteRecord | undefined {
    return this.routes.get(hashlock.toLowerCase());
  }

  /** The record of a lock of a channel. */
  meta(channelId: string, hashlock: string): LockMeta | undefined {
    return this.lockMetas.get(lockId(channelId, hashlock));
  }

  /** Stores new records of locks, routes and secrets together, and keeps them in memory. */
  async put(records: { metas?: LockMeta[]; route?: RouteRecord }): Promise<void> {
    const ops: StoreOp[] = [];
    if (records.route) {
      this.routes.set(records.route.hashlock, records.route);
      ops.push({ type: "put", key: storeKey.route(records.route.hashlock), value: encodeRoute(records.route) });
    }
    for (const meta of records.metas ?? []) {
      const key = lockId(meta.channelId, meta.hashlock);
      this.lockMetas.set(key, meta);
      ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(meta) });
    }
    await this.store.write(ops);
  }

  /** Creates an invoice: a secret only this client knows, whose hashlock a payer locks `amount` to. */
  async createInvoice(amount: bigint, secret?: string): Promise<{ hashlock: string; amount: bigint }> {
    if (amount <= 0n) throw refused("INVALID_AMOUNT", "an invoice needs a positive amount");
    const s = secret ? asBytes32(secret, "secret") : "0x" + randomBytes(32).toString("hex");
    const hashlock = hashlockOf(s);
    if (this.invoices.has(hashlock)) throw refused("INVOICE_EXISTS", "an invoice with this secret exists");
    const invoice: InvoiceRecord = { hashlock, amount, status: "open" };
    await this.store.write([
      { type: "put", key: storeKey.secret(hashlock), value: s },
      { type: "put", key: storeKey.invoice(hashlock), value: encodeInvoice(invoice) },
    ]);
    this.secrets.set(hashlock, s);
    this.invoices.set(hashlock, invoice);
    return { hashlock, amount };
  }

  /** A promise of the route payment's outcome, once it is finished. */
  routeDone(hashlock: string): Promise<RouteResult> {
    return new Promise<RouteResult>((resolve) => {
      const list = this.routeWaiters.get(hashlock) ?? [];
      list.push(resolve);
      this.routeWaiters.set(hashlock, list);
    });
  }

  /** The chain revealed a secret: kept if it opens one of this client's locks. */
  async secretRevealed(hashlock: string, secret: string, revealedAt: bigint): Promise<void> {
    if (!this.revealed.has(hashlock)) this.revealed.set(hashlock, revealedAt);
    const relevant = [...this.lockMetas.values()].some((m) => m.hashlock === hashlock);
    if (relevant && !this.secrets.has(hashlock)) {
      this.secrets.set(hashlock, secret);
      await this.store.write([{ type: "put", key: storeKey.secret(hashlock), value: secret }]);
      this.log.info({ hashlock }, "learned a secret from the chain");
    }
    if (relevant) this.ctx.kick();
  }

  /** Reads when `hashlock`'s secret was revealed from the chain afresh (`CHANNEL_BUSY` if the chain cannot be read). */
  async refreshRevealed(hashlock: string): Promise<void> {
    try {
      const at = await this.services.adjudicator.secretRevealedAt(hashlock);
      if (at !== 0n) this.revealed.set(hashlock, at);
    } catch (err) {
      throw refused("CHANNEL_BUSY", `cannot read the chain: ${errText(err)}`);
    }
  }

  /** Adds the record of a state's locks (to unlock them if that state is ever registered) to `ops`. */
  recordLocks(channelId: string, s: Snapshot, ops: StoreOp[]): void {
    if (s.locks.length === 0) return;
    const key = lockId(channelId, s.state.locksRoot);
    if (this.locksByRoot.has(key)) return;
    this.locksByRoot.set(key, s.locks);
    ops.push({ type: "put", key: storeKey.locks(key), value: encodeLocksRecord(s.locks) });
  }

  /**
   * This client signs `next`, the result of `update`: its locks are recorded (the peer may register it), each lock
   * it offers in it is marked as offered, and a settle's secret is kept (a peer that countersigns the payout and
   * then refuses holds it paid: the secret must claim the lock's upstream twin), all in the write that stores it.
   */
  signing(chan: ClientChannel, update: ChannelUpdate, next: Snapshot, ops: StoreOp[]): void {
    this.recordLocks(chan.id, next, ops);
    if (update.kind === "settle" && !this.secrets.has(update.hashlock)) {
      this.secrets.set(update.hashlock, update.secret);
      ops.push({ type: "put", key: storeKey.secret(update.hashlock), value: update.secret });
      this.ctx.kick();
    }
    for (const lock of next.locks) {
      if (lock.sender !== chan.rec.me) continue;
      const key = lockId(chan.id, lock.hashlock);
      const meta = this.lockMetas.get(key);
      if (!meta || meta.offered) continue;
      const offered: LockMeta = { ...meta, offered: true, amount: lock.amount, expiry: lock.expiry };
      this.lockMetas.set(key, offered);
      ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(offered) });
    }
  }

  /**
   * Adds to `ops` the lock records a committed update changes (written with the state) and returns what to do once
   * they are on disk.
   */
  effects(
    chan: ClientChannel,
    update: ChannelUpdate,
    memo: ForwardMemo | undefined,
    base: Snapshot,
    next: Snapshot,
    ops: StoreOp[],
  ): () => void {
    const me = chan.rec.me;
    if (next.state.locksRoot !== base.state.locksRoot) this.recordLocks(chan.id, next, ops);
    switch (update.kind) {
      case "lock": {
        const h = update.lock.hashlock.toLowerCase();
        const key = lockId(chan.id, h);
        if (update.lock.receiver === me) {
          const meta: LockMeta = {
            channelId: chan.id,
            hashlock: h,
            role: "receiver",
            status: "received",
            ...(memo ? { memo } : {}),
          };
          this.lockMetas.set(key, meta);
          ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(meta) });
          return () => this.ctx.kick();
        }
        let meta = this.lockMetas.get(key);
        if (!meta) {
          meta = {
            channelId: chan.id,
            hashlock: h,
            role: "sender",
            status: "pending",
            amount: update.lock.amount,
            expiry: update.lock.expiry,
            offered: true,
          };
          this.lockMetas.set(key, meta);
          ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(meta) });
        }
        const incoming = meta.incoming;
        return () => {
          if (incoming !== undefined) void this.setLockStatus(incoming, h, "forwarded");
          this.ctx.kick();
        };
      }
      case "settle":
      case "cancel": {
        const h = update.hashlock.toLowerCase();
        const lock = base.locks[findLock(base.locks, h)];
        const key = lockId(chan.id, h);
        const status: LockStatus = update.kind === "settle" ? "settled" : "cancelled";
        const meta: LockMeta = this.lockMetas.get(key) ?? {
          channelId: chan.id,
          hashlock: h,
          role: lock.sender === me ? "sender" : "receiver",
          status,
        };
        // The sender's record keeps `pending` until the settlement rule decides (the reconciliation does that).
        const updated: LockMeta = meta.role === "sender" ? meta : { ...meta, status };
        this.lockMetas.set(key, updated);
        ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(updated) });
        if (update.kind === "settle" && !this.secrets.has(h)) {
          this.secrets.set(h, update.secret);
          ops.push({ type: "put", key: storeKey.secret(h), value: update.secret });
        }
        const invoice = this.invoices.get(h);
        if (update.kind === "settle" && lock.receiver === me && invoice && invoice.status === "open") {
          const paid: InvoiceRecord = { ...invoice, status: "paid" };
          this.invoices.set(h, paid);
          ops.push({ type: "put", key: storeKey.invoice(h), value: encodeInvoice(paid) });
        }
        return () => this.ctx.kick();
      }
      default:
        return () => undefined;
    }
  }

  /** Moves a lock on (not one whose fate is recorded), and asks for a reconciliation. */
  async setLockStatus(channelId: string, hashlock: string, status: LockStatus, reason?: string): Promise<void> {
    const key = lockId(channelId, hashlock);
    const meta = this.lockMetas.get(key);
    if (!meta || meta.status === "settled" || meta.status === "cancelled") return;
    const next: LockMeta = { ...meta, status, ...(reason ? { reason } : {}) };
    this.lockMetas.set(key, next);
    try {
      await this.store.write([{ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(next) }]);
    } catch (err) {
      this.ctx.engine.storeFailed(err);
    }
    this.ctx.kick();
  }

  // ---------------------------------------------------------------------------
  // The settlement rule applied: the fate of the locks this client offered

  /** The fate of a lock this client offered (its record `meta`), from what this client knows for certain. */
  fateOf(chan: ClientChannel, meta: LockMeta): LockFate {
    const h = meta.hashlock;
    const exposed = chan.exposedLocks().find((l) => l.hashlock.toLowerCase() === h);
    const expiry = exposed?.expiry ?? meta.expiry ?? 0n;
    let outcome: "kept" | "dropped" | undefined;
    if (chan.rec.outcomeRoot !== undefined) {
      const locks = this.locksOf(chan, chan.rec.outcomeRoot);
      outcome = locks.some((l) => l.hashlock.toLowerCase() === h && l.sender === chan.rec.me) ? "kept" : "dropped";
    }
    return offeredLockFate({
      expiry,
      ...(this.secrets.has(h) ? { secret: this.secrets.get(h) as string } : {}),
      exposed: exposed !== undefined,
      attempting: chan.attempting(h) || this.offering.has(lockId(chan.id, h)),
      ...(outcome ? { outcome } : {}),
      chainTime: this.ctx.chainTime,
      revealedAt: this.revealed.get(h) ?? 0n,
    });
  }

  /**
   * The fate of an offered lock, with an expiry verdict confirmed by a direct read of the registry (a reveal before
   * this client started following the chain is not in its logs). `undefined` while that read runs.
   */
  certainFate(chan: ClientChannel, meta: LockMeta): LockFate | undefined {
    const fate = this.fateOf(chan, meta);
    const key = lockId(chan.id, meta.hashlock);
    if (fate.kind !== "dead" || fate.cause !== "expired" || this.confirmedExpired.has(key)) return fate;
    if (chan.checking.has(meta.hashlock)) return undefined;
    chan.checking.add(meta.hashlock);
    this.refreshRevealed(meta.hashlock)
      .then(() => {
        // Any reveal from now on comes after the expiry: if none came before, none ever will in time.
        if (this.fateOf(chan, meta).kind === "dead") this.confirmedExpired.add(key);
      })
      .catch((err: unknown) =>
        this.log.debug({ hashlock: meta.hashlock, err: errText(err) }, "cannot read the registry"),
      )
      .finally(() => {
        chan.checking.delete(meta.hashlock);
        this.ctx.kick();
      });
    return undefined;
  }

  /** Records the certain fate of an offered lock (terminal) and returns the updated record. */
  async recordFate(chan: ClientChannel, meta: LockMeta, fate: LockFate): Promise<LockMeta> {
    const status: LockStatus = fate.kind === "settled" ? "settled" : "cancelled";
    const next: LockMeta = { ...meta, status, ...(fate.kind === "dead" ? { reason: fate.reason } : {}) };
    const key = lockId(chan.id, meta.hashlock);
    this.lockMetas.set(key, next);
    await this.store.write([{ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(next) }]);
    return next;
  }

  /** A route payment's first lock has a certain fate: the route is finished and its payer answered. */
  async finishRoute(
    hashlock: string,
    status: "completed" | "refunded",
    detail: { secret?: string; reason?: string },
  ): Promise<void> {
    const record = this.routes.get(hashlock);
    if (!record || record.status !== "pending") return;
    const next: RouteRecord = { ...record, status, ...detail };
    this.routes.set(hashlock, next);
    await this.store.write([{ type: "put", key: storeKey.route(hashlock), value: encodeRoute(next) }]);
    this.log.info({ hashlock, status, reason: detail.reason }, "route payment finished");
    for (const w of this.routeWaiters.get(hashlock) ?? []) w({ hashlock, status, ...detail });
    this.routeWaiters.delete(hashlock);
  }

  /** Reveals a secret on chain (once), so the lock it opens pays its receiver whatever the peer does. */
  revealOnChain(secret: string): void {
    const h = hashlockOf(secret);
    if (this.revealed.has(h) || this.revealing.has(h)) return;
    this.revealing.add(h);
    this.services.adjudicator.revealSecret(secret).then(
      (receipt) => {
        this.log.info({ hashlock: h, tx: receipt.hash }, "revealed a secret on chain");
        void this.refreshRevealed(h).catch(() => undefined);
      },
      (err: unknown) => {
        this.log.warn({ hashlock: h, err: errText(err) }, "could not reveal a secret");
        this.revealing.delete(h);
      },
    );
  }

  /** The locks behind a registered locks root (from this client's records). */
  locksOf(chan: ClientChannel, root: string): Lock[] {
    if (root === ZERO_BYTES32) return [];
    if (chan.full?.state.locksRoot === root) return chan.full.locks;
    return this.locksByRoot.get(lockId(chan.id, root)) ?? [];
  }
}
