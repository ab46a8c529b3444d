import {
  signTopUpWithKey,
  signWithdrawalWithKey,
  verifyTopUpSignature,
  verifyWithdrawalSignature,
  type ChannelState,
  type CompactSignature,
  type TopUp,
  type Withdrawal,
} from "./state";
import type { ResizeUpdate } from "./updates";

/*
 * The on-chain message of a resize (docs/CHANNELS.md §4, §6.3): a deposit update is executed with a `TopUp` of the
 * resized state, a withdrawal update with a `Withdrawal` of its version. Both participants sign it besides the
 * state, and both messages carry the update's expiry.
 */

/** The message that executes `update` on chain, `state` being the state it yields. */
export type ResizeMessage = { kind: "topUp"; top: TopUp } | { kind: "withdrawal"; withdrawal: Withdrawal };

export function resizeMessage(update: ResizeUpdate, state: ChannelState): ResizeMessage {
  if (update.kind === "deposit") return { kind: "topUp", top: { state, expiry: update.expiry } };
  return {
    kind: "withdrawal",
    withdrawal: {
      channelId: state.channelId,
      version: state.version,
      participant: update.participant,
      amount: update.amount,
      expiry: update.expiry,
    },
  };
}

/** Signs the on-chain message of `update` with a raw key. */
export function signResize(
  key: Uint8Array | string,
  update: ResizeUpdate,
  state: ChannelState,
  chainId: bigint,
  adjudicator: string,
): CompactSignature {
  const m = resizeMessage(update, state);
  return m.kind === "topUp"
    ? signTopUpWithKey(key, m.top, chainId, adjudicator)
    : signWithdrawalWithKey(key, m.withdrawal, chainId, adjudicator);
}

/** Whether `sig` is `signer`'s signature of the on-chain message of `update`. */
export function verifyResize(
  update: ResizeUpdate,
  state: ChannelState,
  sig: CompactSignature,
  signer: string,
  chainId: bigint,
  adjudicator: string,
): boolean {
  const m = resizeMessage(update, state);
  return m.kind === "topUp"
    ? verifyTopUpSignature(m.top, sig, signer, chainId, adjudicator)
    : verifyWithdrawalSignature(m.withdrawal, sig, signer, chainId, adjudicator);
}
