import type { TypedDataDomain, TypedDataField } from "ethers";
import { hexOf, keccak, putAddress, putUint, U256_MAX } from "./state-bytes";

/*
 * The EIP-712 definition of the adjudicator's messages (docs/CHANNELS.md
 * §3.1): the domain, the types as ethers takes them (for `signTypedData`),
 * the same types as strings and their typehashes (for the native hashes of
 * ./state-hash.ts), and the domain separator.
 */

/** EIP-712 domain name of the adjudicator. */
export const CHANNEL_DOMAIN_NAME = "bilayer-channels";
/** EIP-712 domain version of the adjudicator. */
export const CHANNEL_DOMAIN_VERSION = "1";

/** EIP-712 types of a state, for `signer.signTypedData(channelDomain(...), CHANNEL_TYPES, state)`. */
export const CHANNEL_TYPES: Record<string, TypedDataField[]> = {
  ChannelState: [
    { name: "channelId", type: "bytes32" },
    { name: "version", type: "uint64" },
    { name: "balances", type: "uint256[2]" },
    { name: "locksRoot", type: "bytes32" },
    { name: "lockedTotal", type: "uint256" },
    { name: "isFinal", type: "bool" },
  ],
};

/** EIP-712 types of a top-up (the state nested in it). */
export const TOP_UP_TYPES: Record<string, TypedDataField[]> = {
  TopUp: [
    { name: "state", type: "ChannelState" },
    { name: "expiry", type: "uint64" },
  ],
  ChannelState: CHANNEL_TYPES.ChannelState,
};

/** EIP-712 types of a funding consent. */
export const FUNDING_TYPES: Record<string, TypedDataField[]> = {
  Funding: [
    { name: "channelId", type: "bytes32" },
    { name: "participant", type: "uint8" },
    { name: "amount", type: "uint256" },
    { name: "expiry", type: "uint64" },
  ],
};

/** EIP-712 types of a withdrawal. */
export const WITHDRAWAL_TYPES: Record<string, TypedDataField[]> = {
  Withdrawal: [
    { name: "channelId", type: "bytes32" },
    { name: "version", type: "uint64" },
    { name: "participant", type: "uint8" },
    { name: "amount", type: "uint256" },
    { name: "expiry", type: "uint64" },
  ],
};

const STATE_TYPE =
  "ChannelState(bytes32 channelId,uint64 version,uint256[2] balances,bytes32 locksRoot,uint256 lockedTotal,bool isFinal)";
const WITHDRAWAL_TYPE = "Withdrawal(bytes32 channelId,uint64 version,uint8 participant,uint256 amount,uint64 expiry)";
const TOP_UP_TYPE = "TopUp(ChannelState state,uint64 expiry)" + STATE_TYPE;
const FUNDING_TYPE = "Funding(bytes32 channelId,uint8 participant,uint256 amount,uint64 expiry)";
const DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

export const STATE_TYPEHASH_BYTES = keccak(Buffer.from(STATE_TYPE));
export const WITHDRAWAL_TYPEHASH_BYTES = keccak(Buffer.from(WITHDRAWAL_TYPE));
export const TOP_UP_TYPEHASH_BYTES = keccak(Buffer.from(TOP_UP_TYPE));
export const FUNDING_TYPEHASH_BYTES = keccak(Buffer.from(FUNDING_TYPE));
const DOMAIN_TYPEHASH_BYTES = keccak(Buffer.from(DOMAIN_TYPE));

/** `keccak256` of the EIP-712 type string of a state. */
export const STATE_TYPEHASH = hexOf(STATE_TYPEHASH_BYTES);
/** `keccak256` of the EIP-712 type string of a withdrawal. */
export const WITHDRAWAL_TYPEHASH = hexOf(WITHDRAWAL_TYPEHASH_BYTES);
/** `keccak256` of the EIP-712 type string of a top-up. */
export const TOP_UP_TYPEHASH = hexOf(TOP_UP_TYPEHASH_BYTES);
/** `keccak256` of the EIP-712 type string of a funding consent. */
export const FUNDING_TYPEHASH = hexOf(FUNDING_TYPEHASH_BYTES);

/** The adjudicator's EIP-712 domain. */
export function channelDomain(chainId: bigint, adjudicator: string): TypedDataDomain {
  return { name: CHANNEL_DOMAIN_NAME, version: CHANNEL_DOMAIN_VERSION, chainId, verifyingContract: adjudicator };
}

const separators = new Map<string, Buffer>();

/** The domain separator of an adjudicator, computed once per chain and address. */
export function domainSeparatorBytes(chainId: bigint, adjudicator: string): Buffer {
  const key = `${chainId}:${adjudicator.toLowerCase()}`;
  let separator = separators.get(key);
  if (separator === undefined) {
    const out = Buffer.alloc(5 * 32);
    DOMAIN_TYPEHASH_BYTES.copy(out, 0);
    keccak(Buffer.from(CHANNEL_DOMAIN_NAME)).copy(out, 32);
    keccak(Buffer.from(CHANNEL_DOMAIN_VERSION)).copy(out, 64);
    putUint(out, 96, chainId, U256_MAX, "chainId");
    putAddress(out, 128, adjudicator, "adjudicator");
    separator = keccak(out);
    separators.set(key, separator);
  }
  return separator;
}

/** The EIP-712 domain separator of an adjudicator. */
export function channelDomainSeparator(chainId: bigint, adjudicator: string): string {
  return hexOf(domainSeparatorBytes(chainId, adjudicator));
}
