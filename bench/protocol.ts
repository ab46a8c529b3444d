/**
 * Suite `protocol`: the TypeScript protocol core on one core.
 *
 * - transfersPerSecond: 20,000 pre-signed transfers among 10,000 accounts, in
 *   chunks of 32 with a fee each, through `applyChunk` with every signature
 *   checked and the state root computed once per chunk (no witnesses).
 * - transfersPerCpuSecond: the same run per second of CPU time used (robust to other load).
 * - transfersPerSecondWithWitness: the same chunks recording witnesses (what a challenger does).
 * - treeUpdatesPerSecond: leaf updates of a 100,000-leaf account tree in batches
 *   of 64 (one chunk's writes), each batch followed by the root.
 * - keccakPerSecond, recoversPerSecond: the two primitives that bound the above.
 */
import secp256k1 from "secp256k1";
import {
  applyChunk,
  concatBytes,
  domainSeparator,
  encodeTx,
  floorToPackableAmount,
  initHashing,
  keccak256,
  L2State,
  MAX_TXS_PER_CHUNK,
  nativeKeccak256,
  Outcome,
  privateKeyToAddress,
  recoverCompact,
  signTxWithKey,
  SparseMerkleTree,
  txDigest,
  TxType,
  type Account,
  type Transfer,
} from "../src/protocol";
import { rng } from "./suites/_helpers";

export const description = "TypeScript STF: signed transfers/s, Merkle tree updates/s";

const ACCOUNTS = 10_000;
const TRANSFERS = 20_000;
const TREE_LEAVES = 100_000;
const TREE_BATCH = 64;
const TREE_BATCHES = 1_500;

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function perSecond(count: number, start: bigint): number {
  return Math.round(count / seconds(start));
}

interface Workload {
  state: L2State;
  chunks: Uint8Array[];
  domainSep: string;
}

function buildWorkload(): Workload {
  const keys = Array.from({ length: ACCOUNTS }, (_, i) => nativeKeccak256(new TextEncoder().encode(`bench/key/${i}`)));
  const accounts: Account[] = keys.map((key) => ({
    owner: privateKeyToAddress(key),
    tokenId: 0,
    balance: 10n ** 24n,
    nonce: 0,
  }));
  const state = L2State.fromAccounts(accounts);
  const domainSep = domainSeparator(31337n, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
  const nonces = new Array<number>(ACCOUNTS).fill(0);
  const random = rng(42);
  const chunks: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  for (let i = 0; i < TRANSFERS; i++) {
    const from = 1 + Math.floor(random() * ACCOUNTS);
    let to = 1 + Math.floor(random() * ACCOUNTS);
    if (to === from) to = (to % ACCOUNTS) + 1;
    const amount = floorToPackableAmount(BigInt(Math.floor(random() * 1e12)) * 10n ** 6n);
    const fee = BigInt(1 + Math.floor(random() * 2047));
    const unsigned = { type: TxType.Transfer as const, from, to, amount, fee };
    const signature = signTxWithKey(keys[from - 1], domainSep, unsigned, 0, nonces[from - 1]++);
    parts.push(encodeTx({ ...unsigned, signature } satisfies Transfer));
    if (parts.length === MAX_TXS_PER_CHUNK) {
      chunks.push(concatBytes(...parts));
      parts = [];
    }
  }
  if (parts.length > 0) chunks.push(concatBytes(...parts));
  return { state, chunks, domainSep };
}

function applyAll(work: Workload, chunks: readonly Uint8Array[], witness: boolean): L2State {
  const state = work.state.clone();
  const ctx = { domainSeparator: work.domainSep, feeRecipient: 1 };
  for (const chunk of chunks) {
    const result = applyChunk(state, chunk, ctx, { witness });
    for (const o of result.outcomes) {
      if (o.code !== Outcome.Applied) throw new Error(`benchmark transfer ${o.index} skipped: ${o.reason}`);
    }
  }
  return state;
}

function benchTransfers(work: Workload): Record<string, number> {
  applyAll(work, work.chunks.slice(0, 40), false); // warm-up: JIT and caches
  let start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  applyAll(work, work.chunks, false);
  const transfersPerSecond = perSecond(TRANSFERS, start);
  // The same run per second of this process's CPU time: what one free core does, whatever else runs.
  const cpu = process.cpuUsage(cpuStart);
  const transfersPerCpuSecond = Math.round(TRANSFERS / ((cpu.user + cpu.system) / 1e6));
  const sample = work.chunks.slice(0, 100);
  start = process.hrtime.bigint();
  applyAll(work, sample, true);
  const transfersPerSecondWithWitness = perSecond(sample.length * MAX_TXS_PER_CHUNK, start);
  return { transfersPerSecond, transfersPerCpuSecond, transfersPerSecondWithWitness };
}

function benchTree(): number {
  const tree = new SparseMerkleTree();
  const leaf = (i: number, round: number): Uint8Array => {
    const bytes = new Uint8Array(32);
    new DataView(bytes.buffer).setUint32(0, i);
    new DataView(bytes.buffer).setUint32(4, round + 1);
    return bytes;
  };
  for (let i = 1; i <= TREE_LEAVES; i++) tree.setLeaf(i, leaf(i, 0));
  tree.root();
  const random = rng(7);
  const updates = Array.from({ length: TREE_BATCHES * TREE_BATCH }, () => 1 + Math.floor(random() * TREE_LEAVES));
  const start = process.hrtime.bigint();
  for (let b = 0; b < TREE_BATCHES; b++) {
    for (let k = b * TREE_BATCH; k < (b + 1) * TREE_BATCH; k++) tree.setLeaf(updates[k], leaf(updates[k], b));
    tree.root();
  }
  return perSecond(TREE_BATCHES * TREE_BATCH, start);
}

function benchKeccak(): number {
  const input = new Uint8Array(64);
  const n = 300_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    input[0] = i & 0xff;
    keccak256(input);
  }
  return perSecond(n, start);
}

function benchRecover(): number {
  const key = keccak256(new TextEncoder().encode("bench/recover"));
  const tx = { type: TxType.Withdraw as const, from: 1, amount: 5n, fee: 0n };
  const n = 5_000;
  const digests = Array.from({ length: n }, (_, i) => txDigest(new Uint8Array(32), tx, 0, i));
  const signatures = digests.map((d) => {
    const { signature, recid } = secp256k1.ecdsaSign(d, key);
    signature[32] |= recid << 7;
    return signature;
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (recoverCompact(digests[i], signatures[i]) === null) throw new Error("recover failed");
  }
  return perSecond(n, start);
}

export async function run(): Promise<Record<string, number>> {
  await initHashing();
  const work = buildWorkload();
  return {
    ...benchTransfers(work),
    treeUpdatesPerSecond: benchTree(),
    keccakPerSecond: benchKeccak(),
    recoversPerSecond: benchRecover(),
  };
}
