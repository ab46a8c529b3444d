/** The error codes of the verifier and the escape command. */
declare module "../protocol/errors" {
  interface BilayerErrorCodes {
    /** The verifier stopped following L1 (a batch it cannot replay, a store it cannot trust). */
    VERIFIER_HALTED: true;
    /** The escape command cannot follow the L1 data. */
    ESCAPE_HALTED: true;
    /** A step index outside the batch. */
    INVALID_STEP: true;
    /** The pre-state of a batch not replayed yet. */
    NO_PRE_STATE: true;
    /** A batch without its queue items. */
    REPLAY_MISSING_QUEUE: true;
    /** A batch replayed out of order. */
    REPLAY_OUT_OF_ORDER: true;
    /** A contract handle without a signer where a transaction must be sent. */
    NO_SIGNER: true;
  }
}

export {};
