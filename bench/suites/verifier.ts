/**
 * Suite `verifier`: how fast the verifier rebuilds the L2 state from L1 alone.
 *
 * On the in-process Hardhat network (osaka): 256 accounts are deposited and
 * consumed by a queue batch, then BATCHES full batches of signed transfers
 * (46 chunks of 32, as many as the inbox's 120,000-byte limit holds) are appended by the sequencer
 * and proposed honestly. A fresh verifier then syncs from the deployment
 * block: `eth_getLogs`, the calldata of every `appendBatch` fetched and
 * ABI-decoded, every transfer re-executed with `src/protocol` (signatures
 * recovered, trees updated, a root per step), every proposal compared, and
 * each block range checkpointed to its store on disk.
 *
 * - transfersPerSecond: transfers rebuilt per second of that sync (target ≥ 5,000)
 * - transfersPerCpuSecond: the same per second of CPU time of this process (robust to other load; it includes the
 *   in-process node serving the logs and transactions, and the store's threads)
 * - transfers, batches: what it replayed
 * - syncSeconds: the sync's wall-clock time
 * - stfShare: the share of that time spent in the STF (batch replay histogram)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { initHashing } from "../../src/protocol/hash";
import { signedTransferHistory, TRANSFERS_PER_BATCH } from "./_helpers";

export const description = "Verifier replay from L1: transfers rebuilt per second (logs, calldata, STF, roots, store)";

const ACCOUNTS = 256;
/** About 32,000 transfers in full batches, as before the byte limit was lowered. */
const BATCHES = Math.ceil(32_000 / TRANSFERS_PER_BATCH);

export async function run(): Promise<Record<string, number>> {
  // Loaded lazily so that importing this module does not start Hardhat.
  const hre = (await import("hardhat")).default;
  await hre.run("compile", { quiet: true });
  const { defaultVerifierConfig } = await import("../../src/verifier/config");
  const { silentVerifierLogger } = await import("../../src/verifier/log");
  const { Verifier } = await import("../../src/verifier/verifier");
  await initHashing();

  const { provider, dep, state, transfers } = await signedTransferHistory(hre, {
    label: "bench-verifier",
    accounts: ACCOUNTS,
    transfers: BATCHES * TRANSFERS_PER_BATCH,
    seed: 7,
  });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-bench-verifier-"));
  try {
    const config = { ...defaultVerifierConfig(dep.chainId, dir), port: -1, logRange: 10_000 };
    const verifier = await Verifier.create({ config, provider, deployment: dep, logger: silentVerifierLogger() });
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    await verifier.tick();
    const cpu = process.cpuUsage(cpuStart);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const status = verifier.status();
    const replaySeconds = (await verifier.metrics.batchReplaySeconds.get()).values.find(
      (v) => v.metricName === "bilayer_verifier_batch_replay_seconds_sum",
    )?.value;
    await verifier.stop();
    if (status.state.stateRoot !== state.stateRoot() || status.transactionsReplayed !== transfers) {
      throw new Error(`the verifier's replay disagrees: ${status.state.stateRoot} vs ${state.stateRoot()}`);
    }
    if (status.proposals.some((p) => p.verdict !== "right") || status.batches.replayed !== BATCHES + 1) {
      throw new Error("the verifier judged an honest proposal wrong");
    }
    return {
      transfersPerSecond: Math.round(transfers / seconds),
      transfersPerCpuSecond: Math.round(transfers / ((cpu.user + cpu.system) / 1e6)),
      transfers,
      batches: BATCHES,
      syncSeconds: Math.round(seconds * 100) / 100,
      stfShare: Math.round(((replaySeconds ?? 0) / seconds) * 100) / 100,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
