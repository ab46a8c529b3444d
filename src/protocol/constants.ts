/** Protocol constants (PROTOCOL.md §1–§5). */
import { BilayerError } from "./errors";

/** Depth of the account and withdrawal trees: 2^32 leaves each. */
export const TREE_DEPTH = 32;
/** A chunk step reads at most this many transactions. */
export const MAX_TXS_PER_CHUNK = 32;
/** A queue step consumes at most this many queue items. */
export const MAX_QUEUE_ITEMS_PER_STEP = 32;
/** Accounts have indices `1..accountCount`; index 0 is reserved, so the tree holds at most 2^32 − 1. */
export const MAX_ACCOUNT_COUNT = 2 ** 32 - 1;
/** Withdrawals have indices `0..withdrawalCount − 1`: at most 2^32. */
export const MAX_WITHDRAWAL_COUNT = 2n ** 32n;
/** The largest u32: the nonce at which an account can send no more. */
export const MAX_NONCE = 2 ** 32 - 1;
/** The largest u32 value (token ids, account indices). */
export const MAX_UINT32 = 2 ** 32 - 1;
/** 2^256 − 1. */
export const MAX_UINT256 = (1n << 256n) - 1n;

/** The type byte of an L2 transaction (PROTOCOL.md §3). */
export enum TxType {
  Transfer = 1,
  Withdraw = 2,
  TransferToNew = 3,
  RegisterKey = 4,
}

/** Encoded size in bytes of each transaction type. */
export const TX_SIZE: Readonly<Record<TxType, number>> = {
  [TxType.Transfer]: 80,
  [TxType.Withdraw]: 76,
  [TxType.TransferToNew]: 96,
  [TxType.RegisterKey]: 167,
};

/**
 * The `default` of an exhaustive `switch` on the transaction type: with every `TxType` handled its argument is
 * `never`, so adding a type to `TxType` makes `tsc` name each switch that lacks a case for it.
 */
export function unreachableTxType(type: never): never {
  throw new BilayerError("UNKNOWN_TX_TYPE", `no rule for transaction type ${String(type)}`, { context: { type } });
}

/** The size of the largest transaction type. */
export const MAX_TX_SIZE = Math.max(...Object.values(TX_SIZE));

/** The first byte of a BLS chunk (PROTOCOL.md §5.4); every other chunk is a list of the transactions above. */
export const BLS_CHUNK_MARKER = 0x10;
/** A BLS chunk's header: marker, index width, fee (packed, 2 bytes), aggregate signature (96 bytes, compressed). */
export const BLS_CHUNK_HEADER_BYTES = 100;
/**
 * A BLS chunk step reads at most this many transfers: more than a chunk step's 32, so that the 96-byte aggregate
 * and the chunk's ABI framing weigh less per transfer, and still few enough for its fraud proof to stay under 8M
 * gas (test/libraries/BlsChunk.gas.test.ts).
 */
export const MAX_BLS_TRANSFERS_PER_CHUNK = 40;
/** The widths (bytes) a BLS chunk may give its account indices. */
export const BLS_MIN_INDEX_WIDTH = 1;
export const BLS_MAX_INDEX_WIDTH = 4;
/** A BLS transfer's size in a chunk whose indices are `width` bytes: from, to, and the amount (packed, 2 bytes). */
export const blsTransferSize = (width: number): number => 2 * width + 2;
/** The largest BLS chunk the parser reads in full. */
export const MAX_BLS_CHUNK_BYTES =
  BLS_CHUNK_HEADER_BYTES + MAX_BLS_TRANSFERS_PER_CHUNK * blsTransferSize(BLS_MAX_INDEX_WIDTH);

/** The largest chunk the parser reads in full: 32 of the largest transaction (a BLS chunk is smaller). */
export const MAX_CHUNK_BYTES = Math.max(MAX_TXS_PER_CHUNK * MAX_TX_SIZE, MAX_BLS_CHUNK_BYTES);

/** Outcome of one transaction or queue item (PROTOCOL.md §5.3). */
export enum Outcome {
  Applied = 0,
  UnknownType = 1,
  Truncated = 2,
  SenderMissing = 3,
  RecipientMissing = 4,
  InvalidRecipient = 5,
  AccountLimit = 6,
  TokenMismatch = 7,
  FeeRecipientMismatch = 8,
  InsufficientBalance = 9,
  NonceExhausted = 10,
  WithdrawalLimit = 11,
  BadSignature = 12,
  Trailing = 13,
  BadKey = 14,
  KeyMissing = 15,
  Credited = 20,
  Created = 21,
  Refunded = 22,
  Dropped = 23,
  Exited = 24,
  AccountMissing = 25,
  NotOwner = 26,
  EmptyBalance = 27,
  UnknownKind = 28,
}

/** Every outcome code, ascending. */
export const ALL_OUTCOMES: readonly Outcome[] = Object.values(Outcome)
  .filter((v): v is Outcome => typeof v === "number")
  .sort((a, b) => a - b);

/** The outcomes that change the state; every other outcome leaves it as it was. */
export const STATE_CHANGING_OUTCOMES: ReadonlySet<Outcome> = new Set([
  Outcome.Applied,
  Outcome.Credited,
  Outcome.Created,
  Outcome.Refunded,
  Outcome.Exited,
]);

/** The name of an outcome code (`"Applied"`, ...), or `Unknown(<code>)`. */
export function outcomeName(code: number): string {
  const name = (Outcome as unknown as Record<number, string | undefined>)[code];
  return name ?? `Unknown(${code})`;
}
