import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import {
  signStateWithKey,
  stateCommitsToLocks,
  verifyStateSignature,
  verifyStateSignatures,
  ZERO_BYTES32,
  type CompactSignature,
  type Lock,
} from "./state";
import { signResize, verifyResize } from "./resize";
import type { LevelStore, StoreOp } from "../common/store";
import { PeerRequestError, type PeerTransport } from "./transport";
import {
  applyUpdate,
  approvalError,
  depositSnapshot,
  findLock,
  isResize,
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
  decodeResizeJson,
  encodeProposal,
  encodeRequest,
  encodeResize,
  encodeResizeJson,
  encodeSignedRecord,
  type ChannelPhase,
  type ChannelRecord,
  type PendingResize,
  type ProposalRecord,
  type RequestRecord,
  keyParts,
  storeKey,
  storePrefix,
  decodeProposal,
  decodeRequest,
} from "./records";
import { ChannelError, peerRefusal, type ChannelErrorCode } from "./errors";

export { ChannelError, type ChannelErrorCode };

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
 * follower signs only above the highest version it ever signed, the leader
 * likewise (a refused proposal's version is skipped, never reused). After a
 * restart or a reconnection both sides exchange their latest states signed by
 * both (`ch.sync`); the leader adopts the follower's if it is newer and sends
 * what is still pending again, the follower asks again for what it still waits
 * for. Every message is idempotent, so sending one again is always safe.
 *
 * A state the leader signed has left it as soon as it is sent, and a peer that
 * answers "refused" may hold it countersigned all the same. So a refused
 * proposal is not forgotten: it is kept as *void* until a state signed by both
 * with a higher version supersedes it, and a no-op update is proposed to get
 * one. `exposedLocks()` is every lock the peer could still register; the
 * client's settlement rule (./settlement.ts) is built on it.
 *
 * A resize (top-up or partial withdrawal) is signed twice (the state and the
 * on-chain message) and counts only once executed on chain; until it is, or
 * until it expires, neither side signs anything else in the channel.
 */

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
  /** Leader: refused or superseded proposals whose signature may have left, above `full`, in version order. */
  readonly voided: ProposalRecord[] = [];
  /** A co-signed resize waiting to be executed on chain (or to expire); nothing else is signed meanwhile. */
  resize: PendingResize | undefined;
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

  /**
   * Every lock the peer could register: those of the latest state signed by both, and of every state this side
   * signed above it (pending, void, countersigned and being stored, or a resize waiting for the chain).
   */
  exposedLocks(): Lock[] {
    const seen = new Map<string, Lock>();
    const add = (locks: readonly Lock[]) => {
      for (const l of locks) seen.set(l.hashlock.toLowerCase(), l);
    };
    add(this.committed().locks);
    const floor = this.full?.state.version ?? 0n;
    if (this.latest && this.latest.state.version > floor) add(this.latest.locks);
    for (const p of this.pending) if (p.version > floor) add(p.next.locks);
    for (const v of this.voided) if (v.version > floor) add(v.next.locks);
    if (this.resize) add(this.resize.signed.locks);
    return [...seen.values()];
  }

  /** Whether a lock with `hashlock` waits to be proposed (leader) or asked for (follower, not yet countersigned). */
  attempting(hashlock: string): boolean {
    const h = hashlock.toLowerCase();
    const isIt = (u: ChannelUpdate) => u.kind === "lock" && u.lock.hashlock.toLowerCase() === h;
    if (this.queued.some((q) => isIt(q.update))) return true;
    for (const r of this.requests.values()) if (r.version === undefined && isIt(r.update)) return true;
    return false;
  }
}

/** What the update protocol needs from the client it runs in. */
export interface EngineHost<C extends LiveChannel> {
  readonly store: LevelStore;
  readonly transport: PeerTransport;
  /** The participant's private key (native signing). */
  readonly key: Uint8Array;
  readonly chainId: bigint;
  readonly adjudicatorAddress: string;
  readonly log: Logger;
  /** Proposals in flight per channel before new updates wait. */
  readonly maxInFlight: number;
  /** The most a proposal's version may exceed the highest one this side signed. */
  readonly maxVersionStep: bigint;
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
  /**
   * Why this side refuses an update its peer asked for, beyond `approvalError` (its policy: lock expiries and
   * per-peer limits, resize expiries), or `undefined`.
   */
  policyRefusal(chan: C, update: ChannelUpdate, base: Snapshot): string | undefined;
  /** This side is about to sign `next`, the result of `update` (stored with `ops`): the signature may leave with it. */
  signing(chan: C, update: ChannelUpdate, next: Snapshot, ops: StoreOp[]): void;
  /** A resize is signed by both and stored: it waits for the chain. */
  resizeSigned(chan: C, resize: PendingResize): void;
  /** Reads the chain to settle a pending resize (executed or expired), before refusing a proposal for it. */
  settleResize(chan: C): Promise<void>;
  /** A newer state signed by both is stored. */
  committed(chan: C): void;
  setPhase(chan: C, phase: ChannelPhase): Promise<void>;
  storeFailed(err: unknown): void;
}

const REFUSAL_RETRYABLE = new Set(["OUT_OF_SYNC", "CHANNEL_BUSY"]);

/** The stored part of a proposal. */
function proposalRecord(p: Proposal): ProposalRecord {
  return {
    version: p.version,
    baseVersion: p.baseVersion,
    update: p.update,
    by: p.by,
    ...(p.ref === undefined ? {} : { ref: p.ref }),
    ...(p.memo === undefined ? {} : { memo: p.memo }),
    next: p.next,
    sig: p.sig,
    ...(p.resizeSig === undefined ? {} : { resizeSig: p.resizeSig }),
  };
}

/** A {@link ChannelError} with `code`. */
export function refused(code: ChannelErrorCode, message: string, context: Record<string, unknown> = {}): ChannelError {
  return new ChannelError(code, message, { context });
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The update protocol of every channel of one client. */
export class UpdateEngine<C extends LiveChannel> {
  constructor(private readonly host: EngineHost<C>) {}

  /**
   * Reads back the engine's own records of `chans` (whose latest states are loaded): the leader's pending
   * proposals and voided ones (a voided one a later state supersedes is deleted), and the follower's requests.
   */
  async restore(chans: ReadonlyMap<string, C>): Promise<void> {
    const store = this.host.store;
    for (const [k, v] of await store.list(storePrefix.pending)) {
      const chan = chans.get(keyParts(k).id);
      if (!chan) continue;
      const rec = decodeProposal(v);
      if (chan.full && rec.version <= chan.full.state.version) continue;
      const p: Proposal = { ...rec, waiters: [], durable: true, sent: false, dead: false, committing: false };
      chan.pending.push(p);
      if (p.ref !== undefined) chan.refs.set(p.ref, p);
      if (p.version > chan.maxSigned) chan.maxSigned = p.version;
    }
    const superseded: StoreOp[] = [];
    for (const [k, v] of await store.list(storePrefix.voided)) {
      const chan = chans.get(keyParts(k).id);
      if (!chan) continue;
      const rec = decodeProposal(v);
      if (chan.full && rec.version <= chan.full.state.version) {
        superseded.push({ type: "del", key: k });
        continue;
      }
      chan.voided.push(rec);
      if (rec.version > chan.maxSigned) chan.maxSigned = rec.version;
    }
    if (superseded.length > 0) await store.write(superseded);
    for (const [k, v] of await store.list(storePrefix.request)) {
      const chan = chans.get(keyParts(k).id);
      if (!chan) continue;
      const rec = decodeRequest(v);
      chan.requests.set(rec.ref, { ...rec, waiters: [], durable: true, sent: false });
    }
  }

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
      chan.queued.push(item);
      this.pump(chan);
    });
  }

  /** Whether the leader may propose `update` now: a resize goes alone, and nothing goes while one is unsettled. */
  private mayPropose(chan: C, update: ChannelUpdate): boolean {
    if (chan.resize) return false;
    if (chan.pending.some((p) => isResize(p.update))) return false;
    if (isResize(update)) return chan.pending.length === 0;
    return chan.pending.length < this.host.maxInFlight;
  }

  private proposeNow(chan: C, item: Queued): void {
    let proposal: Proposal;
    try {
      if (chan.rec.phase !== "open") throw refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`);
      const base = chan.tip();
      if (item.by !== chan.rec.me) {
        const why =
          approvalError(chan.rec.me, item.update, base, {
            initiator: item.by,
            now: this.host.now(),
            revealedAt: (h) => this.host.revealedAt(h),
          }) ?? this.host.policyRefusal(chan, item.update, base);
        if (why) throw refused("UPDATE_REFUSED", why);
        if (item.update.kind === "settle" && !this.settleAcceptable(base, item.update.hashlock)) {
          throw refused("LOCK_EXPIRED", "the lock expired before its secret was revealed on chain");
        }
      }
      const version = chan.maxSigned + 1n;
      const next = applyUpdate(base, item.update, version);
      const sig = signStateWithKey(this.host.key, next.state, this.host.chainId, this.host.adjudicatorAddress);
      const resizeSig = isResize(item.update)
        ? signResize(this.host.key, item.update, next.state, this.host.chainId, this.host.adjudicatorAddress)
        : undefined;
      proposal = {
        version,
        baseVersion: base.state.version,
        update: item.update,
        by: item.by,
        ...(item.ref === undefined ? {} : { ref: item.ref }),
        ...(item.memo === undefined ? {} : { memo: item.memo }),
        next,
        sig,
        ...(resizeSig === undefined ? {} : { resizeSig }),
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
    const ops: StoreOp[] = [
      { type: "put", key: storeKey.pending(chan.id, proposal.version), value: encodeProposal(proposal) },
    ];
    this.host.signing(chan, proposal.update, proposal.next, ops);
    this.host.store.write(ops).then(
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
    if (p.resizeSig !== undefined) msg.resizeSig = encodeSig(p.resizeSig);
    this.host.transport.request(chan.rec.peer, "ch.propose", msg).then(
      (res) => this.onCountersigned(chan, p, res, session),
      (err: unknown) => this.onProposeFailed(chan, p, err, session),
    );
  }

  private onCountersigned(chan: C, p: Proposal, res: unknown, session: number): void {
    if (p.dead || p.committing || session !== chan.session) return;
    let sig: CompactSignature;
    let resizeSig: CompactSignature | undefined;
    try {
      const o = asObject(res, "result");
      sig = decodeSig(o.sig);
      if (o.resizeSig !== undefined) resizeSig = decodeSig(o.resizeSig, "resizeSig");
    } catch {
      sig = { r: ZERO_BYTES32, vs: ZERO_BYTES32 };
    }
    const peerIndex = other(chan.rec.me);
    const peerAddress = chan.rec.params.participants[peerIndex];
    const resizeOk =
      !isResize(p.update) ||
      (resizeSig !== undefined &&
        verifyResize(p.update, p.next.state, resizeSig, peerAddress, this.host.chainId, this.host.adjudicatorAddress));
    if (
      !resizeOk ||
      !verifyStateSignature(p.next.state, sig, peerAddress, this.host.chainId, this.host.adjudicatorAddress)
    ) {
      this.host.log.warn({ channelId: chan.id, version: String(p.version) }, "peer countersigned with a bad signature");
      p.sent = false;
      chan.needsSync = true;
      return;
    }
    const sigs: [CompactSignature, CompactSignature] = chan.rec.me === 0 ? [p.sig, sig] : [sig, p.sig];
    if (isResize(p.update) && resizeSig !== undefined && p.resizeSig !== undefined) {
      const resizeSigs: [CompactSignature, CompactSignature] =
        chan.rec.me === 0 ? [p.resizeSig, resizeSig] : [resizeSig, p.resizeSig];
      void this.commitResize(chan, p, { update: p.update, signed: { ...p.next, sigs }, resizeSigs });
      return;
    }
    void this.commitLeader(chan, { ...p.next, sigs });
  }

  private onProposeFailed(chan: C, p: Proposal, err: unknown, session: number): void {
    if (p.dead || p.committing || session !== chan.session) return;
    if (err instanceof PeerRequestError && err.rpcCode !== -32603 && !REFUSAL_RETRYABLE.has(err.peerCode ?? "")) {
      this.host.log.info({ channelId: chan.id, version: String(p.version), reason: err.message }, "proposal refused");
      this.discard(chan, p, refused(peerRefusal(err.peerCode), `the peer refused the update: ${err.message}`));
      return;
    }
    p.sent = false;
    chan.needsSync = true;
  }

  /**
   * Drops a refused proposal and every proposal built on it; the later ones (and the first too when `err` is
   * undefined) are proposed again on the new tip. The dropped ones were sent, so the peer may hold them
   * countersigned: they stay on record as void until a state signed by both supersedes them, and if nothing else
   * will, a no-op is proposed to get one.
   */
  private discard(chan: C, p: Proposal, err: unknown): void {
    const index = chan.pending.indexOf(p);
    if (index < 0) return;
    const dead = chan.pending.splice(index);
    const ops: StoreOp[] = [{ type: "put", key: storeKey.signedVersion(chan.id), value: chan.maxSigned.toString() }];
    for (const d of dead) {
      d.dead = true;
      if (d.ref !== undefined) chan.refs.delete(d.ref);
      ops.push({ type: "del", key: storeKey.pending(chan.id, d.version) });
      const record = proposalRecord(d);
      chan.voided.push(record);
      ops.push({ type: "put", key: storeKey.voided(chan.id, d.version), value: encodeProposal(record) });
    }
    chan.voided.sort((a, b) => (a.version < b.version ? -1 : 1));
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
    if (chan.queued.length === 0 && chan.pending.length === 0 && p.update.kind !== "noop") {
      // One no-op, not one per refusal: a peer that refuses it too leaves the void states to the chain's verdict.
      chan.queued.push({ update: { kind: "noop" }, by: chan.rec.me, waiters: [] });
    }
    this.pump(chan);
  }

  /** Forgets the void proposals a stored state signed by both supersedes (adds their deletes to `ops`). */
  private supersedeVoided(chan: C, version: bigint, ops: StoreOp[]): void {
    while (chan.voided.length > 0 && chan.voided[0].version <= version) {
      const v = chan.voided.shift() as ProposalRecord;
      ops.push({ type: "del", key: storeKey.voided(chan.id, v.version) });
    }
  }

  /**
   * Gives up an attempt to put the lock with `hashlock` in a state that has not been signed yet: a queued proposal
   * (leader) or a request the leader has not proposed (follower). Returns whether one was given up; an attempt
   * already signed cannot be taken back.
   */
  withdrawAttempt(chan: C, hashlock: string): boolean {
    const h = hashlock.toLowerCase();
    const isIt = (u: ChannelUpdate) => u.kind === "lock" && u.lock.hashlock.toLowerCase() === h;
    const err = refused("WITHDRAWN", "the attempt was given up");
    let found = false;
    for (let i = chan.queued.length - 1; i >= 0; i--) {
      if (!isIt(chan.queued[i].update)) continue;
      for (const w of chan.queued[i].waiters) w.reject(err);
      chan.queued.splice(i, 1);
      found = true;
    }
    for (const r of [...chan.requests.values()]) {
      if (r.version !== undefined || !isIt(r.update)) continue;
      chan.requests.delete(r.ref);
      this.host.store
        .write([{ type: "del", key: storeKey.request(chan.id, r.ref) }])
        .catch((e: unknown) => this.host.storeFailed(e));
      for (const w of r.waiters) w.reject(err);
      found = true;
    }
    return found;
  }

  /** The chain settled the pending resize: executed (its state is now the latest) or expired (it never counts). */
  async resizeSettled(chan: C, executed: boolean): Promise<void> {
    const resize = chan.resize;
    if (!resize) return;
    const ops: StoreOp[] = [{ type: "del", key: storeKey.resize(chan.id) }];
    if (executed) {
      ops.push({ type: "put", key: storeKey.full(chan.id), value: encodeSignedRecord(resize.signed) });
      this.supersedeVoided(chan, resize.signed.state.version, ops);
    }
    await this.host.store.write(ops);
    if (chan.resize !== resize) return;
    chan.resize = undefined;
    if (executed) {
      chan.full = resize.signed;
      chan.latest = resize.signed;
      this.host.committed(chan);
    } else {
      chan.latest = chan.full;
    }
    this.host.log.info(
      { channelId: chan.id, version: String(resize.signed.state.version), executed },
      executed ? "the resize is executed on chain" : "the resize expired unexecuted",
    );
    this.pump(chan);
  }

  private pump(chan: C): void {
    if (!chan.leader || this.host.stopped()) return;
    while (chan.queued.length > 0 && this.mayPropose(chan, chan.queued[0].update)) {
      this.proposeNow(chan, chan.queued.shift() as Queued);
    }
  }

  /** The leader stores a co-signed resize: it waits for the chain, nothing else is proposed until it settles. */
  private commitResize(chan: C, p: Proposal, resize: PendingResize): Promise<void> {
    p.committing = true;
    const ops: StoreOp[] = [
      { type: "put", key: storeKey.resize(chan.id), value: encodeResize(resize) },
      { type: "del", key: storeKey.pending(chan.id, p.version) },
    ];
    const effect = this.host.effects(chan, p.update, p.memo, p.by, chan.committed(), p.next, ops);
    return this.host.store.write(ops).then(
      () => {
        const i = chan.pending.indexOf(p);
        if (i >= 0) chan.pending.splice(i, 1);
        if (p.ref !== undefined) chan.refs.delete(p.ref);
        chan.resize = resize;
        for (const w of p.waiters) w.resolve({ channelId: chan.id, version: p.version });
        effect();
        this.host.resizeSigned(chan, resize);
      },
      (err: unknown) => this.host.storeFailed(err),
    );
  }

  /** The leader stores a state signed by both and acknowledges every proposal up to it. */
  private commitLeader(chan: C, signed: SignedSnapshot): Promise<void> {
    const done: Proposal[] = [];
    for (const q of chan.pending) {
      if (q.version > signed.state.version) break; // pending is in version order
      if (!q.committing && !q.dead) done.push(q);
    }
    for (const q of done) q.committing = true;
    const ops: StoreOp[] = [{ type: "put", key: storeKey.full(chan.id), value: encodeSignedRecord(signed) }];
    this.supersedeVoided(chan, signed.state.version, ops);
    const effects: (() => void)[] = [];
    let base = chan.committed();
    for (const q of done) {
      ops.push({ type: "del", key: storeKey.pending(chan.id, q.version) });
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
      this.host.store.write([{ type: "put", key: storeKey.request(chan.id, ref), value: encodeRequest(r) }]).then(
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
            .write([{ type: "del", key: storeKey.request(chan.id, r.ref) }])
            .catch((e: unknown) => this.host.storeFailed(e));
          const reason = refused(peerRefusal(err.peerCode), `the peer refused the update: ${err.message}`);
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
      resizeSig: o.resizeSig === undefined ? undefined : decodeSig(o.resizeSig, "resizeSig"),
    };
    if (msg.by === undefined) throw new InvalidMessageError("by must be 0 or 1", "by");
    const chan = this.host.channel(channelId);
    if (chan.rec.peer !== from) throw refused("NOT_PARTICIPANT", "not a participant of this channel");
    if (chan.leader) throw refused("WRONG_ROLE", "only participant 0 proposes");
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
    const resend = this.answerAgain(chan, msg, leaderAddress);
    if (resend) return resend;
    if (chan.resize) {
      // The leader may have seen the chain settle the resize first.
      await this.host.settleResize(chan);
      if (chan.resize) throw refused("CHANNEL_BUSY", "a resize waits for the chain");
    }
    const base = chan.followerBase();
    if (msg.version <= base.state.version || msg.version <= chan.maxSigned) {
      throw refused("OUT_OF_SYNC", `version ${msg.version} is not above ${chan.maxSigned}`);
    }
    if (msg.version > chan.maxSigned + this.host.maxVersionStep) {
      // A leader that jumped far ahead could exhaust the versions: nothing could be signed after 2^64 - 1.
      throw refused(
        "VERSION_JUMP",
        `version ${msg.version} is more than ${this.host.maxVersionStep} above ${chan.maxSigned}`,
      );
    }
    if (msg.baseVersion !== base.state.version) {
      throw refused("OUT_OF_SYNC", `proposal builds on ${msg.baseVersion}, this side is at ${base.state.version}`);
    }
    if (chan.rec.phase !== "open") throw refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`);
    let request: OutRequest | undefined;
    if (msg.by === me) {
      request = msg.ref === undefined ? undefined : chan.requests.get(msg.ref);
      if (!request || request.version !== undefined || !sameUpdate(request.update, msg.update)) {
        throw refused("UNREQUESTED_UPDATE", "an update in this client's name that it did not ask for");
      }
    }
    if (msg.update.kind === "cancel" && msg.by !== me) {
      const i = findLock(base.locks, msg.update.hashlock);
      if (i >= 0 && base.locks[i].receiver === me) await this.host.refreshRevealed(base.locks[i].hashlock);
    }
    const why =
      approvalError(me, msg.update, base, {
        initiator: msg.by,
        now: this.host.now(),
        revealedAt: (h) => this.host.revealedAt(h),
      }) ?? (msg.by === me ? undefined : this.host.policyRefusal(chan, msg.update, base));
    if (why) throw refused("UPDATE_REFUSED", why);
    if (msg.update.kind === "settle" && msg.by !== me && !this.settleAcceptable(base, msg.update.hashlock)) {
      throw refused("LOCK_EXPIRED", "the lock expired before its secret was revealed on chain");
    }
    const next = applyUpdate(base, msg.update, msg.version);
    if (!verifyStateSignature(next.state, msg.sig, leaderAddress, this.host.chainId, this.host.adjudicatorAddress)) {
      throw refused("INVALID_SIGNATURE", "the leader's signature does not match the state this update yields");
    }
    const resizing = isResize(msg.update) ? msg.update : undefined;
    if (resizing) {
      if (
        msg.resizeSig === undefined ||
        !verifyResize(
          resizing,
          next.state,
          msg.resizeSig,
          leaderAddress,
          this.host.chainId,
          this.host.adjudicatorAddress,
        )
      ) {
        throw refused("INVALID_SIGNATURE", "the leader's resize signature does not match");
      }
    }
    const mine = signStateWithKey(this.host.key, next.state, this.host.chainId, this.host.adjudicatorAddress);
    const sigs: [CompactSignature, CompactSignature] = me === 0 ? [mine, msg.sig] : [msg.sig, mine];
    const signed: SignedSnapshot = { ...next, sigs };
    chan.maxSigned = msg.version;
    const ops: StoreOp[] = [];
    let resize: PendingResize | undefined;
    let mineResize: CompactSignature | undefined;
    if (resizing) {
      mineResize = signResize(this.host.key, resizing, next.state, this.host.chainId, this.host.adjudicatorAddress);
      const theirs = msg.resizeSig as CompactSignature;
      resize = { update: resizing, signed, resizeSigs: me === 0 ? [mineResize, theirs] : [theirs, mineResize] };
      chan.resize = resize;
      ops.push({ type: "put", key: storeKey.resize(chan.id), value: encodeResize(resize) });
    } else {
      chan.latest = signed;
      ops.push({ type: "put", key: storeKey.full(chan.id), value: encodeSignedRecord(signed) });
    }
    ops.push({ type: "put", key: storeKey.signedVersion(chan.id), value: msg.version.toString() });
    if (request) {
      request.version = msg.version;
      ops.push({ type: "del", key: storeKey.request(chan.id, request.ref) });
    }
    this.host.signing(chan, msg.update, next, ops);
    const effect = this.host.effects(chan, msg.update, msg.memo, msg.by, base, next, ops);
    const durable = this.host.store.write(ops);
    chan.unflushed.set(msg.version, { signed, durable });
    const answer: Json = { sig: encodeSig(mine) };
    if (mineResize) answer.resizeSig = encodeSig(mineResize);
    const done = durable.then(
      () => {
        chan.unflushed.delete(msg.version);
        if (resize) {
          this.host.resizeSigned(chan, resize);
        } else {
          if (!chan.full || signed.state.version > chan.full.state.version) chan.full = signed;
          this.host.committed(chan);
        }
        effect();
        return answer;
      },
      (err: unknown) => {
        this.host.storeFailed(err);
        throw refused("STORE_FAILED", "this client could not store the state");
      },
    );
    return { done };
  }

  /** The leader sends again what it may not have seen answered: the same answer, or `undefined` if it is new. */
  private answerAgain(
    chan: C,
    msg: Omit<ProposalRecord, "next">,
    leaderAddress: string,
  ): { done: Promise<Json> } | undefined {
    const me = chan.rec.me;
    const unflushed = chan.unflushed.get(msg.version);
    const known =
      unflushed?.signed ??
      (chan.latest?.state.version === msg.version ? chan.latest : undefined) ??
      (chan.resize?.signed.state.version === msg.version ? chan.resize.signed : undefined);
    if (!known) return undefined;
    if (!verifyStateSignature(known.state, msg.sig, leaderAddress, this.host.chainId, this.host.adjudicatorAddress)) {
      return undefined;
    }
    const answer: Json = { sig: encodeSig(known.sigs[me]) };
    const resize = chan.resize;
    if (resize && resize.signed.state.version === msg.version) answer.resizeSig = encodeSig(resize.resizeSigs[me]);
    const durable = unflushed?.durable ?? Promise.resolve();
    return { done: durable.then(() => answer) };
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
    if (chan.rec.peer !== from) throw refused("NOT_PARTICIPANT", "not a participant of this channel");
    if (!chan.leader) throw refused("WRONG_ROLE", "only participant 0 takes requests");
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
    if (chan.rec.peer !== from) throw refused("NOT_PARTICIPANT", "not a participant of this channel");
    if (theirs > (chan.full?.state.version ?? 0n)) chan.needsSync = true;
    const answer: Json = { signed: chan.full ? encodeSigned(chan.full) : null };
    if (chan.resize) answer.resize = encodeResizeJson(chan.resize);
    return answer;
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
      if (chan.leader && res.resize !== undefined && !chan.resize) await this.resumeResize(chan, res.resize);
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

  /** Leader: the follower holds a co-signed resize whose answer this side never got; store it if it proposed it. */
  private async resumeResize(chan: C, raw: unknown): Promise<void> {
    const resize = decodeResizeJson(raw);
    const p = chan.pending.find((q) => q.version === resize.signed.state.version);
    if (
      !p ||
      !isResize(p.update) ||
      !sameUpdate(p.update, resize.update) ||
      !sameState(p.next.state, resize.signed.state)
    ) {
      return;
    }
    const participants = chan.rec.params.participants;
    const ok = [0, 1].every(
      (i) =>
        verifyStateSignature(
          resize.signed.state,
          resize.signed.sigs[i],
          participants[i],
          this.host.chainId,
          this.host.adjudicatorAddress,
        ) &&
        verifyResize(
          resize.update,
          resize.signed.state,
          resize.resizeSigs[i],
          participants[i],
          this.host.chainId,
          this.host.adjudicatorAddress,
        ),
    );
    if (!ok) throw refused("INVALID_STATE", "the peer's resize is not signed by both");
    await this.commitResize(chan, p, { ...resize, signed: { ...p.next, sigs: resize.signed.sigs } });
  }

  /** Takes a newer state signed by both that this side lost or never stored (after a crash). */
  private async adopt(chan: C, signed: SignedSnapshot): Promise<void> {
    const ops: StoreOp[] = [
      { type: "put", key: storeKey.full(chan.id), value: encodeSignedRecord(signed) },
      {
        type: "put",
        key: storeKey.signedVersion(chan.id),
        value: (signed.state.version > chan.maxSigned ? signed.state.version : chan.maxSigned).toString(),
      },
    ];
    this.host.recordLocks(chan, signed, ops);
    for (const p of chan.pending) {
      if (p.version <= signed.state.version) ops.push({ type: "del", key: storeKey.pending(chan.id, p.version) });
    }
    this.supersedeVoided(chan, signed.state.version, ops);
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
