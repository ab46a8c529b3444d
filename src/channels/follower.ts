import { randomBytes } from "node:crypto";
import type { StoreOp } from "../common/store";
import type { EngineCore } from "./engine-host";
import { peerRefusal, refused } from "./errors";
import { isFinalRefusal } from "./leader";
import type { Committed, LiveChannel, OutRequest } from "./live-channel";
import { peerRequest, type ParamsOf, type ProposeParams, type ProposeResult } from "./messages";
import {
  encodeRequest,
  encodeResize,
  encodeSignedRecord,
  encodeSignedVersion,
  storeKey,
  type PendingResize,
} from "./records";
import type { CompactSignature } from "./state";
import {
  applyUpdate,
  approvalError,
  findLock,
  isResize,
  other,
  sameUpdate,
  type ChannelUpdate,
  type SignedSnapshot,
} from "./updates";
import { InvalidMessageError, type ForwardMemo } from "./wire";

/*
 * The follower's side of the update protocol (participant 1): it asks the leader for its own updates
 * (`ch.request`, stored before it is sent), and checks and countersigns the leader's proposals (`ch.propose`) one
 * after another — only above the highest version it ever signed, only an update it agrees to, only over the state
 * the update yields — answering once the state is on disk.
 */

/** The follower's part of the update protocol. */
export class Follower<C extends LiveChannel> {
  constructor(private readonly core: EngineCore<C>) {}

  /** Asks the leader for `update`: stored first, then sent; resolves once the leader committed it. */
  request(chan: C, update: ChannelUpdate, memo?: ForwardMemo): Promise<Committed> {
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
      this.core.store.write([{ type: "put", key: storeKey.request(chan.id, ref), value: encodeRequest(r) }]).then(
        () => {
          r.durable = true;
          this.sendRequest(chan, r);
        },
        (err: unknown) => this.core.storeFailed(err),
      );
    });
  }

  /** Sends a stored request unless it is on its way, or waits for a sync when the peer is away. */
  sendRequest(chan: C, r: OutRequest): void {
    if (!r.durable || r.sent || chan.syncing || this.core.stopped) return;
    if (!this.core.transport.isConnected(chan.rec.peer)) {
      chan.needsSync = true;
      return;
    }
    r.sent = true;
    const session = chan.session;
    const msg = { channelId: chan.id, ref: r.ref, update: r.update, memo: r.memo };
    peerRequest(this.core.transport, chan.rec.peer, "ch.request", msg).then(
      (version) => this.requestCommitted(chan, r, version),
      (err: unknown) => {
        if (err instanceof InvalidMessageError) {
          // An answer without a version: ask again after a sync.
          r.sent = false;
          chan.needsSync = true;
          return;
        }
        if (session !== chan.session || !chan.requests.has(r.ref)) return;
        if (isFinalRefusal(err)) {
          if (r.version !== undefined) return; // countersigned already: only the leader's commit is missing
          chan.requests.delete(r.ref);
          this.core.writeLater([{ type: "del", key: storeKey.request(chan.id, r.ref) }]);
          const reason = refused(peerRefusal(err.peerCode), `the peer refused the update: ${err.message}`);
          for (const w of r.waiters) w.reject(reason);
          return;
        }
        r.sent = false;
        chan.needsSync = true;
      },
    );
  }

  /** The leader committed a state with the request (`version` or later): its waiters are answered. */
  requestCommitted(chan: C, r: OutRequest, version: bigint): void {
    if (!chan.requests.has(r.ref)) return;
    if (r.version === undefined) {
      // The leader committed a state with the request this follower has not countersigned: cannot be.
      this.core.log.warn({ channelId: chan.id, ref: r.ref }, "leader reports a commit this client did not countersign");
      chan.needsSync = true;
      r.sent = false;
      return;
    }
    chan.requests.delete(r.ref);
    for (const w of r.waiters) w.resolve({ channelId: chan.id, version: r.version > version ? r.version : version });
  }

  /** `ch.propose`: the leader's proposals are checked one after another, and answered once stored. */
  onPropose(from: string, msg: ParamsOf<"ch.propose">): Promise<ProposeResult> {
    const chan = this.core.channel(msg.channelId);
    if (chan.rec.peer !== from) throw refused("NOT_PARTICIPANT", "not a participant of this channel");
    if (chan.leader) throw refused("WRONG_ROLE", "only participant 0 proposes");
    const prepared = chan.serial.then(() => this.preparePropose(chan, msg));
    chan.serial = prepared.then(
      () => undefined,
      () => undefined,
    );
    return prepared.then((p) => p.done);
  }

  /** Checks and countersigns a proposal; returns the answer, which resolves once the state is on disk. */
  private async preparePropose(chan: C, msg: ProposeParams): Promise<{ done: Promise<ProposeResult> }> {
    if (chan.rec.phase === "opening") await this.core.host.lifecycle.activate(chan);
    const me = chan.rec.me;
    const leaderAddress = chan.rec.params.participants[other(me)];
    const resend = this.answerAgain(chan, msg, leaderAddress);
    if (resend) return resend;
    if (chan.resize) {
      // The leader may have seen the chain settle the resize first.
      await this.core.host.lifecycle.settleResize(chan);
      if (chan.resize) throw refused("CHANNEL_BUSY", "a resize waits for the chain");
    }
    const base = chan.followerBase();
    if (msg.version <= base.state.version || msg.version <= chan.maxSigned) {
      throw refused("OUT_OF_SYNC", `version ${msg.version} is not above ${chan.maxSigned}`);
    }
    if (msg.version > chan.maxSigned + this.core.config.maxVersionStep) {
      // A leader that jumped far ahead could exhaust the versions: nothing could be signed after 2^64 - 1.
      throw refused(
        "VERSION_JUMP",
        `version ${msg.version} is more than ${this.core.config.maxVersionStep} above ${chan.maxSigned}`,
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
      if (i >= 0 && base.locks[i].receiver === me) await this.core.host.chain.refreshRevealed(base.locks[i].hashlock);
    }
    const why =
      approvalError(me, msg.update, base, {
        initiator: msg.by,
        now: this.core.host.chain.now(),
        revealedAt: (h) => this.core.host.chain.revealedAt(h),
      }) ?? (msg.by === me ? undefined : this.core.host.policyRefusal(chan, msg.update));
    if (why) throw refused("UPDATE_REFUSED", why);
    if (msg.update.kind === "settle" && msg.by !== me && !this.core.settleAcceptable(base, msg.update.hashlock)) {
      throw refused("LOCK_EXPIRED", "the lock expired before its secret was revealed on chain");
    }
    const next = applyUpdate(base, msg.update, msg.version);
    if (!this.core.signer.verify(next.state, msg.sig, leaderAddress)) {
      throw refused("INVALID_SIGNATURE", "the leader's signature does not match the state this update yields");
    }
    const resizing = isResize(msg.update) ? msg.update : undefined;
    if (resizing) {
      if (
        msg.resizeSig === undefined ||
        !this.core.signer.verifyResize(resizing, next.state, msg.resizeSig, leaderAddress)
      ) {
        throw refused("INVALID_SIGNATURE", "the leader's resize signature does not match");
      }
    }
    const mine = this.core.signer.sign(next.state);
    const sigs: [CompactSignature, CompactSignature] = me === 0 ? [mine, msg.sig] : [msg.sig, mine];
    const signed: SignedSnapshot = { ...next, sigs };
    chan.maxSigned = msg.version;
    const ops: StoreOp[] = [];
    let resize: PendingResize | undefined;
    let mineResize: CompactSignature | undefined;
    if (resizing) {
      mineResize = this.core.signer.signResize(resizing, next.state);
      const theirs = msg.resizeSig as CompactSignature;
      resize = { update: resizing, signed, resizeSigs: me === 0 ? [mineResize, theirs] : [theirs, mineResize] };
      chan.resize = resize;
      ops.push({ type: "put", key: storeKey.resize(chan.id), value: encodeResize(resize) });
    } else {
      chan.latest = signed;
      ops.push({ type: "put", key: storeKey.full(chan.id), value: encodeSignedRecord(signed) });
    }
    ops.push({ type: "put", key: storeKey.signedVersion(chan.id), value: encodeSignedVersion(msg.version) });
    if (request) {
      request.version = msg.version;
      ops.push({ type: "del", key: storeKey.request(chan.id, request.ref) });
    }
    this.core.host.records.signing(chan, msg.update, next, ops);
    const effect = this.core.host.records.effects(chan, msg.update, msg.memo, base, next, ops);
    const durable = this.core.store.write(ops);
    chan.unflushed.set(msg.version, { signed, durable });
    const answer: ProposeResult = { sig: mine, ...(mineResize ? { resizeSig: mineResize } : {}) };
    const done = durable.then(
      () => {
        chan.unflushed.delete(msg.version);
        if (resize) {
          this.core.host.lifecycle.resizeSigned(chan, resize);
        } else {
          if (!chan.full || signed.state.version > chan.full.state.version) chan.full = signed;
          this.core.host.lifecycle.committed(chan);
        }
        effect();
        return answer;
      },
      (err: unknown) => {
        this.core.storeFailed(err);
        throw refused("STORE_FAILED", "this client could not store the state");
      },
    );
    return { done };
  }

  /** The leader sends again what it may not have seen answered: the same answer, or `undefined` if it is new. */
  private answerAgain(
    chan: C,
    msg: ProposeParams,
    leaderAddress: string,
  ): { done: Promise<ProposeResult> } | undefined {
    const me = chan.rec.me;
    const unflushed = chan.unflushed.get(msg.version);
    const known =
      unflushed?.signed ??
      (chan.latest?.state.version === msg.version ? chan.latest : undefined) ??
      (chan.resize?.signed.state.version === msg.version ? chan.resize.signed : undefined);
    if (!known) return undefined;
    if (!this.core.signer.verify(known.state, msg.sig, leaderAddress)) return undefined;
    const resize = chan.resize;
    const answer: ProposeResult = {
      sig: known.sigs[me],
      ...(resize && resize.signed.state.version === msg.version ? { resizeSig: resize.resizeSigs[me] } : {}),
    };
    const durable = unflushed?.durable ?? Promise.resolve();
    return { done: durable.then(() => answer) };
  }
}
