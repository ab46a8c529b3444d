import { BilayerError } from "../protocol/errors";
import { MAX_CHALLENGE_DURATION_SECONDS, MAX_CHANNEL_AMOUNT, type Lock } from "./state";
import { ROUTE_SLACK_SECONDS, type RoutingPolicy } from "./routing";

/*
 * What a channel client accepts and how it times what it does (docs/CHANNELS.md §9). The defaults are sized for a
 * real chain (12-second blocks); a dev chain sets `blockTimeSeconds` and the margins down explicitly. Every margin
 * has a floor derived from the block time and the confirmations the client waits for, and `checkPolicy` refuses a
 * policy under any floor with a {@link ChannelPolicyError} naming it.
 */

export interface ChannelPolicy extends RoutingPolicy {
  /** The most this client deposits into a channel a peer opens with it (default 0: it only receives). */
  maxAutoFund: bigint;
  /** The challenge durations it accepts in channels others open, and opens its own with (seconds). */
  minChallengeDuration: bigint;
  maxChallengeDuration: bigint;
  /** The challenge duration of the channels this client opens unless told otherwise (default 1 day). */
  defaultChallengeDuration: bigint;
  /** The latest expiry it accepts on a lock it receives or forwards, counted from now (default 7 days). */
  maxLockExpirySeconds: bigint;
  /** The most locks a peer may have pending towards this client, over all channels with it (default 32). */
  maxPendingLocksPerPeer: number;
  /** The most a peer may have locked towards this client, over all channels with it (default: no limit). */
  maxPendingLockedPerPeer: bigint;
  /** The most a proposal's version may exceed the latest one this client signed (default 2^20). */
  maxVersionStep: bigint;
  /** How long a top-up or partial withdrawal may wait to be executed on chain (default 30 min). */
  resizeExpirySeconds: bigint;
  /** How long a funding consent for a peer's `openFunded` stays usable (default 1 h). */
  fundingExpirySeconds: bigint;
  /**
   * After a lock's expiry, how long this client waits for its peer to settle or cancel it off chain before it
   * registers the channel's latest state to resolve the lock on chain (default 10 min).
   */
  lockGraceSeconds: bigint;
  /** The chain's block time (default 12 s); the margins' floors are counted in blocks of it. */
  blockTimeSeconds: bigint;
  /** Conclude, unlock and withdraw disputed channels automatically (default true). */
  autoSettle: boolean;
  /** Proposals in flight per channel before new updates wait (default 4096). */
  maxInFlight: number;
  /** How often the latest states go to the watchtower (default 200 ms). */
  towerFlushMs: number;
  /** After the final state, the side that did not ask for the close submits it itself after this long (60 s). */
  closeGraceSeconds: bigint;
}

const DAY = 24n * 3600n;

export const DEFAULT_POLICY: ChannelPolicy = {
  maxAutoFund: 0n,
  minChallengeDuration: 3600n,
  maxChallengeDuration: 30n * DAY,
  defaultChallengeDuration: DAY,
  hopDeltaSeconds: 1800n,
  finalDeltaSeconds: 1200n,
  revealMarginSeconds: 600n,
  forwardFee: 0n,
  maxLockExpirySeconds: 7n * DAY,
  maxPendingLocksPerPeer: 32,
  maxPendingLockedPerPeer: MAX_CHANNEL_AMOUNT,
  maxVersionStep: 1n << 20n,
  resizeExpirySeconds: 1800n,
  fundingExpirySeconds: 3600n,
  lockGraceSeconds: 600n,
  blockTimeSeconds: 12n,
  autoSettle: true,
  maxInFlight: 4096,
  towerFlushMs: 200,
  closeGraceSeconds: 60n,
};

/** Blocks a transaction the client must get mined (a reveal, a refutation) is given, beyond its confirmations. */
export const INCLUSION_BLOCKS = 10n;
/** Blocks a forwarder or payee needs to notice what happened before it acts. */
export const REACTION_BLOCKS = 2n;

/** A policy under one of its floors, or otherwise inconsistent. */
export class ChannelPolicyError extends BilayerError {
  constructor(field: string, message: string, context: Record<string, unknown> = {}) {
    super("INVALID_POLICY", `${field}: ${message}`, { context: { field, ...context } });
  }
}

/** The floors of the margins, in seconds, for a chain with `blockTimeSeconds` and `confirmations`. */
export function policyFloors(
  policy: Pick<ChannelPolicy, "blockTimeSeconds" | "revealMarginSeconds">,
  confirmations: number,
): { revealMargin: bigint; hopDelta: bigint; finalDelta: bigint; challenge: bigint } {
  const block = policy.blockTimeSeconds;
  const confirm = BigInt(confirmations) * block;
  // A reveal or a refutation must be mined, and seen with its confirmations, before its deadline.
  const revealMargin = confirm + INCLUSION_BLOCKS * block;
  // A forwarder learns a secret at its outgoing lock's expiry at the latest; then it needs the reveal margin upstream.
  const afterLearning = policy.revealMarginSeconds + confirm + REACTION_BLOCKS * block;
  return { revealMargin, hopDelta: afterLearning, finalDelta: afterLearning, challenge: revealMargin };
}

/** Throws a {@link ChannelPolicyError} unless `policy` is consistent and every margin is at or above its floor. */
export function checkPolicy(policy: ChannelPolicy, confirmations = 0): void {
  const positive: (keyof ChannelPolicy)[] = [
    "blockTimeSeconds",
    "revealMarginSeconds",
    "hopDeltaSeconds",
    "finalDeltaSeconds",
    "minChallengeDuration",
    "maxLockExpirySeconds",
    "resizeExpirySeconds",
    "fundingExpirySeconds",
    "maxVersionStep",
  ];
  for (const field of positive) {
    const v = policy[field];
    if (typeof v !== "bigint" || v <= 0n) throw new ChannelPolicyError(field, `must be positive, got ${String(v)}`);
  }
  if (policy.maxChallengeDuration > MAX_CHALLENGE_DURATION_SECONDS) {
    throw new ChannelPolicyError(
      "maxChallengeDuration",
      `the adjudicator allows at most ${MAX_CHALLENGE_DURATION_SECONDS}`,
    );
  }
  if (policy.minChallengeDuration > policy.maxChallengeDuration) {
    throw new ChannelPolicyError("minChallengeDuration", "exceeds maxChallengeDuration");
  }
  const d = policy.defaultChallengeDuration;
  if (d < policy.minChallengeDuration || d > policy.maxChallengeDuration) {
    throw new ChannelPolicyError("defaultChallengeDuration", "is outside minChallengeDuration..maxChallengeDuration");
  }
  if (!Number.isSafeInteger(policy.maxPendingLocksPerPeer) || policy.maxPendingLocksPerPeer < 1) {
    throw new ChannelPolicyError("maxPendingLocksPerPeer", "must be a positive integer");
  }
  const floors = policyFloors(policy, confirmations);
  const atLeast: [keyof ChannelPolicy, bigint][] = [
    ["revealMarginSeconds", floors.revealMargin],
    ["hopDeltaSeconds", floors.hopDelta],
    ["finalDeltaSeconds", floors.finalDelta],
    ["minChallengeDuration", floors.challenge],
    // At least one forwarder must fit: a route of two hops asks for this much at its first hop.
    ["maxLockExpirySeconds", policy.finalDeltaSeconds + ROUTE_SLACK_SECONDS + policy.hopDeltaSeconds],
  ];
  for (const [field, floor] of atLeast) {
    if ((policy[field] as bigint) < floor) {
      throw new ChannelPolicyError(field, `must be at least ${floor} s with ${policy.blockTimeSeconds}-second blocks`, {
        floor: floor.toString(),
        confirmations,
      });
    }
  }
}

/** What a peer already has pending towards this client, over all channels with it. */
export interface PeerExposure {
  locks: number;
  locked: bigint;
}

/**
 * Why this client refuses to receive `lock` from a peer that already has `exposure` pending towards it, or
 * `undefined`: the lock must leave time to reveal its secret, must not freeze liquidity beyond the longest expiry,
 * and must keep the peer within its limits (jamming).
 */
export function incomingLockRefusal(
  lock: Lock,
  now: bigint,
  policy: ChannelPolicy,
  exposure: PeerExposure,
): string | undefined {
  if (lock.expiry <= now + policy.revealMarginSeconds) {
    return `the lock expires too soon: it must leave more than ${policy.revealMarginSeconds} s to reveal its secret`;
  }
  if (lock.expiry > now + policy.maxLockExpirySeconds + CLOCK_SKEW_SECONDS) {
    return `the lock expires too late: at most ${policy.maxLockExpirySeconds} s from now`;
  }
  if (exposure.locks >= policy.maxPendingLocksPerPeer) {
    return `the peer already has ${exposure.locks} locks pending (at most ${policy.maxPendingLocksPerPeer})`;
  }
  if (exposure.locked + lock.amount > policy.maxPendingLockedPerPeer) {
    return `the peer would have ${exposure.locked + lock.amount} locked (at most ${policy.maxPendingLockedPerPeer})`;
  }
  return undefined;
}

/**
 * How far two clients' estimates of the chain's time may differ (each extrapolates the latest block it saw): a
 * bound one side sets from its clock is checked by the other with this much leeway.
 */
export const CLOCK_SKEW_SECONDS = 60n;

/** Why this client refuses a resize expiring at `expiry`, or `undefined`. */
export function resizeExpiryRefusal(expiry: bigint, now: bigint, policy: ChannelPolicy): string | undefined {
  if (expiry <= now) return "the resize has already expired";
  if (expiry > now + policy.resizeExpirySeconds + CLOCK_SKEW_SECONDS) {
    return `the resize may wait at most ${policy.resizeExpirySeconds} s to be executed`;
  }
  return undefined;
}
