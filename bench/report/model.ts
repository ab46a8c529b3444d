/**
 * What the report knows besides the measured figures: the shape of
 * bench/results/latest.json, the protocol constants it compares with (each
 * with where it comes from), the targets of issue 7 and how a result is
 * judged against them.
 */
import { MAX_L1_TX_BYTES } from "../../src/l1/batch";
import { DEFAULT_BATCH_LIMITS } from "../../src/operator/sequencer";

export type Row = Record<string, number>;
export type Value = number | Row[];
export type Figures = Record<string, Value>;

export interface RunRecord {
  date: string;
  seconds: number;
  loadAverage: number;
  loadAverageEnd?: number;
  invocation?: string;
  /** The git commit measured, and the files that differed from it (uncommitted changes to measured code). */
  code?: CodeVersion;
  failed?: string[];
}

export interface CodeVersion {
  commit: string;
  dirty: string[];
}

/** bench/results/latest.json (see bench/run.ts). */
export interface Results {
  updated?: string;
  machine?: Record<string, unknown>;
  configured?: Record<string, number>;
  sources?: Record<string, string>;
  runs?: Record<string, RunRecord>;
  fullRun?: { date: string; seconds: number; loadAverage: number; loadAverageEnd: number; code?: CodeVersion };
  [section: string]: unknown;
}

/** A constant of a protocol or of this project's configuration: not measured, and labelled so. */
export interface Configured {
  key: string;
  value: number;
  unit: "s" | "ms";
  what: string;
  source: string;
}

/** The constants the latency comparison uses. */
export const CONFIGURED: readonly Configured[] = [
  {
    key: "l1SlotSeconds",
    value: 12,
    unit: "s",
    what: "Ethereum mainnet slot: the soonest a sent transaction is in a block",
    source: "Ethereum consensus specs, `SECONDS_PER_SLOT`",
  },
  {
    key: "l1FinalitySeconds",
    value: 2 * 32 * 12,
    unit: "s",
    what: "Ethereum mainnet finality: a block is finalized two epochs (2 × 32 slots) after it is proposed",
    source: "Ethereum consensus specs, Casper FFG: 2 × `SLOTS_PER_EPOCH` × `SECONDS_PER_SLOT`",
  },
  {
    key: "rollupBatchMaxAgeMs",
    value: DEFAULT_BATCH_LIMITS.maxAgeMs,
    unit: "ms",
    what: "the operator closes an open batch this long after its first transaction (then appends and proposes it)",
    source: "`DEFAULT_BATCH_LIMITS.maxAgeMs` in src/operator/sequencer/batch-policy.ts",
  },
  {
    key: "rollupChallengeWindowSeconds",
    value: 7 * 24 * 3600,
    unit: "s",
    what: "rollup challenge window: a proposal is final, and its withdrawals claimable, this long after it is posted",
    source: "default of `ROLLUP_CHALLENGE_WINDOW_SECONDS` in scripts/deploy.ts",
  },
  {
    key: "channelChallengeDurationSeconds",
    value: 24 * 3600,
    unit: "s",
    what: "channel challenge period: a disputed channel settles this long after the last registration",
    source: "`DEFAULT_POLICY.defaultChallengeDuration` in src/channels/policy.ts (the channels a client opens)",
  },
];

/** A figure of the results by its path, `section.figure`; undefined if it is not there or not a number. */
export function num(results: Results, key: string): number | undefined {
  const [section, figure] = key.split(".");
  const value = (results[section] as Figures | undefined)?.[figure];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** A series of the results by its path. */
export function rows(results: Results, key: string): Row[] {
  const [section, figure] = key.split(".");
  const value = (results[section] as Figures | undefined)?.[figure];
  return Array.isArray(value) ? value : [];
}

export function configured(results: Results, key: string): number {
  return results.configured?.[key] ?? (CONFIGURED.find((c) => c.key === key)?.value as number);
}

export const fmt = (x: number | undefined, digits = 1): string =>
  x === undefined ? "—" : x.toLocaleString("en-US", { maximumFractionDigits: digits });

export interface Verdict {
  /** What the target is, in words. */
  target: string;
  /** The figure's path, e.g. `rollup.gasPerTransfer`. */
  figure: string;
  /** The measured value, formatted, with any other figure it is judged with. */
  value: string;
  met: boolean | undefined;
  /** How far from the target, and for a miss, why. */
  note: string;
}

const TX_GAS_CAP = 16_777_216;
const BENCH_SECONDS_TARGET = 600;

/** Why a wall-clock figure may have come out low: what else loaded the machine, and the CPU-time figure. */
function loadNote(results: Results, suite: string, cpuFigure?: { key: string; label: string }, need?: number): string {
  const run = results.runs?.[suite];
  const cores = Number(results.machine?.cores ?? 0);
  const parts: string[] = [];
  if (run) {
    parts.push(
      `the load average was ${run.loadAverage}${run.loadAverageEnd !== undefined ? `–${run.loadAverageEnd}` : ""} on ` +
        `${cores} cores while it ran (it counts this bench's own processes as well as anything else running)`,
    );
  }
  const cpu = cpuFigure ? num(results, cpuFigure.key) : undefined;
  if (cpuFigure && cpu !== undefined) {
    parts.push(
      `per second of CPU time it did ${fmt(cpu, 0)} ${cpuFigure.label}` +
        (need !== undefined ? (cpu >= need ? ", which meets the target" : ", below the target too") : ""),
    );
  }
  return parts.join("; ");
}

function ratioNote(value: number, limit: number, upper: boolean): string {
  const margin = upper ? (limit - value) / limit : (value - limit) / limit;
  return `${fmt(Math.abs(margin) * 100, 1)} % ${upper ? (margin >= 0 ? "under" : "over") : margin >= 0 ? "above" : "below"} the target`;
}

/** Every target of issue 7, judged on `results`. */
export function verdicts(results: Results): Verdict[] {
  const out: Verdict[] = [];
  /** Judges `figure` against `limit`: an upper bound (below it; at it too unless strict) or a lower bound (at least it). */
  const judge = (
    isUpper: boolean,
    figure: string,
    limit: number,
    target: string,
    why: () => string,
    strict: boolean,
  ): void => {
    const v = num(results, figure);
    const met = v === undefined ? undefined : isUpper ? (strict ? v < limit : v <= limit) : v >= limit;
    out.push({
      target,
      figure,
      value: fmt(v, 1),
      met,
      note:
        v === undefined
          ? "not measured"
          : met
            ? ratioNote(v, limit, isUpper)
            : `${ratioNote(v, limit, isUpper)}: ${why()}`,
    });
  };
  const upper = (figure: string, limit: number, target: string, why: () => string, strict = true): void =>
    judge(true, figure, limit, target, why, strict);
  const lower = (figure: string, limit: number, target: string, why: () => string): void =>
    judge(false, figure, limit, target, why, false);

  // Rollup: gas per transfer within 10 % of the calldata floor of its own bytes.
  const gas = num(results, "rollup.gasPerTransfer");
  const floor = num(results, "rollup.calldataFloorGasPerTransfer");
  const size = num(results, "rollup.batchSize");
  if (gas !== undefined && floor !== undefined && size !== undefined) {
    const ratio = gas / floor;
    const append = num(results, "rollup.maxAppendBatchGas") ?? 0;
    const propose = num(results, "rollup.proposeGas") ?? 0;
    const appendOver = (append - floor * size) / size;
    const appendFloor = num(results, "rollup.appendCalldataFloorGas");
    const abiBytes = (num(results, "rollup.bytesPerTransfer") ?? NaN) - (num(results, "rollup.transferBytes") ?? NaN);
    const why =
      appendFloor === append
        ? `it paid exactly the EIP-7623 floor of its calldata, so that is the 21,000 base and ${fmt(abiBytes, 2)} ` +
          "bytes of ABI encoding (offsets, lengths, padding)"
        : `it paid ${fmt(append - (appendFloor ?? 0), 0)} gas above the floor of its calldata (execution, storage) ` +
          `besides the 21,000 base and ${fmt(abiBytes, 2)} bytes of ABI encoding`;
    const breakdown =
      `per transfer, the append costs ${fmt(appendOver, 1)} gas more than the floor of the transfer bytes: ${why}; ` +
      `the proposal of the step roots adds ${fmt(propose / size, 1)} gas`;
    out.push({
      target: "L1 gas per L2 transfer ≤ 1.10 × the EIP-7623 calldata floor of its own bytes",
      figure: "rollup.gasPerTransfer",
      value: `${fmt(gas, 1)} vs floor ${fmt(floor, 1)} (× ${ratio.toFixed(3)})`,
      met: ratio <= 1.1,
      note: ratio <= 1.1 ? `${fmt((ratio - 1) * 100, 1)} % over the floor; ${breakdown}` : `missed: ${breakdown}`,
    });
  } else {
    out.push({
      target: "L1 gas per L2 transfer ≤ 1.10 × the EIP-7623 calldata floor of its own bytes",
      figure: "rollup.gasPerTransfer",
      value: fmt(gas),
      met: undefined,
      note: "not measured",
    });
  }
  upper(
    "rollup.maxAppendBatchGas",
    TX_GAS_CAP,
    "the largest batch fits one transaction: < 16,777,216 gas (EIP-7825)",
    () => "the batch limits of the inbox let a batch grow past the per-transaction gas cap",
  );
  {
    // Each L1 transaction of the rollup, as a public mempool judges it (geth, reth, Nethermind drop larger ones).
    const append = num(results, "rollup.largestAppendSignedBytes");
    const proof = num(results, "rollup.maxFraudProofSignedBytes");
    const largest = append === undefined || proof === undefined ? undefined : Math.max(append, proof);
    out.push({
      target:
        "every L1 transaction fits a public mempool: ≤ 131,072 bytes signed (largest append, largest fraud proof)",
      figure: "rollup.largestAppendSignedBytes",
      value: largest === undefined ? "—" : `${fmt(append, 0)} / ${fmt(proof, 0)}`,
      met: largest === undefined ? undefined : largest <= MAX_L1_TX_BYTES,
      note:
        largest === undefined
          ? "not measured"
          : `signed with every field at its widest; ${fmt(MAX_L1_TX_BYTES - largest, 0)} bytes to spare`,
    });
  }
  upper("rollup.maxFraudProofGas", 8_000_000, "worst-case fraud proof < 8,000,000 gas", () => {
    const c = num(results, "rollup.fraudProofChunkStepGas");
    const q = num(results, "rollup.fraudProofQueueStepGas");
    return `chunk step ${fmt(c, 0)} gas, queue step ${fmt(q, 0)} gas: the step executor re-hashes every Merkle path the step touches`;
  });
  lower("sequencer.transfersPerSecond", 5_000, "sequencer ≥ 5,000 transfers/s", () => {
    const server = num(results, "sequencer.serverCpuMicrosPerTransfer");
    const main = num(results, "sequencer.serverMainThreadCpuMicrosPerTransfer");
    const client = num(results, "sequencer.clientCpuMicrosPerTransfer");
    const cores = Number(results.machine?.cores ?? 0);
    const serial = main ?? server;
    const budget =
      server !== undefined && client !== undefined && serial !== undefined
        ? `the server process used ${fmt(server, 0)} µs of CPU per transfer (${fmt(serial, 0)} µs on the thread ` +
          `that applies transfers one at a time: at most ${fmt(1e6 / serial, 0)}/s on a free core) and the load ` +
          `generator ${fmt(client, 0)} µs, on the same ${cores} cores`
        : "";
    return [loadNote(results, "sequencer"), budget].filter(Boolean).join("; ");
  });
  lower("verifier.transfersPerSecond", 5_000, "verifier ≥ 5,000 transfers/s", () =>
    loadNote(results, "verifier", { key: "verifier.transfersPerCpuSecond", label: "transfers" }, 5_000),
  );
  upper(
    "bls.bytesPerTransfer",
    12,
    "bytes per BLS transfer ≤ 12, its share of the aggregate included",
    () => {
      const chunk = num(results, "bls.transferBytes");
      return `${fmt(chunk, 2)} bytes of chunk (2-byte indices, 16-bit amount, 96-byte aggregate per 40) plus the ABI framing`;
    },
    false,
  );
  upper(
    "bls.gasPerTransfer",
    500,
    "L1 gas per BLS transfer ≤ 500 in a full batch",
    () => {
      const append = num(results, "bls.appendGasPerTransfer");
      const propose = num(results, "bls.proposeGasPerTransfer");
      return `append ${fmt(append, 1)} + propose ${fmt(propose, 1)}; ${fmt(num(results, "bls.batchSize"), 0)} transfers a batch`;
    },
    false,
  );
  lower("bls.verifierTransfersPerSecond", 5_000, "verifier ≥ 5,000 BLS transfers/s", () => {
    const check = num(results, "bls.aggregateCpuMicrosPerMessage");
    const cores = Number(results.machine?.cores ?? 0);
    if (check === undefined) return "";
    return (
      `aggregates checked on ${cores} threads while each batch replays; a check costs ${fmt(check, 0)} µs of CPU per ` +
      `message (hash to G2 and a Miller loop): ${cores} cores allow at most ${fmt((cores * 1e6) / check, 0)}/s`
    );
  });
  lower("sequencer.blsTransfersPerSecond", 5_000, "sequencer ≥ 5,000 BLS transfers/s through the API", () => {
    const server = num(results, "sequencer.blsServerCpuMicrosPerTransfer");
    const main = num(results, "sequencer.blsServerMainThreadCpuMicrosPerTransfer");
    const check = num(results, "bls.verifyCpuMicrosPerSignature");
    const cores = Number(results.machine?.cores ?? 0);
    if (server === undefined || main === undefined) return "";
    return (
      `the server used ${fmt(server, 0)} µs of CPU per BLS transfer, ${fmt(main, 0)} µs of it on the thread that applies ` +
      `them; most of the rest is the signature check (${fmt(check, 0)} µs of CPU each, in a batch): ${cores} cores at that cost ` +
      `allow at most ${fmt((cores * 1e6) / server, 0)}/s`
    );
  });
  lower(
    "bls.signaturesPerSecondPerCore",
    2_500,
    "what a sequencer of 5,000 BLS transfers/s on 2 cores needs: ≥ 2,500 signature checks/s per core",
    () =>
      `one signature check per transfer, 40 at a time (blst, randomized batch): ${fmt(num(results, "bls.verifyCpuMicrosPerSignature"), 0)} µs of CPU each`,
  );
  upper(
    "channel.happyPathGas",
    180_000,
    "channel happy path (open, fund, cooperative close) < 180,000 gas",
    () =>
      `open ${fmt(num(results, "channel.openGas"), 0)} + fund ${fmt(num(results, "channel.fundGas"), 0)} + ` +
      `close ${fmt(num(results, "channel.cooperativeCloseGas"), 0)}`,
  );
  upper(
    "channel.disputePathGas",
    250_000,
    "channel dispute path (register, refute, conclude) < 250,000 gas",
    () =>
      `register ${fmt(num(results, "channel.registerGas"), 0)} + refute ${fmt(num(results, "channel.refuteGas"), 0)} + ` +
      `conclude ${fmt(num(results, "channel.concludeGas"), 0)}`,
  );
  upper(
    "channel.erc20HappyPathGas",
    180_000,
    "ERC-20 channel life cycle (open funded by both, cooperative close) ≤ 180,000 gas",
    () =>
      `open funded by both ${fmt(num(results, "channel.erc20OpenFundedGas"), 0)} + close; ` +
      `open, fund, close: ${fmt(num(results, "channel.erc20ThreeStepGas"), 0)}; ` +
      `first channel of a token: ${fmt(num(results, "channel.erc20FirstChannelHappyPathGas"), 0)}`,
    false,
  );
  lower("channel.paymentsPerSecond", 2_000, "channel ≥ 2,000 payments/s", () => loadNote(results, "channel"));
  const full = results.fullRun;
  out.push({
    target: "the whole `npm run bench` < 10 minutes",
    figure: "fullRun.seconds",
    value: full ? `${fmt(full.seconds, 1)} s` : "—",
    met: full ? full.seconds < BENCH_SECONDS_TARGET : undefined,
    note: full
      ? `${ratioNote(full.seconds, BENCH_SECONDS_TARGET, true)} (load average ${full.loadAverage} at start, ${full.loadAverageEnd} at the end)`
      : "no full run recorded",
  });
  return out;
}
