/**
 * Suite `explorer`: the explorer indexing 100,000 L2 transactions from L1, then answering a page.
 *
 * On the in-process Hardhat network (osaka): 256 accounts are deposited and consumed by a queue batch, then full
 * batches of signed transfers (46 chunks of 32, the inbox's 120,000-byte limit) are appended and proposed until
 * 100,000 transfers are on L1. A fresh explorer then starts: its watch-only verifier replays every batch from L1
 * (logs, calldata, the STF with every signature recovered) and its index keeps each transaction with its outcome;
 * then a transaction lookup and an address page are fetched over HTTP.
 *
 * - transactions: what it indexed; indexSeconds: the start (sync and index) to serving
 * - transactionsIndexedPerSecond: transactions / indexSeconds
 * - txLookupMs, addressPageMs: one page each over HTTP once serving (median of 20)
 * - indexMiB: heap grown by the index and replica (after a GC, when exposed)
 */
import { initHashing } from "../../src/protocol/hash";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { runStandalone, signedTransferHistory } from "./_helpers";

export const description = "Explorer: indexing 100,000 L2 transactions from L1, then a transaction and an address page";

const ACCOUNTS = 256;
const TRANSACTIONS = Number(process.env.BENCH_EXPLORER_TXS ?? 100_000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeGet(url: string, runs = 20): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    await res.text();
    ms.push(performance.now() - t);
  }
  return Math.round(median(ms) * 100) / 100;
}

export async function run(): Promise<Record<string, number>> {
  const hre = (await import("hardhat")).default;
  await hre.run("compile", { quiet: true });
  const { Explorer } = await import("../../src/explorer/explorer");
  await initHashing();

  const history = await signedTransferHistory(hre, {
    label: "bench-explorer",
    accounts: ACCOUNTS,
    transfers: TRANSACTIONS,
    seed: 11,
  });
  const { provider, dep, keys, transfers, sample: probe } = history;

  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = performance.now();
  const explorer = await Explorer.start({ provider, deployment: dep, pollMs: 60_000 });
  const seconds = (performance.now() - start) / 1000;
  try {
    gc?.();
    const heap = process.memoryUsage().heapUsed - heapBefore;
    if (explorer.index.txs.length !== transfers) {
      throw new Error(`the explorer indexed ${explorer.index.txs.length} transactions, L1 holds ${transfers}`);
    }
    const tx = explorer.index.tx(probe);
    if (!tx || tx.outcome !== "Applied") throw new Error(`transaction ${probe} is not indexed as applied`);
    const owner = privateKeyToAddress(keys[tx.from - 1]);
    const txLookupMs = await timeGet(`${explorer.url}/tx/${probe}`);
    const addressPageMs = await timeGet(`${explorer.url}/address/${owner}`);
    return {
      transactions: transfers,
      batches: history.batches,
      indexSeconds: Math.round(seconds * 100) / 100,
      transactionsIndexedPerSecond: Math.round(transfers / seconds),
      txLookupMs,
      addressPageMs,
      ...(gc ? { indexMiB: Math.round((heap / 2 ** 20) * 10) / 10 } : {}),
    };
  } finally {
    await explorer.stop();
  }
}

if (require.main === module) runStandalone(run);
