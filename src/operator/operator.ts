import fs from "node:fs";
import type { Provider, Wallet } from "ethers";
import { connectRollup } from "../l1/contracts";
import type { RollupDeployment } from "../l1/deployments";
import { domainSeparator } from "../protocol/eip712";
import { BilayerError } from "../protocol/errors";
import { initHashing } from "../protocol/hash";
import { validateConfig, type OperatorConfig } from "./config";
import { L1Driver, type DriverOptions } from "./driver";
import { QueueFollower } from "./follower";
import { BondBook } from "./bonds";
import { L1Sender, purposeLabel } from "./l1-sender";
import { createLogger, type Logger } from "./log";
import { OperatorMetrics } from "./metrics";
import { KEY_META, type StoreMeta } from "./records";
import { createApi, mapApiError, type L1Status } from "./rpc/api";
import { JsonRpcServer, type HttpRoute } from "./rpc/server";
import { ThreadedJsonRpcServer, type RouteAnswer, type ThreadFailure } from "./rpc/threaded";
import { Sequencer } from "./sequencer";
import { LevelStore } from "./store";
import { maliciousHookFromEnv } from "./malicious";

/** Either JSON-RPC server: in this thread, or with its HTTP side on a thread of its own. */
interface RpcServerHandle {
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
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

/**
 * The operator service: sequencer, batcher and proposer behind the JSON-RPC
 * API, with the L1 queue follower, on one durable store. `Operator.start`
 * rebuilds everything from the store, re-sends the L1 transactions that were
 * in flight, and serves; `stop()` shuts it down cleanly (a `kill -9` is also
 * fine: nothing acknowledged is lost).
 */
export class Operator {
  readonly url: string;
  readonly sequencer: Sequencer;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  private readonly store: LevelStore;
  private readonly server: RpcServerHandle;
  private readonly driver: L1Driver;
  private readonly follower: QueueFollower;
  private readonly sender: L1Sender;
  private readonly timers: NodeJS.Timeout[] = [];
  private followerLoop: Promise<void> | undefined;
  private stopping = false;

  private constructor(parts: {
    url: string;
    sequencer: Sequencer;
    metrics: OperatorMetrics;
    logger: Logger;
    store: LevelStore;
    server: RpcServerHandle;
    driver: L1Driver;
    follower: QueueFollower;
    sender: L1Sender;
  }) {
    this.url = parts.url;
    this.sequencer = parts.sequencer;
    this.metrics = parts.metrics;
    this.logger = parts.logger;
    this.store = parts.store;
    this.server = parts.server;
    this.driver = parts.driver;
    this.follower = parts.follower;
    this.sender = parts.sender;
  }

  static async start(opts: OperatorStartOptions): Promise<Operator> {
    const config = validateConfig(opts.config);
    const logger = opts.logger ?? createLogger();
    const { provider, wallet, deployment } = opts;
    await initHashing();
    const chainId = (await provider.getNetwork()).chainId;
    if (chainId !== deployment.chainId) {
      throw new BilayerError(
        "WRONG_CHAIN",
        `the L1 node is chain ${chainId}, the deployment is on chain ${deployment.chainId}`,
      );
    }
    const contracts = connectRollup(deployment.contracts, provider);
    const inboxAddress = deployment.contracts.rollupInbox;
    const separator = domainSeparator(chainId, inboxAddress);
    const onChainSeparator = (await contracts.inbox.domainSeparator()).toLowerCase();
    if (onChainSeparator !== separator) {
      throw new BilayerError("DOMAIN_MISMATCH", `the inbox's domain separator ${onChainSeparator} is not ${separator}`);
    }
    const role = await contracts.inbox.SEQUENCER_ROLE();
    if (!(await contracts.inbox.hasRole(role, wallet.address))) {
      throw new BilayerError("NOT_SEQUENCER", `${wallet.address} does not hold the inbox's sequencer role`);
    }

    fs.mkdirSync(config.dataDir, { recursive: true });
    const store = await LevelStore.open(config.dataDir);
    try {
      const meta: StoreMeta = {
        version: 1,
        chainId: chainId.toString(),
        inbox: inboxAddress.toLowerCase(),
        domainSeparator: separator,
      };
      const existing = await store.get(KEY_META);
      if (existing === undefined) await store.write([{ type: "put", key: KEY_META, value: JSON.stringify(meta) }]);
      else {
        const m = JSON.parse(existing) as StoreMeta;
        if (m.chainId !== meta.chainId || m.inbox !== meta.inbox) {
          throw new BilayerError(
            "DATA_DIR_MISMATCH",
            `${config.dataDir} holds the state of inbox ${m.inbox} on chain ${m.chainId}, not ${meta.inbox} on chain ${meta.chainId}`,
          );
        }
      }

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
      await sequencer.load(await follower.load());

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
      await sender.recover();
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
        propose: config.propose,
        proposalRoots: opts.proposalRoots ?? (lie && ((batch) => lie(batch.index))),
      });
      sequencer.onBatchDurable = () => driver.poke();

      const l1Status = (): L1Status => {
        const v = driver.state;
        return {
          chainId: chainId.toString(),
          contracts: {
            bridge: deployment.contracts.bridge,
            rollupInbox: deployment.contracts.rollupInbox,
            stateCommitmentChain: deployment.contracts.stateCommitmentChain,
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
          ...(v.halted ? { halted: v.halted } : {}),
        };
      };
      const routes: Record<string, () => RouteAnswer | Promise<RouteAnswer>> = {
        "/metrics": async () => {
          const { contentType, body } = await metrics.text();
          return { status: 200, contentType, body };
        },
        "/health": () => {
          const ok = sequencer.isAvailable && driver.state.halted === undefined;
          return { status: ok ? 200 : 503, contentType: "text/plain", body: ok ? "ok\n" : "unavailable\n" };
        },
      };
      const serverOptions = {
        host: config.host,
        port: config.port,
        maxBodyBytes: config.maxBodyBytes,
        maxBatchLength: config.maxBatchRequests,
        maxJsonDepth: config.maxJsonDepth,
        methods: createApi({ sequencer, l1Status }),
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
            presign: { domainSeparator: separator, hints: () => sequencer.senderHints() },
          })
        : new JsonRpcServer({ ...serverOptions, routes: inProcessRoutes(routes) });

      await driver.start();
      const { url } = await server.start();
      const op = new Operator({ url, sequencer, metrics, logger, store, server, driver, follower, sender });
      op.timers.push(setInterval(() => sequencer.tick(), Math.max(10, Math.min(100, config.batch.maxAgeMs / 4))));
      op.followerLoop = op.followQueue(config.pollMs);
      logger.info(
        {
          url,
          chainId: chainId.toString(),
          inbox: inboxAddress,
          sequencer: wallet.address,
          dataDir: config.dataDir,
          confirmations: config.confirmations,
        },
        "operator started",
      );
      return op;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  private async followQueue(pollMs: number): Promise<void> {
    while (!this.stopping) {
      try {
        const items = await this.follower.poll();
        if (items.length > 0) {
          this.sequencer.addQueueItems(items);
          this.sequencer.tick();
        }
      } catch (err) {
        if (!this.stopping) this.logger.error({ err }, "queue follower poll failed; retrying");
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** The address of the sequencer key. */
  get sequencerAddress(): string {
    return this.sender.address;
  }

  /** Closes the open batch now (tests and demos that do not want to wait for its age). */
  async closeBatch(): Promise<void> {
    await this.sequencer.flush();
  }

  /** Stops serving and following, waits for the current L1 action, and closes the store. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.server.stop();
    await this.driver.stop();
    await this.followerLoop;
    await this.store.close();
    this.logger.info("operator stopped");
  }
}
