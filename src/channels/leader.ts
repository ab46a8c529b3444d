import type { StoreOp } from "../common/store";
import { peerRefusal, refused } from "./errors";
import type { EngineCore } from "./engine-host";
import {
  byVersion,
  proposalRecord,
  type Committed,
  type LiveChannel,
  type Proposal,
  type Queued,
} from "./live-channel";
import { peerRequest, type ParamsOf, type ProposeResult } from "./messages";
import {
  encodeProposal,
  encodeResize,
  encodeSignedRecord,
  encodeSignedVersion,
  storeKey,
  type PendingResize,
} from "./records";
import { ZERO_BYTES32, type CompactSignature } from "./state";
import { PeerRequestError } from "./transport";
import {
  applyUpdate,
  approvalError,
  findLock,
  isResize,
  other,
  type ChannelUpdate,
  type Party,
  type SignedSnapshot,
} from "./updates";
import { InvalidMessageError, type ForwardMemo } from "./wire";

/*
 * The leader's side of the update protocol (participant 0): it queues every update (its own, and those the
 * follower asks for with `ch.request`), builds and signs each new state on the one before, stores it as pending
 * and sends it (`ch.propose`); a countersigned proposal is committed, a refused one is kept as void (its signature
 * has left) and what was built on it is proposed again.
 */

const REFUSAL_RETRYABLE = new Set(["OUT_OF_SYNC", "CHANNEL_BUSY"]);

/**
 * Whether the peer refused an update for good: a refusal other than `OUT_OF_SYNC` and `CHANNEL_BUSY` (sent again
 * after a sync), and not the peer's own failure (-32603) or an unreachable peer (sent again too).
 */
export function isFinalRefusal(err: unknown): err is PeerRequestError {
  return err instanceof PeerRequestError && err.rpcCode !== -32603 && !REFUSAL_RETRYABLE.has(err.peerCode ?? "");
}

/** The leader's part of the update protocol. */
export class Leader<C extends LiveChannel> {
  constructor(private readonly core: EngineCore<C>) {}

  /** Queues `update`, asked for by `by` (`ref`: the follower's request), and proposes it when there is room. */
  propose(chan: C, update: ChannelUpdate, by: Party, ref?: string, memo?: ForwardMemo): Promise<Committed> {
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
    return chan.pending.length < this.core.config.maxInFlight;
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
            now: this.core.host.chain.now(),
            revealedAt: (h) => this.core.host.chain.revealedAt(h),
          }) ?? this.core.host.policyRefusal(chan, item.update);
        if (why) throw refused("UPDATE_REFUSED", why);
        if (item.update.kind === "settle" && !this.core.settleAcceptable(base, item.update.hashlock)) {
          throw refused("LOCK_EXPIRED", "the lock expired before its secret was revealed on chain");
        }
      }
      const version = chan.maxSigned + 1n;
      const next = applyUpdate(base, item.update, version);
      const sig = this.core.signer.sign(next.state);
      const resizeSig = isResize(item.update) ? this.core.signer.signResize(item.update, next.state) : undefined;
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
    this.core.host.records.signing(chan, proposal.update, proposal.next, ops);
    this.core.store.write(ops).then(
      () => {
        proposal.durable = true;
        this.sendProposal(chan, proposal);
      },
      (err: unknown) => this.core.storeFailed(err),
    );
  }

  /** Sends a stored proposal unless it is on its way, or waits for a sync when the peer is away. */
  sendProposal(chan: C, p: Proposal): void {
    if (!p.durable || p.sent || p.dead || chan.syncing || this.core.stopped) return;
    if (!this.core.transport.isConnected(chan.rec.peer)) {
      chan.needsSync = true;
      return;
    }
    p.sent = true;
    const session = chan.session;
    const { version, baseVersion, update, by, ref, memo, sig, resizeSig } = p;
    const msg = { channelId: chan.id, version, baseVersion, update, by, ref, memo, sig, resizeSig };
    peerRequest(this.core.transport, chan.rec.peer, "ch.propose", msg).then(
      (answer) => this.onCountersigned(chan, p, answer, session),
      (err: unknown) =>
        // An answer without the countersignatures' shape is a bad countersignature, not a refusal.
        err instanceof InvalidMessageError
          ? this.onCountersigned(chan, p, undefined, session)
          : this.onProposeFailed(chan, p, err, session),
    );
  }

  /** The follower's answer (`undefined`: malformed): commits the proposal if it is countersigned, else syncs. */
  private onCountersigned(chan: C, p: Proposal, answer: ProposeResult | undefined, session: number): void {
    if (p.dead || p.committing || session !== chan.session) return;
    const sig = answer?.sig ?? { r: ZERO_BYTES32, vs: ZERO_BYTES32 };
    const resizeSig = answer?.resizeSig;
    const peerIndex = other(chan.rec.me);
    const peerAddress = chan.rec.params.participants[peerIndex];
    const resizeOk =
      !isResize(p.update) ||
      (resizeSig !== undefined && this.core.signer.verifyResize(p.update, p.next.state, resizeSig, peerAddress));
    if (!resizeOk || !this.core.signer.verify(p.next.state, sig, peerAddress)) {
      this.core.log.warn({ channelId: chan.id, version: String(p.version) }, "peer countersigned with a bad signature");
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
    if (isFinalRefusal(err)) {
      this.core.log.info({ channelId: chan.id, version: String(p.version), reason: err.message }, "proposal refused");
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
  discard(chan: C, p: Proposal, err: unknown): void {
    const index = chan.pending.indexOf(p);
    if (index < 0) return;
    const dead = chan.pending.splice(index);
    const ops: StoreOp[] = [
      { type: "put", key: storeKey.signedVersion(chan.id), value: encodeSignedVersion(chan.maxSigned) },
    ];
    for (const d of dead) {
      d.dead = true;
      if (d.ref !== undefined) chan.refs.delete(d.ref);
      ops.push({ type: "del", key: storeKey.pending(chan.id, d.version) });
      const record = proposalRecord(d);
      chan.voided.push(record);
      ops.push({ type: "put", key: storeKey.voided(chan.id, d.version), value: encodeProposal(record) });
    }
    chan.voided.sort(byVersion);
    this.core.writeLater(ops);
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

  /** Proposes what is queued while the pipeline has room. */
  pump(chan: C): void {
    if (!chan.leader || this.core.stopped) return;
    while (chan.queued.length > 0 && this.mayPropose(chan, chan.queued[0].update)) {
      this.proposeNow(chan, chan.queued.shift() as Queued);
    }
  }

  /** The leader stores a co-signed resize: it waits for the chain, nothing else is proposed until it settles. */
  commitResize(chan: C, p: Proposal, resize: PendingResize): Promise<void> {
    p.committing = true;
    const ops: StoreOp[] = [
      { type: "put", key: storeKey.resize(chan.id), value: encodeResize(resize) },
      { type: "del", key: storeKey.pending(chan.id, p.version) },
    ];
    const effect = this.core.host.records.effects(chan, p.update, p.memo, chan.committed(), p.next, ops);
    return this.core.store.write(ops).then(
      () => {
        const i = chan.pending.indexOf(p);
        if (i >= 0) chan.pending.splice(i, 1);
        if (p.ref !== undefined) chan.refs.delete(p.ref);
        chan.resize = resize;
        for (const w of p.waiters) w.resolve({ channelId: chan.id, version: p.version });
        effect();
        this.core.host.lifecycle.resizeSigned(chan, resize);
      },
      (err: unknown) => this.core.storeFailed(err),
    );
  }

  /** The leader stores a state signed by both and acknowledges every proposal up to it. */
  commitLeader(chan: C, signed: SignedSnapshot): Promise<void> {
    const done: Proposal[] = [];
    for (const q of chan.pending) {
      if (q.version > signed.state.version) break; // pending is in version order
      if (!q.committing && !q.dead) done.push(q);
    }
    for (const q of done) q.committing = true;
    const ops: StoreOp[] = [{ type: "put", key: storeKey.full(chan.id), value: encodeSignedRecord(signed) }];
    chan.supersedeVoided(signed.state.version, ops);
    const effects: (() => void)[] = [];
    let base = chan.committed();
    for (const q of done) {
      ops.push({ type: "del", key: storeKey.pending(chan.id, q.version) });
      effects.push(this.core.host.records.effects(chan, q.update, q.memo, base, q.next, ops));
      base = q.next;
    }
    return this.core.store.write(ops).then(
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
        this.core.host.lifecycle.committed(chan);
        for (const q of done) for (const w of q.waiters) w.resolve({ channelId: chan.id, version: q.version });
        for (const e of effects) e();
        this.pump(chan);
      },
      (err: unknown) => this.core.storeFailed(err),
    );
  }

  /** `ch.request`: the follower asks for an update; answered with its version once it is committed. */
  onRequest(from: string, { channelId, ref, update, memo }: ParamsOf<"ch.request">): Promise<bigint> {
    const chan = this.core.channel(channelId);
    if (chan.rec.peer !== from) throw refused("NOT_PARTICIPANT", "not a participant of this channel");
    if (!chan.leader) throw refused("WRONG_ROLE", "only participant 0 takes requests");
    const existing = chan.refs.get(ref);
    const committed = existing
      ? new Promise<Committed>((resolve, reject) => existing.waiters.push({ resolve, reject }))
      : (async () => {
          if (update.kind === "cancel") {
            const i = findLock(chan.tip().locks, update.hashlock);
            if (i >= 0 && chan.tip().locks[i].receiver === chan.rec.me)
              await this.core.host.chain.refreshRevealed(update.hashlock);
          }
          return this.propose(chan, update, other(chan.rec.me), ref, memo);
        })();
    return committed.then((c) => c.version);
  }
}
