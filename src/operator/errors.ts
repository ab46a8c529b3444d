import { RpcCode as ServerRpcCode, RpcError } from "../common/json-rpc-server";

/**
 * JSON-RPC error codes of the operator API: the server's own (JSON-RPC 2.0's
 * five, and -32006 for a body over the limit: `src/common/json-rpc-server.ts`)
 * and the application codes, in the range the spec reserves for servers
 * (-32000 to -32099).
 */
export const RpcCode = {
  ...ServerRpcCode,
  /** The signature does not recover to the sender account's owner. */
  BadSignature: -32001,
  /** The nonce is already used, or too far ahead of the account's. */
  WrongNonce: -32002,
  /** An amount or fee has no exact packed encoding (PROTOCOL.md §2). */
  AmountNotPackable: -32003,
  /** The account (sender, recipient or looked-up) does not exist on L2. */
  UnknownAccount: -32004,
  /** The sender's balance does not cover amount + fee. */
  InsufficientBalance: -32005,
  /** The transaction could not be stored durably; it was not accepted. */
  StoreFailure: -32007,
  /** The state-transition function would skip the transaction for another reason (see `data.reason`). */
  TxRejected: -32008,
  /** The mempool is full (globally or for this account). */
  MempoolFull: -32009,
  /** The requested withdrawal does not exist, or is not in a batch yet. */
  WithdrawalNotFound: -32010,
  /** The sequencer is not accepting transactions right now (starting, recovering or stopping), or not this one now (`data.reason` CHECK_LIMIT: send it again). */
  Unavailable: -32011,
} as const;

export type RpcCodeValue = (typeof RpcCode)[keyof typeof RpcCode];

export { RpcError } from "../common/json-rpc-server";

/** Shorthand for an invalid-params error naming the parameter. */
export function invalidParams(message: string, data?: unknown): RpcError {
  return new RpcError(RpcCode.InvalidParams, message, data);
}

/** The error codes of the operator (its refusals are registered from `Refusal`, ./refusals.ts). */
declare module "../protocol/errors" {
  interface BilayerErrorCodes extends Record<import("./refusals").Refusal, true> {
    /** A contract ABI lacks an event or function the operator needs. */
    ABI: true;
    /** The operator's key does not hold the inbox's sequencer role. */
    NOT_SEQUENCER: true;
    /** A queue item arrived before the one before it. */
    QUEUE_GAP: true;
    /** A queue item does not chain to the bridge's accumulator. */
    QUEUE_MISMATCH: true;
    /** A rebase asked from a batch not closed yet. */
    REBASE_RANGE: true;
    /** L1 parted from the operator inside its snapshot: a reorg deeper than the confirmation depth. */
    REBASE_BELOW_SNAPSHOT: true;
    /** L1's batches consume queue items the operator does not know yet. */
    REBASE_QUEUE: true;
    /** An L1 batch does not follow the local sequence, or re-executes to another commitment. */
    ADOPT_MISMATCH: true;
    /** An L1 batch's chunk does not parse whole. */
    UNADOPTABLE_BATCH: true;
    /** No closed batch of that index. */
    UNKNOWN_BATCH: true;
    /** No `BatchAppended` event for an appended batch. */
    L1_BATCH_MISSING: true;
    /** A proposal's roots do not hash to what it stored. */
    PROPOSAL_UNREADABLE: true;
    /** A withdrawal not among the first `count` of the tree. */
    WITHDRAWAL_NOT_IN_TREE: true;
    /** A withdrawal count the tree never held. */
    WITHDRAWAL_COUNT: true;
    /** A transaction above the per-transaction gas cap. */
    L1_GAS_CAP: true;
    /** A signed L1 transaction above the size a public mempool relays. */
    L1_TX_TOO_LARGE: true;
    /** A signed L1 transaction without a hash. */
    L1_SIGN: true;
    /** The L1 node refuses a transaction (the sender re-broadcasts it). */
    L1_SEND_BLOCKED: true;
    /** An L1 transaction's nonce was spent by another transaction. */
    L1_TX_LOST: true;
    /** An L1 transaction reverted. */
    L1_TX_REVERTED: true;
    /** No receipt for a mined L1 transaction. */
    NO_RECEIPT: true;
    /** The operator is stopping. */
    STOPPING: true;
    /** A waiting transaction's nonce is below the account's. */
    NONCE_TOO_LOW: true;
    /** A waiting transaction's nonce is further ahead than the mempool keeps. */
    NONCE_TOO_HIGH: true;
    /** A malformed `BILAYER_MALICIOUS` lie (test-only liar, malicious.ts). */
    INVALID_LIE_SPEC: true;
    /** The lie asked for cannot be told about that step. */
    LIE_NOT_APPLICABLE: true;
    /** A malformed censor specification (test-only censor). */
    INVALID_CENSOR_SPEC: true;
    /** The HTTP thread's module loaded outside a worker thread. */
    NOT_A_WORKER: true;
    /** A worker thread exited. */
    THREAD_EXITED: true;
    /** The operator's JSON-RPC answered with an error (the client). */
    L2_RPC_ERROR: true;
    /** The operator's JSON-RPC answered with something that is not JSON-RPC. */
    L2_RPC_BAD_RESPONSE: true;
    /** The operator's JSON-RPC cannot be reached. */
    L2_RPC_UNREACHABLE: true;
  }
}
