/*
 * The lock-settlement rule (docs/CHANNELS.md §8), pure: what a client may conclude about a lock it offered (it is
 * the lock's sender) from what it knows for certain, never from what a peer said. The client feeds it and acts on
 * the answer: a forwarder settles or refunds the incoming lock it forwarded only when its outgoing lock is
 * `settled` or `dead`, and a payer reports a route completed or refunded the same way.
 */

/** What a client knows of one lock it offered. */
export interface OfferedLock {
  expiry: bigint;
  /** The secret, if this client knows it (the receiver's settle, or the chain). */
  secret?: string;
  /**
   * Whether the lock is in a state this client signed that the peer may hold co-signed and that no newer state
   * signed by both, held by this client, supersedes: its latest co-signed state, and every state it signed above.
   */
  exposed: boolean;
  /** Whether an attempt to put the lock in a state is still queued or asked for (it may yet be signed). */
  attempting: boolean;
  /** Once the channel's outcome is fixed on chain (concluded or closed): whether that outcome holds the lock. */
  outcome?: "kept" | "dropped";
  /** The timestamp of the latest block whose events this client has processed. */
  chainTime: bigint;
  /** When the secret was revealed on chain as of that block (0: not at all). */
  revealedAt: bigint;
}

/** The fate of an offered lock: still undecided, paid to its receiver, or certain never to be. */
export type LockFate =
  | { kind: "live"; reason: string }
  | { kind: "settled"; secret: string }
  | { kind: "dead"; reason: string; cause: "outcome" | "expired" | "unexposed" };

/**
 * The fate of a lock this client offered. `settled` once the secret is known: the receiver can claim the lock, and
 * the secret claims whatever the lock was paid with. `dead` only when no state the peer can register pays it out:
 * the lock expired on chain unrevealed, the channel's outcome dropped it, or it is in no state the peer may hold
 * and nothing is trying to put it in one. `live` otherwise, however the peer answered.
 */
export function offeredLockFate(lock: OfferedLock): LockFate {
  if (lock.secret !== undefined) return { kind: "settled", secret: lock.secret };
  const revealedInTime = lock.revealedAt !== 0n && lock.revealedAt <= lock.expiry;
  if (lock.outcome === "dropped") {
    return { kind: "dead", reason: "the channel's outcome on chain does not hold it", cause: "outcome" };
  }
  if (lock.chainTime > lock.expiry && !revealedInTime) {
    return { kind: "dead", reason: "it expired on chain without its secret", cause: "expired" };
  }
  if (lock.outcome === "kept") return { kind: "live", reason: "the chain resolves it by its secret or its expiry" };
  if (lock.exposed) return { kind: "live", reason: "the peer may hold a state with it" };
  if (lock.attempting) return { kind: "live", reason: "it is still being offered" };
  return { kind: "dead", reason: "it is in no state the peer can hold", cause: "unexposed" };
}
