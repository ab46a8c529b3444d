import { DEFAULT_AGGREGATE_THREADS } from "./aggregate-pool";
import { BilayerError } from "../protocol/errors";

/** When the verifier proposes the roots it computed, with its own bond. */
export type ProposeMode =
  /** Never: it only challenges. */
  | "off"
  /** The batches of a rollback that nobody has proposed again (the default): the honest roots replace the lie. */
  | "after-fraud"
  /** Every appended batch that nobody has proposed (a second, honest proposer). */
  | "all";

/** Everything the verifier can be told; {@link defaultVerifierConfig} fills in the rest. */
export interface VerifierConfig {
  /** Directory of the store. */
  dataDir: string;
  /** Interface of the status server (127.0.0.1: local only). */
  host: string;
  /** Port of the status server (0: any free port; -1: no server). */
  port: number;
  /** An L1 block is processed once it is this deep (1 = as soon as it is mined). */
  confirmations: number;
  /** How often to poll L1 once caught up, in ms. */
  pollMs: number;
  /** Most blocks per `eth_getLogs`; also the size of a checkpoint while catching up. */
  logRange: number;
  /** Send fraud proofs (false: watch and report only). */
  challenge: boolean;
  propose: ProposeMode;
  /** Take back the bonds of this verifier's final proposals. */
  returnBonds: boolean;
  /** Log catch-up progress at most this often, in ms. */
  progressEveryMs: number;
  /** Threads that check BLS chunks' aggregates while a batch replays (0: on the replay's own thread). */
  aggregateThreads: number;
}

/** Defaults; `confirmations` is 1 on a local development chain (ids 31337, 1337) and 3 elsewhere. */
export function defaultVerifierConfig(chainId: bigint, dataDir: string): VerifierConfig {
  const local = chainId === 31337n || chainId === 1337n;
  return {
    dataDir,
    host: "127.0.0.1",
    port: 8548,
    confirmations: local ? 1 : 3,
    pollMs: local ? 250 : 4000,
    logRange: 2000,
    challenge: true,
    propose: "after-fraud",
    returnBonds: true,
    progressEveryMs: 2000,
    aggregateThreads: DEFAULT_AGGREGATE_THREADS,
  };
}

/** Checks a configuration; throws `BilayerError` (`INVALID_CONFIG`) naming the bad field. */
export function validateVerifierConfig(c: VerifierConfig): VerifierConfig {
  const bad = (field: string, rule: string): never => {
    throw new BilayerError("INVALID_CONFIG", `verifier config: ${field} ${rule}`, { context: { field } });
  };
  const int = (v: number, field: string, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (!Number.isSafeInteger(v) || v < min || v > max) bad(field, `must be an integer in [${min}, ${max}], got ${v}`);
  };
  if (typeof c.dataDir !== "string" || c.dataDir === "") bad("dataDir", "must be a directory path");
  int(c.port, "port", -1, 65535);
  int(c.confirmations, "confirmations", 1);
  int(c.pollMs, "pollMs", 10);
  int(c.logRange, "logRange", 1);
  int(c.progressEveryMs, "progressEveryMs", 0);
  int(c.aggregateThreads, "aggregateThreads", 0, 64);
  if (!["off", "after-fraud", "all"].includes(c.propose))
    bad("propose", `must be off, after-fraud or all, got ${c.propose}`);
  return c;
}
