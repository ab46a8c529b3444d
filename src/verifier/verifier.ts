/**
 * The verifier: trusts nothing but L1. It rebuilds the L2 state from the
 * bridge's queue, the inbox's batches (chunks from calldata) and the state
 * commitment chain's proposals, recomputes every step root with `src/protocol`,
 * and when a proposal differs it proves the first wrong step on chain inside
 * the challenge window, then (configurably) proposes the right roots with its
 * own bond.
 *
 * Life cycle: `Verifier.create` restores the store; `tick()` reads L1 up to
 * the head one block range at a time (each range one atomic checkpoint) and
 * acts; `start()` runs `tick()` in a loop; `stop()` ends it cleanly.
 *
 * Limits: blocks are processed once they are `confirmations` deep, and a reorg
 * deeper than that is not undone (raise the depth on a chain that has them).
 * A batch whose transaction is not the inbox call itself (which the inbox makes
 * impossible; only a lying node shows one) halts it (see `l1.ts`). Building a proof rebuilds the batch's pre-state from the tip
 * and the undo records, in time linear in the number of accounts.
 */
import fs from "node:fs";
import { getAddress, type Provider, type Signer } from "ethers";
import type { FraudVerifier, StateCommitmentChain } from "../../typechain-types";
import { PollLoop } from "../common/poll-loop";
import { userMethods } from "./user-api";
import { checkDeployment, claimDataDir } from "../l1/startup";
import { connectRollup } from "../l1/contracts";
import { stepRootsHash } from "../l1/batch";
import type { RollupDeployment } from "../l1/deployments";
import { BilayerError } from "../protocol/errors";
import { initHashing, toHex } from "../protocol/hash";
import type { QueueItem } from "../protocol/queue";
import { GENESIS_STATE_ROOT } from "../protocol/state";
import { sendForceInclude, sendFraudProof, sendProposal, sendReturnBond, type TxOutcome } from "./challenger";
import { validateVerifierConfig, type VerifierConfig } from "./config";
import {
  BatchDataUnavailableError,
  L1Reader,
  type BatchEvent,
  type ProposalEvent,
  type RollbackEvent,
  type RollupEvent,
} from "../l1/events";
import { createVerifierLogger, type Logger } from "./log";
import { VerifierMetrics } from "./metrics";
import { buildFraudProof, firstWrongStep, Replica, type BatchData } from "./replica";
import { JsonRpcServer, type HttpRoute } from "../common/json-rpc-server";
import { mapApiError } from "../operator/rpc/api";
import { RpcCode, RpcError } from "../operator/errors";
import { headerToJson } from "../operator/records";
import {
  accountView,
  withdrawalProofView,
  withdrawalStatus,
  withdrawalView,
  type AccountJsonView,
  type WithdrawalJsonView,
  type WithdrawalProofJsonView,
} from "../operator/rpc/views";
import type { Withdrawal } from "../protocol/state";
import {
  accountFromJson,
  accountKey,
  accountToJson,
  actionKey,
  batchKey,
  ownBondKey,
  KEY_CURSOR,
  KEY_META,
  proposalKey,
  queueItemFromJson,
  queueItemToJson,
  queueKey,
  reproposeKey,
  undoFromJson,
  undoKey,
  undoToJson,
  VerifierStore,
  withdrawalFromJson,
  withdrawalKey,
  withdrawalToJson,
  WriteBatch,
  type AccountJson,
  type ActionJson,
  type BatchJson,
  type Cursor,
  type OwnBondJson,
  type ProposalJson,
  type QueueItemJson,
  type UndoJson,
  type VerifierMeta,
  type WithdrawalJson,
} from "./store";

export interface VerifierOptions {
  config: VerifierConfig;
  /** The L1 node. */
  provider: Provider;
  /** Signs fraud proofs, proposals and bond returns; without one the verifier only watches and reports. */
  signer?: Signer;
  deployment: RollupDeployment;
  logger?: Logger;
}

/** An unsettled batch: its input and the roots computed for it. */
interface BatchState {
  data: BatchData;
  stepCount: number;
  forced: boolean;
  blockNumber: number;
  transactionHash: string;
  stepRoots: string[];
  transactions: number;
}

/** What `/status` reports. */
export interface VerifierStatus {
  chainId: string;
  contracts: { bridge: string; rollupInbox: string; stateCommitmentChain: string; fraudVerifier: string };
  challenger: string | null;
  propose: string;
  l1: { head: number; processed: number; timestamp: number; startBlock: number };
  syncing: boolean;
  /** Share of the blocks to catch up on that are processed (1 when caught up). */
  progress: number;
  halted: string | null;
  /** Queue items L1 holds (a u64 queue position: a decimal string, as in the operator's API). */
  queueItems: string;
  batches: { replayed: number; settled: number; proposed: number };
  state: { stateRoot: string; accountCount: number; withdrawalCount: string };
  transactionsReplayed: number;
  proposals: {
    batchIndex: number;
    proposer: string;
    deadline: number;
    verdict: "right" | "wrong";
    wrongStep?: number;
  }[];
  actions: ActionJson[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `IStateCommitmentChain.BondState.Held`. */
const BOND_HELD = 1n;

/** Wait before trying again a fraud proof that failed. */
const PROOF_RETRY_MS = 2_000;

/** The verifier cannot go on: its data disagrees with L1 or with itself. */
export class VerifierHaltedError extends BilayerError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super("VERIFIER_HALTED", message, { context });
  }
}

export class Verifier {
  readonly metrics = new VerifierMetrics();
  readonly logger: Logger;
  readonly config: VerifierConfig;
  private readonly provider: Provider;
  private readonly signer: Signer | undefined;
  private readonly deployment: RollupDeployment;
  private readonly store: VerifierStore;
  private readonly reader: L1Reader;
  private readonly domain: string;
  private readonly chain: StateCommitmentChain;
  private readonly fraud: FraudVerifier | undefined;
  private readonly signerChain: StateCommitmentChain | undefined;
  private readonly challengerAddress: string | undefined;
  private readonly bond: bigint;

  private replica: Replica;
  private cursor: Cursor;
  private queue = new Map<number, QueueItem>();
  private batches = new Map<number, BatchState>();
  private proposals = new Map<number, ProposalJson>();
  private repropose = new Set<number>();
  private ownBonds = new Map<string, OwnBondJson>();
  /** The batch that appended each withdrawal of the tip (-1: not recorded, a store from before this was kept). */
  private withdrawalBatch: number[] = [];
  /** Account indices by owner, for the tip as of `ownersAt` batches replayed. */
  private owners: { at: number; block: number; byOwner: Map<string, number[]> } | undefined;
  private actions: ActionJson[] = [];
  private actionSeq = 0;
  /**
   * When the proof against a proposal (batch, roots hash) last failed: retried after `PROOF_RETRY_MS`, never given
   * up while the window is open (a failure may be the node's, not the proof's).
   */
  private readonly failedAt = new Map<string, number>();
  /** Wrong proposals found final: too late, reported once. */
  private readonly missed = new Set<string>();

  private head = 0;
  private headTime = 0;
  private catchUpFrom: number | undefined;
  private lastProgressLog = 0;
  private halted: string | undefined;
  private readonly loop: PollLoop;
  private server: JsonRpcServer | undefined;
  /** Base URL of the status server, when it runs. */
  url: string | undefined;
  /** First block this process read (for tests of the resume). */
  firstBlockRead: number | undefined;

  private constructor(
    opts: VerifierOptions,
    parts: { store: VerifierStore; domain: string; bond: bigint; challenger: string | undefined; logger: Logger },
  ) {
    this.config = opts.config;
    this.provider = opts.provider;
    this.signer = opts.signer;
    this.deployment = opts.deployment;
    this.store = parts.store;
    this.domain = parts.domain;
    this.bond = parts.bond;
    this.challengerAddress = parts.challenger;
    this.logger = parts.logger;
    this.loop = new PollLoop({
      pollMs: opts.config.pollMs,
      step: () => this.tick(),
      onError: (err) => this.logger.error({ err }, "verifier tick failed; retrying"),
    });
    this.reader = new L1Reader(opts.provider, opts.deployment.contracts);
    const read = connectRollup(opts.deployment.contracts, opts.provider);
    this.chain = read.stateCommitmentChain;
    if (opts.signer !== undefined) {
      const write = connectRollup(opts.deployment.contracts, opts.signer);
      this.fraud = write.fraudVerifier;
      this.signerChain = write.stateCommitmentChain;
    }
    this.replica = Replica.genesis();
    this.cursor = {
      block: opts.deployment.startBlock - 1,
      queueLength: 0,
      batches: 0,
      settled: 0,
      stateRoot: GENESIS_STATE_ROOT,
      transactions: 0,
      settledRoot: GENESIS_STATE_ROOT,
    };
  }

  /** Opens (or creates) the store, checks it belongs to this deployment, and restores the state it holds. */
  static async create(opts: VerifierOptions): Promise<Verifier> {
    const config = validateVerifierConfig(opts.config);
    const logger = opts.logger ?? createVerifierLogger();
    await initHashing();
    const { provider, deployment } = opts;
    const inbox = connectRollup(deployment.contracts, provider).inbox;
    const domain = await checkDeployment(provider, deployment, inbox);
    const chainId = deployment.chainId;
    const bond = await connectRollup(deployment.contracts, provider).stateCommitmentChain.PROPOSER_BOND();
    const challenger = opts.signer === undefined ? undefined : (await opts.signer.getAddress()).toLowerCase();

    fs.mkdirSync(config.dataDir, { recursive: true });
    const store = await VerifierStore.open(config.dataDir);
    try {
      const verifier = new Verifier({ ...opts, config }, { store, domain, bond, challenger, logger });
      await verifier.restore(chainId);
      return verifier;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Creates the verifier, starts its status server and its loop. */
  static async start(opts: VerifierOptions): Promise<Verifier> {
    const verifier = await Verifier.create(opts);
    try {
      await verifier.start();
    } catch (err) {
      await verifier.close();
      throw err;
    }
    return verifier;
  }

  private async restore(chainId: bigint): Promise<void> {
    const c = this.deployment.contracts;
    const meta: VerifierMeta = {
      version: 1,
      chainId: chainId.toString(),
      bridge: c.bridge.toLowerCase(),
      inbox: c.rollupInbox.toLowerCase(),
      stateCommitmentChain: c.stateCommitmentChain.toLowerCase(),
      fraudVerifier: c.fraudVerifier.toLowerCase(),
      startBlock: this.deployment.startBlock,
    };
    const fresh = await claimDataDir({
      dataDir: this.config.dataDir,
      what: "verifier state",
      meta,
      alsoCompared: ["bridge"],
      read: () => this.store.get<VerifierMeta>(KEY_META),
      write: (m) => this.store.write([{ type: "put", key: KEY_META, value: JSON.stringify(m) }]),
    });
    if (fresh) {
      this.logger.info({ dataDir: this.config.dataDir, startBlock: meta.startBlock }, "new verifier store");
      return;
    }
    const cursor = await this.store.get<Cursor>(KEY_CURSOR);
    if (cursor === undefined) return;
    const started = performance.now();
    const accounts = (await this.store.values<AccountJson>("a/")).map(accountFromJson);
    const withdrawalRecords = await this.store.values<WithdrawalJson>("w/");
    const withdrawals = withdrawalRecords.map(withdrawalFromJson);
    this.withdrawalBatch = withdrawalRecords.map((w) => w.b ?? -1);
    const undos = (await this.store.values<UndoJson>("u/")).map(undoFromJson);
    const replica = Replica.restore(accounts, withdrawals, cursor.batches, undos);
    if (replica.stateRoot() !== cursor.stateRoot) {
      throw new BilayerError("STORE_CORRUPT", "the stored state does not hash to the root of the last checkpoint", {
        context: { stored: cursor.stateRoot, computed: replica.stateRoot() },
      });
    }
    const queueKeys = await this.store.keys("q/");
    const queueValues = await this.store.values<QueueItemJson>("q/");
    queueKeys.forEach((key, i) => this.queue.set(Number(key.slice(2)), queueItemFromJson(queueValues[i])));
    for (const b of await this.store.values<BatchJson>("b/")) {
      const queueItems: QueueItem[] = [];
      for (let q = b.queueStart; q < b.queueEnd; q++) queueItems.push(this.queueItem(q));
      this.batches.set(b.index, {
        data: {
          index: b.index,
          queueStart: b.queueStart,
          queueEnd: b.queueEnd,
          feeRecipient: b.feeRecipient,
          chunks: b.chunks.map((h) => Buffer.from(h.slice(2), "hex")),
          queueItems,
        },
        stepCount: b.stepCount,
        forced: b.forced,
        blockNumber: b.blockNumber,
        transactionHash: b.transactionHash,
        stepRoots: b.stepRoots,
        transactions: b.transactions,
      });
    }
    for (const p of await this.store.values<ProposalJson>("p/")) this.proposals.set(p.batchIndex, p);
    for (const key of await this.store.keys("r/")) this.repropose.add(Number(key.slice(2)));
    for (const bond of await this.store.values<OwnBondJson>("n/")) this.ownBonds.set(bond.proposalId, bond);
    this.actions = await this.store.values<ActionJson>("x/");
    this.actionSeq = this.actions.length;
    this.replica = replica;
    this.cursor = cursor;
    this.logger.info(
      {
        block: cursor.block,
        batches: cursor.batches,
        settled: cursor.settled,
        accounts: accounts.length,
        stateRoot: cursor.stateRoot,
        ms: Math.round(performance.now() - started),
      },
      "verifier state restored from the store; resuming after the last checkpoint",
    );
  }

  // ---------------------------------------------------------------------------
  // life cycle

  /** Starts the status server (unless `port` is -1) and the loop. */
  async start(): Promise<void> {
    if (this.config.port >= 0) {
      const route =
        (answer: () => Promise<{ status: number; contentType: string; body: string }>): HttpRoute =>
        async (_req, res) => {
          const a = await answer();
          res.writeHead(a.status, { "content-type": a.contentType }).end(a.body);
        };
      this.server = new JsonRpcServer({
        host: this.config.host,
        port: this.config.port,
        maxBodyBytes: 64 * 1024,
        maxBatchLength: 100,
        // What a user asks, answered from the state rebuilt from L1 (no operator needed).
        methods: userMethods(this),
        routes: {
          "/status": route(async () => ({
            status: 200,
            contentType: "application/json",
            body: JSON.stringify(this.status(), null, 2) + "\n",
          })),
          "/metrics": route(async () => {
            const { contentType, body } = await this.metrics.text();
            return { status: 200, contentType, body };
          }),
          "/health": route(async () => {
            const ok = this.halted === undefined;
            return { status: ok ? 200 : 503, contentType: "text/plain", body: ok ? "ok\n" : "halted\n" };
          }),
        },
        logger: this.logger,
        mapError: mapApiError,
      });
      this.url = (await this.server.start()).url;
    }
    this.logger.info(
      {
        url: this.url,
        challenger: this.challengerAddress ?? null,
        propose: this.config.propose,
        inbox: this.deployment.contracts.rollupInbox,
        fromBlock: this.cursor.block + 1,
        dataDir: this.config.dataDir,
      },
      "verifier started",
    );
    this.loop.start();
  }

  /** Stops after the current block range, closes the server and the store. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    await this.loop.stop();
    await this.close();
    this.logger.info({ block: this.cursor.block, batches: this.cursor.batches }, "verifier stopped");
  }

  private async close(): Promise<void> {
    await this.server?.stop();
    await this.store.close();
  }

  /**
   * Reads L1 up to the head (less the confirmation depth), one checkpointed
   * block range at a time, challenging as soon as a wrong proposal is found
   * (even mid-catch-up); then proposes and takes bonds back as configured.
   * `maxRanges` bounds the ranges read in this call (tests of a restart mid-sync).
   */
  async tick(opts: { maxRanges?: number } = {}): Promise<void> {
    if (this.halted !== undefined) return;
    let ranges = opts.maxRanges ?? Number.POSITIVE_INFINITY;
    const head = await this.provider.getBlockNumber();
    this.head = head;
    this.metrics.l1Head.set(head);
    const target = head - this.config.confirmations + 1;
    if (this.cursor.block < target && this.catchUpFrom === undefined) this.catchUpFrom = this.cursor.block;
    try {
      let acted = false;
      while (this.cursor.block < target && !this.stopping && ranges-- > 0) {
        const from = this.cursor.block + 1;
        const to = Math.min(this.cursor.block + this.config.logRange, target);
        await this.processRange(from, to);
        this.progress(target);
        await this.act(to >= target);
        acted = to >= target;
      }
      if (!this.stopping && this.cursor.block >= target && !acted) await this.act(true);
    } catch (err) {
      if (err instanceof VerifierHaltedError || err instanceof BatchDataUnavailableError) {
        this.halt(err.message, err.context);
        return;
      }
      throw err;
    }
    if (this.cursor.block >= target) this.catchUpFrom = undefined;
    this.updateGauges();
  }

  private halt(reason: string, context?: Record<string, unknown>): void {
    if (this.halted === undefined) {
      this.logger.fatal({ reason, ...context }, "verifier halted: it cannot go on safely");
    }
    this.halted = reason;
    this.metrics.halted.set(1);
  }

  private progress(target: number): void {
    const from = this.catchUpFrom ?? this.cursor.block;
    const total = Math.max(1, target - from);
    const done = this.cursor.block - from;
    const now = Date.now();
    if (done >= total || now - this.lastProgressLog >= this.config.progressEveryMs) {
      this.lastProgressLog = now;
      if (total > this.config.logRange || done < total) {
        this.logger.info(
          {
            processed: this.cursor.block,
            target,
            percent: Math.round((1000 * done) / total) / 10,
            batches: this.cursor.batches,
            transactions: this.cursor.transactions,
            stateRoot: this.cursor.stateRoot,
          },
          done >= total ? "caught up with L1" : "catching up with L1",
        );
      }
    }
  }

  // ---------------------------------------------------------------------------
  // reading L1

  private queueItem(index: number): QueueItem {
    const item = this.queue.get(index);
    if (item === undefined) throw new VerifierHaltedError(`queue item ${index} is missing`, { index });
    return item;
  }

  private async processRange(from: number, to: number): Promise<void> {
    const started = performance.now();
    this.firstBlockRead ??= from;
    const [events, block] = await Promise.all([this.reader.read(from, to), this.provider.getBlock(to)]);
    if (block === null) throw new BilayerError("L1_NO_BLOCK", `the L1 node has no block ${to}`);
    const wb = new WriteBatch();
    let transactions = 0;
    for (const event of events) transactions += this.apply(event, wb);
    this.settle(block.timestamp, wb);
    const cursor: Cursor = {
      ...this.cursor,
      block: to,
      batches: this.replica.replayed,
      stateRoot: this.replica.stateRoot(),
      transactions: this.cursor.transactions + transactions,
    };
    wb.put(KEY_CURSOR, cursor);
    await this.store.write(wb.toOps());
    this.cursor = cursor;
    this.metrics.blocksRead.inc(to - from + 1);
    this.metrics.l1Processed.set(to);
    this.metrics.syncLag.set(Math.max(0, this.head - this.config.confirmations + 1 - to));
    const seconds = (performance.now() - started) / 1000;
    if (transactions > 0) this.metrics.replayRate.set(Math.round(transactions / Math.max(seconds, 1e-6)));
  }

  /** Applies one event to the in-memory state and the checkpoint; returns the L2 transactions replayed. */
  private apply(event: RollupEvent, wb: WriteBatch): number {
    switch (event.kind) {
      case "queue": {
        if (event.index !== this.cursor.queueLength) {
          throw new VerifierHaltedError(`queue item ${event.index} follows ${this.cursor.queueLength - 1}`, {
            index: event.index,
          });
        }
        this.queue.set(event.index, event.item);
        this.cursor = { ...this.cursor, queueLength: event.index + 1 };
        wb.put(queueKey(event.index), queueItemToJson(event.item));
        this.metrics.queueItems.set(this.cursor.queueLength);
        return 0;
      }
      case "batch":
        return this.replayBatch(event, wb);
      case "proposal":
        this.onProposal(event, wb);
        return 0;
      case "rollback":
        this.onRollback(event, wb);
        return 0;
      case "bondReturned": {
        const key = event.proposalId.toString();
        if (this.ownBonds.delete(key)) wb.del(ownBondKey(event.proposalId));
        return 0;
      }
      case "fraudProven":
        this.logger.info(
          {
            batch: event.batchIndex,
            step: event.stepIndex,
            challenger: event.challenger,
            proposedRoot: event.proposedRoot,
            computedRoot: event.computedRoot,
            byUs: event.challenger === this.challengerAddress,
            tx: event.transactionHash,
          },
          "fraud proven on L1",
        );
        return 0;
    }
  }

  private replayBatch(event: BatchEvent, wb: WriteBatch): number {
    if (event.index !== this.replica.replayed) {
      throw new VerifierHaltedError(`batch ${event.index} follows ${this.replica.replayed - 1}`, {
        batch: event.index,
      });
    }
    const queueItems: QueueItem[] = [];
    for (let q = event.queueStart; q < event.queueEnd; q++) queueItems.push(this.queueItem(q));
    const data: BatchData = {
      index: event.index,
      queueStart: event.queueStart,
      queueEnd: event.queueEnd,
      feeRecipient: event.feeRecipient,
      chunks: event.chunks,
      queueItems,
    };
    const started = performance.now();
    const replayed = this.replica.replay(data, this.domain);
    const seconds = (performance.now() - started) / 1000;
    if (replayed.stepRoots.length !== event.stepCount) {
      throw new VerifierHaltedError(
        `batch ${event.index} has ${event.stepCount} steps on L1, ${replayed.stepRoots.length} replayed`,
        { batch: event.index },
      );
    }
    const state: BatchState = {
      data,
      stepCount: event.stepCount,
      forced: event.forced,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
      stepRoots: replayed.stepRoots,
      transactions: replayed.transactions,
    };
    this.batches.set(event.index, state);
    const json: BatchJson = {
      index: event.index,
      queueStart: event.queueStart,
      queueEnd: event.queueEnd,
      feeRecipient: event.feeRecipient,
      forced: event.forced,
      stepCount: event.stepCount,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
      chunks: event.chunks.map(toHex),
      stepRoots: replayed.stepRoots,
      transactions: replayed.transactions,
    };
    wb.put(batchKey(event.index), json);
    wb.put(undoKey(event.index), undoToJson(replayed.undo));
    for (const [index, account] of replayed.written) wb.put(accountKey(index), accountToJson(account));
    for (const [index, withdrawal] of replayed.withdrawals) {
      this.withdrawalBatch[index] = event.index;
      wb.put(withdrawalKey(index), { ...withdrawalToJson(withdrawal), b: event.index });
    }
    this.metrics.batchesReplayed.inc();
    this.metrics.transactionsReplayed.inc(replayed.transactions);
    this.metrics.batchReplaySeconds.observe(seconds);
    this.logger.debug(
      {
        batch: event.index,
        forced: event.forced,
        steps: event.stepCount,
        queueItems: replayed.queueItems,
        transactions: replayed.transactions,
        applied: replayed.applied,
        stateRoot: replayed.stepRoots[replayed.stepRoots.length - 1],
        ms: Math.round(seconds * 1000),
      },
      "batch replayed from L1",
    );
    return replayed.transactions;
  }

  private onProposal(event: ProposalEvent, wb: WriteBatch): void {
    const k = event.batchIndex;
    const batch = this.batches.get(k);
    if (batch === undefined) {
      throw new VerifierHaltedError(`proposal of batch ${k}, which is not an unsettled replayed batch`, { batch: k });
    }
    // A proposal of batch k means the live proposals are exactly 0..k: anything above was rolled back.
    for (const other of [...this.proposals.keys()]) {
      if (other > k && other >= this.cursor.settled) {
        this.proposals.delete(other);
        wb.del(proposalKey(other));
      }
    }
    const wrongStep = firstWrongStep(event.stepRoots, batch.stepRoots);
    const proposal: ProposalJson = {
      batchIndex: k,
      proposer: event.proposer,
      deadline: event.deadline,
      stepRoots: event.stepRoots,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
      wrongStep,
      proposalId: event.proposalId.toString(),
    };
    this.proposals.set(k, proposal);
    wb.put(proposalKey(k), proposal);
    if (event.proposer === this.challengerAddress) {
      const bond: OwnBondJson = {
        proposalId: event.proposalId.toString(),
        batchIndex: k,
        deadline: event.deadline,
        removed: false,
      };
      this.ownBonds.set(bond.proposalId, bond);
      wb.put(ownBondKey(event.proposalId), bond);
    }
    if (this.repropose.delete(k)) wb.del(reproposeKey(k));
    this.metrics.proposalsChecked.inc({ verdict: wrongStep < 0 ? "right" : "wrong" });
    const common = { batch: k, proposer: event.proposer, deadline: event.deadline, tx: event.transactionHash };
    if (wrongStep < 0) {
      this.logger.info({ ...common, stateRoot: event.stateRoot }, "proposal checked: every step root is right");
    } else {
      this.logger.warn(
        {
          ...common,
          step: wrongStep,
          steps: batch.stepCount,
          proposedRoot: event.stepRoots[wrongStep],
          computedRoot: batch.stepRoots[wrongStep],
        },
        "WRONG PROPOSAL: a step root differs from the one computed from L1 data",
      );
    }
  }

  private onRollback(event: RollbackEvent, wb: WriteBatch): void {
    // Of our bonds removed, the one proven wrong is forfeited (it should never happen); the others are refundable.
    for (const bond of this.ownBonds.values()) {
      if (bond.batchIndex < event.fromBatch || bond.removed) continue;
      if (bond.proposalId === event.proposalId.toString()) {
        this.ownBonds.delete(bond.proposalId);
        wb.del(ownBondKey(event.proposalId));
        this.logger.error(
          { batch: bond.batchIndex, proposalId: bond.proposalId },
          "a proposal of ours was proven wrong",
        );
        continue;
      }
      bond.removed = true;
      wb.put(ownBondKey(BigInt(bond.proposalId)), bond);
    }
    for (let k = event.fromBatch; k < event.toBatch; k++) {
      this.proposals.delete(k);
      wb.del(proposalKey(k));
      if (this.config.propose !== "off" && k < this.replica.replayed) {
        this.repropose.add(k);
        wb.put(reproposeKey(k), 1);
      }
    }
    this.metrics.rollbacks.inc();
    this.logger.warn(
      {
        fromBatch: event.fromBatch,
        toBatch: event.toBatch,
        challenger: event.challenger,
        byUs: event.challenger === this.challengerAddress,
        reward: event.reward,
        burnt: event.burnt,
        tx: event.transactionHash,
      },
      "proposals rolled back on L1",
    );
  }

  /**
   * Settles batches in order while their live proposal is right and final as of
   * `blockTime` (no later block can roll it back): their undo records, chunks and
   * queue items are no longer needed.
   */
  private settle(blockTime: number, wb: WriteBatch): void {
    let settled = this.cursor.settled;
    let settledRoot = this.cursor.settledRoot;
    while (settled < this.replica.replayed) {
      const p = this.proposals.get(settled);
      if (p === undefined || p.wrongStep >= 0 || blockTime < p.deadline) break;
      const batch = this.batches.get(settled) as BatchState;
      settledRoot = batch.stepRoots[batch.stepRoots.length - 1];
      this.batches.delete(settled);
      wb.del(batchKey(settled));
      wb.del(undoKey(settled));
      for (let q = batch.data.queueStart; q < batch.data.queueEnd; q++) {
        this.queue.delete(q);
        wb.del(queueKey(q));
      }
      this.proposals.delete(settled);
      wb.del(proposalKey(settled));
      this.logger.info({ batch: settled, stateRoot: settledRoot }, "batch settled: its right proposal is final");
      settled++;
    }
    if (settled !== this.cursor.settled) {
      this.replica.settle(settled);
      this.cursor = { ...this.cursor, settled, settledRoot };
    }
  }

  // ---------------------------------------------------------------------------
  // acting on L1

  private async act(caughtUp: boolean): Promise<void> {
    if (this.signer === undefined || this.stopping || this.halted !== undefined) return;
    const latest = await this.provider.getBlock("latest");
    if (latest === null) return;
    this.headTime = latest.timestamp;
    if (this.config.challenge && (await this.challengeFirstWrong(latest.timestamp))) return;
    if (!caughtUp) return;
    // A second sequencer for the queue only: what the sequencer leaves overdue goes in, so it can be proposed.
    if (this.config.propose === "all") await this.forceIncludeOverdue();
    if (this.config.propose !== "off") await this.proposeRight();
    if (this.config.returnBonds) await this.returnBonds(latest.timestamp);
  }

  /** The lowest live proposal this verifier judged wrong (rolling it back removes every later one). */
  private firstWrongProposal(): ProposalJson | undefined {
    let first: ProposalJson | undefined;
    for (const p of this.proposals.values()) {
      if (
        p.wrongStep >= 0 &&
        p.batchIndex >= this.cursor.settled &&
        (first === undefined || p.batchIndex < first.batchIndex)
      ) {
        first = p;
      }
    }
    return first;
  }

  /** The state root after batch `k` as computed here (genesis for −1). */
  private computedRootAfter(k: number): string | undefined {
    if (k < 0) return GENESIS_STATE_ROOT;
    if (k === this.cursor.settled - 1) return this.cursor.settledRoot;
    const batch = this.batches.get(k);
    return batch?.stepRoots[batch.stepRoots.length - 1];
  }

  /** Proves the first wrong step of the lowest wrong proposal; true when a proof succeeded. */
  private async challengeFirstWrong(now: number): Promise<boolean> {
    const p = this.firstWrongProposal();
    if (p === undefined) {
      this.metrics.nextDeadline.set(0);
      return false;
    }
    const k = p.batchIndex;
    const rootsHash = stepRootsHash(p.stepRoots).toLowerCase();
    const key = `${k}:${rootsHash}`;
    if (this.missed.has(key)) return false;
    if (Date.now() - (this.failedAt.get(key) ?? -Infinity) < PROOF_RETRY_MS) return false;
    this.metrics.nextDeadline.set(Math.max(0, p.deadline - now));
    const context = {
      batch: k,
      step: p.wrongStep,
      proposer: p.proposer,
      deadline: p.deadline,
      secondsLeft: p.deadline - now,
    };

    // What L1 holds now, which may be ahead of the blocks processed so far.
    const count = Number(await this.chain.proposalCount());
    if (k >= count) {
      this.logger.info(context, "the wrong proposal is no longer on L1 (rolled back); waiting for the event");
      return false;
    }
    const onChain = await this.chain.proposal(k);
    if (onChain.stepRootsHash.toLowerCase() !== rootsHash) {
      this.logger.info(context, "L1 holds another proposal of this batch now; waiting for its event");
      return false;
    }
    if (now >= p.deadline) {
      this.missed.add(key);
      this.metrics.fraudProofs.inc({ result: "missed" });
      this.logger.error(context, "MISSED: the wrong proposal is already final; it can no longer be challenged");
      return false;
    }
    if (p.wrongStep === 0) {
      const parent = (await this.chain.preStateRoot(k)).toLowerCase();
      if (parent !== this.computedRootAfter(k - 1)) {
        this.logger.info({ ...context, parent }, "the parent proposal on L1 is not the one processed yet; waiting");
        return false;
      }
    }
    const batch = this.batches.get(k) as BatchState;
    const started = performance.now();
    const proof = buildFraudProof(this.replica.preStateOf(k), batch.data, p.wrongStep, this.domain);
    if (proof.computedRoot !== batch.stepRoots[p.wrongStep]) {
      throw new VerifierHaltedError(`the proof of batch ${k} step ${p.wrongStep} recomputes another root`, {
        ...context,
        computed: proof.computedRoot,
        replayed: batch.stepRoots[p.wrongStep],
      });
    }
    this.logger.warn(
      {
        ...context,
        kind: proof.kind,
        proposedRoot: p.stepRoots[p.wrongStep],
        computedRoot: proof.computedRoot,
        witnessAccounts: proof.witness.accounts.length,
        witnessWithdrawals: proof.witness.withdrawals.length,
        buildMs: Math.round(performance.now() - started),
      },
      "sending a fraud proof of the first wrong step",
    );
    const outcome = await sendFraudProof(this.fraud as FraudVerifier, proof, p.stepRoots);
    await this.record({ kind: "fraudProof", batchIndex: k, stepIndex: p.wrongStep }, outcome);
    if (outcome.ok) {
      this.metrics.fraudProofs.inc({ result: "succeeded" });
      if (outcome.gasUsed !== undefined) this.metrics.fraudProofGas.observe(Number(outcome.gasUsed));
      this.logger.warn(
        { ...context, tx: outcome.hash, gasUsed: outcome.gasUsed, block: outcome.blockNumber },
        "FRAUD PROVEN: the proposal and every later one are rolled back, the proposer slashed",
      );
      return true;
    }
    this.metrics.fraudProofs.inc({ result: "failed" });
    this.failedAt.set(key, Date.now());
    this.logger.error(
      { ...context, tx: outcome.hash, error: outcome.error, retryInMs: PROOF_RETRY_MS },
      "the fraud proof failed; retrying while the window is open",
    );
    return false;
  }

  /**
   * Appends, with `forceInclude`, every queue item the sequencer left unconsumed once the oldest is overdue
   * (PROTOCOL.md §7.2): a silent or censoring sequencer can delay deposits and forced exits, never trap them.
   */
  private async forceIncludeOverdue(): Promise<void> {
    const read = connectRollup(this.deployment.contracts, this.provider);
    const consumed = Number(await read.inbox.queueConsumed());
    const length = Number(await read.bridge.queueLength());
    if (consumed >= length || !(await read.inbox.isOverdue(consumed))) return;
    const count = Math.min(Number(await read.inbox.MAX_QUEUE_ITEMS_PER_BATCH()), length - consumed);
    this.logger.warn({ from: consumed, count }, "queue items are overdue: force-including them");
    const inbox = connectRollup(this.deployment.contracts, this.signer as Signer).inbox;
    const outcome = await sendForceInclude(inbox, count);
    await this.record({ kind: "forceInclude", batchIndex: -1 }, outcome);
    if (outcome.ok) this.logger.info({ from: consumed, count, tx: outcome.hash }, "overdue queue items force-included");
    else
      this.logger.warn({ error: outcome.error }, "the forced inclusion did not go through (someone else's may have)");
  }

  /** Proposes the computed roots of the next unproposed batches, as the propose mode allows. */
  private async proposeRight(): Promise<void> {
    const chain = this.signerChain as StateCommitmentChain;
    // Our proposals sent in this pass, whose events are not processed yet.
    const ours = new Set<number>();
    for (;;) {
      if (this.stopping) return;
      const p = Number(await this.chain.proposalCount());
      if (p >= this.replica.replayed || p < this.cursor.settled) return;
      if (this.config.propose === "after-fraud" && !this.repropose.has(p)) return;
      // Never build on a proposal judged wrong: it must be challenged first.
      for (let k = this.cursor.settled; k < p; k++) {
        const live = this.proposals.get(k);
        if (ours.has(k)) continue;
        if (live === undefined || live.wrongStep >= 0) return;
      }
      const parent = (await this.chain.preStateRoot(p)).toLowerCase();
      if (parent !== this.computedRootAfter(p - 1)) return;
      const batch = this.batches.get(p) as BatchState;
      this.logger.info(
        { batch: p, steps: batch.stepCount, stateRoot: batch.stepRoots[batch.stepRoots.length - 1], bond: this.bond },
        "proposing the computed step roots with our bond",
      );
      const outcome = await sendProposal(chain, p, batch.stepRoots, this.bond);
      await this.record({ kind: "propose", batchIndex: p }, outcome);
      this.metrics.proposalsMade.inc({ result: outcome.ok ? "succeeded" : "failed" });
      if (!outcome.ok) {
        // Usually someone else proposed it first (StateCommitmentChainNotNextBatch): the events will tell.
        this.logger.warn({ batch: p, error: outcome.error }, "our proposal was not accepted");
        return;
      }
      this.logger.info({ batch: p, tx: outcome.hash }, "proposed the computed step roots");
      ours.add(p);
      if (this.repropose.delete(p)) await this.store.write([{ type: "del", key: reproposeKey(p) }]);
    }
  }

  /** Takes back the bonds of this verifier's final proposals, and refunds those removed by an earlier one's rollback. */
  private async returnBonds(now: number): Promise<void> {
    const chain = this.signerChain as StateCommitmentChain;
    for (const bond of [...this.ownBonds.values()].sort((a, b) => a.batchIndex - b.batchIndex)) {
      if (this.stopping) return;
      if (!bond.removed && now < bond.deadline) continue;
      const id = BigInt(bond.proposalId);
      const onChain = await this.chain.bond(id).catch(() => undefined);
      if (onChain === undefined || onChain.state !== BOND_HELD) continue; // the event will tell
      const outcome = await sendReturnBond(chain, id);
      await this.record({ kind: "returnBond", batchIndex: bond.batchIndex }, outcome);
      if (outcome.ok)
        this.logger.info({ batch: bond.batchIndex, proposalId: bond.proposalId, tx: outcome.hash }, "bond returned");
      else this.logger.warn({ batch: bond.batchIndex, error: outcome.error }, "bond return failed");
    }
  }

  private async record(
    action: Pick<ActionJson, "kind" | "batchIndex" | "stepIndex">,
    outcome: TxOutcome,
  ): Promise<void> {
    const json: ActionJson = {
      ...action,
      result: outcome.ok ? "succeeded" : outcome.hash === undefined ? "refused" : "reverted",
      at: Date.now(),
      ...(outcome.hash === undefined ? {} : { transactionHash: outcome.hash }),
      ...(outcome.error === undefined ? {} : { detail: outcome.error }),
    };
    this.actions.push(json);
    await this.store.write([{ type: "put", key: actionKey(this.actionSeq++), value: JSON.stringify(json) }]);
  }

  // ---------------------------------------------------------------------------
  // status

  private updateGauges(): void {
    const live = this.liveProposalCount();
    this.metrics.heads.set({ stage: "appended" }, this.replica.replayed);
    this.metrics.heads.set({ stage: "proposed" }, live);
    this.metrics.heads.set({ stage: "settled" }, this.cursor.settled);
    let invalid = 0;
    for (const p of this.proposals.values()) if (p.wrongStep >= 0 && p.batchIndex >= this.cursor.settled) invalid++;
    this.metrics.openInvalid.set(invalid);
  }

  private liveProposalCount(): number {
    let n = this.cursor.settled;
    while (this.proposals.has(n)) n++;
    return n;
  }

  /** What the verifier knows, as `/status` serves it. */
  status(): VerifierStatus {
    const c = this.deployment.contracts;
    const tip = this.replica.tip;
    const target = this.head - this.config.confirmations + 1;
    const from = this.catchUpFrom ?? this.cursor.block;
    const syncing = this.cursor.block < target;
    return {
      chainId: this.deployment.chainId.toString(),
      contracts: {
        bridge: c.bridge,
        rollupInbox: c.rollupInbox,
        stateCommitmentChain: c.stateCommitmentChain,
        fraudVerifier: c.fraudVerifier,
      },
      challenger: this.challengerAddress === undefined ? null : getAddress(this.challengerAddress),
      propose: this.config.propose,
      l1: {
        head: this.head,
        processed: this.cursor.block,
        timestamp: this.headTime,
        startBlock: this.deployment.startBlock,
      },
      syncing,
      progress: syncing ? (this.cursor.block - from) / Math.max(1, target - from) : 1,
      halted: this.halted ?? null,
      queueItems: String(this.cursor.queueLength),
      batches: { replayed: this.replica.replayed, settled: this.cursor.settled, proposed: this.liveProposalCount() },
      state: {
        stateRoot: this.cursor.stateRoot,
        accountCount: tip.accountCount,
        withdrawalCount: tip.withdrawalCount.toString(),
      },
      transactionsReplayed: this.cursor.transactions,
      proposals: [...this.proposals.values()]
        .filter((p) => p.batchIndex >= this.cursor.settled)
        .sort((a, b) => a.batchIndex - b.batchIndex)
        .map((p) => ({
          batchIndex: p.batchIndex,
          proposer: getAddress(p.proposer),
          deadline: p.deadline,
          verdict: p.wrongStep < 0 ? ("right" as const) : ("wrong" as const),
          ...(p.wrongStep < 0 ? {} : { wrongStep: p.wrongStep }),
        })),
      actions: [...this.actions],
    };
  }

  // ---------------------------------------------------------------------------
  // what a user asks (the same shapes as the operator's API: ../operator/rpc/views.ts)

  /** Batches whose live proposal is right, from the first on (those settled included). */
  private rightProposals(): number {
    let n = this.cursor.settled;
    while (this.proposals.get(n)?.wrongStep === -1) n++;
    return n;
  }

  /** Account `index` of the state rebuilt from L1, or undefined. */
  account(index: number): AccountJsonView | undefined {
    const tip = this.replica.tip;
    if (!Number.isInteger(index) || index < 1 || index > tip.accountCount) return undefined;
    const a = tip.getAccount(index);
    return a === undefined ? undefined : accountView(index, a);
  }

  /** The indices of the accounts `owner` holds in the state rebuilt from L1. */
  accountsOf(owner: string): number[] {
    const tip = this.replica.tip;
    if (this.owners?.at !== this.replica.replayed || this.owners.block !== this.cursor.block) {
      const byOwner = new Map<string, number[]>();
      for (let i = 1; i <= tip.accountCount; i++) {
        const a = tip.getAccount(i);
        if (a === undefined) continue;
        const list = byOwner.get(a.owner);
        if (list) list.push(i);
        else byOwner.set(a.owner, [i]);
      }
      this.owners = { at: this.replica.replayed, block: this.cursor.block, byOwner };
    }
    return [...(this.owners.byOwner.get(owner.toLowerCase()) ?? [])];
  }

  /** The withdrawals paying `recipient` in the state rebuilt from L1, with where each stands. */
  async withdrawalsOf(recipient: string): Promise<WithdrawalJsonView[]> {
    const tip = this.replica.tip;
    const who = recipient.toLowerCase();
    const heads = { proposed: this.rightProposals(), final: this.cursor.settled };
    const bridge = connectRollup(this.deployment.contracts, this.provider).bridge;
    const out: WithdrawalJsonView[] = [];
    for (let i = 0; i < Number(tip.withdrawalCount); i++) {
      const w = tip.withdrawal(i);
      if (w?.recipient !== who) continue;
      const batch = this.withdrawalBatch[i] >= 0 ? this.withdrawalBatch[i] : undefined;
      const claimed = batch !== undefined && batch < heads.final && (await bridge.isClaimed(i));
      out.push(withdrawalView(i, w, batch, withdrawalStatus(batch, heads, claimed)));
    }
    return out;
  }

  /**
   * Withdrawal `index` with its proof against the header of batch `batchIndex` — by default the last settled batch
   * (final, with the roots computed here) when it holds it, else the last batch replayed. The verifier keeps the
   * state of the batches from the last settled one on, so an earlier one cannot be asked for.
   */
  withdrawalProof(index: number, batchIndex?: number): WithdrawalProofJsonView {
    const tip = this.replica.tip;
    const w = tip.withdrawal(index);
    const first = this.withdrawalBatch[index] ?? -1;
    const notFound = (message: string, data: Record<string, unknown> = {}): never => {
      throw new RpcError(RpcCode.WithdrawalNotFound, message, { withdrawalIndex: index, ...data });
    };
    if (w === undefined) notFound(`no withdrawal ${index} (there are ${tip.withdrawalCount})`);
    if (first < 0) notFound(`the batch holding withdrawal ${index} is not known to this verifier`);
    const last = this.replica.replayed - 1;
    const settledBatch = this.cursor.settled - 1;
    const k = batchIndex ?? (first <= settledBatch ? settledBatch : last);
    if (k < first || k > last)
      notFound(`batch ${k} does not hold withdrawal ${index} (first in batch ${first})`, { firstBatch: first });
    if (k < settledBatch) {
      notFound(
        `this verifier keeps the state of batch ${settledBatch} (the last final one) and later, not of batch ${k}`,
        {
          oldestBatch: settledBatch,
        },
      );
    }
    const state = k === last ? tip : this.replica.preStateOf(k + 1);
    const header = state.header();
    return withdrawalProofView(index, w as Withdrawal, {
      batchIndex: k,
      header: headerToJson(header),
      stateRoot: state.stateRoot(),
      siblings: state.withdrawalProof(index).map(toHex),
      final: k <= settledBatch,
    });
  }

  /** The step roots computed for an unsettled batch. */
  computedRoots(batchIndex: number): string[] | undefined {
    return this.batches.get(batchIndex)?.stepRoots;
  }

  /** The state after the last batch replayed (read only). */
  get tipState(): Replica["tip"] {
    return this.replica.tip;
  }

  /** The last checkpoint. */
  get checkpoint(): Readonly<Cursor> {
    return { ...this.cursor };
  }

  /** A queue item this verifier holds (those of unsettled and future batches), or undefined. */
  queueItemAt(index: number): QueueItem | undefined {
    return this.queue.get(index);
  }

  /** The bonds of this verifier's proposals that the chain still holds. */
  get bondsHeld(): OwnBondJson[] {
    return [...this.ownBonds.values()];
  }

  /** Why the verifier stopped, if it did. */
  get haltReason(): string | undefined {
    return this.halted;
  }

  /** Wakes the loop early. */
  poke(): void {
    this.loop.poke();
  }

  /** Whether stop() was called: a long tick checks it between block ranges. */
  private get stopping(): boolean {
    return this.loop.stopping;
  }

  /** Waits until `done(status)` holds, polling every `pollMs`. */
  async waitFor(done: (s: VerifierStatus) => boolean, timeoutMs = 60_000, pollMs = 50): Promise<VerifierStatus> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = this.status();
      if (done(s)) return s;
      if (Date.now() > until)
        throw new BilayerError("TIMEOUT", `the verifier did not reach the expected state in ${timeoutMs} ms`);
      await sleep(pollMs);
    }
  }
}
