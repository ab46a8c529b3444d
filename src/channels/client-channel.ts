import { LiveChannel } from "./live-channel";
import type { ChannelPhase } from "./records";
import { refused } from "./errors";
import type { ChannelParams, Lock } from "./state";
import type { Party } from "./updates";

/*
 * One channel as the client holds it: the update protocol's state (./live-channel.ts) and what the client adds
 * (actions in flight, the watchtower's view of it, how opening ended), and what a caller sees of it.
 */

/** What a caller sees of a channel. */
export interface ChannelView {
  channelId: string;
  params: ChannelParams;
  me: Party;
  peer: string;
  phase: ChannelPhase;
  deposits: [bigint, bigint];
  /** The latest state signed by both and in force (version 0: the deposits). */
  version: bigint;
  balances: [bigint, bigint];
  locks: Lock[];
  isFinal: boolean;
  /** Updates in flight (the leader's pending proposals, the follower's open requests). */
  inFlight: number;
  /** The latest version the watchtower confirmed, if one is configured. */
  towerVersion: bigint;
  /** A co-signed top-up or withdrawal waiting for the chain (nothing else is signed until it settles). */
  resize?: { kind: "deposit" | "withdraw"; participant: Party; amount: bigint; expiry: bigint; version: bigint };
}

/** One channel in memory: the update protocol's state and what the client adds. */
export class ClientChannel extends LiveChannel {
  /** Hashlocks with an off-chain action in flight. */
  readonly busy = new Set<string>();
  /** Hashlocks whose fate is being read from the chain. */
  readonly checking = new Set<string>();
  /** A chain action (funding, closing, refuting, concluding, collecting) is running. */
  chainBusy = false;
  nextChainActionAt = 0;
  funding = false;
  towerVersion = 0n;
  towerDirty = false;
  towerWatched = false;
  /** Why this client registered the channel on its own, if it did (so it does it once). */
  forcedClose: string | undefined;
  /** The execution of the pending resize this client submits, if any. */
  resizeTx: Promise<string> | undefined;
  /** Resolves when the channel is open, whatever the order of the events that open it; rejects if it never will. */
  readonly opened: Promise<void>;
  private settleOpen!: (err?: unknown) => void;

  constructor(rec: ConstructorParameters<typeof LiveChannel>[0]) {
    super(rec);
    this.opened = new Promise<void>((resolve, reject) => {
      this.settleOpen = (err?: unknown) => (err === undefined ? resolve() : reject(err));
    });
    this.opened.catch(() => undefined);
    this.phaseChanged();
  }

  /** Settles `opened` once the phase says how opening ended. */
  phaseChanged(): void {
    const phase = this.rec.phase;
    if (phase === "opening") return;
    if (phase === "open" || phase === "closing") this.settleOpen();
    else this.settleOpen(refused("OPEN_FAILED", `channel ${this.id} is ${phase} without having opened`));
  }

  /** Opening will never end: the client stopped. */
  failOpen(err: unknown): void {
    this.settleOpen(err);
  }

  /** What a caller sees of this channel now. */
  view(): ChannelView {
    const s = this.committed();
    const r = this.resize;
    return {
      channelId: this.id,
      params: this.rec.params,
      me: this.rec.me,
      peer: this.rec.peer,
      phase: this.rec.phase,
      deposits: this.rec.deposits,
      version: s.state.version,
      balances: [s.state.balances[0], s.state.balances[1]],
      locks: s.locks,
      isFinal: s.state.isFinal,
      inFlight: this.inFlight,
      towerVersion: this.towerVersion,
      ...(r
        ? {
            resize: {
              kind: r.update.kind,
              participant: r.update.participant,
              amount: r.update.amount,
              expiry: r.update.expiry,
              version: r.signed.state.version,
            },
          }
        : {}),
    };
  }

  /** What this side can still send: its balance on the state the next update builds on. */
  sendable(): bigint {
    const base = this.leader ? this.tip() : this.followerBase();
    return base.state.balances[this.rec.me];
  }
}
