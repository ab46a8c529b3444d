import type { Logger } from "pino";
import type { LevelStore, StoreOp } from "../common/store";
import type { LiveChannel } from "./live-channel";
import type { ChannelPhase, PendingResize } from "./records";
import { refused, errText } from "./errors";
import type { StateSigner } from "./state-signer";
import type { PeerTransport } from "./transport";
import { findLock, type ChannelUpdate, type SignedSnapshot, type Snapshot } from "./updates";
import type { ForwardMemo } from "./wire";

/*
 * What the update protocol (./engine.ts) is given by the client it runs in: plain values it owns from then on
 * (`EngineConfig`), and the few questions and events only the client can answer (`EngineHost`), grouped by who
 * answers them. `EngineCore` is what the engine's parts share.
 */

/** What the chain says, as the client follows it. */
export interface ChainFacts {
  /** The chain's current time, seconds. */
  now(): bigint;
  /** When `hashlock`'s secret was revealed on chain as far as known (0: not). */
  revealedAt(hashlock: string): bigint;
  /** Reads `revealedAt` from the chain afresh (a `CHANNEL_BUSY` refusal when the chain cannot be read). */
  refreshRevealed(hashlock: string): Promise<void>;
}

/** The client's own records (locks, secrets, invoices) that go to disk in the same write as a state. */
export interface UpdateRecords<C extends LiveChannel> {
  /** This side is about to sign `next`, the result of `update` (stored with `ops`): the signature may leave with it. */
  signing(chan: C, update: ChannelUpdate, next: Snapshot, ops: StoreOp[]): void;
  /** Adds what a committed `update` changes to `ops`; returns what to do once they are stored. */
  effects(
    chan: C,
    update: ChannelUpdate,
    memo: ForwardMemo | undefined,
    base: Snapshot,
    next: Snapshot,
    ops: StoreOp[],
  ): () => void;
  /** Adds the records of the locks of a state adopted from the peer to `ops`. */
  adopted(chan: C, signed: SignedSnapshot, ops: StoreOp[]): void;
}

/** The channel's life on chain, which the client runs. */
export interface ChannelLifecycle<C extends LiveChannel> {
  /** Makes sure a channel still opening is open if the chain says so (a proposal arrived for it). */
  activate(chan: C): Promise<void>;
  /** A resize is signed by both and stored: it waits for the chain. */
  resizeSigned(chan: C, resize: PendingResize): void;
  /** Reads the chain to settle a pending resize (executed or expired), before refusing a proposal for it. */
  settleResize(chan: C): Promise<void>;
  /** A newer state signed by both is stored. */
  committed(chan: C): void;
  setPhase(chan: C, phase: ChannelPhase): Promise<void>;
}

/** What the update protocol asks of the client it runs in. */
export interface EngineHost<C extends LiveChannel> {
  readonly chain: ChainFacts;
  readonly records: UpdateRecords<C>;
  readonly lifecycle: ChannelLifecycle<C>;
  /**
   * Why this side refuses an update its peer asked for, beyond `approvalError` (its policy: lock expiries and
   * per-peer limits, resize expiries), or `undefined`.
   */
  policyRefusal(chan: C, update: ChannelUpdate): string | undefined;
}

/** What the engine is given once and owns: where it stores and sends, how it signs, its limits, its channels. */
export interface EngineConfig<C extends LiveChannel> {
  readonly store: LevelStore;
  readonly transport: PeerTransport;
  readonly signer: StateSigner;
  readonly log: Logger;
  /** Proposals in flight per channel before new updates wait. */
  readonly maxInFlight: number;
  /** The most a proposal's version may exceed the highest one this side signed. */
  readonly maxVersionStep: bigint;
  /** The client's channels (the engine reads them; the client adds them). */
  readonly channels: ReadonlyMap<string, C>;
}

/** What the engine's parts (leader, follower, sync) share. */
export class EngineCore<C extends LiveChannel> {
  stopped = false;

  constructor(
    readonly config: EngineConfig<C>,
    readonly host: EngineHost<C>,
  ) {}

  get store(): LevelStore {
    return this.config.store;
  }

  get transport(): PeerTransport {
    return this.config.transport;
  }

  get signer(): StateSigner {
    return this.config.signer;
  }

  get log(): Logger {
    return this.config.log;
  }

  /** The channel, or a `CHANNEL_NOT_FOUND` refusal. */
  channel(channelId: string): C {
    const chan = this.config.channels.get(channelId.toLowerCase());
    if (!chan) throw refused("CHANNEL_NOT_FOUND", `no channel ${channelId}`, { channelId });
    return chan;
  }

  /** The store failed: nothing more is counted, so every update waiting anywhere fails. */
  storeFailed(err: unknown): void {
    if (this.stopped) return; // writes racing the close of the store
    this.log.fatal({ err: errText(err) }, "the store failed: the client stops taking updates");
    for (const chan of this.config.channels.values()) {
      chan.rejectInFlight(refused("STORE_FAILED", "the store failed"));
    }
  }

  /** Stores `ops` in the background; a failure stops the client's updates. */
  writeLater(ops: StoreOp[]): void {
    this.store.write(ops).catch((e: unknown) => this.storeFailed(e));
  }

  /** A lock's sender pays out on a secret only while the lock is live, or if the secret reached the chain in time. */
  settleAcceptable(base: Snapshot, hashlock: string): boolean {
    const i = findLock(base.locks, hashlock);
    if (i < 0) return true; // applyUpdate refuses it
    const lock = base.locks[i];
    if (this.host.chain.now() <= lock.expiry) return true;
    const at = this.host.chain.revealedAt(lock.hashlock);
    return at !== 0n && at <= lock.expiry;
  }
}
