import type { KeyValueStore } from "../../common/store";
import { BilayerError } from "../../protocol/errors";
import type { StepContext } from "../../protocol/stf";
import { JournaledState } from "../../verifier/replica";
import type { Logger } from "../log";
import type { MempoolLimits } from "../mempool";
import type { OperatorMetrics } from "../metrics";
import type { BatchRecord } from "../records";
import { Admission } from "./admission";
import { Availability } from "./availability";
import { BatchBuilder } from "./batch-builder";
import type { CheckBudgetLimits } from "./check-budget";
import { DEFAULT_BATCH_LIMITS, type BatchLimits } from "./batch-policy";
import { BatchHistory } from "./history";
import { Journal } from "./journal";
import { L2Index } from "./l2-index";

export interface SequencerOptions {
  store: KeyValueStore;
  domainSeparator: string;
  /** The account credited with fees (0: fees disabled, a fee > 0 is refused). */
  feeRecipient: number;
  limits?: Partial<BatchLimits>;
  mempool?: Partial<MempoolLimits>;
  /** The budget of signature work on refusal paths (./check-budget.ts; default `DEFAULT_CHECK_BUDGET`). */
  checkBudget?: CheckBudgetLimits;
  logger: Logger;
  metrics: OperatorMetrics;
}

/**
 * The sequencer's parts, wired together. Each part owns its own fields and reaches the others through this object
 * (only when called, never in its constructor); the pending state itself is here, since every part reads it and a
 * rebuild replaces it.
 */
export class SequencerParts {
  /** The pending L2 state: the snapshot's, with the closed batches after it and the open batch applied. */
  state = new JournaledState();
  readonly ctx: StepContext;
  readonly limits: BatchLimits;
  readonly gate: Availability;
  readonly journal: Journal;
  readonly history: BatchHistory;
  readonly index: L2Index;
  readonly builder: BatchBuilder;
  readonly admission: Admission;
  /** Starts the recovery from a failed store write (set by the sequencer). */
  onStoreFailure: (err: unknown) => void = () => undefined;

  constructor(readonly opts: SequencerOptions) {
    this.ctx = { domainSeparator: opts.domainSeparator, feeRecipient: opts.feeRecipient };
    this.limits = { ...DEFAULT_BATCH_LIMITS, ...opts.limits };
    this.gate = new Availability(opts.logger);
    this.journal = new Journal(
      opts.store,
      () => this.builder.nextSeq,
      (err) => this.onStoreFailure(err),
    );
    this.history = new BatchHistory(this);
    this.index = new L2Index(this);
    this.builder = new BatchBuilder(this);
    this.admission = new Admission(this);
  }

  corrupt(message: string): BilayerError {
    return new BilayerError("STORE_CORRUPT", `the operator's store does not replay: ${message}`);
  }

  /** Queue items consumed by the batches on L1 (as the driver last saw them). */
  queueConsumedOnL1(): number {
    const k = this.index.l1Heads.appended - 1;
    if (k < 0) return 0;
    return this.history.batch(k)?.queueEnd ?? this.history.base.queueEnd;
  }

  /** Sets the gauges of what waits: transactions not yet on L1, queue items not yet consumed or sequenced. */
  updateGauges(): void {
    const m = this.opts.metrics;
    const { history, builder, admission } = this;
    const appended = this.index.l1Heads.appended;
    let unbatched = builder.open?.txCount ?? 0;
    for (let k = history.batchCount - 1; k >= history.base.batches && k >= appended; k--) {
      const b = history.batch(k) as BatchRecord;
      unbatched += b.endSeq - b.firstSeq;
    }
    m.mempoolSize.set(unbatched + admission.mempool.size);
    m.mempoolQueued.set(admission.mempool.size);
    m.queueBacklog.set(history.queueLength - this.queueConsumedOnL1());
    m.queueUnsequenced.set(history.queueLength - builder.queueSequenced());
  }
}
