/**
 * The verifier: trusts nothing but L1. It rebuilds the L2 state from the
 * bridge's queue, the inbox's batches (chunks from calldata) and the state
 * commitment chain's proposals, recomputes every step root with `src/protocol`,
 * and when a proposal differs it proves the first wrong step on chain inside
 * the challenge window, then (configurably) proposes the right roots with its
 * own bond.
 *
 * The parts: `replay.ts` (L1 replayed into the replica, checkpointed, with
 * `proposal-book.ts` for the proposals and bonds), `challenge.ts` (the fraud
 * proof of the first wrong step), `proposer.ts` (forced inclusion, proposals,
 * bond returns), `queries.ts` (what a user asks), `actions.ts` (the log of
 * what it sent); this façade holds their life cycle and its status.
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
import type { Provider, Signer } from "ethers";
import { PollLoop } from "../common/poll-loop";
import { AggregatePool } from "./aggregate-pool";
import { checkDeployment, claimDataDir } from "../l1/startup";
import { connectRollup } from "../l1/contracts";
import type { RollupDeployment } from "../l1/deployments";
import { BatchDataUnavailableError } from "../l1/events";
import { BilayerError } from "../protocol/errors";
import { initHashing } from "../protocol/hash";
import type { QueueItem } from "../protocol/queue";
import type { JsonRpcServer } from "../common/json-rpc-server";
import type { AccountJsonView, WithdrawalJsonView, WithdrawalProofJsonView } from "../operator/rpc/views";
import { ActionLog } from "./actions";
import { FraudChallenge } from "./challenge";
import { validateVerifierConfig, type VerifierConfig } from "./config";
import { VerifierHaltedError, type VerifierContext } from "./context";
import { createVerifierLogger, type Logger } from "./log";
import { VerifierMetrics } from "./metrics";
import { VerifierProposer } from "./proposer";
import { StateQueries } from "./queries";
import type { Replica } from "./replica";
import { L1Replay, type ReplayObserver } from "./replay";
import { statusOf, statusServer, type VerifierStatus } from "./status";
import { KEY_META, VerifierStore, type Cursor, type OwnBondJson, type VerifierMeta } from "./store";

export { VerifierHaltedError } from "./context";
export type { VerifierStatus } from "./status";

export interface VerifierOptions {
  config: VerifierConfig;
  /** The L1 node. */
  provider: Provider;
  /** Signs fraud proofs, proposals and bond returns; without one the verifier only watches and reports. */
  signer?: Signer;
  deployment: RollupDeployment;
  logger?: Logger;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Verifier {
  readonly metrics = new VerifierMetrics();
  readonly logger: Logger;
  readonly config: VerifierConfig;
  private readonly c: VerifierContext;
  private readonly replay: L1Replay;
  private readonly actions: ActionLog;
  private readonly challenge: FraudChallenge;
  private readonly proposer: VerifierProposer;
  private readonly queries: StateQueries;

  private head = 0;
  private headTime = 0;
  private catchUpFrom: number | undefined;
  private lastProgressLog = 0;
  private halted: string | undefined;
  private readonly loop: PollLoop;
  private server: JsonRpcServer | undefined;
  /** Base URL of the status server, when it runs. */
  url: string | undefined;

  private constructor(
    opts: VerifierOptions,
    parts: { store: VerifierStore; domain: string; bond: bigint; challenger: string | undefined; logger: Logger },
  ) {
    this.config = opts.config;
    this.logger = parts.logger;
    this.loop = new PollLoop({
      pollMs: opts.config.pollMs,
      step: () => this.tick(),
      onError: (err) => this.logger.error({ err }, "verifier tick failed; retrying"),
    });
    const write = opts.signer === undefined ? undefined : connectRollup(opts.deployment.contracts, opts.signer);
    this.c = {
      config: opts.config,
      provider: opts.provider,
      signer: opts.signer,
      deployment: opts.deployment,
      store: parts.store,
      logger: parts.logger,
      metrics: this.metrics,
      domain: parts.domain,
      chain: connectRollup(opts.deployment.contracts, opts.provider).stateCommitmentChain,
      fraud: write?.fraudVerifier,
      signerChain: write?.stateCommitmentChain,
      challengerAddress: parts.challenger,
      bond: parts.bond,
      stopping: () => this.loop.stopping,
      aggregates:
        opts.config.aggregateThreads > 0 ? new AggregatePool(opts.config.aggregateThreads, parts.logger) : undefined,
    };
    this.replay = new L1Replay(this.c);
    this.actions = new ActionLog(parts.store);
    this.challenge = new FraudChallenge(this.c, this.replay, this.actions);
    this.proposer = new VerifierProposer(this.c, this.replay, this.actions);
    this.queries = new StateQueries(this.c, this.replay);
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
      await verifier.c.aggregates?.ready();
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
    const c = this.c.deployment.contracts;
    const meta: VerifierMeta = {
      version: 1,
      chainId: chainId.toString(),
      bridge: c.bridge.toLowerCase(),
      inbox: c.rollupInbox.toLowerCase(),
      stateCommitmentChain: c.stateCommitmentChain.toLowerCase(),
      fraudVerifier: c.fraudVerifier.toLowerCase(),
      startBlock: this.c.deployment.startBlock,
    };
    const fresh = await claimDataDir({
      dataDir: this.config.dataDir,
      what: "verifier state",
      meta,
      alsoCompared: ["bridge"],
      read: () => this.c.store.get<VerifierMeta>(KEY_META),
      write: (m) => this.c.store.write([{ type: "put", key: KEY_META, value: JSON.stringify(m) }]),
    });
    if (fresh) {
      this.logger.info({ dataDir: this.config.dataDir, startBlock: meta.startBlock }, "new verifier store");
      return;
    }
    if (await this.replay.restore()) await this.actions.restore();
  }

  // ---------------------------------------------------------------------------
  // life cycle

  /** Starts the status server (unless `port` is -1) and the loop. */
  async start(): Promise<void> {
    if (this.config.port >= 0) {
      this.server = statusServer(this);
      this.url = (await this.server.start()).url;
    }
    this.logger.info(
      {
        url: this.url,
        challenger: this.c.challengerAddress ?? null,
        propose: this.config.propose,
        inbox: this.c.deployment.contracts.rollupInbox,
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
    await this.c.aggregates?.stop();
    await this.c.store.close();
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
    const head = await this.c.provider.getBlockNumber();
    this.head = head;
    this.metrics.l1Head.set(head);
    const target = head - this.config.confirmations + 1;
    if (this.cursor.block < target && this.catchUpFrom === undefined) this.catchUpFrom = this.cursor.block;
    try {
      let acted = false;
      while (this.cursor.block < target && !this.stopping && ranges-- > 0) {
        const from = this.cursor.block + 1;
        const to = Math.min(this.cursor.block + this.config.logRange, target);
        await this.replay.processRange(from, to, this.head);
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
  // acting on L1

  private async act(caughtUp: boolean): Promise<void> {
    if (this.c.signer === undefined || this.stopping || this.halted !== undefined) return;
    const latest = await this.c.provider.getBlock("latest");
    if (latest === null) return;
    this.headTime = latest.timestamp;
    if (this.config.challenge && (await this.challenge.challengeFirstWrong(latest.timestamp))) return;
    if (!caughtUp) return;
    // A second sequencer for the queue only: what the sequencer leaves overdue goes in, so it can be proposed.
    if (this.config.propose === "all") await this.proposer.forceIncludeOverdue();
    if (this.config.propose !== "off") await this.proposer.proposeRight();
    if (this.config.returnBonds) await this.proposer.returnBonds(latest.timestamp);
  }

  // ---------------------------------------------------------------------------
  // status

  private updateGauges(): void {
    const live = this.replay.proposals.liveCount(this.cursor.settled);
    this.metrics.heads.set({ stage: "appended" }, this.replay.replica.replayed);
    this.metrics.heads.set({ stage: "proposed" }, live);
    this.metrics.heads.set({ stage: "settled" }, this.cursor.settled);
    let invalid = 0;
    for (const p of this.replay.proposals.byBatch.values())
      if (p.wrongStep >= 0 && p.batchIndex >= this.cursor.settled) invalid++;
    this.metrics.openInvalid.set(invalid);
  }

  /** Why it stopped following L1, if it did (see `/status.halted`). */
  get haltedReason(): string | undefined {
    return this.halted;
  }

  /** Has `observer` told of every event replayed from now on (an explorer's index: see `src/explorer`). */
  observe(observer: ReplayObserver): void {
    this.replay.observer = observer;
  }

  /** What the verifier knows, as `/status` serves it. */
  status(): VerifierStatus {
    const { head, headTime, catchUpFrom, halted } = this;
    return statusOf(this.c, this.replay, { head, headTime, catchUpFrom, halted, actions: this.actions.list() });
  }

  // ---------------------------------------------------------------------------
  // what a user asks (the same shapes as the operator's API: ../operator/rpc/views.ts)

  /** Account `index` of the state rebuilt from L1, or undefined. */
  account(index: number): AccountJsonView | undefined {
    return this.queries.account(index);
  }

  /** The indices of the accounts `owner` holds in the state rebuilt from L1. */
  accountsOf(owner: string): number[] {
    return this.queries.accountsOf(owner);
  }

  /** The withdrawals paying `recipient` in the state rebuilt from L1, with where each stands. */
  async withdrawalsOf(recipient: string): Promise<WithdrawalJsonView[]> {
    return this.queries.withdrawalsOf(recipient);
  }

  /**
   * Withdrawal `index` with its proof against the header of batch `batchIndex` — by default the last settled batch
   * (final, with the roots computed here) when it holds it, else the last batch replayed. The verifier keeps the
   * state of the batches from the last settled one on, so an earlier one cannot be asked for.
   */
  withdrawalProof(index: number, batchIndex?: number): WithdrawalProofJsonView {
    return this.queries.withdrawalProof(index, batchIndex);
  }

  /** The step roots computed for an unsettled batch. */
  computedRoots(batchIndex: number): string[] | undefined {
    return this.replay.batches.get(batchIndex)?.stepRoots;
  }

  /** The state after the last batch replayed (read only). */
  get tipState(): Replica["tip"] {
    return this.replay.replica.tip;
  }

  /** The last checkpoint. */
  get checkpoint(): Readonly<Cursor> {
    return { ...this.cursor };
  }

  /** A queue item this verifier holds (those of unsettled and future batches), or undefined. */
  queueItemAt(index: number): QueueItem | undefined {
    return this.replay.queue.get(index);
  }

  /** First block this process read (for tests of the resume). */
  get firstBlockRead(): number | undefined {
    return this.replay.firstBlockRead;
  }

  /** The bonds of this verifier's proposals that the chain still holds. */
  get bondsHeld(): OwnBondJson[] {
    return [...this.replay.proposals.ownBonds.values()];
  }

  /** Why the verifier stopped, if it did. */
  get haltReason(): string | undefined {
    return this.halted;
  }

  /** Wakes the loop early. */
  poke(): void {
    this.loop.poke();
  }

  /** The checkpoint of the blocks replayed so far (the replay's, not a copy). */
  private get cursor(): Cursor {
    return this.replay.cursor;
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
