/** The error codes of the shared services (store, JSON-RPC server). */
declare module "../protocol/errors" {
  interface BilayerErrorCodes {
    /** A JSON-RPC error, with its numeric code in `rpcCode` (json-rpc-server.ts). */
    RPC_ERROR: true;
    /** The store could not write: nothing of that write is on disk. */
    STORE_WRITE_FAILED: true;
    /** What is stored does not replay (or read back) to what was stored. */
    STORE_CORRUPT: true;
    /** Something awaited did not happen in time. */
    TIMEOUT: true;
    /** A bad option of a service (operator, verifier). */
    INVALID_CONFIG: true;
  }
}

export {};
