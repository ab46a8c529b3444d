/**
 * Suite `bls`: BLS aggregate transfers (PROTOCOL.md §5.4) beside the signed
 * ones of suites `rollup` and `verifier`, on the in-process Hardhat network
 * (osaka).
 *
 * 256 accounts are deposited and each registers a BLS key (RegisterKey, in
 * ECDSA chunks); then BATCHES full batches of BLS chunks — 40 transfers each,
 * 2-byte indices, as many chunks as the inbox takes (its chunk limit binds
 * before its byte limit) — are appended by the sequencer and proposed
 * honestly. The figures come from those batches' receipts:
 *
 * - bytesPerTransfer: appendBatch calldata bytes per BLS transfer (its share of the aggregate and of the ABI framing
 *   included; target ≤ 12)
 * - transferBytes: chunk bytes per BLS transfer (the chunks alone)
 * - gasPerTransfer: (appendBatch + propose gas) / transfers (target ≤ 500)
 * - appendGasPerTransfer, proposeGasPerTransfer: the two parts
 * - batchSize: BLS transfers in a full batch
 *
 * A fresh verifier then syncs from L1 alone, checking every aggregate (on
 * its pool of threads, while each batch replays):
 *
 * - verifierTransfersPerSecond: BLS transfers rebuilt per second of that sync (target ≥ 5,000)
 * - aggregateCpuMicrosPerMessage: CPU µs of an aggregate check per message (one hash to G2 and one Miller loop):
 *   what bounds that rate, cores / this
 *
 * And the operation that bounds a sequencer, which must check each BLS
 * signature before it acknowledges the transfer (batch verification, one
 * pairing per signature). blst spreads a check over the cores by itself, so
 * CPU time, not wall time, says what a core does:
 *
 * - verifyMicrosPerSignature: wall µs per signature, checked 40 at a time
 * - verifyCpuMicrosPerSignature: CPU µs per signature
 * - signaturesPerSecondPerCore: 1e6 / verifyCpuMicrosPerSignature
 * - signMicros: µs to sign one BLS transfer (the client's cost)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Provider } from "ethers";
import { MAX_CHUNKS_PER_BATCH } from "../../src/l1/batch";
import {
  blsKeyFromSeed,
  blsRawPublicKey,
  blsSign,
  blsVerifyAggregateRaw,
  blsVerifyEach,
  type BlsKeyPair,
} from "../../src/protocol/bls";
import { encodeBlsChunk, type BlsTransferFields } from "../../src/protocol/bls-chunk";
import { MAX_BLS_TRANSFERS_PER_CHUNK, MAX_TXS_PER_CHUNK, TxType } from "../../src/protocol/constants";
import { encodeTx } from "../../src/protocol/codec";
import { blsTransferDigest, signTxWithKey } from "../../src/protocol/eip712";
import { concatBytes, initHashing, keccak256, toHex } from "../../src/protocol/hash";
import { blsAggregate } from "../../src/protocol/bls";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { deployBenchRollup, queueItems, rng } from "./_helpers";

export const description =
  "BLS aggregate transfers: bytes and L1 gas per transfer in a full batch, verifier replay, signature checks/s";

const ACCOUNTS = 256;
const BATCHES = 2;

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const cpuMicros = (u: NodeJS.CpuUsage): number => u.user + u.system;

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

  const keys = Array.from({ length: ACCOUNTS }, (_, i) => keccak256(new TextEncoder().encode(`bench-bls-${i}`)));
  const blsKeys: BlsKeyPair[] = keys.map((k) => blsKeyFromSeed(keccak256(k)));
  for (const key of keys) {
    await (await bridge.connect(deployer).depositEth(privateKeyToAddress(key), 0, { value: 10n ** 18n })).wait();
  }
  const queue = await queueItems(bridge);

  const state = new L2State();
  const propose = async (k: number, queueItems: typeof queue, chunks: Uint8Array[]): Promise<bigint> => {
    const { stepRoots } = applyBatch(state, { queueItems, chunks, feeRecipient: 0, domainSeparator: domain });
    const receipt = await (await chain.connect(proposer).propose(k, stepRoots, { value: 10n ** 17n })).wait();
    return receipt?.gasUsed ?? 0n;
  };

  // Batch 0: the deposits, and every account registers its key (signed by its wallet key).
  const registrations: Uint8Array[] = keys.map((key, i) => {
    const tx = { type: TxType.RegisterKey as const, from: i + 1, fee: 0n, blsKey: toHex(blsRawPublicKey(blsKeys[i])) };
    return encodeTx({ ...tx, signature: signTxWithKey(key, domain, tx, 0, 0) });
  });
  const registerChunks: Uint8Array[] = [];
  for (let c = 0; c < registrations.length; c += MAX_TXS_PER_CHUNK) {
    registerChunks.push(concatBytes(...registrations.slice(c, c + MAX_TXS_PER_CHUNK)));
  }
  await (await inbox.connect(sequencer).appendBatch(registerChunks, ACCOUNTS, 0)).wait();
  await propose(0, queue, registerChunks);

  // Full batches of BLS chunks.
  const random = rng(11);
  const nonces = new Array<number>(ACCOUNTS + 1).fill(1); // each spent nonce 0 on its registration
  let transfers = 0;
  let appendGas = 0n;
  let proposeGas = 0n;
  let calldataBytes = 0;
  let chunkBytes = 0;
  let signMicros = 0;
  const sigSets: { messages: Uint8Array[]; keys: Uint8Array[]; rawKeys: Uint8Array[]; signatures: Uint8Array[] }[] = [];
  const rawKeys = blsKeys.map(blsRawPublicKey);
  for (let b = 1; b <= BATCHES; b++) {
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < MAX_CHUNKS_PER_BATCH; c++) {
      const list: BlsTransferFields[] = [];
      const set = {
        messages: [] as Uint8Array[],
        keys: [] as Uint8Array[],
        rawKeys: [] as Uint8Array[],
        signatures: [] as Uint8Array[],
      };
      for (let t = 0; t < MAX_BLS_TRANSFERS_PER_CHUNK; t++) {
        const from = 1 + Math.floor(random() * ACCOUNTS);
        const to = 1 + ((from + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS);
        const transfer = { from, to, amount: 10n ** 12n * BigInt(1 + (t % 9)) };
        const message = blsTransferDigest(domain, { ...transfer, fee: 0n }, 0, nonces[from]++);
        const started = process.hrtime.bigint();
        const signature = blsSign(blsKeys[from - 1], message);
        signMicros += Number(process.hrtime.bigint() - started) / 1e3;
        list.push(transfer);
        set.messages.push(message);
        set.keys.push(blsKeys[from - 1].publicKey);
        set.rawKeys.push(rawKeys[from - 1]);
        set.signatures.push(signature);
      }
      sigSets.push(set);
      chunks.push(encodeBlsChunk({ fee: 0n, signature: blsAggregate(set.signatures) }, list));
      transfers += list.length;
    }
    const response = await inbox.connect(sequencer).appendBatch(chunks, 0, 0);
    appendGas += (await response.wait())?.gasUsed ?? 0n;
    calldataBytes += (response.data.length - 2) / 2;
    chunkBytes += chunks.reduce((n, c) => n + c.length, 0);
    proposeGas += await propose(b, [], chunks);
  }

  // What bounds a sequencer: checking each signature (40 at a time, as a chunk fills). blst spreads one check over
  // the cores by itself: CPU time is what says how many a core does.
  const verifyStart = process.hrtime.bigint();
  const verifyCpu = process.cpuUsage();
  let checked = 0;
  for (const set of sigSets.slice(0, 40)) {
    if (!blsVerifyEach(set.messages, set.keys, set.signatures)) throw new Error("a BLS signature does not verify");
    checked += set.messages.length;
  }
  const verifyMicros = Number(process.hrtime.bigint() - verifyStart) / 1e3 / checked;
  const verifyCpuMicros = cpuMicros(process.cpuUsage(verifyCpu)) / checked;
  // What bounds a verifier: each chunk's aggregate (one Miller loop and one hash to G2 per message).
  const aggregateCpu = process.cpuUsage();
  let messages = 0;
  for (const [i, set] of sigSets.slice(0, 40).entries()) {
    if (!blsVerifyAggregateRaw(set.messages, set.rawKeys, blsAggregate(set.signatures)))
      throw new Error(`the aggregate of chunk ${i} does not verify`);
    messages += set.messages.length;
  }
  const aggregateCpuMicros = cpuMicros(process.cpuUsage(aggregateCpu)) / messages;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-bench-bls-"));
  try {
    const config = { ...defaultVerifierConfig(dep.chainId, dir), port: -1, logRange: 10_000 };
    const verifier = await Verifier.create({ config, provider, deployment: dep, logger: silentVerifierLogger() });
    const start = process.hrtime.bigint();
    await verifier.tick();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const status = verifier.status();
    await verifier.stop();
    if (status.state.stateRoot !== state.stateRoot()) {
      throw new Error(`the verifier's replay disagrees: ${status.state.stateRoot} vs ${state.stateRoot()}`);
    }
    if (status.proposals.some((p) => p.verdict !== "right"))
      throw new Error("the verifier judged an honest proposal wrong");
    return {
      bytesPerTransfer: round(calldataBytes / transfers, 2),
      transferBytes: round(chunkBytes / transfers, 2),
      gasPerTransfer: round(Number(appendGas + proposeGas) / transfers, 1),
      appendGasPerTransfer: round(Number(appendGas) / transfers, 1),
      proposeGasPerTransfer: round(Number(proposeGas) / transfers, 1),
      batchSize: transfers / BATCHES,
      verifierTransfersPerSecond: Math.round((transfers + ACCOUNTS) / seconds),
      verifyMicrosPerSignature: round(verifyMicros, 1),
      verifyCpuMicrosPerSignature: round(verifyCpuMicros, 1),
      signaturesPerSecondPerCore: Math.round(1e6 / verifyCpuMicros),
      aggregateCpuMicrosPerMessage: round(aggregateCpuMicros, 1),
      signMicros: round(signMicros / transfers, 1),
      transfers,
      batches: BATCHES,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
