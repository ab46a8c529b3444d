/** The sequencer (./sequencer.ts) and the types its users see. */
export { Sequencer } from "./sequencer";
export type { SequencerOptions } from "./parts";
export type { SubmitResult } from "./admission";
export { DEFAULT_BATCH_LIMITS, type BatchLimits } from "./batch-policy";
export type { L1Heads, TxReceipt, TxStatus, WithdrawalProof } from "./l2-index";
export type { AdoptedBatch } from "./rebase";
