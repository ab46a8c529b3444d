/**
 * The L1 node's side of the operator's transactions: handing it a signed
 * attempt (an attempt it already has is not an error), asking whether it knows
 * one, finding the receipt of any attempt, and telling a refusal (the node
 * answered no) from a failure to reach it.
 */
import type { Provider, TransactionReceipt } from "ethers";
import type { Logger } from "./log";
import type { L1TxRecord, TxAttempt } from "./l1-tx";

/**
 * Whether a broadcast failed because the node answered no (a JSON-RPC error: insufficient funds, fees below the
 * base fee, …), as opposed to not answering at all (connection refused, a timeout, a server error), after which
 * the transaction may have arrived all the same.
 */
export function isRefusal(err: unknown): boolean {
  const e = err as { code?: unknown; error?: { code?: unknown }; info?: { error?: { code?: unknown } } };
  if (["NETWORK_ERROR", "TIMEOUT", "SERVER_ERROR", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT"].includes(String(e.code)))
    return false;
  return (
    typeof e.info?.error?.code === "number" || typeof e.error?.code === "number" || e.code === "INSUFFICIENT_FUNDS"
  );
}

/** The error's text and the node's message, lower case, for matching the node's answers. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const info = (err as { info?: { error?: { message?: string } } }).info;
    return `${err.message} ${info?.error?.message ?? ""}`.toLowerCase();
  }
  return String(err).toLowerCase();
}

/** Hands `attempt` to the node; one it already has (in its pool or mined) or refuses as underpriced is let be. */
export async function broadcast(
  provider: Provider,
  logger: Logger,
  rec: L1TxRecord,
  attempt: TxAttempt,
): Promise<void> {
  try {
    await provider.broadcastTransaction(attempt.raw);
  } catch (err) {
    const text = errorText(err);
    // Already in the node's pool, or already mined (the nonce is used): nothing to do.
    if (
      /already known|known transaction|already imported|nonce too low|nonce has already been used|already exists/.test(
        text,
      )
    ) {
      logger.debug({ nonce: rec.nonce, hash: attempt.hash }, "broadcast: the node already has it");
      return;
    }
    if (/replacement|underpriced/.test(text)) {
      logger.warn({ nonce: rec.nonce, hash: attempt.hash, err }, "broadcast refused as an underpriced replacement");
      return;
    }
    throw err;
  }
}

/** Whether the node has one of `rec`'s attempts, in its pool or in a block. */
export async function isKnown(provider: Provider, rec: L1TxRecord): Promise<boolean> {
  for (const a of rec.attempts) if ((await provider.getTransaction(a.hash)) !== null) return true;
  return false;
}

/** The receipt of the latest attempt of `rec` that has one, or null. */
export async function findReceipt(provider: Provider, rec: L1TxRecord): Promise<TransactionReceipt | null> {
  for (const a of [...rec.attempts].reverse()) {
    const receipt = await provider.getTransactionReceipt(a.hash);
    if (receipt) return receipt;
  }
  return null;
}
