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
import type { Provider } from "ethers";
import { MAX_BATCH_BYTES } from "../../src/l1/batch";
import { TxType } from "../../src/protocol/constants";
import { encodeTx, txHash } from "../../src/protocol/codec";
import { signTxWithKey } from "../../src/protocol/eip712";
import { concatBytes, initHashing, keccak256 } from "../../src/protocol/hash";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { deployBenchRollup, queueItems, rng, runStandalone } from "./_helpers";

export const description = "Explorer: indexing 100,000 L2 transactions from L1, then a transaction and an address page";

const ACCOUNTS = 256;
const TXS_PER_CHUNK = 32;
const CHUNKS_PER_BATCH = Math.floor(MAX_BATCH_BYTES / (TXS_PER_CHUNK * 80));
const TRANSACTIONS = Number(process.env.BENCH_EXPLORER_TXS ?? 100_000);
const BATCHES = Math.ceil(TRANSACTIONS / (CHUNKS_PER_BATCH * TXS_PER_CHUNK));

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

  const provider = hre.ethers.provider as unknown as Provider;
  const [deployer, sequencer, proposer] = await hre.ethers.getSigners();
  const dep = await deployBenchRollup(deployer, sequencer.address, 10n ** 17n);
  const { bridge, inbox, stateCommitmentChain: chain } = dep.handles;
  const domain = (await inbox.domainSeparator()).toLowerCase();

  const keys = Array.from({ length: ACCOUNTS }, (_, i) => keccak256(new TextEncoder().encode(`bench-explorer-${i}`)));
  for (const key of keys) {
    await (await bridge.connect(deployer).depositEth(privateKeyToAddress(key), 0, { value: 10n ** 18n })).wait();
  }
  const queue = await queueItems(bridge);
  const state = new L2State();
  const propose = async (k: number, items: typeof queue, chunks: Uint8Array[]): Promise<void> => {
    const { stepRoots } = applyBatch(state, { queueItems: items, chunks, feeRecipient: 0, domainSeparator: domain });
    await (await chain.connect(proposer).propose(k, stepRoots, { value: 10n ** 17n })).wait();
  };
  await (await inbox.connect(sequencer).appendBatch([], ACCOUNTS, 0)).wait();
  await propose(0, queue, []);

  const random = rng(11);
  const nonces = new Array<number>(ACCOUNTS + 1).fill(0);
  let transfers = 0;
  let probe = "";
  for (let b = 1; b <= BATCHES; b++) {
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < CHUNKS_PER_BATCH && transfers < TRANSACTIONS; c++) {
      const txs: Uint8Array[] = [];
      for (let t = 0; t < TXS_PER_CHUNK && transfers + txs.length < TRANSACTIONS; t++) {
        const from = 1 + Math.floor(random() * ACCOUNTS);
        const to = 1 + ((from + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS);
        const tx = { type: TxType.Transfer as const, from, to, amount: 10n ** 12n * BigInt(1 + (t % 9)), fee: 0n };
        txs.push(encodeTx({ ...tx, signature: signTxWithKey(keys[from - 1], domain, tx, 0, nonces[from]++) }));
      }
      chunks.push(concatBytes(...txs));
      transfers += txs.length;
    }
    if (b === Math.ceil(BATCHES / 2)) probe = txHash(chunks[3].subarray(80 * 5, 80 * 6));
    await (await inbox.connect(sequencer).appendBatch(chunks, 0, 0)).wait();
    await propose(b, [], chunks);
  }

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
      batches: BATCHES,
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
