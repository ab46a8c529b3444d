/**
 * The JSON form of an L1 queue item, as the operator and the verifier store
 * it: the protocol's `QueueItem` with its `bigint`s as decimal strings.
 */
import type { QueueItem } from "../protocol/queue";

export interface QueueItemJson {
  kind: number;
  addr: string;
  tokenId: number;
  /** Decimal. */
  amount: string;
  account: number;
  /** Decimal. */
  timestamp: string;
}

/** The JSON form of `q`. */
export function queueItemToJson(q: QueueItem): QueueItemJson {
  return {
    kind: q.kind,
    addr: q.addr,
    tokenId: q.tokenId,
    amount: q.amount.toString(),
    account: q.account,
    timestamp: q.timestamp.toString(),
  };
}

/** The queue item of a JSON form (extra fields, such as a stored item's index, are left out). */
export function queueItemFromJson(j: QueueItemJson): QueueItem {
  return {
    kind: j.kind,
    addr: j.addr,
    tokenId: j.tokenId,
    amount: BigInt(j.amount),
    account: j.account,
    timestamp: BigInt(j.timestamp),
  };
}
