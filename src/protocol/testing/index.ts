/**
 * `src/protocol/testing`: test vectors and builders for them — signed chunks,
 * states at the protocol's limits, the scenarios the TypeScript and Solidity
 * STFs are compared on. For tests, benchmarks and other implementations; the
 * services never import it (and it imports no devDependency: the fast-check
 * generators are in test/protocol/helpers/vectors.ts).
 */
export * from "./testkit";
export * from "./scenarios";
export * from "./states";
export * from "./edges";
export * from "./bls-vectors";
export * from "./bls-edges";
