import type { StoreOp } from "../common/store";
import { restoreChannels } from "./engine-restore";
import { EngineCore, type EngineConfig, type EngineHost } from "./engine-host";
import { ChannelError, refused, type ChannelErrorCode } from "./errors";
import { Follower } from "./follower";
import { Leader } from "./leader";
import type { Committed, LiveChannel } from "./live-channel";
import { onPeerRequest } from "./messages";
import { encodeSignedRecord, storeKey } from "./records";
import { Sync } from "./sync";
import type { ChannelUpdate } from "./updates";
import type { ForwardMemo } from "./wire";

export { ChannelError, type ChannelErrorCode };
export { LiveChannel, type Committed } from "./live-channel";
export type { ChainFacts, ChannelLifecycle, EngineConfig, EngineHost, UpdateRecords } from "./engine-host";

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

/** The update protocol of every channel of one client. */
export class UpdateEngine<C extends LiveChannel> {
  private readonly core: EngineCore<C>;
  private readonly leader: Leader<C>;
  private readonly follower: Follower<C>;
  private readonly sync: Sync<C>;

  constructor(config: EngineConfig<C>, host: EngineHost<C>) {
    this.core = new EngineCore(config, host);
    this.leader = new Leader(this.core);
    this.follower = new Follower(this.core);
    this.sync = new Sync(this.core, this.leader, this.follower);
  }

  /** Serves the update protocol's messages, and syncs a channel whenever its peer (re)connects. */
  serve(): void {
    const { transport, channels } = this.core.config;
    onPeerRequest(transport, "ch.propose", (from, p) => this.follower.onPropose(from, p));
    onPeerRequest(transport, "ch.request", (from, p) => this.leader.onRequest(from, p));
    onPeerRequest(transport, "ch.sync", (from, p) => this.sync.onSync(from, p));
    transport.onPeerConnected((peer) => {
      for (const chan of channels.values()) if (chan.rec.peer === peer) void this.sync.resync(chan);
    });
    transport.onPeerDisconnected((peer) => {
      // What was sent on the lost connection is sent again after the next sync.
      for (const chan of channels.values()) if (chan.rec.peer === peer) chan.forgetSent();
    });
  }

  /** Reads back the engine's records of the channels (./engine-restore.ts): their states and updates in flight. */
  restore(): Promise<void> {
    return restoreChannels(this.core.store, this.core.config.channels);
  }

  /** Takes no more updates and sends nothing more (the client is stopping). */
  stop(): void {
    this.core.stopped = true;
  }

  /** The channel, or a `CHANNEL_NOT_FOUND` refusal. */
  channel(channelId: string): C {
    return this.core.channel(channelId);
  }

  /** The store failed: every update waiting anywhere fails, and nothing more is counted. */
  storeFailed(err: unknown): void {
    this.core.storeFailed(err);
  }

  /** Makes `update` happen in `chan`: proposes it (leader) or asks the leader for it (follower). */
  submit(chan: C, update: ChannelUpdate, memo?: ForwardMemo): Promise<Committed> {
    if (this.core.stopped) return Promise.reject(refused("CLIENT_STOPPED", "the client stopped"));
    if (chan.rec.phase !== "open") {
      return Promise.reject(refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`));
    }
    return chan.leader
      ? this.leader.propose(chan, update, chan.rec.me, undefined, memo)
      : this.follower.request(chan, update, memo);
  }

  /** Syncs every channel that needs it and whose peer is reachable (dialing the peers that are not connected). */
  syncDue(): void {
    if (this.core.stopped) return;
    const now = Date.now();
    const transport = this.core.transport;
    for (const chan of this.core.config.channels.values()) {
      if (!chan.needsSync || chan.syncing || now - chan.lastSyncAt < 500) continue;
      if (!transport.isConnected(chan.rec.peer)) {
        if (transport.peerUrl(chan.rec.peer) !== undefined) transport.connect(chan.rec.peer).catch(() => undefined);
        continue;
      }
      void this.sync.resync(chan);
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
      this.core.writeLater([{ type: "del", key: storeKey.request(chan.id, r.ref) }]);
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
      chan.supersedeVoided(resize.signed.state.version, ops);
    }
    await this.core.store.write(ops);
    if (chan.resize !== resize) return;
    chan.resize = undefined;
    if (executed) {
      chan.full = resize.signed;
      chan.latest = resize.signed;
      this.core.host.lifecycle.committed(chan);
    } else {
      chan.latest = chan.full;
    }
    this.core.log.info(
      { channelId: chan.id, version: String(resize.signed.state.version), executed },
      executed ? "the resize is executed on chain" : "the resize expired unexecuted",
    );
    this.leader.pump(chan);
  }
}
