import {
  domainSeparatorBytes,
  FUNDING_TYPEHASH_BYTES,
  STATE_TYPEHASH_BYTES,
  TOP_UP_TYPEHASH_BYTES,
  WITHDRAWAL_TYPEHASH_BYTES,
} from "./state-eip712";
import { hexOf, keccak, putAddress, putBytes32, putUint, U256_MAX, U64_MAX, U8_MAX } from "./state-bytes";
import type { ChannelParams, ChannelState, Funding, TopUp, Withdrawal } from "./state";

/*
 * The channel id and the EIP-712 struct hashes and digests of the
 * adjudicator's messages, built natively word by word (the twin of
 * contracts/channels/ChannelHashing.sol; docs/CHANNELS.md §2–§3). Each
 * `…Bytes` function checks every field as it writes it; the signatures of
 * ./state-signatures.ts sign and recover these digests.
 */

/** `keccak256(abi.encode(chainId, adjudicator, participants, asset, challengeDuration, salt))` (CHANNELS.md §2). */
export function channelId(params: ChannelParams, chainId: bigint, adjudicator: string): string {
  const out = Buffer.alloc(7 * 32);
  putUint(out, 0, chainId, U256_MAX, "chainId");
  putAddress(out, 32, adjudicator, "adjudicator");
  putAddress(out, 64, params.participants[0], "participants[0]");
  putAddress(out, 96, params.participants[1], "participants[1]");
  putAddress(out, 128, params.asset, "asset");
  putUint(out, 160, params.challengeDuration, U64_MAX, "challengeDuration");
  putBytes32(out, 192, params.salt, "salt");
  return hexOf(keccak(out));
}

/** `hashStruct` of a state, as bytes; throws `INVALID_CHANNEL_DATA` for a field out of range. */
export function stateStructHashBytes(state: ChannelState): Buffer {
  const balances = Buffer.alloc(64);
  putUint(balances, 0, state.balances[0], U256_MAX, "balances[0]");
  putUint(balances, 32, state.balances[1], U256_MAX, "balances[1]");
  const out = Buffer.alloc(7 * 32);
  STATE_TYPEHASH_BYTES.copy(out, 0);
  putBytes32(out, 32, state.channelId, "channelId");
  putUint(out, 64, state.version, U64_MAX, "version");
  keccak(balances).copy(out, 96);
  putBytes32(out, 128, state.locksRoot, "locksRoot");
  putUint(out, 160, state.lockedTotal, U256_MAX, "lockedTotal");
  out[223] = state.isFinal ? 1 : 0;
  return keccak(out);
}

/** `hashStruct` of a withdrawal, as bytes. */
export function withdrawalStructHashBytes(withdrawal: Withdrawal): Buffer {
  const out = Buffer.alloc(6 * 32);
  WITHDRAWAL_TYPEHASH_BYTES.copy(out, 0);
  putBytes32(out, 32, withdrawal.channelId, "channelId");
  putUint(out, 64, withdrawal.version, U64_MAX, "version");
  putUint(out, 96, BigInt(withdrawal.participant), U8_MAX, "participant");
  putUint(out, 128, withdrawal.amount, U256_MAX, "amount");
  putUint(out, 160, withdrawal.expiry, U64_MAX, "expiry");
  return keccak(out);
}

/** `hashStruct` of a top-up, as bytes. */
export function topUpStructHashBytes(top: TopUp): Buffer {
  const out = Buffer.alloc(3 * 32);
  TOP_UP_TYPEHASH_BYTES.copy(out, 0);
  stateStructHashBytes(top.state).copy(out, 32);
  putUint(out, 64, top.expiry, U64_MAX, "expiry");
  return keccak(out);
}

/** `hashStruct` of a funding consent, as bytes. */
export function fundingStructHashBytes(funding: Funding): Buffer {
  const out = Buffer.alloc(5 * 32);
  FUNDING_TYPEHASH_BYTES.copy(out, 0);
  putBytes32(out, 32, funding.channelId, "channelId");
  putUint(out, 64, BigInt(funding.participant), U8_MAX, "participant");
  putUint(out, 96, funding.amount, U256_MAX, "amount");
  putUint(out, 128, funding.expiry, U64_MAX, "expiry");
  return keccak(out);
}

/** `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`: what is signed. */
export function typedDigest(chainId: bigint, adjudicator: string, structHash: Buffer): Buffer {
  const out = Buffer.alloc(66);
  out[0] = 0x19;
  out[1] = 0x01;
  domainSeparatorBytes(chainId, adjudicator).copy(out, 2);
  structHash.copy(out, 34);
  return keccak(out);
}

/** EIP-712 `hashStruct` of a state (`ChannelHashing.stateStructHash`). */
export function stateStructHash(state: ChannelState): string {
  return hexOf(stateStructHashBytes(state));
}

/** The EIP-712 digest both participants sign for `state` (`ChannelAdjudicator.stateDigest`). */
export function stateDigest(state: ChannelState, chainId: bigint, adjudicator: string): string {
  return hexOf(typedDigest(chainId, adjudicator, stateStructHashBytes(state)));
}

/** EIP-712 `hashStruct` of a withdrawal (`ChannelHashing.withdrawalStructHash`). */
export function withdrawalStructHash(withdrawal: Withdrawal): string {
  return hexOf(withdrawalStructHashBytes(withdrawal));
}

/** The EIP-712 digest both participants sign for `withdrawal` (`ChannelAdjudicator.withdrawalDigest`). */
export function withdrawalDigest(withdrawal: Withdrawal, chainId: bigint, adjudicator: string): string {
  return hexOf(typedDigest(chainId, adjudicator, withdrawalStructHashBytes(withdrawal)));
}

/** EIP-712 `hashStruct` of a top-up (`ChannelHashing.topUpStructHash`). */
export function topUpStructHash(top: TopUp): string {
  return hexOf(topUpStructHashBytes(top));
}

/** The EIP-712 digest both participants sign for `top` (`ChannelAdjudicator.topUpDigest`). */
export function topUpDigest(top: TopUp, chainId: bigint, adjudicator: string): string {
  return hexOf(typedDigest(chainId, adjudicator, topUpStructHashBytes(top)));
}

/** EIP-712 `hashStruct` of a funding consent (`ChannelHashing.fundingStructHash`). */
export function fundingStructHash(funding: Funding): string {
  return hexOf(fundingStructHashBytes(funding));
}

/** The EIP-712 digest the funding participant signs (`ChannelAdjudicator.fundingDigest`). */
export function fundingDigest(funding: Funding, chainId: bigint, adjudicator: string): string {
  return hexOf(typedDigest(chainId, adjudicator, fundingStructHashBytes(funding)));
}
