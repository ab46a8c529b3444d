/**
 * Helpers shared by the bench suites and bench/protocol.ts. Not a suite: bench/run.ts names its suites' files,
 * and no file starting with `_` is one.
 */
import type { Signer } from "ethers";
import type { QueueItem } from "../../src/protocol/queue";
// Type-only: the module itself is loaded lazily (see `deployBenchRollup`).
import type { DeployedRollup } from "../../scripts/deploy";

/** Deterministic xorshift32, so every run measures the same work. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/**
 * The rollup as the benches deploy it, not written to a deployment file: a one-hour challenge window, a one-day
 * forced-inclusion delay, `sequencer` as the sequencer and `proposerBond` as the bond.
 */
export async function deployBenchRollup(
  deployer: Signer,
  sequencer: string,
  proposerBond: bigint,
): Promise<DeployedRollup> {
  // Loaded lazily so that importing a suite does not start Hardhat.
  const { deployRollup } = await import("../../scripts/deploy");
  return deployRollup(
    deployer,
    {
      challengeWindowSeconds: 3600n,
      forcedInclusionDelaySeconds: 86_400n,
      proposerBond,
      sequencer,
    },
    { write: false },
  );
}

/** Every item the bridge has appended to the L1 queue so far, as the STF takes them. */
export async function queueItems(bridge: DeployedRollup["handles"]["bridge"]): Promise<QueueItem[]> {
  return (await bridge.queryFilter(bridge.filters.QueueItemAppended())).map((e) => ({
    kind: Number(e.args.kind),
    addr: e.args.addr.toLowerCase(),
    tokenId: Number(e.args.tokenId),
    amount: e.args.amount,
    account: Number(e.args.account),
    timestamp: e.args.timestamp,
  }));
}

/** Runs a suite on its own (`npx ts-node bench/suites/<suite>.ts`): prints its figures, or the error and exit code 1. */
export function runStandalone(run: () => Promise<unknown>): void {
  run().then(
    (figures) => console.log(figures),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
