import type { Interface, Provider } from "ethers";
import { queueItemAppended } from "../l1/events";
import { queueItemToJson } from "../l1/queue";
import { BilayerError } from "../protocol/errors";
import { ZERO_BYTES32 } from "../protocol/hash";
import { nextQueueAcc, queueItemHash } from "../protocol/queue";
import type { Logger } from "./log";
import { KEY_CURSOR, PREFIX_QUEUE, queueItemOf, queueKey, type FollowerCursor, type StoredQueueItem } from "./records";
import type { KeyValueStore, StoreOp } from "../common/store";

export interface FollowerOptions {
  provider: Provider;
  /** The bridge's address and ABI (its `QueueItemAppended` event). */
  bridge: string;
  bridgeInterface: Interface;
  store: KeyValueStore;
  /** First block that can hold a queue event (the deployment block). */
  startBlock: number;
  /** An event counts once its block is this many blocks deep (1 = included). */
  confirmations: number;
  /** Most blocks per `eth_getLogs` request. */
  logRange: number;
  logger: Logger;
}

/**
 * Follows the bridge's L1→L2 queue (deposits and forced exits) from its
 * `QueueItemAppended` events, `confirmations` blocks behind the head. Every
 * item is checked against the hash chain the bridge emitted with it and
 * stored with the cursor in one write, so a restart resumes exactly where it
 * stopped.
 */
export class QueueFollower {
  private readonly o: FollowerOptions;
  private nextBlock: number;
  /** Items known, and the accumulator after the last of them (what the next one chains from). */
  private count = 0;
  private lastAccumulator = ZERO_BYTES32;

  constructor(opts: FollowerOptions) {
    this.o = opts;
    this.nextBlock = opts.startBlock;
  }

  /**
   * Loads the cursor and the stored items from index `from` on (the ones
   * before are in the operator's snapshot and need not be read); returns
   * those, in order.
   */
  async load(from = 0): Promise<StoredQueueItem[]> {
    const items: StoredQueueItem[] = [];
    let previous: StoredQueueItem | undefined;
    for await (const [, v] of this.o.store.entries(PREFIX_QUEUE, queueKey(Math.max(0, from - 1)))) {
      const it = JSON.parse(v) as StoredQueueItem;
      if (it.index < from) {
        previous = it;
        continue;
      }
      const expected = from + items.length;
      if (it.index !== expected)
        throw new BilayerError("STORE_CORRUPT", `queue item ${expected} is missing from the store`);
      items.push(it);
    }
    if (from > 0 && previous?.index !== from - 1)
      throw new BilayerError("STORE_CORRUPT", `queue item ${from - 1} is missing from the store`);
    const cursor = await this.o.store.get(KEY_CURSOR);
    if (cursor !== undefined) this.nextBlock = (JSON.parse(cursor) as FollowerCursor).nextBlock;
    const last = items[items.length - 1] ?? previous;
    this.count = last === undefined ? 0 : last.index + 1;
    this.lastAccumulator = last?.accumulator ?? ZERO_BYTES32;
    return items;
  }

  /** Number of items known. */
  get length(): number {
    return this.count;
  }

  /** The next block to read. */
  get cursor(): number {
    return this.nextBlock;
  }

  /** Reads the confirmed blocks not read yet; stores and returns the new items. */
  async poll(): Promise<StoredQueueItem[]> {
    const head = await this.o.provider.getBlockNumber();
    const safe = head - (this.o.confirmations - 1);
    const found: StoredQueueItem[] = [];
    const topic = this.o.bridgeInterface.getEvent("QueueItemAppended")?.topicHash;
    if (!topic) throw new BilayerError("ABI", "the bridge ABI has no QueueItemAppended event");
    while (this.nextBlock <= safe) {
      const to = Math.min(safe, this.nextBlock + this.o.logRange - 1);
      const logs = await this.o.provider.getLogs({
        address: this.o.bridge,
        topics: [topic],
        fromBlock: this.nextBlock,
        toBlock: to,
      });
      const ops: StoreOp[] = [];
      const batch: StoredQueueItem[] = [];
      for (const log of logs) {
        const parsed = this.o.bridgeInterface.parseLog(log);
        if (!parsed) continue;
        const { index, item: q, accumulator } = queueItemAppended(parsed.args);
        const expected = this.count + batch.length;
        if (index < expected) continue; // already stored (a re-read after a crash between read and cursor)
        if (index > expected) {
          throw new BilayerError("QUEUE_GAP", `queue item ${index} arrived before item ${expected}`, {
            context: { index, expected },
          });
        }
        const item: StoredQueueItem = {
          index,
          ...queueItemToJson(q),
          accumulator,
          blockNumber: log.blockNumber,
        };
        const previous = batch[batch.length - 1]?.accumulator ?? this.lastAccumulator;
        const acc = nextQueueAcc(previous, queueItemHash(queueItemOf(item)));
        if (acc !== item.accumulator) {
          throw new BilayerError(
            "QUEUE_MISMATCH",
            `queue item ${index} does not chain: computed ${acc}, the bridge emitted ${item.accumulator}`,
            {
              context: { index },
            },
          );
        }
        batch.push(item);
        ops.push({ type: "put", key: queueKey(index), value: JSON.stringify(item) });
      }
      const cursor: FollowerCursor = { nextBlock: to + 1 };
      ops.push({ type: "put", key: KEY_CURSOR, value: JSON.stringify(cursor) });
      await this.o.store.write(ops);
      if (batch.length > 0) {
        this.count += batch.length;
        this.lastAccumulator = batch[batch.length - 1].accumulator;
      }
      found.push(...batch);
      this.nextBlock = to + 1;
      if (batch.length > 0)
        this.o.logger.info({ first: batch[0].index, count: batch.length, toBlock: to }, "queue items seen on L1");
    }
    return found;
  }
}
