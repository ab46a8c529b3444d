/**
 * `src/verifier`: rebuilds the L2 state from L1 alone, checks every proposal,
 * proves the first wrong step of a wrong one, and proposes the right roots.
 */
export * from "./config";
export * from "./challenger";
export * from "../l1/events";
export * from "./log";
export * from "./metrics";
export * from "./replica";
export * from "./store";
export * from "./verifier";
