import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { HealthReport } from "./health";

/**
 * The operator's Prometheus metrics, on a registry of its own (so several
 * operators in one process, as in tests, do not collide). Served as text at
 * `GET /metrics` of the API server.
 */
export class OperatorMetrics {
  readonly registry = new Registry();

  readonly mempoolSize = new Gauge({
    name: "bilayer_mempool_size",
    help: "Transactions accepted but not yet in a closed batch, plus those waiting for an earlier nonce",
    registers: [this.registry],
  });
  readonly mempoolQueued = new Gauge({
    name: "bilayer_mempool_queued",
    help: "Transactions waiting for an earlier nonce of the same account",
    registers: [this.registry],
  });
  readonly queueBacklog = new Gauge({
    name: "bilayer_queue_backlog",
    help: "L1 queue items (deposits, forced exits) seen on L1 and not yet consumed by an appended batch",
    registers: [this.registry],
  });
  readonly queueUnsequenced = new Gauge({
    name: "bilayer_queue_unsequenced",
    help: "L1 queue items seen on L1 and not yet applied to the pending L2 state",
    registers: [this.registry],
  });
  readonly transfersAccepted = new Counter({
    name: "bilayer_transfers_accepted_total",
    help: "L2 transactions accepted (durably stored and applied to the pending state)",
    registers: [this.registry],
  });
  readonly transfersPerSecond: Gauge;
  readonly batchTransactions = new Histogram({
    name: "bilayer_batch_transactions",
    help: "L2 transactions per closed batch",
    buckets: [0, 1, 8, 32, 128, 512, 1024, 2048, 4096],
    registers: [this.registry],
  });
  readonly batchBytes = new Histogram({
    name: "bilayer_batch_bytes",
    help: "Chunk bytes per closed batch",
    buckets: [0, 1_000, 10_000, 50_000, 100_000, 200_000, 400_000],
    registers: [this.registry],
  });
  readonly batchQueueItems = new Histogram({
    name: "bilayer_batch_queue_items",
    help: "Queue items consumed per closed batch",
    buckets: [0, 1, 8, 32, 128, 512],
    registers: [this.registry],
  });
  readonly heads = new Gauge({
    name: "bilayer_batch_head",
    help: "Highest batch index by stage (closed, appended, proposed, final); -1 for none",
    labelNames: ["stage"],
    registers: [this.registry],
  });
  readonly l1Transactions = new Counter({
    name: "bilayer_l1_transactions_total",
    help: "L1 transactions broadcast, by purpose and event (sent, replaced, rebroadcast, confirmed, reverted)",
    labelNames: ["purpose", "event"],
    registers: [this.registry],
  });
  readonly fraudProofs = new Counter({
    name: "bilayer_fraud_proofs_total",
    help: "Fraud proofs of lies found in live proposals, by result (succeeded, refused by the estimate, failed on L1)",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly l1GasUsed = new Counter({
    name: "bilayer_l1_gas_used_total",
    help: "L1 gas used by the operator's confirmed transactions, by purpose",
    labelNames: ["purpose"],
    registers: [this.registry],
  });
  readonly rpcRequests = new Counter({
    name: "bilayer_rpc_requests_total",
    help: "JSON-RPC requests answered, by method and error code (0 for success)",
    labelNames: ["method", "code"],
    registers: [this.registry],
  });
  readonly rpcThreadFailures = new Counter({
    name: "bilayer_rpc_thread_failures_total",
    help: "Failures of the JSON-RPC server's HTTP thread, by event: exit (it is restarted) or messageerror (a message between the threads could not be read; its calls were answered -32603 or sent again)",
    labelNames: ["event"],
    registers: [this.registry],
  });
  readonly storeFlushMs = new Histogram({
    name: "bilayer_store_flush_ms",
    help: "Duration of one synced group-commit write, in milliseconds",
    buckets: [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100],
    registers: [this.registry],
  });
  readonly storeGroupSize = new Histogram({
    name: "bilayer_store_group_writers",
    help: "Writers sharing one synced group-commit write",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  readonly health = new Gauge({
    name: "bilayer_health",
    help: "1 for the operator's current health status (ok, degraded, unhealthy; /health says why), 0 for the others",
    labelNames: ["status"],
    registers: [this.registry],
  });
  readonly accepting = new Gauge({
    name: "bilayer_accepting_transactions",
    help: "1 while l2_sendTransaction accepts transactions, 0 while it refuses them (-32011)",
    registers: [this.registry],
  });
  readonly l1Reachable = new Gauge({
    name: "bilayer_l1_reachable",
    help: "1 while the last L1 request went through",
    registers: [this.registry],
  });
  readonly l1LastOk = new Gauge({
    name: "bilayer_l1_last_ok_timestamp_seconds",
    help: "When the L1 driver last completed a pass (Unix time)",
    registers: [this.registry],
  });
  readonly lastAppend = new Gauge({
    name: "bilayer_last_append_timestamp_seconds",
    help: "When this operator last appended a batch (Unix time; 0 for not since it started)",
    registers: [this.registry],
  });
  readonly lastProposal = new Gauge({
    name: "bilayer_last_proposal_timestamp_seconds",
    help: "When this operator last proposed step roots (Unix time; 0 for not since it started)",
    registers: [this.registry],
  });
  readonly oldestUnappended = new Gauge({
    name: "bilayer_oldest_unappended_batch_age_seconds",
    help: "How long the oldest closed batch not yet on L1 has waited (0 when none waits)",
    registers: [this.registry],
  });
  readonly balance = new Gauge({
    name: "bilayer_operator_balance_eth",
    help: "The operator key's L1 balance, in ETH, at the last check",
    registers: [this.registry],
  });
  readonly bond = new Gauge({
    name: "bilayer_proposer_bond_eth",
    help: "The proposer bond, in ETH",
    registers: [this.registry],
  });
  readonly rpcRestarts = new Counter({
    name: "bilayer_rpc_thread_restarts_total",
    help: "Times the HTTP thread failed and was restarted",
    registers: [this.registry],
  });
  /** Where the health gauges are read from when scraped. */
  healthSource: (() => HealthReport) | undefined;

  readonly signatureRecoveries = new Counter({
    name: "bilayer_signature_recoveries_total",
    help: "Signer recoveries the sequencer needed, by source: presigned (recovered ahead on the HTTP thread) or native (recovered on the sequencer's thread)",
    labelNames: ["source"],
    registers: [this.registry],
  });
  private readonly presignedRecoveries = this.signatureRecoveries.labels("presigned");
  private readonly nativeRecoveries = this.signatureRecoveries.labels("native");

  private readonly window: number[] = new Array<number>(10).fill(0);
  private windowSecond = Math.floor(Date.now() / 1000);

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "bilayer_process_" });
    this.heads.set({ stage: "closed" }, -1);
    this.heads.set({ stage: "appended" }, -1);
    this.heads.set({ stage: "proposed" }, -1);
    this.heads.set({ stage: "final" }, -1);
    // The sliding-window gauge is computed when scraped.
    const rate = (): number => this.recentRate();
    this.transfersPerSecond = new Gauge({
      name: "bilayer_transfers_per_second",
      help: "Accepted L2 transactions per second over the last 10 seconds",
      registers: [this.registry],
      collect() {
        this.set(rate());
      },
    });
  }

  private readonly requestCounters = new Map<string, Counter.Internal>();

  /** Counts one answered JSON-RPC request (the labelled child is cached: this is on the hot path). */
  countRequest(method: string, code: number): void {
    const key = `${method} ${code}`;
    let child = this.requestCounters.get(key);
    if (!child) {
      child = this.rpcRequests.labels(method, String(code));
      this.requestCounters.set(key, child);
    }
    child.inc();
  }

  /** Counts one signer recovery of the sequencer's: answered from a presigned recovery, or natively. */
  recovered(presigned: boolean): void {
    (presigned ? this.presignedRecoveries : this.nativeRecoveries).inc();
  }

  /** Counts `n` accepted transactions now. */
  accepted(n = 1): void {
    this.transfersAccepted.inc(n);
    this.roll();
    this.window[this.windowSecond % this.window.length] += n;
  }

  /** Accepted transactions per second over the last full 10 seconds. */
  recentRate(): number {
    this.roll();
    let sum = 0;
    for (const v of this.window) sum += v;
    return sum / this.window.length;
  }

  private roll(): void {
    const now = Math.floor(Date.now() / 1000);
    if (now === this.windowSecond) return;
    const gap = Math.min(now - this.windowSecond, this.window.length);
    for (let i = 1; i <= gap; i++) this.window[(this.windowSecond + i) % this.window.length] = 0;
    this.windowSecond = now;
  }

  /** Sets the health gauges from a report. */
  setHealth(r: HealthReport): void {
    for (const status of ["ok", "degraded", "unhealthy"]) this.health.set({ status }, r.status === status ? 1 : 0);
    this.accepting.set(r.accepting ? 1 : 0);
    this.l1Reachable.set(r.l1.reachable ? 1 : 0);
    this.l1LastOk.set((r.l1.lastOkAt ?? 0) / 1000);
    this.lastAppend.set((r.batches.lastAppend?.at ?? 0) / 1000);
    this.lastProposal.set((r.batches.lastProposal?.at ?? 0) / 1000);
    this.oldestUnappended.set((r.batches.oldestUnappendedAgeMs ?? 0) / 1000);
    if (r.l1.balance !== null) this.balance.set(Number(r.l1.balance) / 1e18);
    if (r.l1.bond !== null) this.bond.set(Number(r.l1.bond) / 1e18);
  }

  /** The text exposition format, for `GET /metrics`. */
  async text(): Promise<{ contentType: string; body: string }> {
    if (this.healthSource) this.setHealth(this.healthSource());
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
