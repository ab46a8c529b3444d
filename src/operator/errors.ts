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
  /** The sequencer is not accepting transactions right now (starting, recovering or stopping). */
  Unavailable: -32011,
} as const;

export type RpcCodeValue = (typeof RpcCode)[keyof typeof RpcCode];

export { RpcError } from "../common/json-rpc-server";

/** Shorthand for an invalid-params error naming the parameter. */
export function invalidParams(message: string, data?: unknown): RpcError {
  return new RpcError(RpcCode.InvalidParams, message, data);
}
