import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { BilayerError } from "../protocol/errors";
import {
  signStateWithKey,
  stateCommitsToLocks,
  verifyStateSignature,
  verifyStateSignatures,
  ZERO_BYTES32,
  type CompactSignature,
} from "./state";
import { versionKey, type ChannelStore, type StoreOp } from "./store";
import { PeerRequestError, type PeerTransport } from "./transport";
import {
  applyUpdate,
  approvalError,
  depositSnapshot,
  findLock,
  other,
  sameState,
  sameUpdate,
  type ChannelUpdate,
  type Party,
  type SignedSnapshot,
  type Snapshot,
} from "./updates";
import {
  asBytes32,
  asObject,
  asString,
  asUint,
  decodeMemo,
  decodeSig,
  decodeSigned,
  decodeUpdate,
  encodeMemo,
  encodeSig,
  encodeSigned,
  encodeUpdate,
  InvalidMessageError,
  type ForwardMemo,
  type Json,
} from "./wire";
import {
  encodeProposal,
  encodeRequest,
  encodeSignedRecord,
  type ChannelPhase,
  type ChannelRecord,
  type ProposalRecord,
  type RequestRecord,
} from "./records";

/*
 * The update protocol of a channel, between its two clients.
 *
 * Participant 0 leads: it builds every new state (its own updates, and the
 * ones participant 1 asks for with `ch.request`), signs it, stores it as
 * pending and sends it (`ch.propose`: the update and its signature; the
 * follower recomputes the state itself). The follower checks it (the version
 * builds on its latest, the update is one it agrees to sign, the leader's
 * signature is over the state the update yields), countersigns, stores the
 * state signed by both, and answers; the leader stores it too, and only then
 * is the update acknowledged (to the follower, as the answer to its
 * `ch.request`). Proposals are pipelined: each builds on the one before, the
 * follower takes them in order, and the stores group their writes.
 *
 * No participant ever signs two different states with the same version: the
 * follower signs only above its latest, the leader only above the highest
 * version it ever signed (a refused proposal's version is skipped, never
 * reused). After a restart or a reconnection both sides exchange their latest
 * states signed by both (`ch.sync`); the leader adopts the follower's if it is
 * newer and sends what is still pending again, the follower asks again for
 * what it still waits for. Every message is idempotent, so sending one again
 * is always safe.
 */

/** A channel operation that cannot be done now (or a peer's refusal). */
export class ChannelError extends BilayerError {}

/** An acknowledged update: both participants stored the state of `version`. */
export interface Committed {
  channelId: string;
  version: bigint;
}

interface Waiter {
  resolve(c: Committed): void;
  reject(err: unknown): void;
}

interface Queued {
  update: ChannelUpdate;
  by: Party;
  ref?: string;
  memo?: ForwardMemo;
  waiters: Waiter[];
}

/** A state the leader signed and sent, with who waits for it. */
export interface Proposal extends ProposalRecord {
  waiters: Waiter[];
  durable: boolean;
  sent: boolean;
  dead: boolean;
  committing: boolean;
}

/** An update the follower asked the leader for, with who waits for it. */
export interface OutRequest extends RequestRecord {
  waiters: Waiter[];
  durable: boolean;
  sent: boolean;
  /** The version the follower countersigned it in (then it waits for the leader's commit). */
  version?: bigint;
}

/** One channel in memory: what the update protocol needs of it. */
export class LiveChannel {
  /** The latest state signed by both that is on disk. */
  full: SignedSnapshot | undefined;
  /** Follower: the latest state it countersigned (stored or being stored). */
  latest: SignedSnapshot | undefined;
  /** Follower: countersigned states not yet on disk, by version, with the write that stores them. */
  readonly unflushed = new Map<bigint, { signed: SignedSnapshot; durable: Promise<void> }>();
  /** Leader: proposals in flight, in version order. */
  readonly pending: Proposal[] = [];
  /** Leader: updates waiting for room in the pipeline. */
  readonly queued: Queued[] = [];
  /** Leader: pending proposals by the follower's request reference. */
  readonly refs = new Map<string, Proposal>();
  /** Follower: its requests not yet acknowledged. */
  readonly requests = new Map<string, OutRequest>();
  /** The highest version this side ever signed. */
  maxSigned = 0n;
  /** Follower: proposals are checked one after another. */
  serial: Promise<void> = Promise.resolve();
  session = 0;
  syncing = false;
  needsSync = false;
  lastSyncAt = 0;

  constructor(public rec: ChannelRecord) {}

  get id(): string {
    return this.rec.id;
  }

  get leader(): boolean {
    return this.rec.me === 0;
  }

  /** The latest state signed by both that is on disk, or the deposit state. */
  committed(): Snapshot {
    return this.full ?? depositSnapshot(this.rec.id, this.rec.deposits);
  }

  /** The follower's base for the next proposal. */
  followerBase(): Snapshot {
    return this.latest ?? this.committed();
  }

  /** The leader's base for the next proposal: its last pending proposal, or the committed state. */
  tip(): Snapshot {
    for (let i = this.pending.length - 1; i >= 0; i--) if (!this.pending[i].dead) return this.pending[i].next;
    return this.committed();
  }

  /** Updates in flight: the leader's pending and queued proposals, the follower's open requests. */
  get inFlight(): number {
    return this.pending.length + this.queued.length + this.requests.size;
  }
}

/** What the update protocol needs from the client it runs in. */
export interface EngineHost<C extends LiveChannel> {
  readonly store: ChannelStore;
  readonly transport: PeerTransport;
  /** The participant's private key (native signing). */
  readonly key: Uint8Array;
  readonly chainId: bigint;
  readonly adjudicatorAddress: string;
  readonly log: Logger;
  /** Proposals in flight per channel before new updates wait. */
  readonly maxInFlight: number;
  stopped(): boolean;
  /** The chain's current time, seconds. */
  now(): bigint;
  /** When `hashlock`'s secret was revealed on chain as far as known (0: not). */
  revealedAt(hashlock: string): bigint;
  /** Reads `revealedAt` from the chain afresh. */
  refreshRevealed(hashlock: string): Promise<void>;
  /** The channel, or a `CHANNEL_NOT_FOUND` error. */
  channel(channelId: string): C;
  /** Makes sure a channel still opening is open if the chain says so (a proposal arrived for it). */
  activate(chan: C): Promise<void>;
  /** Adds what `update` changes in the client's own records to `ops`; returns what to do once they are stored. */
  effects(
    chan: C,
    update: ChannelUpdate,
    memo: ForwardMemo | undefined,
    by: Party,
    base: Snapshot,
    next: Snapshot,
    ops: StoreOp[],
  ): () => void;
  /** Adds the records of the locks of a state adopted from the peer to `ops`. */
  recordLocks(chan: C, signed: SignedSnapshot, ops: StoreOp[]): void;
  /** A newer state signed by both is stored. */
  committed(chan: C): void;
  setPhase(chan: C, phase: ChannelPhase): Promise<void>;
  storeFailed(err: unknown): void;
}

const REFUSAL_RETRYABLE = new Set(["OUT_OF_SYNC", "CHANNEL_BUSY"]);

/** A {@link ChannelError} with `code`. */
export function refused(code: string, message: string, context: Record<string, unknown> = {}): ChannelError {
  return new ChannelError(code, message, { context });
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The update protocol of every channel of one client. */
export class UpdateEngine<C extends LiveChannel> {
  constructor(private readonly host: EngineHost<C>) {}

  /** Forgets what was sent to a peer whose connection dropped: it is sent again after the next sync. */
  peerDisconnected(chan: C): void {
    for (const p of chan.pending) p.sent = false;
    for (const r of chan.requests.values()) r.sent = false;
  }

  /** Fails every update of `chan` still waiting (a dispute, a stop), except follower requests already countersigned. */
  rejectInFlight(chan: C, err: unknown): void {
    for (const q of chan.queued.splice(0)) for (const w of q.waiters) w.reject(err);
    for (const p of chan.pending) {
      for (const w of p.waiters.splice(0)) w.reject(err);
    }
    for (const r of chan.requests.values()) {
      if (r.version === undefined) for (const w of r.waiters.splice(0)) w.reject(err);
    }
  }

  /** Makes `update` happen in `chan`: proposes it (leader) or asks the leader for it (follower). */
  submit(chan: C, update: ChannelUpdate, memo?: ForwardMemo): Promise<Committed> {
    if (this.host.stopped()) return Promise.reject(refused("CLIENT_STOPPED", "the client stopped"));
    if (chan.rec.phase !== "open") {
      return Promise.reject(refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`));
    }
    return chan.leader ? this.propose(chan, update, chan.rec.me, undefined, memo) : this.request(chan, update, memo);
  }

  private propose(chan: C, update: ChannelUpdate, by: Party, ref?: string, memo?: ForwardMemo): Promise<Committed> {
    return new Promise<Committed>((resolve, reject) => {
      const item: Queued = { update, by, ref, memo, waiters: [{ resolve, reject }] };
      if (chan.pending.length >= this.host.maxInFlight || chan.queued.length > 0) chan.queued.push(item);
      else this.proposeNow(chan, item);
    });
  }

  private proposeNow(chan: C, item: Queued): void {
    let proposal: Proposal;
    try {
      if (chan.rec.phase !== "open") throw refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`);
      const base = chan.tip();
      if (item.by !== chan.rec.me) {
        const why = approvalError(chan.rec.me, item.update, base, {
          initiator: item.by,
          now: this.host.now(),
          revealedAt: (h) => this.host.revealedAt(h),
        });
        if (why) throw refused("REFUSED", why);
        if (item.update.kind === "settle" && !this.settleAcceptable(base, item.update.hashlock)) {
          throw refused("REFUSED", "the lock expired before its secret was revealed on chain");
        }
      }
      const version = chan.maxSigned + 1n;
      const next = applyUpdate(base, item.update, version);
      const sig = signStateWithKey(this.host.key, next.state, this.host.chainId, this.host.adjudicatorAddress);
      proposal = {
        version,
        baseVersion: base.state.version,
        update: item.update,
        by: item.by,
        ...(item.ref === undefined ? {} : { ref: item.ref }),
        ...(item.memo === undefined ? {} : { memo: item.memo }),
        next,
        sig,
        waiters: item.waiters,
        durable: false,
        sent: false,
        dead: false,
        committing: false,
      };
    } catch (err) {
      for (const w of item.waiters) w.reject(err);
      return;
    }
    chan.pending.push(proposal);
    chan.maxSigned = proposal.version;
    if (proposal.ref !== undefined) chan.refs.set(proposal.ref, proposal);
    // The pending record itself tells a restarted client that it signed this version; `sv` only when it is dropped.
    this.host.store
      .write([{ type: "put", key: `pend:${chan.id}:${versionKey(proposal.version)}`, value: encodeProposal(proposal) }])
      .then(
        () => {
          proposal.durable = true;
          this.sendProposal(chan, proposal);
        },
        (err: unknown) => this.host.storeFailed(err),
      );
  }

  private sendProposal(chan: C, p: Proposal): void {
    if (!p.durable || p.sent || p.dead || chan.syncing || this.host.stopped()) return;
    if (!this.host.transport.isConnected(chan.rec.peer)) {
      chan.needsSync = true;
      return;
    }
    p.sent = true;
    const session = chan.session;
    const msg: Json = {
      channelId: chan.id,
      version: p.version.toString(),
      baseVersion: p.baseVersion.toString(),
      update: encodeUpdate(p.update),
      by: p.by,
      sig: encodeSig(p.sig),
    };
    if (p.ref !== undefined) msg.ref = p.ref;
    if (p.memo !== undefined) msg.memo = encodeMemo(p.memo);
    this.host.transport.request(chan.rec.peer, "ch.propose", msg).then(
      (res) => this.onCountersigned(chan, p, res, session),
      (err: unknown) => this.onProposeFailed(chan, p, err, session),
    );
  }

  private onCountersigned(chan: C, p: Proposal, res: unknown, session: number): void {
    if (p.dead || p.committing || session !== chan.session) return;
    let sig: CompactSignature;
    try {
      sig = decodeSig(asObject(res, "result").sig);
    } catch {
      sig = { r: ZERO_BYTES32, vs: ZERO_BYTES32 };
    }
    const peerIndex = other(chan.rec.me);
    if (
      !verifyStateSignature(
        p.next.state,
        sig,
        chan.rec.params.participants[peerIndex],
        this.host.chainId,
        this.host.adjudicatorAddress,
      )
    ) {
      this.host.log.warn({ channelId: chan.id, version: String(p.version) }, "peer countersigned with a bad signature");
      p.sent = false;
      chan.needsSync = true;
      return;
    }
    const sigs: [CompactSignature, CompactSignature] = chan.rec.me === 0 ? [p.sig, sig] : [sig, p.sig];
    void this.commitLeader(chan, { ...p.next, sigs });
  }

  private onProposeFailed(chan: C, p: Proposal, err: unknown, session: number): void {
    if (p.dead || p.committing || session !== chan.session) return;
    if (err instanceof PeerRequestError && err.rpcCode !== -32603 && !REFUSAL_RETRYABLE.has(err.peerCode ?? "")) {
      this.host.log.info({ channelId: chan.id, version: String(p.version), reason: err.message }, "proposal refused");
      this.discard(chan, p, refused(err.peerCode ?? "REFUSED", `the peer refused the update: ${err.message}`));
      return;
    }
    p.sent = false;
    chan.needsSync = true;
  }

  /**
   * Drops a refused proposal and every proposal built on it; the later ones (and the first too when `err` is
   * undefined) are proposed again on the new tip.
   */
  private discard(chan: C, p: Proposal, err: unknown): void {
    const index = chan.pending.indexOf(p);
    if (index < 0) return;
    const dead = chan.pending.splice(index);
    const ops: StoreOp[] = [{ type: "put", key: `sv:${chan.id}`, value: chan.maxSigned.toString() }];
    for (const d of dead) {
      d.dead = true;
      if (d.ref !== undefined) chan.refs.delete(d.ref);
      ops.push({ type: "del", key: `pend:${chan.id}:${versionKey(d.version)}` });
    }
    this.host.store.write(ops).catch((e: unknown) => this.host.storeFailed(e));
    if (err !== undefined) for (const w of p.waiters) w.reject(err);
    const again: Queued[] = dead.slice(err === undefined ? 0 : 1).map((d) => ({
      update: d.update,
      by: d.by,
      ...(d.ref === undefined ? {} : { ref: d.ref }),
      ...(d.memo === undefined ? {} : { memo: d.memo }),
      waiters: d.waiters,
    }));
    chan.queued.unshift(...again);
    this.pump(chan);
  }

  private pump(chan: C): void {
    while (chan.queued.length > 0 && chan.pending.length < this.host.maxInFlight) {
      this.proposeNow(chan, chan.queued.shift() as Queued);
    }
  }

  /** The leader stores a state signed by both and acknowledges every proposal up to it. */
  private commitLeader(chan: C, signed: SignedSnapshot): Promise<void> {
    const done: Proposal[] = [];
    for (const q of chan.pending) {
      if (q.version > signed.state.version) break; // pending is in version order
      if (!q.committing && !q.dead) done.push(q);
    }
    for (const q of done) q.committing = true;
    const ops: StoreOp[] = [{ type: "put", key: `full:${chan.id}`, value: encodeSignedRecord(signed) }];
    const effects: (() => void)[] = [];
    let base = chan.committed();
    for (const q of done) {
      ops.push({ type: "del", key: `pend:${chan.id}:${versionKey(q.version)}` });
      effects.push(this.host.effects(chan, q.update, q.memo, q.by, base, q.next, ops));
      base = q.next;
    }
    return this.host.store.write(ops).then(
      () => {
        if (!chan.full || signed.state.version > chan.full.state.version) chan.full = signed;
        // Writes complete in order, so everything before these was removed already: they lead the list.
        let removed = 0;
        while (removed < done.length && chan.pending[0] === done[removed]) {
          chan.pending.shift();
          removed++;
        }
        if (removed < done.length) {
          const gone = new Set(done);
          chan.pending.splice(0, chan.pending.length, ...chan.pending.filter((q) => !gone.has(q)));
        }
        for (const q of done) if (q.ref !== undefined) chan.refs.delete(q.ref);
        this.host.committed(chan);
        for (const q of done) for (const w of q.waiters) w.resolve({ channelId: chan.id, version: q.version });
        for (const e of effects) e();
        this.pump(chan);
      },
      (err: unknown) => this.host.storeFailed(err),
    );
  }

  // --- follower

  private request(chan: C, update: ChannelUpdate, memo?: ForwardMemo): Promise<Committed> {
    return new Promise<Committed>((resolve, reject) => {
      const ref = randomBytes(16).toString("hex");
      const r: OutRequest = {
        ref,
        update,
        ...(memo === undefined ? {} : { memo }),
        waiters: [{ resolve, reject }],
        durable: false,
        sent: false,
      };
      chan.requests.set(ref, r);
      this.host.store.write([{ type: "put", key: `req:${chan.id}:${ref}`, value: encodeRequest(r) }]).then(
        () => {
          r.durable = true;
          this.sendRequest(chan, r);
        },
        (err: unknown) => this.host.storeFailed(err),
      );
    });
  }

  private sendRequest(chan: C, r: OutRequest): void {
    if (!r.durable || r.sent || chan.syncing || this.host.stopped()) return;
    if (!this.host.transport.isConnected(chan.rec.peer)) {
      chan.needsSync = true;
      return;
    }
    r.sent = true;
    const session = chan.session;
    const msg: Json = { channelId: chan.id, ref: r.ref, update: encodeUpdate(r.update) };
    if (r.memo !== undefined) msg.memo = encodeMemo(r.memo);
    this.host.transport.request(chan.rec.peer, "ch.request", msg, 120_000).then(
      (res) => {
        let version: bigint;
        try {
          version = asUint(asObject(res, "result").version, "version");
        } catch {
          r.sent = false;
          chan.needsSync = true;
          return;
        }
        this.requestCommitted(chan, r, version);
      },
      (err: unknown) => {
        if (session !== chan.session || !chan.requests.has(r.ref)) return;
        if (err instanceof PeerRequestError && err.rpcCode !== -32603 && !REFUSAL_RETRYABLE.has(err.peerCode ?? "")) {
          if (r.version !== undefined) return; // countersigned already: only the leader's commit is missing
          chan.requests.delete(r.ref);
          this.host.store
            .write([{ type: "del", key: `req:${chan.id}:${r.ref}` }])
            .catch((e: unknown) => this.host.storeFailed(e));
          const reason = refused(err.peerCode ?? "REFUSED", `the peer refused the update: ${err.message}`);
          for (const w of r.waiters) w.reject(reason);
          return;
        }
        r.sent = false;
        chan.needsSync = true;
      },
    );
  }

  private requestCommitted(chan: C, r: OutRequest, version: bigint): void {
    if (!chan.requests.has(r.ref)) return;
    if (r.version === undefined) {
      // The leader committed a state with the request this follower has not countersigned: cannot be.
      this.host.log.warn({ channelId: chan.id, ref: r.ref }, "leader reports a commit this client did not countersign");
      chan.needsSync = true;
      r.sent = false;
      return;
    }
    chan.requests.delete(r.ref);
    for (const w of r.waiters) w.resolve({ channelId: chan.id, version: r.version > version ? r.version : version });
  }

  onPropose(from: string, raw: unknown): Promise<Json> {
    const o = asObject(raw, "params");
    const channelId = asBytes32(o.channelId, "channelId");
    const msg = {
      version: asUint(o.version, "version"),
      baseVersion: asUint(o.baseVersion, "baseVersion"),
      update: decodeUpdate(o.update),
      by: o.by === 0 || o.by === 1 ? (o.by as Party) : undefined,
      ref: o.ref === undefined ? undefined : asString(o.ref, "ref", 66),
      memo: o.memo === undefined ? undefined : decodeMemo(o.memo),
      sig: decodeSig(o.sig),
    };
    if (msg.by === undefined) throw new InvalidMessageError("by must be 0 or 1", "by");
    const chan = this.host.channel(channelId);
    if (chan.rec.peer !== from) throw refused("REFUSED", "not a participant of this channel");
    if (chan.leader) throw refused("REFUSED", "only participant 0 proposes");
    const prepared = chan.serial.then(() => this.preparePropose(chan, msg as typeof msg & { by: Party }));
    chan.serial = prepared.then(
      () => undefined,
      () => undefined,
    );
    return prepared.then((p) => p.done);
  }

  /** Checks and countersigns a proposal; returns the answer, which resolves once the state is on disk. */
  private async preparePropose(chan: C, msg: Omit<ProposalRecord, "next">): Promise<{ done: Promise<Json> }> {
    if (chan.rec.phase === "opening") await this.host.activate(chan);
    const me = chan.rec.me;
    const leaderAddress = chan.rec.params.participants[other(me)];
    const base = chan.followerBase();
    if (msg.version <= base.state.version) {
      // The leader sends again what it may not have seen answered: answer the same way.
      const known =
        chan.unflushed.get(msg.version)?.signed ??
        (chan.latest?.state.version === msg.version ? chan.latest : undefined);
      if (
        known &&
        verifyStateSignature(known.state, msg.sig, leaderAddress, this.host.chainId, this.host.adjudicatorAddress)
      ) {
        const durable = chan.unflushed.get(msg.version)?.durable ?? Promise.resolve();
        return { done: durable.then(() => ({ sig: encodeSig(known.sigs[me]) })) };
      }
      throw refused("OUT_OF_SYNC", `version ${msg.version} is not above ${base.state.version}`);
    }
    if (msg.baseVersion !== base.state.version) {
      throw refused("OUT_OF_SYNC", `proposal builds on ${msg.baseVersion}, this side is at ${base.state.version}`);
    }
    if (chan.rec.phase !== "open") throw refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`);
    let request: OutRequest | undefined;
    if (msg.by === me) {
      request = msg.ref === undefined ? undefined : chan.requests.get(msg.ref);
      if (!request || request.version !== undefined || !sameUpdate(request.update, msg.update)) {
        throw refused("REFUSED", "an update in this client's name that it did not ask for");
      }
    }
    if (msg.update.kind === "cancel" && msg.by !== me) {
      const i = findLock(base.locks, msg.update.hashlock);
      if (i >= 0 && base.locks[i].receiver === me) await this.host.refreshRevealed(base.locks[i].hashlock);
    }
    const why = approvalError(me, msg.update, base, {
      initiator: msg.by,
      now: this.host.now(),
      revealedAt: (h) => this.host.revealedAt(h),
    });
    if (why) throw refused("REFUSED", why);
    if (msg.update.kind === "settle" && msg.by !== me && !this.settleAcceptable(base, msg.update.hashlock)) {
      throw refused("REFUSED", "the lock expired before its secret was revealed on chain");
    }
    const next = applyUpdate(base, msg.update, msg.version);
    if (!verifyStateSignature(next.state, msg.sig, leaderAddress, this.host.chainId, this.host.adjudicatorAddress)) {
      throw refused("INVALID_SIGNATURE", "the leader's signature does not match the state this update yields");
    }
    const mine = signStateWithKey(this.host.key, next.state, this.host.chainId, this.host.adjudicatorAddress);
    const sigs: [CompactSignature, CompactSignature] = me === 0 ? [mine, msg.sig] : [msg.sig, mine];
    const signed: SignedSnapshot = { ...next, sigs };
    chan.latest = signed;
    chan.maxSigned = msg.version;
    const ops: StoreOp[] = [{ type: "put", key: `full:${chan.id}`, value: encodeSignedRecord(signed) }];
    if (request) {
      request.version = msg.version;
      ops.push({ type: "del", key: `req:${chan.id}:${request.ref}` });
    }
    const effect = this.host.effects(chan, msg.update, msg.memo, msg.by, base, next, ops);
    const durable = this.host.store.write(ops);
    chan.unflushed.set(msg.version, { signed, durable });
    const done = durable.then(
      () => {
        chan.unflushed.delete(msg.version);
        if (!chan.full || signed.state.version > chan.full.state.version) chan.full = signed;
        this.host.committed(chan);
        effect();
        return { sig: encodeSig(mine) } as Json;
      },
      (err: unknown) => {
        this.host.storeFailed(err);
        throw refused("STORE_FAILED", "this client could not store the state");
      },
    );
    return { done };
  }

  /** A lock's sender pays out on a secret only while the lock is live, or if the secret reached the chain in time. */
  private settleAcceptable(base: Snapshot, hashlock: string): boolean {
    const i = findLock(base.locks, hashlock);
    if (i < 0) return true; // applyUpdate refuses it
    const lock = base.locks[i];
    if (this.host.now() <= lock.expiry) return true;
    const at = this.host.revealedAt(lock.hashlock);
    return at !== 0n && at <= lock.expiry;
  }

  onRequest(from: string, raw: unknown): Promise<Json> {
    const o = asObject(raw, "params");
    const channelId = asBytes32(o.channelId, "channelId");
    const ref = asString(o.ref, "ref", 66);
    const update = decodeUpdate(o.update);
    const memo = o.memo === undefined ? undefined : decodeMemo(o.memo);
    const chan = this.host.channel(channelId);
    if (chan.rec.peer !== from) throw refused("REFUSED", "not a participant of this channel");
    if (!chan.leader) throw refused("REFUSED", "only participant 0 takes requests");
    const existing = chan.refs.get(ref);
    const committed = existing
      ? new Promise<Committed>((resolve, reject) => existing.waiters.push({ resolve, reject }))
      : (async () => {
          if (update.kind === "cancel") {
            const i = findLock(chan.tip().locks, update.hashlock);
            if (i >= 0 && chan.tip().locks[i].receiver === chan.rec.me)
              await this.host.refreshRevealed(update.hashlock);
          }
          return this.propose(chan, update, other(chan.rec.me), ref, memo);
        })();
    return committed.then((c) => ({ version: c.version.toString() }));
  }

  onSync(from: string, raw: unknown): Json {
    const o = asObject(raw, "params");
    const channelId = asBytes32(o.channelId, "channelId");
    const theirs = asUint(o.version, "version");
    const chan = this.host.channel(channelId);
    if (chan.rec.peer !== from) throw refused("REFUSED", "not a participant of this channel");
    if (theirs > (chan.full?.state.version ?? 0n)) chan.needsSync = true;
    return { signed: chan.full ? encodeSigned(chan.full) : null };
  }

  /** Exchanges latest states with the peer and sends again what is still in flight. */
  async resync(chan: C): Promise<void> {
    if (chan.syncing || this.host.stopped()) return;
    chan.syncing = true;
    chan.needsSync = false;
    chan.lastSyncAt = Date.now();
    chan.session += 1;
    for (const p of chan.pending) p.sent = false;
    for (const r of chan.requests.values()) r.sent = false;
    try {
      const res = asObject(
        await this.host.transport.request(chan.rec.peer, "ch.sync", {
          channelId: chan.id,
          version: (chan.full?.state.version ?? 0n).toString(),
        }),
        "result",
      );
      const theirs = res.signed === null || res.signed === undefined ? undefined : decodeSigned(res.signed);
      const mine = chan.full?.state.version ?? 0n;
      if (theirs && theirs.state.version > mine) {
        if (
          theirs.state.channelId !== chan.id ||
          !stateCommitsToLocks(theirs.state, theirs.locks) ||
          !verifyStateSignatures(
            theirs.state,
            theirs.sigs,
            chan.rec.params.participants,
            this.host.chainId,
            this.host.adjudicatorAddress,
          )
        ) {
          throw refused("INVALID_STATE", "the peer's latest state is not signed by both");
        }
        if (chan.leader) {
          const match = chan.pending.find((p) => p.version === theirs.state.version);
          if (match && sameState(match.next.state, theirs.state)) {
            await this.commitLeader(chan, theirs);
          } else {
            await this.adopt(chan, theirs);
          }
        } else {
          await this.adopt(chan, theirs);
        }
      }
      if (chan.leader) {
        const fullVersion = chan.full?.state.version ?? 0n;
        const live = chan.pending.filter((p) => !p.dead && !p.committing);
        if (live.length > 0 && live[0].baseVersion !== fullVersion) {
          this.host.log.warn(
            { channelId: chan.id },
            "pending proposals do not build on the latest state: proposing again",
          );
          this.discard(chan, live[0], undefined);
        }
      } else {
        const theirVersion = theirs?.state.version ?? 0n;
        for (const r of [...chan.requests.values()]) {
          if (r.version !== undefined && r.version <= theirVersion) this.requestCommitted(chan, r, theirVersion);
        }
      }
    } catch (err) {
      chan.needsSync = true;
      this.host.log.debug({ channelId: chan.id, err: errText(err) }, "sync failed");
    } finally {
      chan.syncing = false;
    }
    if (chan.needsSync) return;
    if (chan.leader) {
      for (const p of chan.pending) this.sendProposal(chan, p);
    } else {
      for (const r of chan.requests.values()) if (r.version === undefined) this.sendRequest(chan, r);
      // Countersigned requests wait for the leader's commit, which a later sync shows if the answer was lost.
      if ([...chan.requests.values()].some((r) => r.version !== undefined && !r.sent)) chan.needsSync = true;
    }
  }

  /** Takes a newer state signed by both that this side lost or never stored (after a crash). */
  private async adopt(chan: C, signed: SignedSnapshot): Promise<void> {
    const ops: StoreOp[] = [
      { type: "put", key: `full:${chan.id}`, value: encodeSignedRecord(signed) },
      {
        type: "put",
        key: `sv:${chan.id}`,
        value: (signed.state.version > chan.maxSigned ? signed.state.version : chan.maxSigned).toString(),
      },
    ];
    this.host.recordLocks(chan, signed, ops);
    for (const p of chan.pending) {
      if (p.version <= signed.state.version) ops.push({ type: "del", key: `pend:${chan.id}:${versionKey(p.version)}` });
    }
    await this.host.store.write(ops);
    const stale = chan.pending.filter((p) => p.version <= signed.state.version);
    for (const p of stale) {
      p.dead = true;
      chan.pending.splice(chan.pending.indexOf(p), 1);
      for (const w of p.waiters) w.reject(refused("OUT_OF_SYNC", "the channel moved on without this update"));
    }
    chan.full = signed;
    chan.latest = signed;
    if (signed.state.version > chan.maxSigned) chan.maxSigned = signed.state.version;
    if (signed.state.isFinal && chan.rec.phase === "open") await this.host.setPhase(chan, "closing");
    this.host.committed(chan);
    this.host.log.warn({ channelId: chan.id, version: String(signed.state.version) }, "adopted the peer's newer state");
  }
}
