import { getAddress } from "ethers";
import type { Logger } from "pino";
import type { ClientChannel } from "./client-channel";
import type { ClientContext, ClientServices } from "./client-context";
import type { Closing } from "./closing";
import { failpoint } from "./failpoints";
import type { Committed } from "./live-channel";
import type { LockBook, RouteResult } from "./lock-book";
import { incomingLockRefusal, resizeExpiryRefusal, type PeerExposure } from "./policy";
import { lockId, type LockMeta, type RouteRecord } from "./records";
import { errText, refused } from "./errors";
import { forwardRefusal, lockExpiredUnclaimed, payeeRefusal, planRoute, revealDue } from "./routing";
import type { Lock } from "./state";
import type { TowerLink } from "./tower-link";
import { other, type ChannelUpdate } from "./updates";
import { asBytes32, type Hop } from "./wire";

/*
 * Payments: direct payments, payments over a route, and what happens to every lock of an open channel
 * — the payee takes it or refuses it, a forwarder offers the next hop's lock, and each incoming lock is settled or
 * given back by the fate of its outgoing twin (the settlement rule of ./settlement.ts, applied in ./lock-book.ts),
 * never on a peer's word. Deadlines come first: a secret is revealed on chain, or the channel registered, in time
 * whatever a peer does.
 */

/** A payment over a route: the hops (the payee last), the amount it receives, the payee's hashlock. */
export interface RoutePaymentOptions {
  route: string[];
  amount: bigint;
  hashlock: string;
  feePerHop?: bigint;
  hopDeltaSeconds?: bigint;
  finalDeltaSeconds?: bigint;
}

/** How many times a forward is attempted before its incoming lock is given back. */
const MAX_FORWARD_ATTEMPTS = 3;

/** The payments of one client over all its channels. */
export class Payments {
  private readonly services: ClientServices;

  constructor(
    private readonly ctx: ClientContext,
    private readonly book: LockBook,
    private readonly tower: TowerLink,
    private readonly closing: Closing,
  ) {
    this.services = ctx.services;
  }

  private get log(): Logger {
    return this.services.log;
  }

  /** Pays `amount` to the peer; resolves once both participants stored the new state. */
  pay(channelId: string, amount: bigint): Promise<Committed> {
    const chan = this.ctx.chan(channelId);
    return this.ctx.engine.submit(chan, { kind: "pay", from: chan.rec.me, amount });
  }

  /**
   * Pays `amount` to the last address of `route` through the others (each forwarding a hash-locked payment to
   * the next), locked to `hashlock` (the payee's invoice). Expiries decrease along the route by the hop delta.
   * Resolves once the first hop's lock has a certain fate (./settlement.ts): `completed` when its secret is known
   * (the proof of payment), `refunded` when no state the next hop can register pays it out — never on the next
   * hop's word alone. Throws only when nothing was offered.
   */
  async payRoute(opts: RoutePaymentOptions): Promise<RouteResult> {
    const route = opts.route.map((a) => getAddress(a));
    if (route.length === 0 || route.length > 16) throw refused("INVALID_ROUTE", "a route has 1..16 hops");
    const hashlock = asBytes32(opts.hashlock, "hashlock");
    if (this.book.routes.has(hashlock)) throw refused("ROUTE_EXISTS", "a payment with this hashlock was already sent");
    const hops = planRoute(
      route,
      opts.amount,
      opts.feePerHop ?? 0n,
      this.services.clock.now(),
      opts.hopDeltaSeconds ?? this.services.policy.hopDeltaSeconds,
      opts.finalDeltaSeconds ?? this.services.policy.finalDeltaSeconds,
    );
    const chan = this.ctx.channelWith(route[0], hops[0].amount);
    if (!chan) throw refused("NO_CHANNEL", `no open channel with ${route[0]} that can send ${hops[0].amount}`);
    const lock: Lock = {
      sender: chan.rec.me,
      receiver: other(chan.rec.me),
      amount: hops[0].amount,
      hashlock,
      expiry: hops[0].expiry,
    };
    const record: RouteRecord = {
      hashlock,
      channelId: chan.id,
      amount: opts.amount,
      sent: hops[0].amount,
      route,
      status: "pending",
    };
    const meta: LockMeta = {
      channelId: chan.id,
      hashlock,
      role: "sender",
      status: "pending",
      amount: lock.amount,
      expiry: lock.expiry,
    };
    const done = this.book.routeDone(hashlock);
    const key = lockId(chan.id, hashlock);
    this.book.offering.add(key);
    try {
      await this.book.put({ route: record, metas: [meta] });
      this.ctx.engine.submit(chan, { kind: "lock", lock }, { hops: hops.slice(1) }).then(
        () => this.ctx.kick(),
        (err: unknown) => {
          this.log.info({ hashlock, err: errText(err) }, "the first hop did not take the lock");
          this.ctx.kick();
        },
      );
    } finally {
      this.book.offering.delete(key);
    }
    this.ctx.kick();
    return done;
  }

  /** Why this client refuses an update its peer asked for (policy), beyond `approvalError`. */
  policyRefusal(chan: ClientChannel, update: ChannelUpdate): string | undefined {
    const now = this.services.clock.now();
    if (update.kind === "lock" && update.lock.receiver === chan.rec.me) {
      return incomingLockRefusal(update.lock, now, this.services.policy, this.peerExposure(chan.rec.peer));
    }
    if (update.kind === "deposit" || update.kind === "withdraw")
      return resizeExpiryRefusal(update.expiry, now, this.services.policy);
    return undefined;
  }

  /** What `peer` has pending towards this client over all channels with it (for the per-peer lock limits). */
  private peerExposure(peer: string): PeerExposure {
    const exposure: PeerExposure = { locks: 0, locked: 0n };
    for (const c of this.ctx.chans.values()) {
      if (c.rec.peer !== peer) continue;
      for (const l of c.exposedLocks()) {
        if (l.receiver !== c.rec.me) continue;
        exposure.locks += 1;
        exposure.locked += l.amount;
      }
    }
    return exposure;
  }

  /** The payer's side: a route is finished once its first lock's fate is certain. */
  reconcileRoutes(): void {
    for (const route of this.book.routes.values()) {
      if (route.status !== "pending") continue;
      const chan = this.ctx.chans.get(route.channelId);
      const meta = this.book.meta(route.channelId, route.hashlock);
      if (!chan || !meta || chan.busy.has(`route:${route.hashlock}`)) continue;
      const fate = this.book.certainFate(chan, meta);
      if (!fate) continue;
      if (fate.kind === "live") {
        this.giveUpLateAttempt(chan, meta);
        continue;
      }
      this.act(chan, `route:${route.hashlock}`, async () => {
        await this.book.recordFate(chan, meta, fate);
        await this.book.finishRoute(
          route.hashlock,
          fate.kind === "settled" ? "completed" : "refunded",
          fate.kind === "settled" ? { secret: fate.secret } : { reason: fate.reason },
        );
      });
    }
  }

  /**
   * An attempt to offer a lock that has not been signed yet and can no longer leave its receiver time to reveal the
   * secret is given up, so that the lock's fate becomes certain (dead) instead of waiting on a silent peer.
   */
  private giveUpLateAttempt(chan: ClientChannel, meta: LockMeta): void {
    const expiry = meta.expiry ?? 0n;
    if (this.services.clock.now() < expiry - this.services.policy.revealMarginSeconds) return;
    if (chan.attempting(meta.hashlock) && this.ctx.engine.withdrawAttempt(chan, meta.hashlock)) {
      this.log.info({ channelId: chan.id, hashlock: meta.hashlock }, "gave up offering a lock too close to its expiry");
      this.ctx.kick();
    }
  }

  /** What the locks of an open channel need next: deadlines first, then settling, cancelling, forwarding. */
  reconcileLocks(chan: ClientChannel): void {
    const me = chan.rec.me;
    const now = this.services.clock.now();
    for (const lock of chan.committed().locks) {
      const h = lock.hashlock;
      const meta = this.book.meta(chan.id, h);
      const secret = this.book.secrets.get(h);
      if (lock.receiver === me) {
        // Deadlines first, whatever is still waiting on the peer.
        if (secret) {
          this.tower.secret(secret);
          if (revealDue(lock, now, this.services.policy)) this.book.revealOnChain(secret);
          const at = this.book.revealed.get(h) ?? 0n;
          if (now > lock.expiry + this.services.policy.lockGraceSeconds && at !== 0n && at <= lock.expiry) {
            this.closing.forceClose(chan, "a lock revealed on chain in time is still not settled off chain");
          }
        }
        if (chan.busy.has(h)) continue;
        const status = meta?.status ?? "received";
        if (status === "received") {
          this.act(chan, h, () => this.handleIncoming(chan, lock, meta));
        } else if ((status === "accepted" || status === "forwarded" || status === "forwarding") && secret) {
          this.act(chan, h, () => this.ctx.engine.submit(chan, { kind: "settle", hashlock: h, secret }));
        } else if (status === "rejected" || status === "forward-failed") {
          this.act(chan, h, () => this.ctx.engine.submit(chan, { kind: "cancel", hashlock: h }));
        } else if ((status === "forwarding" || status === "forwarded") && meta) {
          this.reconcileForward(chan, lock, meta);
        }
      } else {
        const revealedAt = this.book.revealed.get(h) ?? 0n;
        if (!lockExpiredUnclaimed(lock, now, revealedAt)) continue;
        if (!chan.busy.has(h)) this.act(chan, h, () => this.ctx.engine.submit(chan, { kind: "cancel", hashlock: h }));
      }
    }
    // A lock this client offered that the peer may still register (committed, or only in a state it signed that
    // was never answered), expired and unrevealed, still there after the grace: take it back on chain.
    for (const lock of chan.exposedLocks()) {
      if (lock.sender !== me || now <= lock.expiry + this.services.policy.lockGraceSeconds) continue;
      if (lockExpiredUnclaimed(lock, now, this.book.revealed.get(lock.hashlock) ?? 0n)) {
        this.closing.forceClose(chan, "an expired lock is still not cancelled off chain");
      }
    }
  }

  /**
   * A lock this client forwards: settled upstream when its outgoing lock is (the secret), given back upstream
   * when its outgoing lock is certainly dead, held otherwise. A forward that never got signed (a crash before the
   * outgoing proposal was stored) is attempted again while there is time.
   */
  private reconcileForward(chan: ClientChannel, lock: Lock, meta: LockMeta): void {
    const outChan = meta.outgoing === undefined ? undefined : this.ctx.chans.get(meta.outgoing);
    const outMeta = outChan ? this.book.meta(outChan.id, lock.hashlock) : undefined;
    if (!outChan || !outMeta) {
      this.act(chan, lock.hashlock, () =>
        this.book.setLockStatus(chan.id, lock.hashlock, "forward-failed", "the outgoing lock is unknown"),
      );
      return;
    }
    if (outChan.busy.has(lock.hashlock)) return;
    const fate = this.book.certainFate(outChan, outMeta);
    if (!fate) return;
    if (fate.kind === "live") {
      this.giveUpLateAttempt(outChan, outMeta);
      return;
    }
    if (fate.kind === "settled") return; // the secret is known: the settle branch takes it from here
    this.act(chan, lock.hashlock, async () => {
      const attempts = outMeta.attempts ?? 1;
      const hop = meta.memo?.hops[0];
      if (!outMeta.offered && attempts < MAX_FORWARD_ATTEMPTS && hop && this.mayForward(lock, hop) !== undefined) {
        this.log.warn({ channelId: chan.id, hashlock: lock.hashlock }, "the forward was never signed: trying again");
        await this.forward(chan, lock, meta, hop, attempts + 1);
        return;
      }
      await this.book.recordFate(outChan, outMeta, fate);
      await this.book.setLockStatus(
        chan.id,
        lock.hashlock,
        "forward-failed",
        `the next hop's lock is dead: ${fate.reason}`,
      );
    });
  }

  /** Runs one action for a lock at a time; failures are retried by a later reconciliation. */
  private act(chan: ClientChannel, hashlock: string, action: () => Promise<unknown>): void {
    chan.busy.add(hashlock);
    action().then(
      () => {
        chan.busy.delete(hashlock);
        this.ctx.kick();
      },
      (err: unknown) => {
        this.log.debug({ channelId: chan.id, hashlock, err: errText(err) }, "lock action failed; will retry");
        setTimeout(() => chan.busy.delete(hashlock), 1_000).unref();
      },
    );
  }

  /** The open channel a forward of `hop` may use now, or `undefined` if this client refuses to forward `lock`. */
  private mayForward(lock: Lock, hop: Hop): ClientChannel | undefined {
    const out = this.ctx.channelWith(hop.to, hop.amount);
    const reason = forwardRefusal(lock, hop, out !== undefined, this.services.clock.now(), this.services.policy);
    return reason ? undefined : out;
  }

  /** Decides what to do with a lock this client received: take it (payee), forward it, or refuse it. */
  private async handleIncoming(chan: ClientChannel, lock: Lock, meta: LockMeta | undefined): Promise<void> {
    const h = lock.hashlock;
    const hops = meta?.memo?.hops ?? [];
    const now = this.services.clock.now();
    if (hops.length === 0) {
      const reason = payeeRefusal(lock, this.book.invoices.get(h), this.book.secrets.has(h), now, this.services.policy);
      await this.book.setLockStatus(chan.id, h, reason ? "rejected" : "accepted", reason);
      this.log.info({ channelId: chan.id, hashlock: h, accepted: !reason, reason }, "payment received");
      return;
    }
    const hop = hops[0];
    const out = this.ctx.channelWith(hop.to, hop.amount);
    const reason = forwardRefusal(lock, hop, out !== undefined, now, this.services.policy);
    if (reason || !out) {
      await this.book.setLockStatus(chan.id, h, "forward-failed", reason);
      this.log.info({ channelId: chan.id, hashlock: h, reason }, "cannot forward");
      return;
    }
    await this.forward(chan, lock, meta as LockMeta, hop, 1);
  }

  /**
   * Offers the next hop's lock. Its records go to disk first (the incoming lock then waits for the outgoing one's
   * fate, even across a crash); what the next hop answers decides nothing (./settlement.ts does).
   */
  private async forward(chan: ClientChannel, lock: Lock, meta: LockMeta, hop: Hop, attempt: number): Promise<void> {
    const h = lock.hashlock;
    const outChan = this.mayForward(lock, hop);
    if (!outChan) {
      await this.book.setLockStatus(chan.id, h, "forward-failed", "cannot forward any more");
      return;
    }
    const outKey = lockId(outChan.id, h);
    const outLock: Lock = {
      sender: outChan.rec.me,
      receiver: other(outChan.rec.me),
      amount: hop.amount,
      hashlock: h,
      expiry: hop.expiry,
    };
    const outMeta: LockMeta = {
      channelId: outChan.id,
      hashlock: h,
      role: "sender",
      status: "pending",
      incoming: chan.id,
      amount: hop.amount,
      expiry: hop.expiry,
      offered: false,
      attempts: attempt,
    };
    const inMeta: LockMeta = { ...meta, status: "forwarding", outgoing: outChan.id };
    this.book.offering.add(outKey);
    try {
      await this.book.put({ metas: [outMeta, inMeta] });
      failpoint("forward-recorded");
      this.ctx.engine.submit(outChan, { kind: "lock", lock: outLock }, { hops: meta.memo?.hops.slice(1) ?? [] }).then(
        () => this.log.info({ from: chan.id, to: outChan.id, hashlock: h }, "forwarded a lock"),
        (err: unknown) => {
          this.log.info({ to: outChan.id, hashlock: h, err: errText(err) }, "the next hop did not take the lock");
          this.ctx.kick();
        },
      );
    } finally {
      this.book.offering.delete(outKey);
    }
  }
}
