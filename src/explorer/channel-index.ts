/**
 * The channel adjudicator's channels as its events tell them (each event
 * carries the state it is about): who is in each, what it holds, and where
 * its close stands — open, in a dispute with its deadline, concluded, closed.
 */
import type { Provider } from "ethers";
import type { AdjudicatorEvent } from "../channels/adjudicator-events";
import { AdjudicatorLogReader } from "../channels/chain-reader";

export type ChannelStatus = "open" | "disputed" | "concluded" | "closed";

export interface IndexedChannel {
  channelId: string;
  participants: [string, string];
  asset: string;
  challengeDuration: bigint;
  holdings: bigint;
  status: ChannelStatus;
  /** The latest version any event showed. */
  version: bigint;
  /** While disputed: when the challenge period ends (L1 time). */
  deadline?: bigint;
  openedBlock: number;
  lastBlock: number;
  events: number;
}

export class ChannelIndex {
  readonly channels = new Map<string, IndexedChannel>();
  private next: number;
  private readonly reader: AdjudicatorLogReader;

  constructor(
    provider: Provider,
    readonly adjudicator: string,
    startBlock: number,
  ) {
    this.reader = new AdjudicatorLogReader(provider, adjudicator);
    this.next = startBlock;
  }

  /** Reads the adjudicator's events since the last call. */
  async poll(): Promise<void> {
    const { events, toBlock } = await this.reader.read(this.next);
    for (const e of events) this.apply(e);
    this.next = toBlock + 1;
  }

  private apply(e: AdjudicatorEvent): void {
    if (e.name === "SecretRevealed") return;
    if (e.name === "ChannelOpened") {
      this.channels.set(e.channelId, {
        channelId: e.channelId,
        participants: e.params.participants,
        asset: e.params.asset,
        challengeDuration: e.params.challengeDuration,
        holdings: e.amount,
        status: "open",
        version: 0n,
        openedBlock: e.block,
        lastBlock: e.block,
        events: 1,
      });
      return;
    }
    const c = this.channels.get(e.channelId);
    if (!c) return;
    c.lastBlock = e.block;
    c.events++;
    switch (e.name) {
      case "Deposited":
      case "ToppedUp":
        c.holdings = e.holdings;
        if (e.name === "ToppedUp") c.version = e.state.version;
        return;
      case "PartiallyWithdrawn":
        c.version = e.version;
        c.holdings -= e.amount;
        return;
      case "ChallengeRegistered":
      case "ChallengeRefuted":
        c.status = "disputed";
        c.version = e.state.version;
        c.deadline = e.deadline;
        return;
      case "ChannelConcluded":
        c.status = "concluded";
        c.version = e.version;
        c.deadline = undefined;
        return;
      case "ChannelClosed":
        c.status = "closed";
        c.version = e.state.version;
        c.deadline = undefined;
        return;
      default:
        return;
    }
  }
}
