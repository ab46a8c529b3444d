/**
 * `src/channels`: payment channels. `state` is the pure twin of the on-chain
 * adjudicator's encodings (docs/CHANNELS.md).
 */
export * from "./state";
export * from "./updates";
export * from "./client";
export * from "./watchtower";
export * from "./transport";
export * from "./chain";
export { readChannelDeployment, writeChannelDeployment, type ChannelDeployment } from "../l1/deployments";
export * from "./routing";
