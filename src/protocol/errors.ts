/**
 * The one error base class of the project (in the manner of viem's `BaseError`):
 * a short message, a stable machine-readable `code`, optional `context` values
 * that explain what broke, and an optional `cause`. Services map codes to
 * JSON-RPC error codes; nothing should throw a bare `Error`.
 */

/**
 * Every error code, registered by the layer that throws it: each layer's
 * errors module adds its codes to this interface (declaration merging), each
 * with what it means — `src/l1/errors.ts`, `src/common/errors.ts`,
 * `src/operator/errors.ts`, `src/verifier/errors.ts`, `src/channels/errors.ts`
 * and `scripts/errors.ts`. A {@link BilayerError} takes only a registered
 * code, so `tsc` names a misspelt or unlisted one, and the codes a caller can
 * branch on are written in one place per layer. These are the protocol's.
 */
export interface BilayerErrorCodes {
  /** An amount or fee the packed format (PROTOCOL.md §2) cannot represent exactly. */
  AMOUNT_NOT_PACKABLE: true;
  /** A packed amount or fee out of its bit width. */
  INVALID_PACKED_VALUE: true;
  /** A negative amount or fee. */
  NEGATIVE_AMOUNT: true;
  /** Not 0x hex (of the expected length). */
  INVALID_HEX: true;
  /** Not a 20-byte address. */
  INVALID_ADDRESS: true;
  /** A transaction's fields out of their ranges, or its bytes not one whole transaction. */
  INVALID_TX: true;
  /** A signature that is not 64/65 bytes, or not canonical. */
  INVALID_SIGNATURE: true;
  /** Not a BLS public key: not 48 bytes, off the curve, outside the subgroup, or infinity (§3.2). */
  INVALID_BLS_KEY: true;
  /** Not a BLS signature: not 96 bytes, or not a G2 point in its subgroup (§3.2). */
  INVALID_BLS_SIGNATURE: true;
  /** A signature whose recovery id does not fit the compact form. */
  UNSIGNABLE: true;
  /** An EIP-712 domain value out of range (chain id, contract). */
  INVALID_DOMAIN: true;
  /** An account's fields out of their ranges. */
  INVALID_ACCOUNT: true;
  /** An account index outside 1..accountCount. */
  INVALID_ACCOUNT_INDEX: true;
  /** A withdrawal's fields out of their ranges. */
  INVALID_WITHDRAWAL: true;
  /** A state built from inconsistent parts (counts, withdrawal indices). */
  INVALID_STATE: true;
  /** An account created in a full account tree. */
  ACCOUNT_TREE_FULL: true;
  /** A withdrawal appended to a full withdrawal tree. */
  WITHDRAWAL_TREE_FULL: true;
  /** A state header out of its ranges. */
  INVALID_HEADER: true;
  /** A queue item's field out of its range. */
  INVALID_QUEUE_ITEM: true;
  /** A tree index outside 0..2^32-1. */
  INVALID_TREE_INDEX: true;
  /** A tree node that is not 32 bytes. */
  INVALID_NODE: true;
  /** A Merkle proof of the wrong length. */
  INVALID_PROOF: true;
  /** A chunk of more than 32 transactions to encode. */
  CHUNK_TOO_LARGE: true;
  /** A queue step of more than its maximum of items. */
  QUEUE_STEP_TOO_LARGE: true;
  /** A step context out of range (the fee recipient). */
  INVALID_STEP_CONTEXT: true;
  /** A chunk executor asked for a transaction after its step ended. */
  CHUNK_ENDED: true;
  /** A chunk executor finished twice. */
  CHUNK_FINISHED: true;
  /** An offset outside the bytes given to the executor. */
  INVALID_OFFSET: true;
  /** A transaction type no rule handles (an exhaustive switch reached its default). */
  UNKNOWN_TX_TYPE: true;
  /** A test vector whose incremental and whole-chunk executions disagree. */
  VECTOR_MISMATCH: true;
}

/** A registered error code (see {@link BilayerErrorCodes}). */
export type BilayerErrorCode = keyof BilayerErrorCodes;
export class BilayerError extends Error {
  /** Stable identifier, e.g. `AMOUNT_NOT_PACKABLE`. */
  readonly code: BilayerErrorCode;
  /** The values that broke the check (JSON-friendly: bigints as decimal strings). */
  readonly context?: Record<string, unknown>;

  constructor(
    code: BilayerErrorCode,
    message: string,
    options: { context?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.context !== undefined) this.context = options.context;
  }
}

/** Whether `err` is a {@link BilayerError} (of `code`, when given): the guard to branch on an error's code. */
export function isBilayerError<C extends BilayerErrorCode>(
  err: unknown,
  code?: C,
): err is BilayerError & { readonly code: C } {
  return err instanceof BilayerError && (code === undefined || err.code === code);
}

/** An amount or fee that the packed float format (PROTOCOL.md §2) cannot represent exactly. */
export class AmountNotPackableError extends BilayerError {
  constructor(kind: "amount" | "fee", value: bigint, nearestBelow: bigint | undefined) {
    const bits = kind === "amount" ? "40-bit amount (35-bit mantissa" : "16-bit fee (11-bit mantissa";
    const hint = nearestBelow === undefined ? "" : `; the largest packable value below it is ${nearestBelow}`;
    super("AMOUNT_NOT_PACKABLE", `${kind} ${value} cannot be packed exactly as a ${bits} × 10^0..31)${hint}`, {
      context: {
        kind,
        value: value.toString(),
        ...(nearestBelow === undefined ? {} : { nearestBelow: nearestBelow.toString() }),
      },
    });
  }
}
