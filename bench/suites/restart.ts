/**
 * Suite `restart`: how long the operator takes to accept transactions again
 * after a restart, with a long history behind it.
 *
 * The real operator (in this process, on the in-process Hardhat network, its
 * store on disk) takes `RESTART_BENCH_TRANSACTIONS` (200,000) signed transfers,
 * closes them into full batches, appends and proposes them on L1 and waits
 * until every batch is on L1; then it is stopped and started again on the same
 * data directory, and the figure is the time from `Operator.start` to the
 * acknowledgement of the next transfer:
 *
 * - restartToAcceptMs: start-up until a new transfer is acknowledged (durable)
 * - transactions, batches: the history behind it
 * - storeMiB: size of the data directory
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Provider } from "ethers";
import { TxType } from "../../src/protocol/constants";
import { encodeTx } from "../../src/protocol/codec";
import { domainSeparator, signTxWithKey } from "../../src/protocol/eip712";
import { initHashing, keccak256 } from "../../src/protocol/hash";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { deployBenchRollup, runStandalone } from "./_helpers";

export const description = "operator: time to accept again after a restart with 200,000 transactions behind it";

const ACCOUNTS = 256;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 600_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function dirSize(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? dirSize(p) : fs.statSync(p).size;
  }
  return total;
}

export async function run(): Promise<Record<string, number>> {
  const TRANSACTIONS = Number(process.env.RESTART_BENCH_TRANSACTIONS ?? 200_000);
  // Loaded lazily so that importing this module does not start Hardhat.
  const hre = (await import("hardhat")).default;
  await hre.run("compile", { quiet: true });
  const { defaultConfig } = await import("../../src/operator/config");
  const { silentLogger } = await import("../../src/operator/log");
  const { Operator } = await import("../../src/operator/operator");
  const { operatorWallet } = await import("../../tasks/lib");
  await initHashing();

  const provider = hre.ethers.provider as unknown as Provider;
  const [deployer] = await hre.ethers.getSigners();
  const operatorKey = await operatorWallet(hre, provider, 17);
  const dep = await deployBenchRollup(deployer, operatorKey.address, 10n ** 17n);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-bench-restart-"));
  const config = defaultConfig(dep.chainId, dir);
  config.port = 0;
  config.pollMs = 20;
  config.batch.maxAgeMs = 600_000; // batches close by size only
  const domain = domainSeparator(dep.chainId, dep.contracts.rollupInbox);
  const keys = Array.from({ length: ACCOUNTS }, (_, i) => keccak256(new TextEncoder().encode(`bench-restart-${i}`)));
  const nonces = new Array<number>(ACCOUNTS).fill(0);
  let n = 0;
  const nextTransfer = (): Uint8Array => {
    const from = n % ACCOUNTS;
    const tx = {
      type: TxType.Transfer as const,
      from: from + 1,
      to: ((from + 1 + (n % 7)) % ACCOUNTS) + 1,
      amount: 10n ** 9n,
      fee: 0n,
    };
    n++;
    return encodeTx({ ...tx, signature: signTxWithKey(keys[from], domain, tx, 0, nonces[from]++) });
  };

  let op = await Operator.start({ config, provider, wallet: operatorKey, deployment: dep, logger: silentLogger() });
  try {
    for (const key of keys) {
      await (await dep.handles.bridge.depositEth(privateKeyToAddress(key), 0, { value: 10n ** 18n })).wait();
    }
    await until("the deposits", async () => (op.sequencer.status().queue.sequenced === ACCOUNTS ? true : undefined));
    await op.closeBatch();
    // The history: transfers in waves that share group commits, each wave signed just before it is sent.
    const WAVE = 2_000;
    for (let done = 0; done < TRANSACTIONS; done += WAVE) {
      const wave = Array.from({ length: Math.min(WAVE, TRANSACTIONS - done) }, nextTransfer);
      await Promise.all(wave.map((bytes) => op.sequencer.submit(bytes)));
    }
    await op.closeBatch();
    const batches = op.sequencer.batchCount;
    await until("every batch on L1", async () =>
      (await dep.handles.inbox.batchCount()) === BigInt(batches) ? true : undefined,
    );
    await op.stop();

    const started = performance.now();
    op = await Operator.start({ config, provider, wallet: operatorKey, deployment: dep, logger: silentLogger() });
    await op.sequencer.submit(nextTransfer());
    const restartToAcceptMs = performance.now() - started;
    return {
      restartToAcceptMs: Math.round(restartToAcceptMs),
      transactions: TRANSACTIONS,
      batches,
      storeMiB: Math.round((dirSize(dir) / 2 ** 20) * 10) / 10,
    };
  } finally {
    await op.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) runStandalone(run);
