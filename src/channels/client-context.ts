import { getAddress, type Provider } from "ethers";
import type { Logger } from "pino";
import type { LevelStore } from "../common/store";
import type { Adjudicator, ChainClock } from "./chain";
import type { ClientChannel } from "./client-channel";
import type { UpdateEngine } from "./engine";
import type { ChannelPolicy } from "./policy";
import { encodeChannel, storeKey, type ChannelPhase, type ChannelRecord } from "./records";
import type { PeerTransport } from "./transport";

/*
 * What the parts of a channel client (./funding.ts, ./payments.ts, ./closing.ts, ./tower-link.ts, ./lock-book.ts)
 * share: the client's identity and services, its channels, and the one way to ask for a reconciliation.
 */

/** Who the client is and what it talks to: fixed once it is built. */
export interface ClientServices {
  readonly address: string;
  /** The participant's private key (native signing of fundings; the engine signs states). */
  readonly key: Buffer;
  readonly chainId: bigint;
  readonly adjudicatorAddress: string;
  readonly policy: ChannelPolicy;
  readonly provider: Provider;
  readonly store: LevelStore;
  readonly log: Logger;
  readonly transport: PeerTransport;
  readonly adjudicator: Adjudicator;
  readonly clock: ChainClock;
}

/** The client's channels and state shared by its parts. */
export class ClientContext {
  readonly chans = new Map<string, ClientChannel>();
  /** The timestamp of the latest block whose events were processed: the chain's certain "now". */
  chainTime = 0n;
  stopped = false;
  private kickScheduled = false;

  constructor(
    readonly services: ClientServices,
    /** Works out what every channel and lock needs next (the client's reconciliation). */
    private readonly reconcile: () => void,
    /** The update protocol (set once the client has built it). */
    private readonly engineOf: () => UpdateEngine<ClientChannel>,
  ) {}

  get engine(): UpdateEngine<ClientChannel> {
    return this.engineOf();
  }

  /** The channel, or a `CHANNEL_NOT_FOUND` refusal. */
  chan(channelId: string): ClientChannel {
    return this.engine.channel(channelId);
  }

  /** Asks for a reconciliation soon: once, however many things changed in the meantime. */
  kick(): void {
    if (this.kickScheduled || this.stopped) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.reconcile();
    });
  }

  /** The open channel with `peer` that can send `amount` (the one with the most to send). */
  channelWith(peer: string, amount = 0n): ClientChannel | undefined {
    const p = getAddress(peer);
    let best: ClientChannel | undefined;
    let bestBalance = -1n;
    for (const c of this.chans.values()) {
      if (c.rec.peer !== p || c.rec.phase !== "open" || c.resize) continue;
      const balance = c.sendable();
      if (balance >= amount && balance > bestBalance) {
        best = c;
        bestBalance = balance;
      }
    }
    return best;
  }

  /** Moves the channel to `phase` and stores its record (nothing when it is there already). */
  async setPhase(chan: ClientChannel, phase: ChannelPhase): Promise<void> {
    if (chan.rec.phase === phase) return;
    await this.updateRecord(chan, { phase });
  }

  /** Changes the channel's record and stores it. */
  async updateRecord(chan: ClientChannel, changes: Partial<ChannelRecord>): Promise<void> {
    chan.rec = { ...chan.rec, ...changes };
    chan.phaseChanged();
    await this.services.store.write([{ type: "put", key: storeKey.channel(chan.id), value: encodeChannel(chan.rec) }]);
  }

  /** Adds a new channel and stores its record. */
  async addChannel(chan: ClientChannel): Promise<void> {
    this.chans.set(chan.id, chan);
    await this.services.store.write([{ type: "put", key: storeKey.channel(chan.id), value: encodeChannel(chan.rec) }]);
  }
}
