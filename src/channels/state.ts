import { ZERO_BYTES32 } from "../protocol/hash";

export { initHashing } from "../protocol/hash";
// The zero `bytes32` (the locks root of no locks) and the zero address (an ETH channel's asset).
export { ZERO_ADDRESS, ZERO_BYTES32 } from "../protocol/hash";
export * from "./state-eip712";
export * from "./state-hash";
export * from "./state-signatures";
export * from "./lock-tree";

/*
 * The channel state, the TypeScript twin of contracts/channels/ChannelHashing.sol
 * and LockTree.sol (docs/CHANNELS.md §2–§5): the values the adjudicator takes
 * and its bounds here; their EIP-712 definition in ./state-eip712.ts, the
 * native hashes in ./state-hash.ts, signing and recovery in
 * ./state-signatures.ts and the locks' tree in ./lock-tree.ts, all re-exported
 * from this module. Pure: no I/O. Keccak is src/protocol's (WebAssembly once
 * `await initHashing()` has resolved, the native binding before); signature
 * recovery runs on the native `secp256k1` binding.
 */

// ---------------------------------------------------------------------------
// Types

/** The fixed parameters of a channel (`IChannelAdjudicator.ChannelParams`). */
export interface ChannelParams {
  /** Participant 0 and participant 1: distinct, non-zero EOAs (they sign states). */
  participants: [string, string];
  /** `ZERO_ADDRESS` for ETH, otherwise the ERC-20 token. */
  asset: string;
  /** Seconds a registered state can be refuted; 1..`MAX_CHALLENGE_DURATION_SECONDS`. */
  challengeDuration: bigint;
  /** 32 bytes that make the id unique. */
  salt: string;
}

/** A channel state (`IChannelAdjudicator.ChannelState`), signed by both participants. */
export interface ChannelState {
  channelId: string;
  /** u64; version 0 is the unsigned deposit state. */
  version: bigint;
  /** What each participant gets, excluding locks. */
  balances: [bigint, bigint];
  /** `locksRoot(locks)` of the pending locks, `ZERO_BYTES32` for none. */
  locksRoot: string;
  /** The sum of the pending locks' amounts. */
  lockedTotal: bigint;
  /** Only a final state (with no locks) closes cooperatively. */
  isFinal: boolean;
}

/** A co-signed withdrawal from an open channel (`IChannelAdjudicator.Withdrawal`). */
export interface Withdrawal {
  channelId: string;
  /** The version of the state that already accounts for the withdrawal; becomes the version floor. */
  version: bigint;
  /** Who receives the amount. */
  participant: 0 | 1;
  amount: bigint;
  /** The last timestamp (seconds) at which it can be executed. */
  expiry: bigint;
}

/** A co-signed top-up (`IChannelAdjudicator.TopUp`): `state` already includes the amount. */
export interface TopUp {
  state: ChannelState;
  /** The last timestamp (seconds) at which it can be executed. */
  expiry: bigint;
}

/** One participant's consent to have its deposit pulled by the opener's `openFunded` (`IChannelAdjudicator.Funding`). */
export interface Funding {
  channelId: string;
  /** The participant whose tokens are pulled: the signer. */
  participant: 0 | 1;
  amount: bigint;
  /** The last timestamp (seconds) at which it can be used. */
  expiry: bigint;
}

/** A hash-locked conditional payment (`IChannelAdjudicator.Lock`). */
export interface Lock {
  sender: 0 | 1;
  /** Always `1 - sender`. */
  receiver: 0 | 1;
  amount: bigint;
  /** `hashlockOf(secret)`. */
  hashlock: string;
  /** The last timestamp (seconds) at which revealing the secret on chain pays the receiver. */
  expiry: bigint;
}

/** An EIP-2098 compact signature `r ‖ vs` (the contract's `Signature` struct). */
export interface CompactSignature {
  r: string;
  /** `s` with the recovery parity in its top bit. */
  vs: string;
}

// ---------------------------------------------------------------------------
// Bounds

/** The largest amount a channel can hold (2^112 − 1); no balance or total above it is valid. */
export const MAX_CHANNEL_AMOUNT = (1n << 112n) - 1n;
/** The longest challenge period the adjudicator accepts (365 days). */
export const MAX_CHALLENGE_DURATION_SECONDS = 365n * 24n * 3600n;

// ---------------------------------------------------------------------------
// State helpers

/** `balances[0] + balances[1] + lockedTotal`: must equal the channel's holdings for the state to be registrable. */
export function stateTotal(state: ChannelState): bigint {
  return state.balances[0] + state.balances[1] + state.lockedTotal;
}

/** The deposit state (version 0) that `registerDeposits` registers: each participant's unilateral deposit. */
export function depositState(id: string, deposits: readonly [bigint, bigint]): ChannelState {
  return {
    channelId: id,
    version: 0n,
    balances: [deposits[0], deposits[1]],
    locksRoot: ZERO_BYTES32,
    lockedTotal: 0n,
    isFinal: false,
  };
}
