import type { Lock } from "./state";
import type { Hop } from "./wire";

/*
 * The decisions of hash-locked routing, pure: the hops a payer plans, whether
 * a payee takes a lock, whether a forwarder passes one on. The client applies
 * them; the expiry rules are the ones of docs/CHANNELS.md §5.4 ("choosing
 * expiries").
 */

/** The timing and fee rules a client routes by. */
export interface RoutingPolicy {
  /** A forwarder's incoming lock must expire at least this long after its outgoing one. */
  hopDeltaSeconds: bigint;
  /** A payee needs at least this long before its lock expires. */
  finalDeltaSeconds: bigint;
  /** A receiver reveals a secret on chain this long before the lock expires, if the lock is still not settled. */
  revealMarginSeconds: bigint;
  /** What a forwarder keeps. */
  forwardFee: bigint;
}

/** Slack the payer adds to the payee's margin, for the time the locks take to travel. */
export const ROUTE_SLACK_SECONDS = 60n;

/**
 * The locks of a route to `route[n-1]`: hop `k` goes to `route[k]`, holds `amount` plus the fees of the forwarders
 * after it, and expires `hopDelta` later than hop `k+1` (the last one `finalDelta` plus slack from now). Expiries
 * strictly decrease along the route, so each forwarder has `hopDelta` to claim upstream after paying downstream.
 */
export function planRoute(
  route: readonly string[],
  amount: bigint,
  feePerHop: bigint,
  now: bigint,
  hopDelta: bigint,
  finalDelta: bigint,
): Hop[] {
  const n = route.length;
  return route.map((to, k) => ({
    to,
    amount: amount + feePerHop * BigInt(n - 1 - k),
    expiry: now + finalDelta + ROUTE_SLACK_SECONDS + hopDelta * BigInt(n - 1 - k),
  }));
}

/** Why a payee refuses a lock to its invoice (it then gives the lock back), or `undefined` if it takes it. */
export function payeeRefusal(
  lock: Lock,
  invoice: { amount: bigint; status: "open" | "paid" } | undefined,
  knowsSecret: boolean,
  now: bigint,
  policy: RoutingPolicy,
): string | undefined {
  if (!invoice || !knowsSecret) return "no invoice for this hashlock";
  if (invoice.status !== "open") return "the invoice is paid";
  if (lock.amount < invoice.amount) return `the lock holds ${lock.amount}, the invoice asks ${invoice.amount}`;
  if (lock.expiry < now + policy.finalDeltaSeconds) return "the lock expires too soon";
  return undefined;
}

/**
 * Why a forwarder refuses to pass a lock on as `hop` (it then gives the incoming lock back), or `undefined`.
 * `canSend` says whether it has an open channel to `hop.to` that can send `hop.amount`.
 */
export function forwardRefusal(
  incoming: Lock,
  hop: Hop,
  canSend: boolean,
  now: bigint,
  policy: RoutingPolicy,
): string | undefined {
  if (!canSend) return `no open channel to ${hop.to} that can send ${hop.amount}`;
  if (incoming.amount < hop.amount + policy.forwardFee) return "the fee is too low";
  if (incoming.expiry < hop.expiry + policy.hopDeltaSeconds) return "the next hop's expiry leaves too little time";
  if (hop.expiry <= now + policy.revealMarginSeconds) return "the next hop's lock would expire too soon";
  return undefined;
}

/** Whether a receiver that knows the secret should reveal it on chain now (the lock is close to expiring). */
export function revealDue(lock: Lock, now: bigint, policy: RoutingPolicy): boolean {
  return now >= lock.expiry - policy.revealMarginSeconds && now <= lock.expiry;
}

/** Whether a sender may take back a lock: it expired and its secret did not reach the chain by then. */
export function lockExpiredUnclaimed(lock: Lock, now: bigint, revealedAt: bigint): boolean {
  return now > lock.expiry && !(revealedAt !== 0n && revealedAt <= lock.expiry);
}
