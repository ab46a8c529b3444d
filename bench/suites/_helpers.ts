/**
 * Helpers shared by the bench suites and bench/protocol.ts. Not a suite: bench/run.ts names its suites' files,
 * and no file starting with `_` is one.
 */
import type { Provider, Signer } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { MAX_BATCH_BYTES } from "../../src/l1/batch";
import { TxType } from "../../src/protocol/constants";
import { encodeTx, txHash } from "../../src/protocol/codec";
import { signTxWithKey } from "../../src/protocol/eip712";
import { concatBytes, keccak256 } from "../../src/protocol/hash";
import type { QueueItem } from "../../src/protocol/queue";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
// Type-only: the module itself is loaded lazily (see `deployBenchRollup`).
import type { DeployedRollup } from "../../scripts/deploy";

/** Deterministic xorshift32, so every run measures the same work. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/**
 * The rollup as the benches deploy it, not written to a deployment file: a one-hour challenge window, a one-day
 * forced-inclusion delay, `sequencer` as the sequencer and `proposerBond` as the bond.
 */
export async function deployBenchRollup(
  deployer: Signer,
  sequencer: string,
  proposerBond: bigint,
): Promise<DeployedRollup> {
  // Loaded lazily so that importing a suite does not start Hardhat.
  const { deployRollup } = await import("../../scripts/deploy");
  return deployRollup(
    deployer,
    {
      challengeWindowSeconds: 3600n,
      forcedInclusionDelaySeconds: 86_400n,
      proposerBond,
      sequencer,
    },
    { write: false },
  );
}

/** Every item the bridge has appended to the L1 queue so far, as the STF takes them. */
export async function queueItems(bridge: DeployedRollup["handles"]["bridge"]): Promise<QueueItem[]> {
  return (await bridge.queryFilter(bridge.filters.QueueItemAppended())).map((e) => ({
    kind: Number(e.args.kind),
    addr: e.args.addr.toLowerCase(),
    tokenId: Number(e.args.tokenId),
    amount: e.args.amount,
    account: Number(e.args.account),
    timestamp: e.args.timestamp,
  }));
}

/** Signed transfers per chunk in {@link signedTransferHistory}'s batches. */
const TXS_PER_CHUNK = 32;
/** Full chunks of 32 transfers in a batch at the inbox's byte limit. */
export const TRANSFER_CHUNKS_PER_BATCH = Math.floor(MAX_BATCH_BYTES / (TXS_PER_CHUNK * 80));
/** Signed transfers in a full batch of {@link signedTransferHistory}. */
export const TRANSFERS_PER_BATCH = TRANSFER_CHUNKS_PER_BATCH * TXS_PER_CHUNK;

/** What {@link signedTransferHistory} put on L1. */
export interface SignedTransferHistory {
  provider: Provider;
  dep: DeployedRollup;
  /** The honest mirror: the state after every batch (what the proposer's roots were computed on). */
  state: L2State;
  /** The accounts' keys (account i + 1 is owned by `keys[i]`'s address). */
  keys: Uint8Array[];
  transfers: number;
  batches: number;
  /** One transfer of the middle batch (chunk 3, position 5). */
  sample: string;
}

/**
 * An L1 history for the suites that read one back (verifier, explorer), on the in-process network: `accounts`
 * accounts deposited and consumed by a queue batch, then full batches of random signed transfers (46 chunks of 32,
 * as many as the inbox's byte limit holds; the last one cut at `transfers`), each appended by the sequencer and
 * proposed honestly.
 */
export async function signedTransferHistory(
  hre: HardhatRuntimeEnvironment,
  opts: { label: string; accounts: number; transfers: number; seed: number },
): Promise<SignedTransferHistory> {
  const provider = hre.ethers.provider as unknown as Provider;
  const [deployer, sequencer, proposer] = await hre.ethers.getSigners();
  const dep = await deployBenchRollup(deployer, sequencer.address, 10n ** 17n);
  const { bridge, inbox, stateCommitmentChain: chain } = dep.handles;
  const domain = (await inbox.domainSeparator()).toLowerCase();
  const { accounts } = opts;

  const keys = Array.from({ length: accounts }, (_, i) => keccak256(new TextEncoder().encode(`${opts.label}-${i}`)));
  for (const key of keys) {
    await (await bridge.connect(deployer).depositEth(privateKeyToAddress(key), 0, { value: 10n ** 18n })).wait();
  }
  const queue = await queueItems(bridge);
  const state = new L2State();
  const propose = async (k: number, items: QueueItem[], chunks: Uint8Array[]): Promise<void> => {
    const { stepRoots } = applyBatch(state, { queueItems: items, chunks, feeRecipient: 0, domainSeparator: domain });
    await (await chain.connect(proposer).propose(k, stepRoots, { value: 10n ** 17n })).wait();
  };
  await (await inbox.connect(sequencer).appendBatch([], accounts, 0)).wait();
  await propose(0, queue, []);

  const batches = Math.ceil(opts.transfers / TRANSFERS_PER_BATCH);
  const random = rng(opts.seed);
  const nonces = new Array<number>(accounts + 1).fill(0);
  let transfers = 0;
  let sample = "";
  for (let b = 1; b <= batches; b++) {
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < TRANSFER_CHUNKS_PER_BATCH && transfers < opts.transfers; c++) {
      const txs: Uint8Array[] = [];
      for (let t = 0; t < TXS_PER_CHUNK && transfers + txs.length < opts.transfers; t++) {
        const from = 1 + Math.floor(random() * accounts);
        const to = 1 + ((from + Math.floor(random() * (accounts - 1))) % accounts);
        const tx = { type: TxType.Transfer as const, from, to, amount: 10n ** 12n * BigInt(1 + (t % 9)), fee: 0n };
        txs.push(encodeTx({ ...tx, signature: signTxWithKey(keys[from - 1], domain, tx, 0, nonces[from]++) }));
      }
      chunks.push(concatBytes(...txs));
      transfers += txs.length;
    }
    if (b === Math.ceil(batches / 2)) sample = txHash(chunks[3].subarray(80 * 5, 80 * 6));
    await (await inbox.connect(sequencer).appendBatch(chunks, 0, 0)).wait();
    await propose(b, [], chunks);
  }
  return { provider, dep, state, keys, transfers, batches, sample };
}

/** Runs a suite on its own (`npx ts-node bench/suites/<suite>.ts`): prints its figures, or the error and exit code 1. */
export function runStandalone(run: () => Promise<unknown>): void {
  run().then(
    (figures) => console.log(figures),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
