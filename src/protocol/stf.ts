import { MAX_QUEUE_ITEMS_PER_STEP } from "./constants";
import { normalizeQueueItem, type QueueItem } from "./queue";
import type { L2State } from "./state";
import { applyChunk } from "./stf-chunk";
import { applyQueueStep } from "./stf-queue";
import { checkContext, type StepContext, type StepOptions, type StepResult } from "./stf-step";

/*
 * The state-transition function (PROTOCOL.md §5) and the witnesses it
 * consumes (§6). Every step mutates the given state in place and never
 * throws on chunk bytes or queue items; it throws `BilayerError` only on API
 * misuse (a malformed context, more than 32 queue items, an item whose
 * fields do not fit their ABI types).
 *
 * The rules are in `./stf-queue` (the queue step), `./stf-chunk` (the chunk
 * step, one transaction at a time) and `./stf-step` (what both share); this
 * module applies a whole batch and is where every public name is imported
 * from.
 */

export { ChunkExecutor, applyChunk } from "./stf-chunk";
export { applyQueueStep } from "./stf-queue";
export { applyBlsChunk, BlsChunkExecutor } from "./stf-bls";
export type {
  AccountWitness,
  AggregateCheck,
  SignerRecovery,
  StepContext,
  StepOptions,
  StepOutcome,
  StepResult,
  StepWitness,
  WitnessAccount,
} from "./stf-step";

/** A batch's input (PROTOCOL.md §5). */
export interface BatchInput {
  queueItems: readonly QueueItem[];
  chunks: readonly Uint8Array[];
  feeRecipient: number;
  domainSeparator: string;
}

/**
 * Applies a batch: its queue items in steps of at most 32, then one step per
 * chunk. Returns the root after every step (what a proposal carries) and
 * each step's result. Misuse is detected before the state is touched.
 */
export function applyBatch(
  state: L2State,
  batch: BatchInput,
  opts: StepOptions = {},
): { stepRoots: string[]; steps: StepResult[] } {
  const ctx: StepContext = { domainSeparator: batch.domainSeparator, feeRecipient: batch.feeRecipient };
  checkContext(ctx);
  batch.queueItems.forEach(normalizeQueueItem);
  const steps: StepResult[] = [];
  for (let i = 0; i < batch.queueItems.length; i += MAX_QUEUE_ITEMS_PER_STEP) {
    steps.push(applyQueueStep(state, batch.queueItems.slice(i, i + MAX_QUEUE_ITEMS_PER_STEP), opts));
  }
  for (const chunk of batch.chunks) steps.push(applyChunk(state, chunk, ctx, opts));
  return { stepRoots: steps.map((s) => s.postRoot), steps };
}
