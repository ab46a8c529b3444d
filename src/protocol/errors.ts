/**
 * The one error base class of the project (in the manner of viem's `BaseError`):
 * a short message, a stable machine-readable `code`, optional `context` values
 * that explain what broke, and an optional `cause`. Services map codes to
 * JSON-RPC error codes; nothing should throw a bare `Error`.
 */
export class BilayerError extends Error {
  /** Stable identifier, e.g. `AMOUNT_NOT_PACKABLE`. */
  readonly code: string;
  /** The values that broke the check (JSON-friendly: bigints as decimal strings). */
  readonly context?: Record<string, unknown>;

  constructor(code: string, message: string, options: { context?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.context !== undefined) this.context = options.context;
  }
}

/** Whether `err` is a {@link BilayerError} (of `code`, when given): the guard to branch on an error's code. */
export function isBilayerError<C extends string>(err: unknown, code?: C): err is BilayerError & { readonly code: C } {
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
