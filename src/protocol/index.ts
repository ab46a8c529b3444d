/**
 * `src/protocol`: the pure protocol core (PROTOCOL.md §1–§6) shared by the
 * operator, the verifier, the tests and the benchmarks. Call
 * `await initHashing()` once at start-up for the fast Keccak. Test vectors and
 * their builders are in `./testing`.
 */
export * from "./errors";
export * from "./hash";
export * from "./constants";
export * from "./packing";
export * from "./tree";
export * from "./state";
export * from "./codec";
export * from "./eip712";
export * from "./signature";
export * from "./queue";
export * from "./stf";
export * from "./bls";
export * from "./bls-chunk";
