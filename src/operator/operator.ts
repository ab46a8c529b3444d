import fs from "node:fs";
import { getAddress, type Provider, type Wallet } from "ethers";
import { checkDeployment, claimDataDir } from "../l1/startup";
import { connectRollup, type RollupContracts } from "../l1/contracts";
import type { RollupDeployment } from "../l1/deployments";
import { domainSeparator } from "../protocol/eip712";
import { BilayerError } from "../protocol/errors";
import { initHashing } from "../protocol/hash";
import { validateConfig, type OperatorConfig } from "./config";
import { isUnreachable, L1Driver, type DriverOptions } from "./driver";
import { QueueFollower } from "./follower";
import { assessHealth, type HealthReport } from "./health";
import { BondBook } from "./bonds";
import { L1Sender, purposeLabel } from "./l1-sender";
import { createLogger, type Logger } from "./log";
import { OperatorMetrics } from "./metrics";
import { KEY_META, type StoredQueueItem, type StoreMeta } from "./records";
import { createApi, mapApiError, type L1Status } from "./rpc/api";
import { JsonRpcServer, type HttpRoute } from "../common/json-rpc-server";
import { ThreadedJsonRpcServer, type RouteAnswer, type ThreadFailure } from "./rpc/threaded";
import { Sequencer } from "./sequencer";
import { readSnapshotMeta } from "./snapshot";
import { LevelStore } from "../common/store";
import { censorFromEnv, maliciousHookFromEnv, type QueueCensor } from "./malicious";

/** Either JSON-RPC server: in this thread, or with its HTTP side on a thread of its own. */
interface RpcServerHandle {
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
  /** Times the HTTP thread failed and was restarted, and when last (the threaded server only). */
  readonly restarts?: number;
  readonly lastRestartAt?: number;
}

/** The GET routes as `node:http` handlers, for the in-thread server. */
function inProcessRoutes(routes: Record<string, () => RouteAnswer | Promise<RouteAnswer>>): Record<string, HttpRoute> {
  const out: Record<string, HttpRoute> = {};
  for (const [path, route] of Object.entries(routes)) {
    out[path] = async (_req, res) => {
      const a = await route();
      res.writeHead(a.status, { "content-type": a.contentType }).end(a.body);
    };
  }
  return out;
}

export interface OperatorStartOptions {
  config: OperatorConfig;
  /** The L1 node. */
  provider: Provider;
  /** The sequencer (and proposer) key, connected to `provider`. */
  wallet: Wallet;
  deployment: RollupDeployment;
  logger?: Logger;
  /** Only for tests of the fraud-proof path: see {@link DriverOptions.proposalRoots}. */
  proposalRoots?: DriverOptions["proposalRoots"];
}

/** A promise that settles after `ms` (and does not keep the process alive). */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** `work`, or `undefined` once `ms` have passed without it settling (a frozen L1 node). */
async function within<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  return Promise.race([work, delay(ms).then(() => undefined)]);
}

/** How long stopping waits for the L1 loops before it closes the store anyway. */
const STOP_L1_BOUND_MS = 4_000;

/**
 * The operator service: sequencer, batcher and proposer behind the JSON-RPC
 * API, with the L1 queue follower, on one durable store. `Operator.start`
 * rebuilds everything from the store (from its snapshot on), serves reads at
 * once, and starts acknowledging transactions once L1 has been reached and
 * the deployment checked — with L1 down it keeps trying and reports it.
 * `stop()` shuts it down cleanly in bounded time (a `kill -9` is also fine:
 * nothing acknowledged is lost).
 */
export class Operator {
  readonly url: string;
  readonly sequencer: Sequencer;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  private readonly config: OperatorConfig;
  private readonly store: LevelStore;
  private readonly server: RpcServerHandle;
  private readonly driver: L1Driver;
  private readonly follower: QueueFollower;
  /** CENSOR MODE (tests and demos only, `BILAYER_CENSOR`): holds back forced exits. */
  private readonly censor?: QueueCensor<StoredQueueItem>;
  private readonly sender: L1Sender;
  private readonly timers: NodeJS.Timeout[] = [];
  private followerLoop: Promise<void> | undefined;
  private l1Loop: Promise<void> | undefined;
  /** Set once the L1 side (sender, driver, follower) has started; until then the reason it could not. */
  private l1Started = false;
  private l1StartError: string | undefined;
  private stopping = false;

  private constructor(parts: {
    url: string;
    config: OperatorConfig;
    sequencer: Sequencer;
    metrics: OperatorMetrics;
    logger: Logger;
    store: LevelStore;
    server: RpcServerHandle;
    driver: L1Driver;
    follower: QueueFollower;
    sender: L1Sender;
    censor?: QueueCensor<StoredQueueItem>;
  }) {
    this.url = parts.url;
    this.config = parts.config;
    this.sequencer = parts.sequencer;
    this.metrics = parts.metrics;
    this.logger = parts.logger;
    this.store = parts.store;
    this.server = parts.server;
    this.driver = parts.driver;
    this.follower = parts.follower;
    this.censor = parts.censor;
    this.sender = parts.sender;
  }

  /**
   * Checks the deployment on L1 when L1 answers: a node of another chain, an
   * inbox with another domain, or a key without the sequencer role is a
   * mistake, refused at once. Returns the reason L1 could not be reached, or
   * undefined when it was.
   */
  private static async checkL1(
    provider: Provider,
    deployment: RollupDeployment,
    contracts: RollupContracts,
    wallet: Wallet,
  ): Promise<string | undefined> {
    try {
      await checkDeployment(provider, deployment, contracts.inbox);
      const role = await contracts.inbox.SEQUENCER_ROLE();
      if (!(await contracts.inbox.hasRole(role, wallet.address))) {
        throw new BilayerError("NOT_SEQUENCER", `${wallet.address} does not hold the inbox's sequencer role`);
      }
      return undefined;
    } catch (err) {
      if (isUnreachable(err)) return `cannot reach L1: ${(err as Error).message.split("\n")[0].slice(0, 200)}`;
      throw err;
    }
  }

  static async start(opts: OperatorStartOptions): Promise<Operator> {
    const config = validateConfig(opts.config);
    const logger = opts.logger ?? createLogger();
    const { provider, wallet, deployment } = opts;
    await initHashing();
    const chainId = deployment.chainId;
    const contracts = connectRollup(deployment.contracts, provider);
    const inboxAddress = deployment.contracts.rollupInbox;
    const separator = domainSeparator(chainId, inboxAddress);
    const l1Down = await Operator.checkL1(provider, deployment, contracts, wallet);
    if (l1Down) logger.error({ reason: l1Down }, "L1 is not reachable: serving reads, and trying again");

    fs.mkdirSync(config.dataDir, { recursive: true });
    const store = await LevelStore.open(config.dataDir);
    try {
      const meta: StoreMeta = {
        version: 1,
        chainId: chainId.toString(),
        inbox: inboxAddress.toLowerCase(),
        domainSeparator: separator,
      };
      await claimDataDir({
        dataDir: config.dataDir,
        what: "state",
        meta,
        read: async () => {
          const text = await store.get(KEY_META);
          return text === undefined ? undefined : (JSON.parse(text) as StoreMeta);
        },
        write: (m) => store.write([{ type: "put", key: KEY_META, value: JSON.stringify(m) }]),
      });

      const metrics = new OperatorMetrics();
      store.onFlush = (s) => {
        metrics.storeFlushMs.observe(s.ms);
        metrics.storeGroupSize.observe(s.writers);
      };
      const sequencer = new Sequencer({
        store,
        domainSeparator: separator,
        feeRecipient: config.feeRecipient,
        limits: config.batch,
        mempool: config.mempool,
        logger,
        metrics,
      });
      const follower = new QueueFollower({
        provider,
        bridge: deployment.contracts.bridge,
        bridgeInterface: contracts.bridge.interface,
        store,
        startBlock: deployment.startBlock,
        confirmations: config.confirmations,
        logRange: config.logRange,
        logger,
      });
      // CENSOR MODE hook — tests and demos only, off unless BILAYER_CENSOR=forced-exits (./malicious.ts).
      const censor = censorFromEnv<StoredQueueItem>(
        process.env,
        async () => Number(await contracts.inbox.queueConsumed()),
        logger,
      );
      // Only what came after the snapshot is read and replayed.
      // (The censor holds back only what the follower finds while it runs: what was stored before is loaded.)
      await sequencer.load(await follower.load((await readSnapshotMeta(store)).queueEnd));
      sequencer.setRefusal("l1", "L1 not reached yet");

      const bonds = new BondBook({
        store,
        stateCommitmentChain: contracts.stateCommitmentChain,
        self: wallet.address,
        logger,
      });
      await bonds.load();
      const sender = new L1Sender({
        provider,
        wallet,
        store,
        logger,
        metrics,
        onConfirmed: async (rec, receipt) => {
          if (rec.purpose.kind === "propose" && receipt.status === 1) await bonds.record(receipt);
        },
        confirmations: config.confirmations,
        stuckAfterMs: config.stuckAfterMs,
        feeBumpPercent: config.feeBumpPercent,
        maxFeePerGasCap: config.maxFeePerGas,
        pollMs: Math.min(config.pollMs, 1000),
      });
      // MALICIOUS MODE hook — tests and demos only, off unless BILAYER_MALICIOUS=<lie>:<batch>:<step> (./malicious.ts).
      const lie = maliciousHookFromEnv(process.env, sequencer, {
        domainSeparator: separator,
        beneficiary: wallet.address,
        logger,
      });
      const driver = new L1Driver({
        provider,
        sender,
        inbox: contracts.inbox,
        stateCommitmentChain: contracts.stateCommitmentChain,
        fraudVerifier: contracts.fraudVerifier,
        sequencer,
        bonds,
        domainSeparator: separator,
        logger,
        metrics,
        pollMs: config.pollMs,
        startBlock: deployment.startBlock,
        chainId,
        contracts: Object.values(deployment.contracts),
        confirmations: config.confirmations,
        pruneHistory: config.pruneHistory,
        propose: config.propose,
        proposalRoots: opts.proposalRoots ?? (lie && ((batch) => lie(batch.index))),
      });
      sequencer.onBatchDurable = () => driver.poke();

      // The operator object exists before its server: the routes and the API read it.
      const self: { op?: Operator } = {};
      const health = (): HealthReport => (self.op as Operator).health();
      const l1Status = (): L1Status => {
        const v = driver.state;
        return {
          chainId: chainId.toString(),
          contracts: {
            bridge: getAddress(deployment.contracts.bridge),
            rollupInbox: getAddress(deployment.contracts.rollupInbox),
            stateCommitmentChain: getAddress(deployment.contracts.stateCommitmentChain),
          },
          sequencer: wallet.address,
          l1Block: v.l1Block,
          heads: { appended: v.appended, proposed: v.proposed, final: v.final },
          openProposals: v.openProposals,
          proposer: { bondsHeld: v.bondsHeld, liesProven: v.lies },
          inFlight: sender.unconfirmed().map((r) => ({
            nonce: r.nonce,
            purpose: purposeLabel(r.purpose),
            hash: r.mined?.hash ?? r.attempts[r.attempts.length - 1].hash,
          })),
          health: health(),
          ...(v.halted ? { halted: v.halted } : {}),
        };
      };
      metrics.healthSource = health;
      const routes: Record<string, () => RouteAnswer | Promise<RouteAnswer>> = {
        "/metrics": async () => {
          const { contentType, body } = await metrics.text();
          return { status: 200, contentType, body };
        },
        // Readiness: 200 only while nothing is wrong; the body says what is.
        "/health": () => {
          const report = health();
          return {
            status: report.status === "ok" ? 200 : 503,
            contentType: "application/json",
            body: JSON.stringify({ status: report.status, reasons: report.reasons }) + "\n",
          };
        },
        // Liveness: the process and its main thread answer.
        "/health/live": () => ({ status: 200, contentType: "text/plain", body: "alive\n" }),
      };
      const serverOptions = {
        host: config.host,
        port: config.port,
        maxBodyBytes: config.maxBodyBytes,
        maxBatchLength: config.maxBatchRequests,
        maxJsonDepth: config.maxJsonDepth,
        methods: createApi({
          sequencer,
          l1Status,
          // A status detail only: when L1 does not answer quickly, the withdrawal is reported final, not claimed.
          isClaimed: async (i) =>
            (await within(
              2_000,
              contracts.bridge.isClaimed(i).catch(() => false),
            )) ?? false,
        }),
        logger,
        mapError: mapApiError,
        onResponse: (method: string, code: number) => metrics.countRequest(method, code),
      };
      const server: RpcServerHandle = config.rpcThread
        ? new ThreadedJsonRpcServer({
            ...serverOptions,
            routes,
            logLevel: logger.level,
            onThreadFailure: (f: ThreadFailure) => metrics.rpcThreadFailures.inc({ event: f.event }),
            onThreadRestart: () => metrics.rpcRestarts.inc(),
            presign: { domainSeparator: separator, hints: () => sequencer.senderHints() },
          })
        : new JsonRpcServer({ ...serverOptions, routes: inProcessRoutes(routes) });

      const { url } = await server.start();
      const op = new Operator({
        url,
        config,
        sequencer,
        metrics,
        logger,
        store,
        server,
        driver,
        follower,
        sender,
        censor,
      });
      self.op = op;
      op.timers.push(setInterval(() => sequencer.tick(), Math.max(10, Math.min(100, config.batch.maxAgeMs / 4))));
      op.l1StartError = l1Down;
      if (l1Down === undefined) await op.startL1();
      else op.l1Loop = op.keepStartingL1();
      logger.info(
        {
          url,
          chainId: chainId.toString(),
          inbox: inboxAddress,
          sequencer: wallet.address,
          dataDir: config.dataDir,
          confirmations: config.confirmations,
          l1: l1Down ?? "reached",
        },
        "operator started",
      );
      return op;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Starts the L1 side: re-sends what was in flight, starts the driver (which checks the deployment) and the follower. */
  private async startL1(): Promise<void> {
    await this.sender.recover();
    await this.driver.start();
    this.l1Started = true;
    this.l1StartError = undefined;
    this.followerLoop = this.followQueue(this.config.pollMs);
  }

  /** Tries to start the L1 side until L1 answers (a node down at start). */
  private async keepStartingL1(): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      await delay(Math.min(this.config.pollMs * attempt, 10_000));
      if (this.stopping) return;
      try {
        await this.startL1();
        this.logger.warn({ attempt }, "L1 reached: the operator starts acknowledging transactions");
        return;
      } catch (err) {
        this.l1StartError = `cannot reach L1: ${(err as Error).message.split("\n")[0].slice(0, 200)}`;
        if (!isUnreachable(err)) this.logger.error({ err }, "starting the L1 side failed; trying again");
      }
    }
  }

  private async followQueue(pollMs: number): Promise<void> {
    while (!this.stopping) {
      try {
        const polled = await this.follower.poll();
        const items = this.censor ? await this.censor.pass(polled) : polled;
        if (items.length > 0) {
          this.sequencer.addQueueItems(items);
          this.sequencer.tick();
        }
      } catch (err) {
        if (!this.stopping && !isUnreachable(err)) this.logger.error({ err }, "queue follower poll failed; retrying");
      }
      await delay(pollMs);
    }
  }

  /** The operator's health, as `/health` and `l2_getStatus` report it. */
  health(): HealthReport {
    const s = this.sequencer;
    const appended = this.driver.state.appended;
    const waiting = appended < s.durableBatchCount ? s.batch(appended) : undefined;
    const config = this.config;
    return assessHealth({
      now: Date.now(),
      storeUnavailable: s.unavailable,
      refusing: this.l1Started ? s.refusing : undefined,
      driver: this.l1Started ? this.driver.state : undefined,
      l1StartError: this.l1StartError,
      sender: this.sender.blocked,
      propose: config.propose,
      oldestUnappendedClosedAt: waiting?.closedAt,
      rpcRestarts: this.server.restarts ?? 0,
      rpcLastRestartAt: this.server.lastRestartAt,
      staleBatchMs: config.health.staleBatchMs,
      l1SilentMs: config.health.l1SilentMs,
      rpcRestartGraceMs: 60_000,
    });
  }

  /** The address of the sequencer key. */
  get sequencerAddress(): string {
    return this.sender.address;
  }

  /** Closes the open batch now (tests and demos that do not want to wait for its age). */
  async closeBatch(): Promise<void> {
    await this.sequencer.flush();
  }

  /**
   * Stops in bounded time, even with L1 frozen: refuses new transactions,
   * answers every one already being stored, stops serving, gives the L1
   * loops a few seconds to finish what they do (what they leave is decided
   * again from L1 after a restart), and closes the store.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const started = Date.now();
    // The loops sleep on timers that do not keep the process alive; stopping does, until the store is closed
    // (else a process with nothing else to do exits in the middle of it, the store left open).
    const keepAlive = setInterval(() => undefined, 1_000);
    try {
      for (const t of this.timers) clearInterval(t);
      this.sequencer.setRefusal("stopping", "the operator is stopping");
      // Every write issued so far settles, so every caller waiting on one is answered before the server goes.
      await this.sequencer.settled();
      await this.server.stop();
      await within(STOP_L1_BOUND_MS, Promise.all([this.driver.stop(STOP_L1_BOUND_MS), this.followerLoop, this.l1Loop]));
      await this.store.close();
    } finally {
      clearInterval(keepAlive);
    }
    this.logger.info({ ms: Date.now() - started }, "operator stopped");
  }
}
