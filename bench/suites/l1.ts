/**
 * What things cost and how long they take on L1, measured from real receipts
 * on the in-process Hardhat network (hardfork osaka). Parts of the `rollup`
 * suite (bench/run.ts calls each function and files its figures):
 *
 *   measureL1Transfers()    section `l1`: a plain ETH transfer and an ERC-20
 *                           transfer (gas, time to inclusion), the block gas limit
 *   measureBatchSizes()     section `rollup`, `byBatchSize`: L1 gas per L2
 *                           transfer (append + proposal) for batches of 1 to
 *                           1,500 transfers, beside the calldata floor of their bytes
 *   measureFraudProofs()    section `rollup`: the worst-case fraud proofs
 *                           (test/rollup/gas.test.ts's scenario, its helpers), and
 *                           the signed size of the largest append and proof
 *                           against the 131,072 bytes a public mempool relays
 *   measureRollupLatency()  section `rollup`: one transfer at a time through the
 *                           real operator (JSON-RPC, default batch age): time to
 *                           the acknowledgement, to its batch on L1, to its proposal
 *
 * Each returns flat numeric figures; `byBatchSize` is a list of rows.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { Provider } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { MAX_BATCH_BYTES } from "../../src/l1/batch";
import { MAX_TXS_PER_CHUNK, TX_SIZE, TxType } from "../../src/protocol/constants";
import { encodeTx } from "../../src/protocol/codec";
import { signTxWithKey } from "../../src/protocol/eip712";
import { concatBytes, initHashing, keccak256, toHex } from "../../src/protocol/hash";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { deployBenchRollup, queueItems } from "./_helpers";

/** One row of a measured series (e.g. one batch size). */
export type Row = Record<string, number>;
export type Figures = Record<string, number | Row[]>;

/** EIP-7623: calldata tokens are zero bytes + 4 × non-zero bytes; the floor is 10 gas per token (+ 21,000 per tx). */
export const FLOOR_GAS_PER_TOKEN = 10;
export const TX_BASE_GAS = 21_000;

/** Calldata tokens of `bytes` (EIP-2028/7623): 1 per zero byte, 4 per non-zero byte. */
export function calldataTokens(bytes: Uint8Array): number {
  let zeros = 0;
  for (const b of bytes) if (b === 0) zeros++;
  return zeros + 4 * (bytes.length - zeros);
}

/** The largest batch of plain transfers the inbox takes: `MAX_BATCH_BYTES` (120,000) / 80 bytes. */
const FULL_BATCH = Math.floor(MAX_BATCH_BYTES / TX_SIZE[TxType.Transfer]);
/** Transfers per batch measured by `measureBatchSizes`. */
export const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, FULL_BATCH];

const ACCOUNTS = 256;
const ETH = 10n ** 18n;

async function hardhat(): Promise<HardhatRuntimeEnvironment> {
  // Loaded lazily so that importing this module does not start Hardhat.
  const hre = (await import("hardhat")).default;
  await hre.run("compile", { quiet: true });
  await initHashing();
  return hre;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** A plain ETH transfer, an ERC-20 transfer (OpenZeppelin ERC20), each to a holder and to a new address. */
export async function measureL1Transfers(): Promise<Figures> {
  const hre = await hardhat();
  const [alice, bob] = await hre.ethers.getSigners();
  const gas = async (tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>): Promise<number> =>
    Number((await (await tx).wait())?.gasUsed ?? 0n);

  const ethTransferGas = await gas(alice.sendTransaction({ to: bob.address, value: 1n }));
  const ethTransferToNewGas = await gas(
    alice.sendTransaction({ to: hre.ethers.Wallet.createRandom().address, value: 1n }),
  );
  const token = await (await hre.ethers.getContractFactory("MockERC20")).deploy("Bench", "BNCH");
  await (await token.mint(alice.address, ETH)).wait();
  await (await token.mint(bob.address, ETH)).wait();
  const erc20TransferGas = await gas(token.connect(alice).transfer(bob.address, 10n ** 15n));
  const erc20TransferToNewGas = await gas(
    token.connect(alice).transfer(hre.ethers.Wallet.createRandom().address, 10n ** 15n),
  );

  // Time to inclusion: send, then wait for the receipt. The in-process network mines each transaction at once.
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await (await alice.sendTransaction({ to: bob.address, value: 1n })).wait();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const block = await hre.ethers.provider.getBlock("latest");
  return {
    ethTransferGas,
    ethTransferToNewGas,
    erc20TransferGas,
    erc20TransferToNewGas,
    inclusionLatencyMsP50: round(percentile(samples, 50)),
    inclusionLatencyMsP99: round(percentile(samples, 99)),
    blockGasLimit: Number(block?.gasLimit ?? 0n),
  };
}

/**
 * Batches of 1 … 1,500 signed transfers (32 per chunk), each appended by the
 * sequencer and proposed with honest step roots; per batch size the L1 gas per
 * transfer of the two transactions, and the EIP-7623 floor of the transfers' bytes.
 */
export async function measureBatchSizes(): Promise<Figures> {
  const hre = await hardhat();
  const [deployer, sequencer, proposer] = await hre.ethers.getSigners();
  const dep = await deployBenchRollup(deployer, sequencer.address, 10n ** 17n);
  const { bridge, inbox, stateCommitmentChain: chain } = dep.handles;
  const domain = (await inbox.domainSeparator()).toLowerCase();
  const keys = Array.from({ length: ACCOUNTS }, (_, i) => keccak256(new TextEncoder().encode(`bench-l1-${i}`)));
  let depositEthGas = 0;
  for (const key of keys) {
    const receipt = await (await bridge.depositEth(privateKeyToAddress(key), 0, { value: ETH })).wait();
    depositEthGas = Number(receipt?.gasUsed ?? 0n); // every one alike: a queue item for a new L2 account
  }
  const queue = await queueItems(bridge);
  const state = new L2State();
  const propose = async (k: number, queueItems: typeof queue, chunks: Uint8Array[]): Promise<bigint> => {
    const { stepRoots } = applyBatch(state, { queueItems, chunks, feeRecipient: 0, domainSeparator: domain });
    const receipt = await (await chain.connect(proposer).propose(k, stepRoots, { value: 10n ** 17n })).wait();
    return receipt?.gasUsed ?? 0n;
  };
  await (await inbox.connect(sequencer).appendBatch([], ACCOUNTS, 0)).wait();
  await propose(0, queue, []);

  // The transfers of bench/suites/rollup.ts: account i to i + 1 + (i mod 7), 10^12 wei, no fee.
  const nonces = new Array<number>(ACCOUNTS).fill(0);
  let n = 0;
  const nextTransfer = (): Uint8Array => {
    const from = n % ACCOUNTS;
    const tx = {
      type: TxType.Transfer as const,
      from: from + 1,
      to: ((from + 1 + (n % 7)) % ACCOUNTS) + 1,
      amount: 10n ** 12n,
      fee: 0n,
    };
    n++;
    return encodeTx({ ...tx, signature: signTxWithKey(keys[from], domain, tx, 0, nonces[from]++) });
  };

  const rows: Row[] = [];
  for (const [i, size] of BATCH_SIZES.entries()) {
    const txs = Array.from({ length: size }, nextTransfer);
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < size; c += MAX_TXS_PER_CHUNK) chunks.push(concatBytes(...txs.slice(c, c + MAX_TXS_PER_CHUNK)));
    const response = await inbox.connect(sequencer).appendBatch(chunks, 0, 0);
    const appendGas = Number((await response.wait())?.gasUsed ?? 0n);
    const proposeGas = Number(await propose(i + 1, [], chunks));
    const transferBytes = concatBytes(...chunks);
    const calldataBytes = (response.data.length - 2) / 2;
    rows.push({
      transfers: size,
      chunks: chunks.length,
      appendGas,
      proposeGas,
      gasPerTransfer: round((appendGas + proposeGas) / size, 1),
      calldataBytesPerTransfer: round(calldataBytes / size),
      floorGasPerTransfer: round((FLOOR_GAS_PER_TOKEN * calldataTokens(transferBytes)) / size, 1),
    });
  }
  const full = rows[rows.length - 1];
  return {
    byBatchSize: rows,
    fullBatchGasPerTransfer: full.gasPerTransfer,
    singleTransferBatchGas: rows[0].appendGas + rows[0].proposeGas,
    depositEthGas,
  };
}

/**
 * The worst-case fraud proofs of test/rollup/gas.test.ts, built with its
 * helpers: a batch of the most steps (32 queue steps of deposits whose hints
 * miss, then 113 chunks, the first 32 fee-paying TransferToNew), a proposal
 * lying at one step, and the proof of that step; once per worst step. With
 * them, the serialized size of each proof and of the largest `appendBatch`
 * the limits allow, signed with every field at its widest.
 */
export async function measureFraudProofs(): Promise<Figures> {
  const hre = await hardhat();
  const { RollupModel, ChunkBuilder, garbageRoot } = await import("../../test/rollup/helpers/model");
  const { fillQueue } = await import("../../test/rollup/helpers/fixtures");
  const { largestBatchChunks, widestSignedSize } = await import("../../test/rollup/helpers/mempool");
  const { MAX_CHUNKS_PER_BATCH, MAX_QUEUE_ITEMS_PER_BATCH } = await import("../../src/l1/batch");
  const [deployer, sequencer, proposer, challenger] = await hre.ethers.getSigners();
  const dep = await deployBenchRollup(deployer, sequencer.address, ETH);
  const model = await RollupModel.create(dep.handles);
  const wallet = async (label: string) => {
    const w = new hre.ethers.Wallet(
      toHex(keccak256(new TextEncoder().encode(`bench fraud proof ${label}`))),
      hre.ethers.provider,
    );
    await hre.network.provider.send("hardhat_setBalance", [w.address, hre.ethers.toQuantity(1000n * ETH)]);
    return w;
  };
  const alice = await wallet("alice");
  const mallory = await wallet("mallory");
  const { bridge } = dep.handles;

  // Batch 0: Alice's account (1) and the fee account (2).
  await (await bridge.connect(alice).depositEth(alice.address, 0, { value: 100n * ETH })).wait();
  await (await bridge.connect(sequencer).depositEth(sequencer.address, 0, { value: 1n })).wait();
  await model.syncQueue();
  await model.append(sequencer, [], 2, 0);
  // Batch 1: 1,024 deposits hinting at account 1 (each reads two slots), then 32 fee-paying TransferToNew, 112 empty.
  await fillQueue(deployer, dep.contracts.bridge, deployer.address, MAX_QUEUE_ITEMS_PER_BATCH, 1);
  await model.syncQueue();
  const afterQueue = model.tip().clone();
  for (let i = 0; i < MAX_QUEUE_ITEMS_PER_BATCH; i += 32) {
    model.applyStep(1, afterQueue, { kind: "queue", items: model.queue.slice(2 + i, 2 + i + 32) });
  }
  const builder = new ChunkBuilder(afterQueue, model.domain);
  for (let i = 0; i < 32; i++) {
    const to = hre.ethers.Wallet.createRandom().address;
    builder.add(alice, { type: TxType.TransferToNew, from: 1, to, amount: ETH, fee: 10n ** 15n });
  }
  const chunks = [builder.build(), ...Array.from({ length: MAX_CHUNKS_PER_BATCH - 1 }, () => new Uint8Array(0))];
  await model.append(sequencer, chunks, MAX_QUEUE_ITEMS_PER_BATCH, 2);
  await model.propose(proposer, 0);
  const trace = model.trace(1);

  const fraudVerifier = await dep.handles.fraudVerifier.getAddress();
  const proofBytes: number[] = [];
  const proofGas = async (step: number): Promise<number> => {
    const roots = trace.stepRoots.map((root, i) => (i === step ? garbageRoot(step) : root));
    await model.propose(mallory, 1, roots);
    const response = await model.challenge(challenger, 1, step, roots);
    const receipt = await response.wait();
    if ((await dep.handles.stateCommitmentChain.proposalCount()) !== 1n) throw new Error("the proof did not roll back");
    proofBytes.push(await widestSignedSize(fraudVerifier, response.data));
    return Number(receipt?.gasUsed ?? 0n);
  };
  const chunkStep = MAX_QUEUE_ITEMS_PER_BATCH / 32;
  const fraudProofChunkStepGas = await proofGas(chunkStep);
  const fraudProofQueueStepGas = await proofGas(0);
  const fraudProofLastQueueStepGas = await proofGas(chunkStep - 1);
  const largest = dep.handles.inbox.interface.encodeFunctionData("appendBatch", [
    largestBatchChunks(),
    MAX_QUEUE_ITEMS_PER_BATCH,
    2 ** 32 - 1,
  ]);
  return {
    maxFraudProofGas: Math.max(fraudProofChunkStepGas, fraudProofQueueStepGas, fraudProofLastQueueStepGas),
    fraudProofChunkStepGas,
    fraudProofQueueStepGas,
    fraudProofLastQueueStepGas,
    fraudProofBatchSteps: trace.stepRoots.length,
    maxFraudProofSignedBytes: Math.max(...proofBytes),
    largestAppendSignedBytes: await widestSignedSize(dep.contracts.rollupInbox, largest),
  };
}

function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => {
          const answer = JSON.parse(Buffer.concat(parts).toString("utf8")) as { result?: unknown; error?: unknown };
          if (answer.error !== undefined) reject(new Error(`${method}: ${JSON.stringify(answer.error)}`));
          else resolve(answer.result);
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * One transfer at a time through the real operator with its default batch
 * limits (a batch closes 2 s after it opens): time from sending
 * `l2_sendTransaction` to its answer (soft confirmation; 200 transfers one
 * after another), and for a lone transfer to the L1 block holding its batch
 * and to the L1 block holding the batch's proposal (mean of 3).
 */
export async function measureRollupLatency(): Promise<Figures> {
  const ACK_SAMPLES = 200;
  const L1_SAMPLES = 3;
  const hre = await hardhat();
  const { defaultConfig } = await import("../../src/operator/config");
  const { silentLogger } = await import("../../src/operator/log");
  const { Operator } = await import("../../src/operator/operator");
  const { operatorWallet } = await import("../../tasks/lib");
  const provider = hre.ethers.provider as unknown as Provider;
  const [deployer] = await hre.ethers.getSigners();
  const operatorKey = await operatorWallet(hre, provider, 18);
  const dep = await deployBenchRollup(deployer, operatorKey.address, ETH);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-bench-latency-"));
  const config = defaultConfig(dep.chainId, dir);
  config.port = 0;
  const op = await Operator.start({ config, provider, wallet: operatorKey, deployment: dep, logger: silentLogger() });
  const { inbox, stateCommitmentChain: chain, bridge } = dep.handles;
  const waitFor = async (what: string, probe: () => Promise<boolean>): Promise<number> => {
    const deadline = Date.now() + 60_000;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return performance.now();
  };
  try {
    const key = keccak256(new TextEncoder().encode("bench-latency-sender"));
    await (await bridge.depositEth(privateKeyToAddress(key), 0, { value: ETH })).wait();
    await (await bridge.depositEth(deployer.address, 0, { value: ETH })).wait();
    // Settled: no batch open, every closed batch appended and proposed.
    const settled = async (): Promise<boolean> => {
      const { batches } = op.sequencer.status();
      return batches.open === undefined && BigInt(batches.closed) === (await chain.proposalCount());
    };
    await waitFor("the deposits", async () => op.sequencer.status().queue.sequenced === 2 && (await settled()));
    const domain = (await inbox.domainSeparator()).toLowerCase();
    let nonce = 0;
    const signed = (): string => {
      const tx = { type: TxType.Transfer as const, from: 1, to: 2, amount: 10n ** 12n, fee: 0n };
      return toHex(encodeTx({ ...tx, signature: signTxWithKey(key, domain, tx, 0, nonce++) }));
    };
    // The acknowledgement alone: one transfer after another, each answered once it is stored.
    const ack: number[] = [];
    for (let i = 0; i < ACK_SAMPLES; i++) {
      const hex = signed();
      const start = performance.now();
      await rpc(op.url, "l2_sendTransaction", [hex]);
      ack.push(performance.now() - start);
    }
    ack.sort((x, y) => x - y);
    await waitFor("the acknowledged transfers' batches", settled);
    // Then a lone transfer, until its batch is on L1 and proposed.
    const onL1: number[] = [];
    const proposed: number[] = [];
    for (let i = 0; i < L1_SAMPLES; i++) {
      const hex = signed();
      const batches = await inbox.batchCount();
      const start = performance.now();
      await rpc(op.url, "l2_sendTransaction", [hex]);
      onL1.push((await waitFor("the batch", async () => (await inbox.batchCount()) > batches)) - start);
      proposed.push((await waitFor("the proposal", async () => (await chain.proposalCount()) > batches)) - start);
    }
    const mean = (xs: number[]): number => round(xs.reduce((x, y) => x + y, 0) / xs.length, 1);
    return {
      softConfirmationMsP50: round(percentile(ack, 50)),
      softConfirmationMsP99: round(percentile(ack, 99)),
      l1InclusionMsMean: mean(onL1),
      proposalMsMean: mean(proposed),
      l1InclusionSamples: L1_SAMPLES,
      batchMaxAgeMs: config.batch.maxAgeMs,
      operatorPollMs: config.pollMs,
    };
  } finally {
    await op.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
