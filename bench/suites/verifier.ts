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
import type { Provider } from "ethers";
import { MAX_BATCH_BYTES } from "../../src/l1/batch";
import { TxType } from "../../src/protocol/constants";
import { encodeTx } from "../../src/protocol/codec";
import { signTxWithKey } from "../../src/protocol/eip712";
import { concatBytes, initHashing, keccak256 } from "../../src/protocol/hash";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { deployBenchRollup, queueItems, rng } from "./_helpers";

export const description = "Verifier replay from L1: transfers rebuilt per second (logs, calldata, STF, roots, store)";

const ACCOUNTS = 256;
const TXS_PER_CHUNK = 32;
/** Full chunks of transfers in a batch at the inbox's byte limit. */
const CHUNKS_PER_BATCH = Math.floor(MAX_BATCH_BYTES / (TXS_PER_CHUNK * 80));
/** About 32,000 transfers, as before the byte limit was lowered. */
const BATCHES = Math.ceil(32_000 / (CHUNKS_PER_BATCH * TXS_PER_CHUNK));

export async function run(): Promise<Record<string, number>> {
  // Loaded lazily so that importing this module does not start Hardhat.
  const hre = (await import("hardhat")).default;
  await hre.run("compile", { quiet: true });
  const { defaultVerifierConfig } = await import("../../src/verifier/config");
  const { silentVerifierLogger } = await import("../../src/verifier/log");
  const { Verifier } = await import("../../src/verifier/verifier");
  await initHashing();

  const provider = hre.ethers.provider as unknown as Provider;
  const [deployer, sequencer, proposer] = await hre.ethers.getSigners();
  const dep = await deployBenchRollup(deployer, sequencer.address, 10n ** 17n);
  const { bridge, inbox, stateCommitmentChain: chain } = dep.handles;
  const domain = (await inbox.domainSeparator()).toLowerCase();

  const keys = Array.from({ length: ACCOUNTS }, (_, i) => keccak256(new TextEncoder().encode(`bench-verifier-${i}`)));
  for (const key of keys) {
    await (await bridge.connect(deployer).depositEth(privateKeyToAddress(key), 0, { value: 10n ** 18n })).wait();
  }
  const queue = await queueItems(bridge);

  // The mirror: the honest roots the proposer posts.
  const state = new L2State();
  const propose = async (k: number, queueItems: typeof queue, chunks: Uint8Array[]): Promise<void> => {
    const { stepRoots } = applyBatch(state, { queueItems, chunks, feeRecipient: 0, domainSeparator: domain });
    await (await chain.connect(proposer).propose(k, stepRoots, { value: 10n ** 17n })).wait();
  };
  await (await inbox.connect(sequencer).appendBatch([], ACCOUNTS, 0)).wait();
  await propose(0, queue, []);

  const random = rng(7);
  const nonces = new Array<number>(ACCOUNTS + 1).fill(0);
  let transfers = 0;
  for (let b = 1; b <= BATCHES; b++) {
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < CHUNKS_PER_BATCH; c++) {
      const txs: Uint8Array[] = [];
      for (let t = 0; t < TXS_PER_CHUNK; t++) {
        const from = 1 + Math.floor(random() * ACCOUNTS);
        const to = 1 + ((from + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS);
        const tx = { type: TxType.Transfer as const, from, to, amount: 10n ** 12n * BigInt(1 + (t % 9)), fee: 0n };
        txs.push(encodeTx({ ...tx, signature: signTxWithKey(keys[from - 1], domain, tx, 0, nonces[from]++) }));
      }
      chunks.push(concatBytes(...txs));
      transfers += txs.length;
    }
    await (await inbox.connect(sequencer).appendBatch(chunks, 0, 0)).wait();
    await propose(b, [], chunks);
  }

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
