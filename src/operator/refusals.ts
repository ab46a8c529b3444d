/**
 * Why the sequencer refuses a transaction (or a question), in its own terms:
 * the protocol's outcome where the STF would skip the transaction, and a
 * refusal code for everything else. The sequencer knows nothing of JSON-RPC;
 * the API maps each code to its JSON-RPC error (`rpc/api.ts`,
 * `REFUSAL_RPC_CODES`), so the core can be driven by anything.
 */
import { Outcome } from "../protocol/constants";
import { BilayerError } from "../protocol/errors";

/** Every reason the sequencer refuses. */
export type Refusal =
  /** Starting, recovering from a store failure, reconciling with L1, stopping or unhealthy. */
  | "NOT_ACCEPTING"
  /** The bytes are not one whole transaction (PROTOCOL.md §3). */
  | "NOT_A_TRANSACTION"
  /** Sender or recipient account does not exist (`SenderMissing`, `RecipientMissing`). */
  | "UNKNOWN_ACCOUNT"
  /** The nonce is used, or further ahead than the mempool keeps. */
  | "WRONG_NONCE"
  /** Not signed by the account's owner over its nonce (`BadSignature`). */
  | "BAD_SIGNATURE"
  /** Amount + fee above the balance (`InsufficientBalance`). */
  | "INSUFFICIENT_BALANCE"
  /** The STF would skip it for another reason (`outcome` says which). */
  | "WOULD_BE_SKIPPED"
  /** The account's waiting room, or the whole mempool, is full. */
  | "MEMPOOL_FULL"
  /** The store could not write it: it was not accepted. */
  | "STORE_FAILED"
  /** No such withdrawal, or not in a closed batch yet. */
  | "NO_SUCH_WITHDRAWAL";

/** A refusal of the sequencer, with the protocol outcome behind it (when the STF would skip) and details. */
export class RefusedError extends BilayerError {
  declare readonly code: Refusal;
  readonly outcome: Outcome | undefined;
  readonly data: Record<string, unknown> | undefined;

  constructor(
    refusal: Refusal,
    message: string,
    options: { outcome?: Outcome; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(refusal, message, { context: options.data, cause: options.cause });
    this.outcome = options.outcome;
    this.data = options.data;
  }
}

/** Whether `err` is a refusal of the sequencer (of `refusal`, when given). */
export function isRefusal(err: unknown, refusal?: Refusal): err is RefusedError {
  return err instanceof RefusedError && (refusal === undefined || err.code === refusal);
}

/** The protocol outcome behind a refusal, when only one can be. */
const OUTCOME_OF: Partial<Record<Refusal, Outcome>> = {
  BAD_SIGNATURE: Outcome.BadSignature,
  INSUFFICIENT_BALANCE: Outcome.InsufficientBalance,
};

/** Throws the refusal (with the outcome given, or the only one it can have). */
export function reject(refusal: Refusal, message: string, data?: Record<string, unknown>, outcome?: Outcome): never {
  throw new RefusedError(refusal, message, { data, outcome: outcome ?? OUTCOME_OF[refusal] });
}
