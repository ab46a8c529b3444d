/**
 * `src/channels`: payment channels. `state` is the pure twin of the on-chain
 * adjudicator's encodings (docs/CHANNELS.md).
 */
export * from "./state";
