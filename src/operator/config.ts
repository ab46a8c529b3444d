import { MAX_CHUNK_BYTES } from "../protocol/constants";
import { BilayerError } from "../protocol/errors";
import { DEFAULT_MEMPOOL_LIMITS, type MempoolLimits } from "./mempool";
import { DEFAULT_MAX_JSON_DEPTH } from "../common/json-depth";
import { DEFAULT_BATCH_LIMITS, type BatchLimits } from "./sequencer";

/** Everything the operator can be told; {@link defaultConfig} fills in the rest. */
export interface OperatorConfig {
  /** Directory of the embedded store. */
  dataDir: string;
  /** Interface of the JSON-RPC server (127.0.0.1: local only). */
  host: string;
  /** Port of the JSON-RPC server (0: any free port). */
  port: number;
  /** Largest HTTP body accepted, in bytes. */
  maxBodyBytes: number;
  /** Largest JSON-RPC batch request. */
  maxBatchRequests: number;
  /** Deepest nesting of arrays and objects accepted in a request body (checked before it is parsed). */
  maxJsonDepth: number;
  /** Serve HTTP from a thread of its own (the methods still run on the main thread). */
  rpcThread: boolean;
  /** The L2 account credited with fees (0: no fees; a fee > 0 is refused). */
  feeRecipient: number;
  batch: BatchLimits;
  mempool: MempoolLimits;
  /** An L1 event or transaction counts once its block is this deep (1 = in a block). */
  confirmations: number;
  /** How often the L1 loops poll, in ms. */
  pollMs: number;
  /** Re-send an L1 transaction with higher fees after this long unmined, in ms. */
  stuckAfterMs: number;
  /** Percentage added to the fees of a replacement (≥ 10). */
  feeBumpPercent: number;
  /** Most wei per gas the operator ever offers. */
  maxFeePerGas: bigint;
  /** Most blocks per `eth_getLogs`. */
  logRange: number;
  /** Propose step roots with a bond, and take the bonds back after finality. */
  propose: boolean;
  /**
   * Delete the transaction records of final batches once they are in the snapshot (their receipts stay; the
   * batches' chunks can no longer be read back). Off: the store keeps the whole history.
   */
  pruneHistory: boolean;
  /** When `/health` turns degraded: a closed batch waiting this long for L1, L1 silent this long (ms). */
  health: { staleBatchMs: number; l1SilentMs: number };
}

/** Defaults; `confirmations` is 1 on a local development chain (ids 31337, 1337) and 3 elsewhere. */
export function defaultConfig(chainId: bigint, dataDir: string): OperatorConfig {
  const local = chainId === 31337n || chainId === 1337n;
  return {
    dataDir,
    host: "127.0.0.1",
    port: 8547,
    maxBodyBytes: 64 * 1024,
    maxBatchRequests: 1000,
    maxJsonDepth: DEFAULT_MAX_JSON_DEPTH,
    rpcThread: true,
    feeRecipient: 0,
    batch: { ...DEFAULT_BATCH_LIMITS },
    mempool: { ...DEFAULT_MEMPOOL_LIMITS },
    confirmations: local ? 1 : 3,
    pollMs: local ? 250 : 4000,
    stuckAfterMs: local ? 10_000 : 90_000,
    feeBumpPercent: 25,
    maxFeePerGas: 500n * 10n ** 9n,
    logRange: 2000,
    propose: true,
    pruneHistory: false,
    health: {
      // Several replacements of a stuck append and then some: a batch that waits this long is not just slow.
      staleBatchMs: Math.max(60_000, 4 * (local ? 10_000 : 90_000)),
      l1SilentMs: local ? 15_000 : 60_000,
    },
  };
}

/** Checks a configuration; throws `BilayerError` (`INVALID_CONFIG`) naming the bad field. */
export function validateConfig(c: OperatorConfig): OperatorConfig {
  const bad = (field: string, rule: string): never => {
    throw new BilayerError("INVALID_CONFIG", `operator config: ${field} ${rule}`, { context: { field } });
  };
  const int = (v: number, field: string, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (!Number.isSafeInteger(v) || v < min || v > max) bad(field, `must be an integer in [${min}, ${max}], got ${v}`);
  };
  if (typeof c.dataDir !== "string" || c.dataDir === "") bad("dataDir", "must be a directory path");
  int(c.port, "port", 0, 65535);
  int(c.maxBodyBytes, "maxBodyBytes", 1024);
  int(c.maxBatchRequests, "maxBatchRequests", 1);
  // At least a batch of typed transactions (4 deep); at most far below where recursive walks overflow (~2,000).
  int(c.maxJsonDepth, "maxJsonDepth", 4, 256);
  int(c.feeRecipient, "feeRecipient", 0, 2 ** 32 - 1);
  int(c.batch.maxAgeMs, "batch.maxAgeMs", 1);
  int(c.batch.maxChunks, "batch.maxChunks", 1, DEFAULT_BATCH_LIMITS.maxChunks);
  int(c.batch.maxBytes, "batch.maxBytes", MAX_CHUNK_BYTES, DEFAULT_BATCH_LIMITS.maxBytes);
  int(c.batch.maxQueueItems, "batch.maxQueueItems", 1, DEFAULT_BATCH_LIMITS.maxQueueItems);
  int(c.mempool.maxNonceGap, "mempool.maxNonceGap", 1);
  int(c.mempool.maxPerAccount, "mempool.maxPerAccount", 1);
  int(c.mempool.maxTotal, "mempool.maxTotal", 1);
  int(c.confirmations, "confirmations", 1);
  int(c.pollMs, "pollMs", 10);
  int(c.stuckAfterMs, "stuckAfterMs", 100);
  int(c.feeBumpPercent, "feeBumpPercent", 10, 1000);
  int(c.logRange, "logRange", 1);
  int(c.health.staleBatchMs, "health.staleBatchMs", 1);
  int(c.health.l1SilentMs, "health.l1SilentMs", 1);
  if (typeof c.maxFeePerGas !== "bigint" || c.maxFeePerGas <= 0n) bad("maxFeePerGas", "must be a positive bigint");
  return c;
}
