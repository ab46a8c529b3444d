import type { Logger } from "pino";
import type { StoreOp } from "../common/store";
import { AdjudicatorLogReader, ChainCursor, ChannelStatus, type Adjudicator, type AdjudicatorEvent } from "./chain";
import type { ClientChannel } from "./client-channel";
import type { ClientContext, ClientServices } from "./client-context";
import type { LockBook } from "./lock-book";
import { encodeChannel, storeKey } from "./records";
import { errText, refused } from "./errors";
import { ZERO_BYTES32 } from "./state";
import type { Party, SignedSnapshot } from "./updates";

/*
 * How a channel ends, and what the chain says about it: the cooperative close (a final state signed by both, then
 * submitted — by the other side too after a grace), disputes (registering the latest state, refuting a stale one,
 * revealing what this client is owed), conclusion, and collecting a concluded channel's locks and credit. It follows
 * the adjudicator's events and moves each channel's phase with them.
 */

/** The end of the channels of one client, and its reading of the chain. */
export class Closing {
  /** The last block whose events were processed (stored: the client resumes after it). */
  readonly cursor: ChainCursor;
  private readonly reader: AdjudicatorLogReader;
  private readonly services: ClientServices;
  private polling = false;

  constructor(
    private readonly ctx: ClientContext,
    private readonly book: LockBook,
    confirmations: number,
  ) {
    this.services = ctx.services;
    const { provider, store, adjudicatorAddress } = ctx.services;
    this.reader = new AdjudicatorLogReader(provider, adjudicatorAddress, confirmations);
    this.cursor = new ChainCursor(store);
  }

  private get log(): Logger {
    return this.services.log;
  }

  private get adjudicator(): Adjudicator {
    return this.services.adjudicator;
  }

  /**
   * Both sign a final state: the channel is closing from then on, and the time is kept for the fallback close
   * (added to `ops`, written with the state); returns what to do once it is stored.
   */
  finalSigned(chan: ClientChannel, ops: StoreOp[]): () => void {
    chan.rec = { ...chan.rec, phase: "closing", finalAt: this.services.clock.now() };
    ops.push({ type: "put", key: storeKey.channel(chan.id), value: encodeChannel(chan.rec) });
    return () => chan.phaseChanged();
  }

  /**
   * Closes the channel cooperatively: both sign a final state (no locks may be pending), then this client submits
   * it and both are paid at once. Resolves with the close transaction's hash.
   */
  async close(channelId: string): Promise<string> {
    const chan = this.ctx.chan(channelId);
    if (chan.rec.phase === "open") {
      const base = chan.leader ? chan.tip() : chan.followerBase();
      if (base.locks.length > 0) {
        throw refused("LOCKS_PENDING", `channel ${channelId} has ${base.locks.length} pending locks`);
      }
      await this.ctx.engine.submit(chan, { kind: "final" });
    }
    const final = chan.full;
    if (!final || !final.state.isFinal) throw refused("NOT_CLOSABLE", `channel ${channelId} is ${chan.rec.phase}`);
    return this.submitClose(chan);
  }

  private async submitClose(chan: ClientChannel): Promise<string> {
    const final = chan.full as SignedSnapshot;
    const info = await this.adjudicator.getChannel(chan.id);
    if (info.status === ChannelStatus.Closed) {
      await this.ctx.setPhase(chan, "closed");
      return "";
    }
    const receipt = await this.adjudicator.close(chan.rec.params, final.state, final.sigs);
    await this.ctx.setPhase(chan, "closed");
    this.log.info({ channelId: chan.id, tx: receipt.hash }, "channel closed cooperatively");
    return receipt.hash;
  }

  /**
   * Starts a dispute: registers the latest state signed by both (or the deposits when there is none). The peer
   * (or its watchtower) may refute with a newer state until the deadline; then `conclude`.
   */
  async dispute(channelId: string): Promise<string> {
    const chan = this.ctx.chan(channelId);
    if (chan.rec.phase === "closed" || chan.rec.phase === "concluded") {
      throw refused("NOT_DISPUTABLE", `channel ${channelId} is ${chan.rec.phase}`);
    }
    const signed = chan.full;
    const receipt = signed
      ? await this.adjudicator.register(chan.rec.params, signed.state, signed.sigs, signed.locks)
      : await this.adjudicator.registerDeposits(chan.rec.params);
    await this.ctx.setPhase(chan, "disputed");
    chan.rejectInFlight(refused("CHANNEL_DISPUTED", "the channel is disputed"));
    if (chan.resize) await this.ctx.engine.resizeSettled(chan, false);
    this.log.info(
      { channelId: chan.id, version: String(signed?.state.version ?? 0n), tx: receipt.hash },
      "dispute registered",
    );
    return receipt.hash;
  }

  /** Fixes the outcome of a dispute once its deadline passed. */
  async conclude(channelId: string): Promise<string> {
    const chan = this.ctx.chan(channelId);
    const receipt = await this.adjudicator.conclude(chan.rec.params);
    await this.ctx.setPhase(chan, "concluded");
    return receipt.hash;
  }

  /**
   * Collects this client's share of a concluded channel: resolves the locks that pay it (when they can be) and
   * withdraws its credit. Returns what was withdrawn.
   */
  async withdraw(channelId: string): Promise<bigint> {
    const chan = this.ctx.chan(channelId);
    return this.collect(chan);
  }

  /** Goes on chain by itself: registers the latest state, once per channel, when a peer leaves a lock unresolved. */
  forceClose(chan: ClientChannel, reason: string): void {
    if (chan.forcedClose !== undefined || chan.rec.phase !== "open" || chan.chainBusy) return;
    chan.forcedClose = reason;
    chan.chainBusy = true;
    this.log.warn({ channelId: chan.id, reason }, "registering the latest state: the peer leaves a lock unresolved");
    this.dispute(chan.id)
      .catch((err: unknown) => {
        chan.forcedClose = undefined; // tried again by a later reconciliation
        this.log.warn({ channelId: chan.id, err: errText(err) }, "could not register the latest state");
      })
      .finally(() => {
        chan.chainBusy = false;
        this.ctx.kick();
      });
  }

  /** A final state signed by both that nobody submitted: this side closes with it after the grace. */
  async reconcileClosing(chan: ClientChannel): Promise<void> {
    const final = chan.full;
    if (!final?.state.isFinal || chan.chainBusy || Date.now() < chan.nextChainActionAt) return;
    if (this.services.clock.now() < (chan.rec.finalAt ?? 0n) + this.services.policy.closeGraceSeconds) return;
    chan.chainBusy = true;
    chan.nextChainActionAt = Date.now() + 5_000;
    try {
      await this.submitClose(chan);
    } catch (err) {
      this.log.warn({ channelId: chan.id, err: errText(err) }, "fallback close failed");
    } finally {
      chan.chainBusy = false;
    }
  }

  /** A disputed or concluded channel: refute a stale state, reveal what is owed, conclude and collect. */
  async reconcileDispute(chan: ClientChannel): Promise<void> {
    if (chan.chainBusy || Date.now() < chan.nextChainActionAt) return;
    chan.chainBusy = true;
    chan.nextChainActionAt = Date.now() + 1_000;
    try {
      const info = await this.adjudicator.getChannel(chan.id);
      const now = this.services.clock.now();
      if (info.status === ChannelStatus.Closed) {
        await this.ctx.setPhase(chan, "closed");
        return;
      }
      if (info.status === ChannelStatus.Disputed) {
        const best = chan.full;
        if (best && best.state.version > info.version && now < info.deadline) {
          const receipt = await this.adjudicator.refute(chan.rec.params, best.state, best.sigs, best.locks);
          this.log.info(
            { channelId: chan.id, version: String(best.state.version), tx: receipt.hash },
            "refuted a stale state",
          );
          return;
        }
        // No more off-chain settling: reveal what this client is owed before the locks expire.
        for (const lock of this.book.locksOf(chan, info.locksRoot)) {
          const secret = this.book.secrets.get(lock.hashlock);
          if (lock.receiver === chan.rec.me && secret && now <= lock.expiry) this.book.revealOnChain(secret);
        }
        if (this.services.policy.autoSettle && now >= info.deadline) {
          await this.adjudicator.conclude(chan.rec.params);
          await this.concluded(chan);
        }
        return;
      }
      if (info.status === ChannelStatus.Concluded) {
        await this.concluded(chan, info.locksRoot);
        if (this.services.policy.autoSettle) await this.collect(chan);
      }
    } catch (err) {
      this.log.warn({ channelId: chan.id, err: errText(err) }, "dispute step failed");
    } finally {
      chan.chainBusy = false;
    }
  }

  /** The channel's outcome is fixed on chain: record which locks it holds (the settlement rule reads it). */
  private async concluded(chan: ClientChannel, locksRoot?: string): Promise<void> {
    const root = locksRoot ?? (await this.adjudicator.getChannel(chan.id)).locksRoot;
    if (chan.rec.phase === "concluded" && chan.rec.outcomeRoot === root) return;
    await this.ctx.updateRecord(chan, { phase: "concluded", outcomeRoot: root });
    this.ctx.kick();
  }

  /** Unlocks what pays this client in a concluded channel and withdraws its credit. */
  async collect(chan: ClientChannel): Promise<bigint> {
    const info = await this.adjudicator.getChannel(chan.id);
    if (info.status === ChannelStatus.Closed) {
      await this.ctx.setPhase(chan, "closed");
      return 0n;
    }
    if (info.status !== ChannelStatus.Concluded) {
      throw refused("NOT_CONCLUDED", `channel ${chan.id} is not concluded on chain`);
    }
    const me = chan.rec.me;
    const now = this.services.clock.now();
    const locks = this.book.locksOf(chan, info.locksRoot);
    for (let i = 0; i < locks.length; i++) {
      const lock = locks[i];
      const at = this.book.revealed.get(lock.hashlock) ?? (await this.adjudicator.secretRevealedAt(lock.hashlock));
      const payee: Party | undefined =
        at !== 0n && at <= lock.expiry ? lock.receiver : now > lock.expiry ? lock.sender : undefined;
      if (payee !== me || (await this.adjudicator.isLockSettled(chan.id, i))) continue;
      const receipt = await this.adjudicator.unlock(chan.rec.params, locks, i);
      this.log.info({ channelId: chan.id, index: i, tx: receipt.hash }, "unlocked a lock");
    }
    const after = await this.adjudicator.getChannel(chan.id);
    const credit = after.balances[me];
    if (after.status === ChannelStatus.Concluded && credit > 0n) {
      const receipt = await this.adjudicator.withdraw(chan.rec.params, me);
      this.log.info({ channelId: chan.id, amount: String(credit), tx: receipt.hash }, "withdrew");
    }
    const final = await this.adjudicator.getChannel(chan.id);
    if (final.status === ChannelStatus.Closed) await this.ctx.setPhase(chan, "closed");
    return credit;
  }

  /** Reads the chain's new events and acts on them; then no resize can execute after a block past its expiry. */
  async pollChain(): Promise<void> {
    if (this.polling || this.ctx.stopped) return;
    this.polling = true;
    try {
      const { events, toBlock, timestamp } = await this.reader.read(this.cursor.block + 1, this.services.clock);
      for (const ev of events) await this.onChainEvent(ev);
      await this.cursor.advance(toBlock);
      if (timestamp > this.ctx.chainTime) this.ctx.chainTime = timestamp;
      for (const chan of this.ctx.chans.values()) {
        // Nothing can execute a resize after a block later than its expiry.
        if (chan.resize && this.ctx.chainTime > chan.resize.update.expiry)
          await this.ctx.engine.resizeSettled(chan, false);
      }
    } catch (err) {
      if (!this.ctx.stopped) this.log.warn({ err: errText(err) }, "reading the chain failed");
    } finally {
      this.polling = false;
    }
  }

  private async onChainEvent(ev: AdjudicatorEvent): Promise<void> {
    if (ev.name === "SecretRevealed") {
      await this.book.secretRevealed(ev.hashlock, ev.secret, ev.revealedAt);
      return;
    }
    const chan = this.ctx.chans.get(ev.channelId);
    if (!chan) return;
    switch (ev.name) {
      case "ChannelOpened":
      case "Deposited":
        chan.nextChainActionAt = 0; // the next reconciliation checks the funding
        this.ctx.kick();
        return;
      case "ToppedUp":
      case "PartiallyWithdrawn": {
        const version = ev.name === "ToppedUp" ? ev.state.version : ev.version;
        if (chan.resize && chan.resize.signed.state.version === version)
          await this.ctx.engine.resizeSettled(chan, true);
        return;
      }
      case "ChallengeRegistered":
      case "ChallengeRefuted":
        if (chan.rec.phase !== "disputed") {
          this.log.warn({ channelId: chan.id, version: String(ev.state.version) }, "the channel is disputed on chain");
          await this.ctx.setPhase(chan, "disputed");
          chan.rejectInFlight(refused("CHANNEL_DISPUTED", "the channel is disputed"));
        }
        // A disputed channel never reopens: a resize waiting for it can no longer execute.
        if (chan.resize) await this.ctx.engine.resizeSettled(chan, false);
        chan.nextChainActionAt = 0;
        this.ctx.kick();
        return;
      case "ChannelConcluded":
        await this.concluded(chan);
        chan.nextChainActionAt = 0;
        return;
      case "PayoutCredited":
        // A cooperative close whose payout became a credit: a final state, so no locks.
        await this.ctx.updateRecord(chan, { phase: "concluded", outcomeRoot: ZERO_BYTES32 });
        chan.nextChainActionAt = 0;
        this.ctx.kick();
        return;
      case "ChannelClosed":
        if (chan.rec.phase !== "closed" || chan.rec.outcomeRoot === undefined) {
          await this.ctx.updateRecord(chan, { phase: "closed", outcomeRoot: chan.rec.outcomeRoot ?? ZERO_BYTES32 });
          this.log.info({ channelId: chan.id }, "the channel is closed");
        }
        this.ctx.kick();
        return;
      default:
        return;
    }
  }
}
