/** The error codes of the explorer. */
declare module "../protocol/errors" {
  interface BilayerErrorCodes {
    /** The explorer's URL was asked for before it serves. */
    EXPLORER_NOT_STARTED: true;
    /** An L1 receipt the explorer asked for is not there (yet). */
    EXPLORER_NO_RECEIPT: true;
    /** A withdrawal's claim asked for before its batch is final. */
    WITHDRAWAL_NOT_FINAL: true;
  }
}

export {};
