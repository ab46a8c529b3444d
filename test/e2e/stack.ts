/**
 * An L1 node with the rollup deployed by the `deploy` task and the operator
 * task as a child process, driven only through JSON-RPC and L1: what the
 * operator's real-process tests share.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { HDNodeWallet, JsonRpcProvider, Wallet, keccak256 } from "ethers";
import { connectRollup, type RollupContracts } from "../../src/l1/contracts";
import { readRollupDeployment, type RollupDeployment } from "../../src/l1/deployments";
import { readBatches, readQueue } from "../../src/l1/reader";
import { L2Client, signL2Transaction, type AccountView } from "../../src/operator/client";
import { Outcome } from "../../src/protocol/constants";
import { domainSeparator } from "../../src/protocol/eip712";
import { initHashing } from "../../src/protocol/hash";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { freePort, runTask, startL1, startOperator, stop, type NodeKind, type Proc } from "./processes";

export const MNEMONIC = "test test test test test test test test test test test junk";
export const CHALLENGE_WINDOW = 600;
export const ETH = 10n ** 18n;

export function devWallet(index: number, provider: JsonRpcProvider): Wallet {
  return HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider) as unknown as Wallet;
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** An L1 node with the rollup deployed through the `deploy` task and the operator running as a child process. */
export class Stack {
  l1!: { proc: Proc; url: string };
  operator: Proc | undefined;
  provider!: JsonRpcProvider;
  deployment!: RollupDeployment;
  contracts!: RollupContracts;
  client!: L2Client;
  port = 0;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-e2e-"));
  readonly env: NodeJS.ProcessEnv;
  /** The operator's data directory (a tmpfs mount point, say). */
  readonly dataDir: string;

  constructor(
    readonly kind: NodeKind,
    readonly options: {
      dataDir?: string;
      /** More arguments of the operator task. */
      operatorArgs?: string[];
      /** More arguments of the deploy task. */
      deployArgs?: string[];
      /** The operator's key (default: the first development account, also the deployer). */
      operatorKey?: string;
    } = {},
  ) {
    this.env = { BILAYER_DEPLOYMENTS_DIR: path.join(this.dir, "deployments"), LOG_LEVEL: "info" };
    if (options.operatorKey) this.env.OPERATOR_PRIVATE_KEY = options.operatorKey;
    this.dataDir = options.dataDir ?? path.join(this.dir, "operator-data");
  }

  async start(): Promise<void> {
    await initHashing();
    this.l1 = await startL1(this.kind, this.dir);
    this.env.L1_RPC_URL = this.l1.url;
    this.provider = new JsonRpcProvider(this.l1.url, undefined, { cacheTimeout: -1, pollingInterval: 100 });
    const out = await runTask(
      [
        "deploy",
        "--network",
        "localhost",
        "--challenge-window",
        String(CHALLENGE_WINDOW),
        "--bond",
        String(ETH / 10n),
        ...(this.options.deployArgs ?? []),
      ],
      this.env,
      this.dir,
    );
    expect(out).to.contain("rollup deployed on localhost");
    this.deployment = readRollupDeployment("localhost", this.env.BILAYER_DEPLOYMENTS_DIR);
    this.contracts = connectRollup(this.deployment.contracts, this.provider);
    this.port = await freePort();
    await this.startOperator();
    this.client = new L2Client(`http://127.0.0.1:${this.port}`);
  }

  async startOperator(ready = true): Promise<void> {
    const args = [
      "--network",
      "localhost",
      "--data-dir",
      this.dataDir,
      "--batch-age",
      "300",
      "--poll",
      "100",
      ...(this.options.operatorArgs ?? []),
    ];
    this.operator = await startOperator(args, this.env, this.dir, this.port, ready);
  }

  /** Stops the processes; removes the logs and data unless `keep` (a test failed: they tell why). */
  async stop(keep: boolean): Promise<void> {
    this.client?.close();
    await stop(this.operator);
    await stop(this.l1?.proc);
    this.provider?.destroy();
    if (keep) console.log(`    logs and data kept in ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Deposits `amount` for each wallet and waits for its L2 account. */
  async deposit(wallets: Wallet[], amount: bigint): Promise<AccountView[]> {
    for (const w of wallets) {
      await (await this.contracts.bridge.connect(w).depositEth(w.address, 0, { value: amount })).wait();
    }
    const accounts: AccountView[] = [];
    for (const w of wallets) {
      accounts.push(
        await until(`the L2 account of ${w.address}`, async () => {
          const list = await this.client.getAccountsOf(w.address);
          return list.find((a) => a.balance >= amount);
        }),
      );
    }
    return accounts;
  }

  sign(w: Wallet, tx: Parameters<typeof signL2Transaction>[1], nonce: number): Promise<string> {
    return signL2Transaction(w, tx, {
      chainId: this.deployment.chainId,
      inbox: this.deployment.contracts.rollupInbox,
      tokenId: 0,
      nonce,
    });
  }

  /** Waits until every transaction in `hashes` is in a proposed (or final) batch. */
  async waitProposed(hashes: string[], timeoutMs = 90_000): Promise<void> {
    await until(
      "the transactions to be proposed",
      async () => {
        for (const h of [...hashes].reverse()) {
          const r = await this.client.getReceipt(h);
          if (r?.status !== "proposed" && r?.status !== "final") return undefined;
        }
        return true;
      },
      timeoutMs,
    );
  }

  /**
   * Rebuilds the L2 state from L1 alone (queue events, batch calldata) and
   * checks every batch's state root against its proposal; returns the state
   * and the hashes of every transaction L1 carries, in order.
   */
  async replayFromL1(): Promise<{ state: L2State; txHashes: string[]; batches: number }> {
    const from = { fromBlock: this.deployment.startBlock };
    const queue = await readQueue(this.contracts.bridge, from);
    const batches = await readBatches(this.contracts.inbox, from);
    const state = new L2State();
    const txHashes: string[] = [];
    const separator = domainSeparator(this.deployment.chainId, this.deployment.contracts.rollupInbox);
    batches.forEach((b, i) => expect(b.index).to.equal(i, "batches are contiguous"));
    for (const b of batches) {
      const { stepRoots, steps } = applyBatch(state, {
        queueItems: queue.slice(b.queueStart, b.queueEnd),
        chunks: b.chunks,
        feeRecipient: b.feeRecipient,
        domainSeparator: separator,
      });
      for (const step of steps.slice(stepRoots.length - b.chunks.length)) {
        for (const o of step.outcomes) expect(o.code, o.reason).to.equal(Outcome.Applied);
      }
      const proposals = Number(await this.contracts.stateCommitmentChain.proposalCount());
      if (b.index < proposals) {
        expect(await this.contracts.stateCommitmentChain.stateRoot(b.index)).to.equal(stepRoots[stepRoots.length - 1]);
      }
      for (const chunk of b.chunks) {
        for (let off = 0; off < chunk.length;) {
          const size = chunk[off] === 1 ? 80 : chunk[off] === 2 ? 76 : 96;
          txHashes.push(keccak256(chunk.subarray(off, off + size)));
          off += size;
        }
      }
    }
    return { state, txHashes, batches: batches.length };
  }
}

export async function timeTravelPastWindow(provider: JsonRpcProvider): Promise<void> {
  await provider.send("evm_increaseTime", [CHALLENGE_WINDOW + 1]);
  await provider.send("evm_mine", []);
}
