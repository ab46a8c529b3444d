import type { StoreOp } from "../common/store";
import type { EngineCore } from "./engine-host";
import type { Follower } from "./follower";
import type { Leader } from "./leader";
import type { LiveChannel } from "./live-channel";
import { peerRequest, type ParamsOf, type SyncResult } from "./messages";
import { encodeSignedRecord, encodeSignedVersion, storeKey, type PendingResize } from "./records";
import { errText, refused } from "./errors";
import { stateCommitsToLocks } from "./state";
import { isResize, sameState, sameUpdate, type SignedSnapshot } from "./updates";

/*
 * Catching up after a restart or a reconnection (`ch.sync`): both sides exchange their latest states signed by
 * both; the newer one is adopted (checked against both signatures), the leader sends again what is still pending
 * and the follower asks again for what it still waits for. Every message is idempotent, so this is always safe.
 */

/** The sync of the update protocol. */
export class Sync<C extends LiveChannel> {
  constructor(
    private readonly core: EngineCore<C>,
    private readonly leader: Leader<C>,
    private readonly follower: Follower<C>,
  ) {}

  /** `ch.sync`: answers this side's latest states; a peer ahead of it is synced with in turn. */
  onSync(from: string, { channelId, version: theirs }: ParamsOf<"ch.sync">): SyncResult {
    const chan = this.core.channel(channelId);
    if (chan.rec.peer !== from) throw refused("NOT_PARTICIPANT", "not a participant of this channel");
    if (theirs > (chan.full?.state.version ?? 0n)) chan.needsSync = true;
    return { signed: chan.full, ...(chan.resize ? { resize: chan.resize } : {}) };
  }

  /** Exchanges latest states with the peer and sends again what is still in flight. */
  async resync(chan: C): Promise<void> {
    if (chan.syncing || this.core.stopped) return;
    chan.syncing = true;
    chan.needsSync = false;
    chan.lastSyncAt = Date.now();
    chan.session += 1;
    chan.forgetSent();
    try {
      const res = await peerRequest(this.core.transport, chan.rec.peer, "ch.sync", {
        channelId: chan.id,
        version: chan.full?.state.version ?? 0n,
      });
      const theirs = res.signed;
      if (chan.leader && res.resize !== undefined && !chan.resize) await this.resumeResize(chan, res.resize);
      const mine = chan.full?.state.version ?? 0n;
      if (theirs && theirs.state.version > mine) {
        if (
          theirs.state.channelId !== chan.id ||
          !stateCommitsToLocks(theirs.state, theirs.locks) ||
          !this.core.signer.verifyBoth(theirs.state, theirs.sigs, chan.rec.params.participants)
        ) {
          throw refused("INVALID_STATE", "the peer's latest state is not signed by both");
        }
        if (chan.leader) {
          const match = chan.pending.find((p) => p.version === theirs.state.version);
          if (match && sameState(match.next.state, theirs.state)) {
            await this.leader.commitLeader(chan, theirs);
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
          this.core.log.warn(
            { channelId: chan.id },
            "pending proposals do not build on the latest state: proposing again",
          );
          this.leader.discard(chan, live[0], undefined);
        }
      } else {
        const theirVersion = theirs?.state.version ?? 0n;
        for (const r of [...chan.requests.values()]) {
          if (r.version !== undefined && r.version <= theirVersion)
            this.follower.requestCommitted(chan, r, theirVersion);
        }
      }
    } catch (err) {
      chan.needsSync = true;
      this.core.log.debug({ channelId: chan.id, err: errText(err) }, "sync failed");
    } finally {
      chan.syncing = false;
    }
    if (chan.needsSync) return;
    if (chan.leader) {
      for (const p of chan.pending) this.leader.sendProposal(chan, p);
    } else {
      for (const r of chan.requests.values()) if (r.version === undefined) this.follower.sendRequest(chan, r);
      // Countersigned requests wait for the leader's commit, which a later sync shows if the answer was lost.
      if ([...chan.requests.values()].some((r) => r.version !== undefined && !r.sent)) chan.needsSync = true;
    }
  }

  /** Leader: the follower holds a co-signed resize whose answer this side never got; store it if it proposed it. */
  private async resumeResize(chan: C, resize: PendingResize): Promise<void> {
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
        this.core.signer.verify(resize.signed.state, resize.signed.sigs[i], participants[i]) &&
        this.core.signer.verifyResize(resize.update, resize.signed.state, resize.resizeSigs[i], participants[i]),
    );
    if (!ok) throw refused("INVALID_STATE", "the peer's resize is not signed by both");
    await this.leader.commitResize(chan, p, { ...resize, signed: { ...p.next, sigs: resize.signed.sigs } });
  }

  /** Takes a newer state signed by both that this side lost or never stored (after a crash). */
  private async adopt(chan: C, signed: SignedSnapshot): Promise<void> {
    const ops: StoreOp[] = [
      { type: "put", key: storeKey.full(chan.id), value: encodeSignedRecord(signed) },
      {
        type: "put",
        key: storeKey.signedVersion(chan.id),
        value: encodeSignedVersion(signed.state.version > chan.maxSigned ? signed.state.version : chan.maxSigned),
      },
    ];
    this.core.host.records.adopted(chan, signed, ops);
    for (const p of chan.pending) {
      if (p.version <= signed.state.version) ops.push({ type: "del", key: storeKey.pending(chan.id, p.version) });
    }
    chan.supersedeVoided(signed.state.version, ops);
    await this.core.store.write(ops);
    const stale = chan.pending.filter((p) => p.version <= signed.state.version);
    for (const p of stale) {
      p.dead = true;
      chan.pending.splice(chan.pending.indexOf(p), 1);
      for (const w of p.waiters) w.reject(refused("OUT_OF_SYNC", "the channel moved on without this update"));
    }
    chan.full = signed;
    chan.latest = signed;
    if (signed.state.version > chan.maxSigned) chan.maxSigned = signed.state.version;
    if (signed.state.isFinal && chan.rec.phase === "open") await this.core.host.lifecycle.setPhase(chan, "closing");
    this.core.host.lifecycle.committed(chan);
    this.core.log.warn({ channelId: chan.id, version: String(signed.state.version) }, "adopted the peer's newer state");
  }
}
