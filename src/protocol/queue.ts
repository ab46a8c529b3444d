import { MAX_UINT256, MAX_UINT32 } from "./constants";
import { BilayerError } from "./errors";
import {
  fromHex,
  keccak256,
  normalizeAddress,
  toHex,
  writeAddressWord,
  writeUint256,
  writeUint32Word,
  ZERO_BYTES32,
} from "./hash";

/*
 * L1→L2 queue items and their hash chain (PROTOCOL.md §4).
 */

/** The kind of a queue item; any other value is skipped by the STF with `UnknownKind`. */
export enum QueueKind {
  Deposit = 0,
  ForcedExit = 1,
}

/** A queue item as the bridge stored it. `kind` is a u8, `tokenId` and `account` u32, `timestamp` u64. */
export interface QueueItem {
  kind: number;
  /** Deposit: the recipient. ForcedExit: the L1 sender. Lowercase or checksummed `0x` address. */
  addr: string;
  tokenId: number;
  amount: bigint;
  /** Deposit: the account hint (0 for none). ForcedExit: the account to exit. */
  account: number;
  timestamp: bigint;
}

const MAX_UINT64 = (1n << 64n) - 1n;

function bad(field: string, value: unknown, type: string): BilayerError {
  return new BilayerError("INVALID_QUEUE_ITEM", `queue item ${field} ${String(value)} is not a ${type}`, {
    context: { [field]: String(value) },
  });
}

function isUint(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

/**
 * A validated copy of `item` with `addr` lowercased. Throws `BilayerError`
 * (`INVALID_QUEUE_ITEM`) when a field does not fit its ABI type: such an
 * item cannot exist on L1.
 */
export function normalizeQueueItem(item: QueueItem): QueueItem {
  if (!isUint(item.kind, 255)) throw bad("kind", item.kind, "u8");
  const addr = normalizeAddress(item.addr);
  if (!isUint(item.tokenId, MAX_UINT32)) throw bad("tokenId", item.tokenId, "u32");
  if (typeof item.amount !== "bigint" || item.amount < 0n || item.amount > MAX_UINT256) {
    throw bad("amount", item.amount, "u256");
  }
  if (!isUint(item.account, MAX_UINT32)) throw bad("account", item.account, "u32");
  if (typeof item.timestamp !== "bigint" || item.timestamp < 0n || item.timestamp > MAX_UINT64) {
    throw bad("timestamp", item.timestamp, "u64");
  }
  return {
    kind: item.kind,
    addr,
    tokenId: item.tokenId,
    amount: item.amount,
    account: item.account,
    timestamp: item.timestamp,
  };
}

/** `keccak(abi.encode(kind, addr, tokenId, amount, account, timestamp))` as `0x` hex. */
export function queueItemHash(item: QueueItem): string {
  const it = normalizeQueueItem(item);
  const bytes = new Uint8Array(192);
  const view = new DataView(bytes.buffer);
  writeUint32Word(bytes, view, 0, it.kind);
  writeAddressWord(bytes, 32, it.addr);
  writeUint32Word(bytes, view, 64, it.tokenId);
  writeUint256(view, 96, it.amount);
  writeUint32Word(bytes, view, 128, it.account);
  writeUint256(view, 160, it.timestamp);
  return toHex(keccak256(bytes));
}

/** `keccak(abi.encode(acc, itemHash))`: the accumulator after one more item. */
export function nextQueueAcc(acc: string, itemHash: string): string {
  const bytes = new Uint8Array(64);
  bytes.set(fromHex(acc, 32), 0);
  bytes.set(fromHex(itemHash, 32), 32);
  return toHex(keccak256(bytes));
}

/** The accumulator after `items`, starting from `start` (the empty queue's `bytes32(0)` by default). */
export function queueAccumulator(items: readonly QueueItem[], start: string = ZERO_BYTES32): string {
  let acc = start;
  for (const item of items) acc = nextQueueAcc(acc, queueItemHash(item));
  return acc;
}
