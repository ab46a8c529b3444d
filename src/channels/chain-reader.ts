import type { Provider } from "ethers";
import type { LevelStore } from "../common/store";
import { decodeAdjudicatorLog, type AdjudicatorEvent } from "./adjudicator-events";

/*
 * Following the chain as it advances: its clock, the last block whose
 * adjudicator events a service has handled, and those events read block
 * range by block range.
 */

/**
 * The chain's notion of now: the latest block's timestamp, advanced by the
 * wall clock since it was read (a dev chain's time can jump ahead of the wall
 * clock, so the local clock alone is not enough).
 */
export class ChainClock {
  private timestamp = 0n;
  private readAt = 0;

  /** Records a block timestamp seen now. */
  observe(timestamp: bigint): void {
    if (timestamp >= this.timestamp) {
      this.timestamp = timestamp;
      this.readAt = Date.now();
    }
  }

  /** The estimated current chain time, seconds. */
  now(): bigint {
    if (this.readAt === 0) return BigInt(Math.floor(Date.now() / 1000));
    return this.timestamp + BigInt(Math.floor((Date.now() - this.readAt) / 1000));
  }

  async refresh(provider: Provider): Promise<bigint> {
    const block = await provider.getBlock("latest");
    if (block) this.observe(BigInt(block.timestamp));
    return this.now();
  }
}

/** The last block whose adjudicator events a service has handled, kept in its store under `meta:cursor`. */
export class ChainCursor {
  /** The block number; -1 before the first `init`. */
  block = -1;

  constructor(private readonly store: LevelStore) {}

  /** Reads the stored cursor, if any. */
  async load(): Promise<void> {
    const stored = await this.store.get("meta:cursor");
    if (stored !== undefined) this.block = Number(stored);
  }

  /** Without a stored cursor, starts before `startBlock` (when given) or at the current head, and stores that. */
  async init(provider: Provider, startBlock: number | undefined): Promise<void> {
    if (this.block >= 0) return;
    this.block = startBlock !== undefined ? startBlock - 1 : await provider.getBlockNumber();
    await this.store.write([{ type: "put", key: "meta:cursor", value: String(this.block) }]);
  }

  /** Moves the cursor to `toBlock` (the events up to it are handled) and stores it; never moves it back. */
  async advance(toBlock: number): Promise<void> {
    if (toBlock <= this.block) return;
    this.block = toBlock;
    await this.store.write([{ type: "put", key: "meta:cursor", value: String(toBlock) }]);
  }
}

/** Reads adjudicator logs block range by block range; the owner keeps the cursor. */
export class AdjudicatorLogReader {
  constructor(
    private readonly provider: Provider,
    private readonly adjudicator: string,
    private readonly confirmations = 0,
    private readonly maxRange = 2_000,
  ) {}

  /**
   * The events in blocks `fromBlock..` up to the confirmed head, the last block read and its timestamp: no event
   * that is not in `events` can ever appear in a block at or before `toBlock`, so whatever must have happened by a
   * time at or before `timestamp` and is not there never happened.
   */
  async read(
    fromBlock: number,
    clock?: ChainClock,
  ): Promise<{ events: AdjudicatorEvent[]; toBlock: number; timestamp: bigint }> {
    const head = await this.provider.getBlock("latest");
    if (!head) return { events: [], toBlock: fromBlock - 1, timestamp: 0n };
    clock?.observe(BigInt(head.timestamp));
    const last = head.number - this.confirmations;
    let timestamp = BigInt(head.timestamp);
    if (this.confirmations > 0) {
      const block = last >= 0 ? await this.provider.getBlock(last) : null;
      timestamp = block ? BigInt(block.timestamp) : 0n;
    }
    const events: AdjudicatorEvent[] = [];
    let from = fromBlock;
    while (from <= last) {
      const to = Math.min(last, from + this.maxRange - 1);
      const logs = await this.provider.getLogs({ address: this.adjudicator, fromBlock: from, toBlock: to });
      for (const log of logs) {
        const ev = decodeAdjudicatorLog(log);
        if (ev) events.push(ev);
      }
      from = to + 1;
    }
    events.sort((x, y) => x.block - y.block || x.logIndex - y.logIndex);
    return { events, toBlock: Math.max(last, fromBlock - 1), timestamp };
  }
}
