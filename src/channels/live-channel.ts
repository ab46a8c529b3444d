import type { Lock } from "./state";
import { depositSnapshot, type ChannelUpdate, type Party, type SignedSnapshot, type Snapshot } from "./updates";
import type { StoreOp } from "../common/store";
import { storeKey, type ChannelRecord, type PendingResize, type ProposalRecord, type RequestRecord } from "./records";
import type { ForwardMemo } from "./wire";

/*
 * One channel as the update protocol holds it in memory (./engine.ts): the states signed by both and by this side,
 * and the updates in flight with who waits for each — the leader's queue and pending proposals, the follower's
 * requests — with the bookkeeping that fails or resends them.
 */

/** An acknowledged update: both participants stored the state of `version`. */
export interface Committed {
  channelId: string;
  version: bigint;
}

/** Who waits for an update: settled once it is committed, or given up. */
export interface Waiter {
  resolve(c: Committed): void;
  reject(err: unknown): void;
}

/** An update waiting for room in the leader's pipeline (`by` asked for it; `ref` is the follower's request). */
export interface Queued {
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

  /** Forgets what was sent to the peer (a new session, a dropped connection): it is sent again after a sync. */
  forgetSent(): void {
    for (const p of this.pending) p.sent = false;
    for (const r of this.requests.values()) r.sent = false;
  }

  /** Fails every update still waiting (a dispute, a failed store), except follower requests already countersigned. */
  rejectInFlight(err: unknown): void {
    for (const q of this.queued.splice(0)) for (const w of q.waiters) w.reject(err);
    for (const p of this.pending) {
      for (const w of p.waiters.splice(0)) w.reject(err);
    }
    for (const r of this.requests.values()) {
      if (r.version === undefined) for (const w of r.waiters.splice(0)) w.reject(err);
    }
  }

  /** Forgets the void proposals a stored state signed by both supersedes (adds their deletes to `ops`). */
  supersedeVoided(version: bigint, ops: StoreOp[]): void {
    while (this.voided.length > 0 && this.voided[0].version <= version) {
      const v = this.voided.shift() as ProposalRecord;
      ops.push({ type: "del", key: storeKey.voided(this.id, v.version) });
    }
  }

  /** Fails everyone waiting on this channel's updates, countersigned or not: the client stopped. */
  rejectAll(err: unknown): void {
    for (const p of this.pending) for (const w of p.waiters) w.reject(err);
    for (const q of this.queued) for (const w of q.waiters) w.reject(err);
    for (const r of this.requests.values()) for (const w of r.waiters) w.reject(err);
  }
}

/** The stored part of a proposal. */
export function proposalRecord(p: Proposal): ProposalRecord {
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

/** Orders proposals by version (the leader's lists are kept in version order). */
export function byVersion(a: { version: bigint }, b: { version: bigint }): number {
  return a.version < b.version ? -1 : 1;
}
