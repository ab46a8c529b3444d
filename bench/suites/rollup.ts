/**
 * Suite `rollup`: what an L2 transfer costs on L1, measured from real
 * receipts on the in-process Hardhat network (hardfork osaka).
 *
 * The real operator (in this process) sequences transfers until a batch is
 * full — it closes by size, at the inbox's byte limit — then appends it and
 * proposes its step roots with the bond, as it always does. The figures come
 * from that batch's two L1 transactions:
 *
 * - batchSize: transfers in the full batch
 * - bytesPerTransfer: appendBatch calldata bytes per transfer (ABI overhead included)
 * - appendSignedBytes: the signed appendBatch transaction as the mempool sees it (≤ 131,072)
 * - maxAppendBatchGas: gas of that appendBatch (the largest batch; must stay under 16,777,216)
 * - proposeGas: gas of the proposal of its step roots
 * - gasPerTransfer: (appendBatch + propose gas) / batchSize
 * - transferBytes: encoded bytes per transfer (the chunks' bytes / batchSize)
 * - calldataFloorGasPerTransfer: the EIP-7623 floor of those bytes (10 gas per
 *   zero byte, 40 per non-zero byte) / batchSize: what gasPerTransfer is held to
 * - appendCalldataFloorGas: 21,000 + the floor of the whole appendBatch calldata
 *
 * The plain L1 ETH and ERC-20 transfers it is compared with are measured by
 * bench/suites/l1.ts (section `l1`).
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
import { calldataTokens, FLOOR_GAS_PER_TOKEN, TX_BASE_GAS } from "./l1";

export const description =
  "L1 gas and bytes per L2 transfer over a full batch (append + proposal), beside the calldata floor of its bytes";

const ACCOUNTS = 256;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function run(): Promise<Record<string, number>> {
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
  const operatorKey = await operatorWallet(hre, provider, 19);
  const dep = await deployBenchRollup(deployer, operatorKey.address, 10n ** 18n);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-bench-rollup-"));
  const config = defaultConfig(dep.chainId, dir);
  config.port = 0;
  config.pollMs = 20;
  config.batch.maxAgeMs = 600_000; // batches close by size only
  const op = await Operator.start({ config, provider, wallet: operatorKey, deployment: dep, logger: silentLogger() });
  try {
    const keys = Array.from({ length: ACCOUNTS }, (_, i) => keccak256(new TextEncoder().encode(`bench-rollup-${i}`)));
    for (const key of keys) {
      await (await dep.handles.bridge.depositEth(privateKeyToAddress(key), 0, { value: 10n ** 18n })).wait();
    }
    await until("the deposits", async () => (op.sequencer.status().queue.sequenced === ACCOUNTS ? true : undefined));
    await op.closeBatch(); // batch 0: the deposits

    // Transfers until the open batch closes by size (batch 1).
    const domain = domainSeparator(dep.chainId, dep.contracts.rollupInbox);
    const nonces = new Array<number>(ACCOUNTS).fill(0);
    for (let i = 0; op.sequencer.batchCount < 2; i++) {
      const from = i % ACCOUNTS;
      const tx = {
        type: TxType.Transfer as const,
        from: from + 1,
        to: ((from + 1 + (i % 7)) % ACCOUNTS) + 1,
        amount: 10n ** 12n,
        fee: 0n,
      };
      await op.sequencer.submit(
        encodeTx({ ...tx, signature: signTxWithKey(keys[from], domain, tx, 0, nonces[from]++) }),
      );
    }
    const batch = op.sequencer.batch(1);
    if (!batch) throw new Error("no full batch");
    const batchSize = batch.endSeq - batch.firstSeq;

    const appended = await until("the append", async () => {
      const events = await dep.handles.inbox.queryFilter(dep.handles.inbox.filters.BatchAppended(1n));
      return events[0];
    });
    const proposed = await until("the proposal", async () => {
      const events = await dep.handles.stateCommitmentChain.queryFilter(
        dep.handles.stateCommitmentChain.filters.StateProposed(1n),
      );
      return events[0];
    });
    const appendReceipt = await provider.getTransactionReceipt(appended.transactionHash);
    const appendTx = await provider.getTransaction(appended.transactionHash);
    const proposeReceipt = await provider.getTransactionReceipt(proposed.transactionHash);
    if (!appendReceipt || !appendTx || !proposeReceipt) throw new Error("missing receipts");
    const calldataBytes = (appendTx.data.length - 2) / 2;
    const [chunks] = dep.handles.inbox.interface.decodeFunctionData("appendBatch", appendTx.data) as unknown as [
      string[],
    ];
    const transferBytes = hre.ethers.getBytes(hre.ethers.concat(chunks));

    return {
      batchSize,
      bytesPerTransfer: Math.round((calldataBytes / batchSize) * 100) / 100,
      appendSignedBytes: hre.ethers.Transaction.from(appendTx).serialized.length / 2 - 1,
      maxAppendBatchGas: Number(appendReceipt.gasUsed),
      proposeGas: Number(proposeReceipt.gasUsed),
      gasPerTransfer: Math.round((Number(appendReceipt.gasUsed + proposeReceipt.gasUsed) / batchSize) * 10) / 10,
      transferBytes: Math.round((transferBytes.length / batchSize) * 100) / 100,
      calldataFloorGasPerTransfer:
        Math.round(((FLOOR_GAS_PER_TOKEN * calldataTokens(transferBytes)) / batchSize) * 10) / 10,
      appendCalldataFloorGas: TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * calldataTokens(hre.ethers.getBytes(appendTx.data)),
    };
  } finally {
    await op.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) runStandalone(run);
