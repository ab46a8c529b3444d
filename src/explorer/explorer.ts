/**
 * The explorer: a web page on 127.0.0.1 that shows the rollup as L1 holds
 * it. Its source of truth is L1 alone — a watch-only verifier (no key: it
 * proves nothing and proposes nothing) replays the chain into its replica,
 * and {@link ChainIndex} keeps what the pages show from that replay. It may
 * also ask the operator's API for soft state (transactions not yet on L1),
 * and every fact on a page says which of the two it comes from.
 *
 * Life cycle: `Explorer.start` syncs from the deployment block (the index is
 * rebuilt from L1 at each start: it has no store of its own), then serves
 * the pages and follows L1; `stop()` ends both and removes the replica's
 * temporary directory.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getAddress, type Provider } from "ethers";
import { Bridge__factory } from "../../typechain-types";
import { connectRollup } from "../l1/contracts";
import type { RollupDeployment } from "../l1/deployments";
import "./errors";
import { BilayerError } from "../protocol/errors";
import { claimWithdrawalArgs } from "../operator/l1-user";
import type { TxReceipt } from "../operator/sequencer/l2-index";
import type { AccountJsonView, WithdrawalJsonView } from "../operator/rpc/views";
import { defaultVerifierConfig } from "../verifier/config";
import { silentVerifierLogger, type Logger } from "../verifier/log";
import { Verifier } from "../verifier/verifier";
import { ChainIndex, type IndexedBatch, type IndexedProposal, type IndexedTx } from "./chain-index";
import { ChannelIndex } from "./channel-index";
import { assessRisks, RiskReader, type RiskReport } from "./risks";
import { ExplorerServer } from "./server";

/** How many receipts are asked for at once. */
const RECEIPT_CONCURRENCY = 8;

export interface ExplorerOptions {
  provider: Provider;
  deployment: RollupDeployment;
  /** The channel adjudicator, if deployed on this network. */
  channels?: { adjudicator: string; startBlock: number };
  /** The operator's JSON-RPC URL, for soft state; without it the pages show L1 alone. */
  operatorUrl?: string;
  host?: string;
  /** 0 (the default) for a free port. */
  port?: number;
  /** How often L1 is read, in ms (default: the verifier's for the chain). */
  pollMs?: number;
  logger?: Logger;
}

/** Where a batch stands on L1. */
export type BatchStage = "on L1" | "proposed" | "final";

/** A stage and, while a proposal's window is open, its deadline (L1 time). */
export interface StageView {
  stage: BatchStage;
  deadline?: number;
  proposal?: IndexedProposal;
}

/** A transaction's stage: from the operator alone (soft), or from L1. */
export interface TxView {
  source: "L1" | "operator";
  tx?: IndexedTx;
  receipt?: TxReceipt;
  stage: "soft" | "queued" | BatchStage | "skipped";
  batchStage?: StageView;
}

export class Explorer {
  readonly index = new ChainIndex();
  readonly channels: ChannelIndex | undefined;
  private server: ExplorerServer | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private riskCache: { block: number; report: RiskReport } | undefined;
  private readonly riskReader: RiskReader;
  /** The inbox's forced-inclusion delay in seconds (immutable: read once, at start). */
  forcedInclusionDelay = 0;

  private constructor(
    readonly opts: ExplorerOptions,
    readonly verifier: Verifier,
    private readonly dataDir: string,
  ) {
    verifier.observe(this.index);
    this.riskReader = new RiskReader(opts.provider, opts.deployment.contracts, opts.deployment.startBlock);
    if (opts.channels)
      this.channels = new ChannelIndex(opts.provider, opts.channels.adjudicator, opts.channels.startBlock);
  }

  /** Syncs from L1, then serves the pages and follows L1. */
  static async start(opts: ExplorerOptions): Promise<Explorer> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-explorer-"));
    const logger = opts.logger ?? silentVerifierLogger();
    const base = defaultVerifierConfig(opts.deployment.chainId, dataDir);
    const config = {
      ...base,
      port: -1,
      challenge: false,
      returnBonds: false,
      pollMs: opts.pollMs ?? base.pollMs,
      logRange: 10_000,
    };
    let verifier: Verifier | undefined;
    try {
      verifier = await Verifier.create({ config, provider: opts.provider, deployment: opts.deployment, logger });
      const explorer = new Explorer(opts, verifier, dataDir);
      const inbox = connectRollup(opts.deployment.contracts, opts.provider).inbox;
      explorer.forcedInclusionDelay = Number(await inbox.FORCED_INCLUSION_DELAY_SECONDS());
      await explorer.sync();
      explorer.server = new ExplorerServer(explorer);
      await explorer.server.listen(opts.host ?? "127.0.0.1", opts.port ?? 0);
      explorer.loop = explorer.follow();
      return explorer;
    } catch (err) {
      await verifier?.stop().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The pages' base URL. */
  get url(): string {
    if (!this.server) throw new BilayerError("EXPLORER_NOT_STARTED", "the explorer is not serving");
    return this.server.url;
  }

  /** Reads L1 up to its head: the replay, the receipts of what it found, the channels. */
  async sync(): Promise<void> {
    await this.verifier.tick();
    await this.fetchReceipts();
    await this.channels?.poll();
  }

  private async follow(): Promise<void> {
    const pollMs = this.verifier.config.pollMs;
    while (!this.stopping) {
      try {
        await this.sync();
      } catch (err) {
        this.verifier.logger.warn({ err }, "explorer: reading L1 failed; trying again");
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    await this.server?.close();
    await this.verifier.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Fetches the receipts (gas, block time) of what the replay found, a few at a time; a failed one is tried again later. */
  private async fetchReceipts(): Promise<void> {
    const due = this.index.receiptsDue.splice(0);
    const provider = this.opts.provider;
    const fetchOne = async (d: (typeof due)[number]): Promise<void> => {
      const receipt = await provider.getTransactionReceipt(d.transactionHash);
      if (!receipt) throw new BilayerError("EXPLORER_NO_RECEIPT", `no receipt for ${d.transactionHash} yet`);
      if (d.kind === "proposal") {
        this.index.proposals[d.index].gasUsed = receipt.gasUsed;
        return;
      }
      const b = this.index.batches[d.index];
      b.gasUsed = receipt.gasUsed;
      b.timestamp = (await provider.getBlock(receipt.blockNumber))?.timestamp;
    };
    for (let i = 0; i < due.length; i += RECEIPT_CONCURRENCY) {
      const part = due.slice(i, i + RECEIPT_CONCURRENCY);
      const results = await Promise.allSettled(part.map(fetchOne));
      results.forEach((r, k) => {
        if (r.status === "rejected") this.index.receiptsDue.push(part[k]);
      });
    }
  }

  /** The last L1 block the replay read, and its time: what the pages are as of, and every countdown is against. */
  get l1(): { block: number; time: number } {
    return { block: this.index.block, time: this.index.blockTime };
  }

  /** Why the replay stopped following L1, if it did: the pages say so. */
  get halted(): string | undefined {
    return this.verifier.haltedReason;
  }

  /** Where batch `k` stands: on L1, proposed (its window's deadline), or final (as the chain has it). */
  batchStage(k: number): StageView {
    const p = this.index.liveProposal(k);
    if (!p) return { stage: "on L1" };
    return this.l1.time >= p.deadline
      ? { stage: "final", proposal: p }
      : { stage: "proposed", deadline: p.deadline, proposal: p };
  }

  batch(k: number): IndexedBatch | undefined {
    return Number.isSafeInteger(k) ? this.index.batches[k] : undefined;
  }

  /** A transaction by id: from L1 if it is there, else what the operator says (soft), matched to L1 where it can. */
  async tx(hash: string): Promise<TxView | undefined> {
    const onL1 = this.index.tx(hash);
    if (onL1) return this.l1TxView(onL1);
    const receipt = softReceipt(await this.operatorCall<unknown>("l2_getTransactionReceipt", [hash]));
    if (!receipt) return undefined;
    // A BLS transfer's id is the operator's: on L1 it is found by its sender and nonce in its batch.
    const match = receipt.batchIndex !== undefined ? this.index.txAt(receipt.from, receipt.nonce) : undefined;
    if (match && match.batch === receipt.batchIndex) return { ...this.l1TxView(match), receipt };
    const stage = receipt.status === "skipped" ? "skipped" : receipt.status === "queued" ? "queued" : "soft";
    return { source: "operator", receipt, stage };
  }

  private l1TxView(tx: IndexedTx): TxView {
    const batchStage = this.batchStage(tx.batch);
    return { source: "L1", tx, stage: tx.outcome === "Applied" ? batchStage.stage : "skipped", batchStage };
  }

  /** An address's accounts (from L1, and as the operator has them now), and its withdrawals. */
  async address(addr: string): Promise<{
    address: string;
    accounts: { l1: AccountJsonView; soft?: AccountJsonView; txs: IndexedTx[]; txCount: number }[];
    withdrawals: (WithdrawalJsonView & { deadline?: number; recipient: string })[];
  }> {
    const address = getAddress(addr.toLowerCase());
    const accounts = await Promise.all(
      this.verifier.accountsOf(address).map(async (i) => {
        const l1 = this.verifier.account(i) as AccountJsonView;
        const soft = softAccount(await this.operatorCall<unknown>("l2_getAccount", [i]), i);
        return { l1, soft, txs: this.index.txsOf(i, 25), txCount: this.index.txCountOf(i) };
      }),
    );
    const withdrawals = (await this.verifier.withdrawalsOf(address)).map((w) => {
      const stage = w.batchIndex === null ? undefined : this.batchStage(w.batchIndex);
      return { ...w, recipient: address, deadline: stage?.deadline };
    });
    return { address, accounts, withdrawals };
  }

  /** The L1 transaction that claims withdrawal `index` (proof built from L1), for the page's wallet to send. */
  claimCall(index: number): { to: string; data: string; batchIndex: number; chainId: string } {
    const proof = this.verifier.withdrawalProof(index);
    if (!proof.final) {
      throw new BilayerError(
        "WITHDRAWAL_NOT_FINAL",
        `withdrawal ${index} is not in a final batch yet (batch ${proof.batchIndex})`,
      );
    }
    const data = Bridge__factory.createInterface().encodeFunctionData("claimWithdrawal", claimWithdrawalArgs(proof));
    const chainId = "0x" + this.opts.deployment.chainId.toString(16);
    return { to: this.opts.deployment.contracts.bridge, data, batchIndex: proof.batchIndex, chainId };
  }

  /** The risks, read again from the chain at most once per L1 block. */
  async risks(): Promise<RiskReport> {
    const block = this.l1.block;
    if (this.riskCache?.block !== block) {
      this.riskCache = { block, report: assessRisks(await this.riskReader.read(), { halted: this.halted }) };
    }
    return this.riskCache.report;
  }

  /** Soft state: a call to the operator's API; `undefined` without an operator or when it does not answer. */
  async operatorCall<T>(method: string, params: unknown[]): Promise<T | undefined> {
    const url = this.opts.operatorUrl;
    if (!url) return undefined;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await res.json()) as { result?: T };
      return body.result;
    } catch {
      return undefined;
    }
  }
}

const isUint = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The operator's receipt, if it has the shape the pages show (the operator is not trusted to send one). */
function softReceipt(v: unknown): TxReceipt | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Partial<TxReceipt>;
  const statuses = ["queued", "pending", "batched", "appended", "proposed", "final", "skipped"];
  if (typeof r.hash !== "string" || !statuses.includes(String(r.status)) || !isUint(r.from) || !isUint(r.nonce)) {
    return undefined;
  }
  if (r.batchIndex !== undefined && !isUint(r.batchIndex)) return undefined;
  return {
    hash: r.hash,
    status: r.status as TxReceipt["status"],
    from: r.from,
    nonce: r.nonce,
    outcome: typeof r.outcome === "string" ? r.outcome : "",
    ...(typeof r.reason === "string" ? { reason: r.reason } : {}),
    acceptedAt: isUint(r.acceptedAt) ? r.acceptedAt : 0,
    ...(r.batchIndex !== undefined ? { batchIndex: r.batchIndex } : {}),
  };
}

/** The operator's view of account `index`, if it has the shape the pages show. */
function softAccount(v: unknown, index: number): AccountJsonView | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const a = v as Partial<AccountJsonView>;
  if (a.index !== index || typeof a.balance !== "string" || !/^\d{1,78}$/.test(a.balance) || !isUint(a.nonce)) {
    return undefined;
  }
  return {
    index,
    owner: String(a.owner),
    tokenId: isUint(a.tokenId) ? a.tokenId : 0,
    balance: a.balance,
    nonce: a.nonce,
    waitingNonces: [],
  };
}
