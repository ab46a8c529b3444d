import {
  hashlockOf,
  lockedTotalOf,
  locksRoot,
  MAX_CHANNEL_AMOUNT,
  ZERO_BYTES32,
  type ChannelState,
  type CompactSignature,
  type Lock,
} from "./state";
import { BilayerError } from "../protocol/errors";

/*
 * The off-chain state machine of a channel: what an update does to a state
 * (`applyUpdate`, pure and deterministic, so both parties compute the same
 * next state from the same base and only signatures travel), and whether a
 * participant agrees to sign it (`approvalError`). docs/CHANNELS.md fixes the
 * on-chain meaning of a state; this file fixes how the two parties move from
 * one state to the next.
 */

/** A participant index. */
export type Party = 0 | 1;

/** One change to a channel's state. Every update raises the version. */
export type ChannelUpdate =
  /** `from` pays `amount` to the other participant. */
  | { kind: "pay"; from: Party; amount: bigint }
  /** `lock.sender` moves `lock.amount` from its balance into a new hash-locked conditional payment. */
  | { kind: "lock"; lock: Lock }
  /** The lock with `hashlock` pays its receiver: `secret` is its preimage. */
  | { kind: "settle"; hashlock: string; secret: string }
  /** The lock with `hashlock` returns to its sender (the payment failed or expired). */
  | { kind: "cancel"; hashlock: string }
  /** The state becomes final (no locks may remain): the channel can be closed cooperatively at once. */
  | { kind: "final" }
  /** Nothing changes but the version: a newer co-signed state that supersedes states the peer may hold. */
  | { kind: "noop" }
  /**
   * `participant` tops the channel up by `amount` on chain (its balance grows by it), until `expiry`: a resize,
   * co-signed twice (the state and the `TopUp`), which counts only once executed on chain.
   */
  | { kind: "deposit"; participant: Party; amount: bigint; expiry: bigint }
  /** `participant` takes `amount` of its balance out of the open channel on chain, until `expiry`: a resize. */
  | { kind: "withdraw"; participant: Party; amount: bigint; expiry: bigint };

/** A resize: a top-up or partial withdrawal, which changes the channel's total and must be executed on chain. */
export type ResizeUpdate = Extract<ChannelUpdate, { kind: "deposit" | "withdraw" }>;

/** Whether `update` resizes the channel. */
export function isResize(update: ChannelUpdate): update is ResizeUpdate {
  return update.kind === "deposit" || update.kind === "withdraw";
}

/** A state together with the locks its `locksRoot` commits to, in tree order. */
export interface Snapshot {
  state: ChannelState;
  locks: Lock[];
}

/** A snapshot signed by both participants (`sigs[i]` by participant `i`): what the adjudicator accepts. */
export interface SignedSnapshot extends Snapshot {
  sigs: [CompactSignature, CompactSignature];
}

/** The most locks one state may hold (a depth-6 tree: `unlock` stays cheap). */
export const MAX_LOCKS = 64;

/** An update that cannot be applied to its base state, or that a participant refuses to sign. */
export class ChannelUpdateError extends BilayerError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super("INVALID_UPDATE", message, { context });
  }
}

/** The other participant. */
export function other(party: Party): Party {
  return party === 0 ? 1 : 0;
}

/** The deposit state (version 0) of a channel funded with `deposits`: the base of the first update. */
export function depositSnapshot(channelId: string, deposits: readonly [bigint, bigint]): Snapshot {
  return {
    state: {
      channelId,
      version: 0n,
      balances: [deposits[0], deposits[1]],
      locksRoot: ZERO_BYTES32,
      lockedTotal: 0n,
      isFinal: false,
    },
    locks: [],
  };
}

/** The index of the lock with `hashlock` in `locks`, or -1. */
export function findLock(locks: readonly Lock[], hashlock: string): number {
  const h = hashlock.toLowerCase();
  return locks.findIndex((l) => l.hashlock.toLowerCase() === h);
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * The state after `update`, at `version`. Throws {@link ChannelUpdateError} if the update does not apply: the base
 * is final, the version does not grow, a balance would go negative, a lock is malformed, duplicated, missing, or
 * its secret does not match.
 */
export function applyUpdate(base: Snapshot, update: ChannelUpdate, version: bigint): Snapshot {
  const { state } = base;
  if (state.isFinal) throw new ChannelUpdateError("the channel's state is final", { version: String(state.version) });
  if (version <= state.version || version > U64_MAX) {
    throw new ChannelUpdateError(`version ${version} does not follow ${state.version}`, {
      version: String(version),
      base: String(state.version),
    });
  }
  const balances: [bigint, bigint] = [state.balances[0], state.balances[1]];
  let locks = base.locks;
  let isFinal = false;
  switch (update.kind) {
    case "pay": {
      if (update.amount <= 0n)
        throw new ChannelUpdateError("a payment must be positive", { amount: String(update.amount) });
      if (balances[update.from] < update.amount) {
        throw new ChannelUpdateError(
          `participant ${update.from} has ${balances[update.from]}, cannot pay ${update.amount}`,
          {
            balance: String(balances[update.from]),
            amount: String(update.amount),
          },
        );
      }
      balances[update.from] -= update.amount;
      balances[other(update.from)] += update.amount;
      break;
    }
    case "lock": {
      const lock = update.lock;
      if ((lock.sender !== 0 && lock.sender !== 1) || lock.receiver !== other(lock.sender)) {
        throw new ChannelUpdateError("a lock goes from one participant to the other", {
          sender: lock.sender,
          receiver: lock.receiver,
        });
      }
      if (lock.amount <= 0n) throw new ChannelUpdateError("a lock must be positive", { amount: String(lock.amount) });
      if (lock.expiry <= 0n || lock.expiry > U64_MAX) {
        throw new ChannelUpdateError("a lock's expiry must be a u64 timestamp", { expiry: String(lock.expiry) });
      }
      if (!/^0x[0-9a-fA-F]{64}$/.test(lock.hashlock)) throw new ChannelUpdateError("a hashlock is 32 bytes");
      if (findLock(locks, lock.hashlock) >= 0) {
        throw new ChannelUpdateError("the channel already has a lock with this hashlock", { hashlock: lock.hashlock });
      }
      if (locks.length >= MAX_LOCKS) throw new ChannelUpdateError(`a state holds at most ${MAX_LOCKS} locks`);
      if (balances[lock.sender] < lock.amount) {
        throw new ChannelUpdateError(
          `participant ${lock.sender} has ${balances[lock.sender]}, cannot lock ${lock.amount}`,
          {
            balance: String(balances[lock.sender]),
            amount: String(lock.amount),
          },
        );
      }
      balances[lock.sender] -= lock.amount;
      locks = [...locks, { ...lock, hashlock: lock.hashlock.toLowerCase() }];
      break;
    }
    case "settle":
    case "cancel": {
      const index = findLock(locks, update.hashlock);
      if (index < 0) throw new ChannelUpdateError("no lock with this hashlock", { hashlock: update.hashlock });
      const lock = locks[index];
      if (update.kind === "settle") {
        let hash: string;
        try {
          hash = hashlockOf(update.secret);
        } catch {
          throw new ChannelUpdateError("a secret is 32 bytes");
        }
        if (hash !== lock.hashlock.toLowerCase()) {
          throw new ChannelUpdateError("the secret does not open the lock", { hashlock: lock.hashlock });
        }
        balances[lock.receiver] += lock.amount;
      } else {
        balances[lock.sender] += lock.amount;
      }
      locks = locks.filter((_, i) => i !== index);
      break;
    }
    case "final": {
      if (locks.length > 0)
        throw new ChannelUpdateError("a final state cannot have pending locks", { locks: locks.length });
      isFinal = true;
      break;
    }
    case "noop":
      break;
    case "deposit":
    case "withdraw": {
      const p = update.participant;
      if (p !== 0 && p !== 1) throw new ChannelUpdateError("a resize is for participant 0 or 1", { participant: p });
      if (update.amount <= 0n) {
        throw new ChannelUpdateError(`a ${update.kind} must be positive`, { amount: String(update.amount) });
      }
      if (update.expiry <= 0n || update.expiry > U64_MAX) {
        throw new ChannelUpdateError("a resize's expiry must be a u64 timestamp", { expiry: String(update.expiry) });
      }
      if (update.kind === "deposit") {
        if (state.balances[0] + state.balances[1] + state.lockedTotal + update.amount > MAX_CHANNEL_AMOUNT) {
          throw new ChannelUpdateError("the channel would hold more than 2^112 - 1", {
            amount: String(update.amount),
          });
        }
        balances[p] += update.amount;
      } else {
        if (balances[p] < update.amount) {
          throw new ChannelUpdateError(`participant ${p} has ${balances[p]}, cannot withdraw ${update.amount}`, {
            balance: String(balances[p]),
            amount: String(update.amount),
          });
        }
        balances[p] -= update.amount;
      }
      break;
    }
    default: {
      const never: never = update;
      throw new ChannelUpdateError(`unknown update ${String((never as { kind: unknown }).kind)}`);
    }
  }
  return {
    state: {
      channelId: state.channelId,
      version,
      balances,
      locksRoot: locks === base.locks ? state.locksRoot : locksRoot(locks),
      lockedTotal: locks === base.locks ? state.lockedTotal : lockedTotalOf(locks),
      isFinal,
    },
    locks,
  };
}

/** What a participant knows when deciding whether to sign an update. */
export interface ApprovalContext {
  /** Who asked for the update. */
  initiator: Party;
  /** The chain's current time, seconds. */
  now: bigint;
  /** When the lock's secret was revealed on chain (0 if not), for a lock taken back by its sender. */
  revealedAt?: (hashlock: string) => bigint;
}

/**
 * Why participant `me` refuses to sign `update` applied to `base`, or `undefined` if it agrees. A participant signs
 * anything that only adds to what it gets; it gives something up only when it asked for it itself, or when a lock
 * it receives has expired without its secret reaching the chain in time (then the lock is worth nothing to it).
 */
export function approvalError(
  me: Party,
  update: ChannelUpdate,
  base: Snapshot,
  ctx: ApprovalContext,
): string | undefined {
  const mine = ctx.initiator === me;
  switch (update.kind) {
    case "pay":
      return update.from === me && !mine ? "a payment from my balance that I did not ask for" : undefined;
    case "lock":
      if (update.lock.sender === me) return mine ? undefined : "a lock from my balance that I did not ask for";
      return update.lock.expiry > ctx.now ? undefined : "the lock has already expired";
    case "settle":
      return undefined; // the secret is checked by applyUpdate: a settled lock pays its receiver as on chain
    case "cancel": {
      const index = findLock(base.locks, update.hashlock);
      if (index < 0) return "no lock with this hashlock";
      const lock = base.locks[index];
      if (lock.sender === me || mine) return undefined;
      if (ctx.now <= lock.expiry) return "the lock has not expired";
      const revealed = ctx.revealedAt?.(lock.hashlock) ?? 0n;
      return revealed !== 0n && revealed <= lock.expiry ? "the secret was revealed on chain in time" : undefined;
    }
    case "final":
    case "noop":
      return undefined;
    case "deposit":
    case "withdraw":
      // Only the participant resizes its own balance: nobody deposits or withdraws in another's name.
      return update.participant === ctx.initiator ? undefined : `a ${update.kind} that its participant did not ask for`;
    default:
      return "unknown update";
  }
}

/** Two states are the same state. */
export function sameState(a: ChannelState, b: ChannelState): boolean {
  return (
    a.channelId.toLowerCase() === b.channelId.toLowerCase() &&
    a.version === b.version &&
    a.balances[0] === b.balances[0] &&
    a.balances[1] === b.balances[1] &&
    a.locksRoot.toLowerCase() === b.locksRoot.toLowerCase() &&
    a.lockedTotal === b.lockedTotal &&
    a.isFinal === b.isFinal
  );
}

/** Two updates are the same update. */
export function sameUpdate(a: ChannelUpdate, b: ChannelUpdate): boolean {
  switch (a.kind) {
    case "pay":
      return b.kind === "pay" && a.from === b.from && a.amount === b.amount;
    case "lock":
      return (
        b.kind === "lock" &&
        a.lock.sender === b.lock.sender &&
        a.lock.receiver === b.lock.receiver &&
        a.lock.amount === b.lock.amount &&
        a.lock.hashlock.toLowerCase() === b.lock.hashlock.toLowerCase() &&
        a.lock.expiry === b.lock.expiry
      );
    case "settle":
      return b.kind === "settle" && a.hashlock.toLowerCase() === b.hashlock.toLowerCase();
    case "cancel":
      return b.kind === "cancel" && a.hashlock.toLowerCase() === b.hashlock.toLowerCase();
    case "final":
      return b.kind === "final";
    case "noop":
      return b.kind === "noop";
    case "deposit":
    case "withdraw":
      return b.kind === a.kind && a.participant === b.participant && a.amount === b.amount && a.expiry === b.expiry;
    default:
      return false;
  }
}
