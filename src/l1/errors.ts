/** The error codes of the L1 access layer. */
declare module "../protocol/errors" {
  interface BilayerErrorCodes {
    /** A batch's calldata cannot be fetched or decoded (calldata.ts). */
    BATCH_DATA_UNAVAILABLE: true;
    /** The deployments file is missing, unreadable or not of this format (deployments.ts). */
    DEPLOYMENT_FILE: true;
    /** The L1 node is another chain than the deployment's (startup.ts). */
    WRONG_CHAIN: true;
    /** The contracts' EIP-712 domain is not the one expected (startup.ts). */
    DOMAIN_MISMATCH: true;
    /** The data directory belongs to another deployment (startup.ts). */
    DATA_DIR_MISMATCH: true;
    /** The L1 node did not answer with the block asked for. */
    L1_NO_BLOCK: true;
  }
}

export {};
