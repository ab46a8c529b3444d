import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The verifier's Prometheus metrics, on a registry of its own (several
 * verifiers in one process, as in tests, do not collide). Served as text at
 * `GET /metrics` of its status server.
 */
export class VerifierMetrics {
  readonly registry = new Registry();

  readonly l1Head = new Gauge({
    name: "bilayer_verifier_l1_head_block",
    help: "Latest L1 block seen",
    registers: [this.registry],
  });
  readonly l1Processed = new Gauge({
    name: "bilayer_verifier_l1_processed_block",
    help: "Last L1 block whose rollup events are applied",
    registers: [this.registry],
  });
  readonly syncLag = new Gauge({
    name: "bilayer_verifier_sync_lag_blocks",
    help: "Blocks between the L1 head (less the confirmation depth) and the last block processed",
    registers: [this.registry],
  });
  readonly blocksRead = new Counter({
    name: "bilayer_verifier_blocks_read_total",
    help: "L1 blocks whose rollup events were read (by this process)",
    registers: [this.registry],
  });
  readonly queueItems = new Gauge({
    name: "bilayer_verifier_queue_items",
    help: "L1 queue items seen",
    registers: [this.registry],
  });
  readonly batchesReplayed = new Counter({
    name: "bilayer_verifier_batches_replayed_total",
    help: "Batches re-executed from L1 data (by this process)",
    registers: [this.registry],
  });
  readonly transactionsReplayed = new Counter({
    name: "bilayer_verifier_transactions_replayed_total",
    help: "L2 transactions re-executed from L1 calldata (by this process)",
    registers: [this.registry],
  });
  readonly batchReplaySeconds = new Histogram({
    name: "bilayer_verifier_batch_replay_seconds",
    help: "Time to re-execute one batch",
    buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly replayRate = new Gauge({
    name: "bilayer_verifier_replay_transactions_per_second",
    help: "L2 transactions rebuilt per second over the last block range (events, calldata, STF, comparison)",
    registers: [this.registry],
  });
  readonly heads = new Gauge({
    name: "bilayer_verifier_batch_head",
    help: "Number of batches by stage: appended (replayed), proposed (live proposals), settled (final and right)",
    labelNames: ["stage"],
    registers: [this.registry],
  });
  readonly proposalsChecked = new Counter({
    name: "bilayer_verifier_proposals_checked_total",
    help: "Proposals compared with the computed step roots, by verdict",
    labelNames: ["verdict"],
    registers: [this.registry],
  });
  readonly openInvalid = new Gauge({
    name: "bilayer_verifier_invalid_proposals_open",
    help: "Live proposals whose roots are wrong and not yet rolled back",
    registers: [this.registry],
  });
  readonly nextDeadline = new Gauge({
    name: "bilayer_verifier_next_invalid_deadline_seconds",
    help: "Seconds of L1 time left to challenge the oldest wrong proposal (0 when there is none)",
    registers: [this.registry],
  });
  readonly fraudProofs = new Counter({
    name: "bilayer_verifier_fraud_proofs_total",
    help: "Fraud proofs sent by this verifier, by result",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly fraudProofGas = new Histogram({
    name: "bilayer_verifier_fraud_proof_gas",
    help: "Gas used by this verifier's fraud proofs",
    buckets: [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000],
    registers: [this.registry],
  });
  readonly proposalsMade = new Counter({
    name: "bilayer_verifier_proposals_made_total",
    help: "Proposals of the computed roots sent by this verifier, by result",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly rollbacks = new Counter({
    name: "bilayer_verifier_rollbacks_seen_total",
    help: "Rollbacks seen on L1 (any challenger)",
    registers: [this.registry],
  });
  readonly halted = new Gauge({
    name: "bilayer_verifier_halted",
    help: "1 when the verifier stopped because it cannot go on safely (see /status)",
    registers: [this.registry],
  });

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
