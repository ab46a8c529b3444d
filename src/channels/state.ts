import secp256k1 from "secp256k1";
import { getAddress, Signature } from "ethers";
import type { Signer, TypedDataDomain, TypedDataField } from "ethers";
import { BilayerError } from "../protocol/errors";
import { keccak256 } from "../protocol/hash";

export { initHashing } from "../protocol/hash";

/*
 * The channel state and its hashes, the TypeScript twin of
 * contracts/channels/ChannelHashing.sol and LockTree.sol (docs/CHANNELS.md
 * §2–§5). Pure: no I/O. Keccak is src/protocol's (WebAssembly once
 * `await initHashing()` has resolved, the native binding before); signature
 * recovery runs on the native `secp256k1` binding. `signState` goes through an
 * ethers `Signer` (wallets, hardware, JSON-RPC accounts) and
 * `signStateWithKey` signs a raw key natively, 10× faster.
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
// Constants

/** EIP-712 domain name of the adjudicator. */
export const CHANNEL_DOMAIN_NAME = "bilayer-channels";
/** EIP-712 domain version of the adjudicator. */
export const CHANNEL_DOMAIN_VERSION = "1";
/** The largest amount a channel can hold (2^112 − 1); no balance or total above it is valid. */
export const MAX_CHANNEL_AMOUNT = (1n << 112n) - 1n;
/** The longest challenge period the adjudicator accepts (365 days). */
export const MAX_CHALLENGE_DURATION_SECONDS = 365n * 24n * 3600n;
/** The zero `bytes32`: the locks root of no locks. */
export const ZERO_BYTES32 = "0x" + "00".repeat(32);
/** The zero address: the asset of an ETH channel. */
export const ZERO_ADDRESS = "0x" + "00".repeat(20);

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

const U8_MAX = 0xffn;
const U64_MAX = (1n << 64n) - 1n;
const U256_MAX = (1n << 256n) - 1n;
/** The order n of secp256k1, and ⌊n/2⌋: OpenZeppelin's ECDSA rejects a larger `s`. */
const SECP256K1_N = Buffer.from("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "hex");
const SECP256K1_HALF_N = Buffer.from("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "hex");
const ZERO_WORD = Buffer.alloc(32);

// ---------------------------------------------------------------------------
// Bytes

function keccak(data: Uint8Array): Buffer {
  const digest = keccak256(data);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
}

const HEX_RE = /^0x[0-9a-fA-F]*$/;

function bytesOf(value: string, length: number, what: string): Buffer {
  if (typeof value !== "string" || value.length !== 2 + 2 * length || !HEX_RE.test(value)) {
    throw new BilayerError("INVALID_CHANNEL_DATA", `${what} must be ${length} bytes of 0x hex, got ${String(value)}`, {
      context: { field: what, value: String(value) },
    });
  }
  return Buffer.from(value.slice(2), "hex");
}

function hexOf(bytes: Uint8Array): string {
  return "0x" + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Writes an unsigned integer of at most `max` as a 32-byte big-endian word. */
function putUint(out: Buffer, offset: number, value: bigint, max: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value > max) {
    throw new BilayerError("INVALID_CHANNEL_DATA", `${what} out of range: ${String(value)}`, {
      context: { field: what, value: String(value), max: max.toString() },
    });
  }
  out.writeBigUInt64BE(value >> 192n, offset);
  out.writeBigUInt64BE((value >> 128n) & U64_MAX, offset + 8);
  out.writeBigUInt64BE((value >> 64n) & U64_MAX, offset + 16);
  out.writeBigUInt64BE(value & U64_MAX, offset + 24);
}

function putBytes32(out: Buffer, offset: number, value: string, what: string): void {
  bytesOf(value, 32, what).copy(out, offset);
}

function putAddress(out: Buffer, offset: number, value: string, what: string): void {
  out.fill(0, offset, offset + 12);
  bytesOf(value, 20, what).copy(out, offset + 12);
}

const STATE_TYPEHASH_BYTES = keccak(Buffer.from(STATE_TYPE));
const WITHDRAWAL_TYPEHASH_BYTES = keccak(Buffer.from(WITHDRAWAL_TYPE));
const TOP_UP_TYPEHASH_BYTES = keccak(Buffer.from(TOP_UP_TYPE));
const FUNDING_TYPEHASH_BYTES = keccak(Buffer.from(FUNDING_TYPE));
const DOMAIN_TYPEHASH_BYTES = keccak(Buffer.from(DOMAIN_TYPE));

/** `keccak256` of the EIP-712 type string of a state. */
export const STATE_TYPEHASH = hexOf(STATE_TYPEHASH_BYTES);
/** `keccak256` of the EIP-712 type string of a withdrawal. */
export const WITHDRAWAL_TYPEHASH = hexOf(WITHDRAWAL_TYPEHASH_BYTES);
/** `keccak256` of the EIP-712 type string of a top-up. */
export const TOP_UP_TYPEHASH = hexOf(TOP_UP_TYPEHASH_BYTES);
/** `keccak256` of the EIP-712 type string of a funding consent. */
export const FUNDING_TYPEHASH = hexOf(FUNDING_TYPEHASH_BYTES);

// ---------------------------------------------------------------------------
// Channel id and EIP-712

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

/** The adjudicator's EIP-712 domain. */
export function channelDomain(chainId: bigint, adjudicator: string): TypedDataDomain {
  return { name: CHANNEL_DOMAIN_NAME, version: CHANNEL_DOMAIN_VERSION, chainId, verifyingContract: adjudicator };
}

const separators = new Map<string, Buffer>();

function domainSeparatorBytes(chainId: bigint, adjudicator: string): Buffer {
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

function stateStructHashBytes(state: ChannelState): Buffer {
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

function withdrawalStructHashBytes(withdrawal: Withdrawal): Buffer {
  const out = Buffer.alloc(6 * 32);
  WITHDRAWAL_TYPEHASH_BYTES.copy(out, 0);
  putBytes32(out, 32, withdrawal.channelId, "channelId");
  putUint(out, 64, withdrawal.version, U64_MAX, "version");
  putUint(out, 96, BigInt(withdrawal.participant), U8_MAX, "participant");
  putUint(out, 128, withdrawal.amount, U256_MAX, "amount");
  putUint(out, 160, withdrawal.expiry, U64_MAX, "expiry");
  return keccak(out);
}

function topUpStructHashBytes(top: TopUp): Buffer {
  const out = Buffer.alloc(3 * 32);
  TOP_UP_TYPEHASH_BYTES.copy(out, 0);
  stateStructHashBytes(top.state).copy(out, 32);
  putUint(out, 64, top.expiry, U64_MAX, "expiry");
  return keccak(out);
}

function fundingStructHashBytes(funding: Funding): Buffer {
  const out = Buffer.alloc(5 * 32);
  FUNDING_TYPEHASH_BYTES.copy(out, 0);
  putBytes32(out, 32, funding.channelId, "channelId");
  putUint(out, 64, BigInt(funding.participant), U8_MAX, "participant");
  putUint(out, 96, funding.amount, U256_MAX, "amount");
  putUint(out, 128, funding.expiry, U64_MAX, "expiry");
  return keccak(out);
}

function typedDigest(chainId: bigint, adjudicator: string, structHash: Buffer): Buffer {
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

// ---------------------------------------------------------------------------
// Signing and verification

function compactFromEthers(signature: string): CompactSignature {
  const sig = Signature.from(signature);
  return { r: sig.r, vs: sig.yParityAndS };
}

/** Signs `state` through an ethers `Signer` (EIP-712 `signTypedData`). */
export async function signState(
  signer: Signer,
  state: ChannelState,
  chainId: bigint,
  adjudicator: string,
): Promise<CompactSignature> {
  stateStructHashBytes(state); // validates every field before anything reaches the signer
  const signature = await signer.signTypedData(channelDomain(chainId, adjudicator), CHANNEL_TYPES, state);
  return compactFromEthers(signature);
}

/** Signs `withdrawal` through an ethers `Signer` (EIP-712 `signTypedData`). */
export async function signWithdrawal(
  signer: Signer,
  withdrawal: Withdrawal,
  chainId: bigint,
  adjudicator: string,
): Promise<CompactSignature> {
  withdrawalStructHashBytes(withdrawal);
  const signature = await signer.signTypedData(channelDomain(chainId, adjudicator), WITHDRAWAL_TYPES, withdrawal);
  return compactFromEthers(signature);
}

/** Signs `top` through an ethers `Signer` (EIP-712 `signTypedData`, the state nested). */
export async function signTopUp(
  signer: Signer,
  top: TopUp,
  chainId: bigint,
  adjudicator: string,
): Promise<CompactSignature> {
  topUpStructHashBytes(top);
  const signature = await signer.signTypedData(channelDomain(chainId, adjudicator), TOP_UP_TYPES, top);
  return compactFromEthers(signature);
}

/** Signs `funding` through an ethers `Signer` (EIP-712 `signTypedData`). */
export async function signFunding(
  signer: Signer,
  funding: Funding,
  chainId: bigint,
  adjudicator: string,
): Promise<CompactSignature> {
  fundingStructHashBytes(funding);
  const signature = await signer.signTypedData(channelDomain(chainId, adjudicator), FUNDING_TYPES, funding);
  return compactFromEthers(signature);
}

function signDigestWithKey(privateKey: Uint8Array | string, digest: Uint8Array): CompactSignature {
  const key = typeof privateKey === "string" ? bytesOf(privateKey, 32, "privateKey") : privateKey;
  // libsecp256k1 signs deterministically (RFC 6979) and always returns a low s.
  const { signature, recid } = secp256k1.ecdsaSign(digest, key);
  if (recid > 1) {
    // Only when r ≥ n (probability about 2^-127): Ethereum cannot express it.
    throw new BilayerError("INVALID_SIGNATURE", "the signature needs a recovery id above 1", { context: { recid } });
  }
  const vs = Buffer.from(signature.subarray(32, 64));
  vs[0] |= recid << 7;
  return { r: hexOf(signature.subarray(0, 32)), vs: hexOf(vs) };
}

/** Signs `state` with a raw 32-byte private key on the native binding (the fast path of a channel client). */
export function signStateWithKey(
  privateKey: Uint8Array | string,
  state: ChannelState,
  chainId: bigint,
  adjudicator: string,
): CompactSignature {
  return signDigestWithKey(privateKey, typedDigest(chainId, adjudicator, stateStructHashBytes(state)));
}

/** Signs `withdrawal` with a raw 32-byte private key on the native binding. */
export function signWithdrawalWithKey(
  privateKey: Uint8Array | string,
  withdrawal: Withdrawal,
  chainId: bigint,
  adjudicator: string,
): CompactSignature {
  return signDigestWithKey(privateKey, typedDigest(chainId, adjudicator, withdrawalStructHashBytes(withdrawal)));
}

/** Signs `top` with a raw 32-byte private key on the native binding. */
export function signTopUpWithKey(
  privateKey: Uint8Array | string,
  top: TopUp,
  chainId: bigint,
  adjudicator: string,
): CompactSignature {
  return signDigestWithKey(privateKey, typedDigest(chainId, adjudicator, topUpStructHashBytes(top)));
}

/** Signs `funding` with a raw 32-byte private key on the native binding. */
export function signFundingWithKey(
  privateKey: Uint8Array | string,
  funding: Funding,
  chainId: bigint,
  adjudicator: string,
): CompactSignature {
  return signDigestWithKey(privateKey, typedDigest(chainId, adjudicator, fundingStructHashBytes(funding)));
}

const recoverScratch = Buffer.alloc(64);

/**
 * The 20-byte signer of `digest`, or `null` exactly where OpenZeppelin's
 * `ECDSA.tryRecover(digest, r, vs)` reports an error: `r` or `s` zero or not
 * below n, `s` above n/2, or no point to recover.
 */
function recoverDigest(digest: Uint8Array, sig: CompactSignature): Buffer | null {
  let r: Buffer;
  let vs: Buffer;
  try {
    r = bytesOf(sig.r, 32, "r");
    vs = bytesOf(sig.vs, 32, "vs");
  } catch {
    return null;
  }
  const parity = vs[0] >> 7;
  r.copy(recoverScratch, 0);
  vs.copy(recoverScratch, 32);
  recoverScratch[32] &= 0x7f;
  const s = recoverScratch.subarray(32);
  if (r.equals(ZERO_WORD) || r.compare(SECP256K1_N) >= 0 || s.equals(ZERO_WORD) || s.compare(SECP256K1_HALF_N) > 0) {
    return null;
  }
  let publicKey: Uint8Array;
  try {
    publicKey = secp256k1.ecdsaRecover(recoverScratch, parity, digest, false);
  } catch {
    return null; // no curve point has x = r
  }
  return keccak(publicKey.subarray(1)).subarray(12);
}

function matches(address: Buffer | null, expected: string): boolean {
  if (address === null) return false;
  let expectedBytes: Buffer;
  try {
    expectedBytes = bytesOf(expected, 20, "signer");
  } catch {
    return false;
  }
  return address.equals(expectedBytes);
}

/** The checksummed address that signed `state`, or `null` if the signature is invalid (OpenZeppelin semantics). */
export function recoverStateSigner(
  state: ChannelState,
  sig: CompactSignature,
  chainId: bigint,
  adjudicator: string,
): string | null {
  const address = recoverDigest(typedDigest(chainId, adjudicator, stateStructHashBytes(state)), sig);
  return address === null ? null : getAddress(hexOf(address));
}

/** Whether `sig` is a valid signature of `state` by `signer`, exactly as the adjudicator checks it. */
export function verifyStateSignature(
  state: ChannelState,
  sig: CompactSignature,
  signer: string,
  chainId: bigint,
  adjudicator: string,
): boolean {
  return matches(recoverDigest(typedDigest(chainId, adjudicator, stateStructHashBytes(state)), sig), signer);
}

/** Whether `sigs[i]` is a valid signature of `state` by `participants[i]` for both `i`: what the adjudicator needs. */
export function verifyStateSignatures(
  state: ChannelState,
  sigs: readonly [CompactSignature, CompactSignature],
  participants: readonly [string, string],
  chainId: bigint,
  adjudicator: string,
): boolean {
  const digest = typedDigest(chainId, adjudicator, stateStructHashBytes(state));
  return (
    matches(recoverDigest(digest, sigs[0]), participants[0]) && matches(recoverDigest(digest, sigs[1]), participants[1])
  );
}

/** The checksummed address that signed `withdrawal`, or `null` if the signature is invalid. */
export function recoverWithdrawalSigner(
  withdrawal: Withdrawal,
  sig: CompactSignature,
  chainId: bigint,
  adjudicator: string,
): string | null {
  const address = recoverDigest(typedDigest(chainId, adjudicator, withdrawalStructHashBytes(withdrawal)), sig);
  return address === null ? null : getAddress(hexOf(address));
}

/** Whether `sig` is a valid signature of `withdrawal` by `signer`. */
export function verifyWithdrawalSignature(
  withdrawal: Withdrawal,
  sig: CompactSignature,
  signer: string,
  chainId: bigint,
  adjudicator: string,
): boolean {
  return matches(recoverDigest(typedDigest(chainId, adjudicator, withdrawalStructHashBytes(withdrawal)), sig), signer);
}

/** Whether `sig` is a valid signature of `top` by `signer`. */
export function verifyTopUpSignature(
  top: TopUp,
  sig: CompactSignature,
  signer: string,
  chainId: bigint,
  adjudicator: string,
): boolean {
  return matches(recoverDigest(typedDigest(chainId, adjudicator, topUpStructHashBytes(top)), sig), signer);
}

/** Whether `sig` is a valid signature of `funding` by `signer`. */
export function verifyFundingSignature(
  funding: Funding,
  sig: CompactSignature,
  signer: string,
  chainId: bigint,
  adjudicator: string,
): boolean {
  return matches(recoverDigest(typedDigest(chainId, adjudicator, fundingStructHashBytes(funding)), sig), signer);
}

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

// ---------------------------------------------------------------------------
// Locks (CHANNELS.md §5)

/** `keccak256(secret)` of a 32-byte secret. */
export function hashlockOf(secret: string): string {
  return hexOf(keccak(bytesOf(secret, 32, "secret")));
}

function lockLeafBytes(lock: Lock): Buffer {
  const out = Buffer.alloc(5 * 32);
  putUint(out, 0, BigInt(lock.sender), U8_MAX, "sender");
  putUint(out, 32, BigInt(lock.receiver), U8_MAX, "receiver");
  putUint(out, 64, lock.amount, U256_MAX, "amount");
  putBytes32(out, 96, lock.hashlock, "hashlock");
  putUint(out, 128, lock.expiry, U64_MAX, "expiry");
  return keccak(out);
}

/** A lock's leaf: `keccak256(abi.encode(sender, receiver, amount, hashlock, expiry))`. */
export function lockLeaf(lock: Lock): string {
  return hexOf(lockLeafBytes(lock));
}

/** The sum of the locks' amounts: a state's `lockedTotal`. */
export function lockedTotalOf(locks: readonly Lock[]): bigint {
  let total = 0n;
  for (const lock of locks) total += lock.amount;
  return total;
}

const ZERO_NODE = Buffer.alloc(32);

function hashPair(left: Buffer, right: Buffer): Buffer {
  return keccak(Buffer.concat([left, right], 64));
}

/** Every level of the tree over `leaves`, from the padded leaves (level 0) to the root. */
function treeLevels(leaves: Buffer[]): Buffer[][] {
  let width = 1;
  while (width < leaves.length) width *= 2;
  let level = leaves.slice();
  while (level.length < width) level.push(ZERO_NODE);
  const levels = [level];
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(hashPair(level[i], level[i + 1]));
    levels.push(next);
    level = next;
  }
  return levels;
}

/** The root of the positional Merkle tree of `locks` (`ZERO_BYTES32` for none, the leaf itself for one). */
export function locksRoot(locks: readonly Lock[]): string {
  if (locks.length === 0) return ZERO_BYTES32;
  const levels = treeLevels(locks.map(lockLeafBytes));
  return hexOf(levels[levels.length - 1][0]);
}

/** The Merkle path of `locks[index]`, bottom-up, for `unlock`. */
export function lockProof(locks: readonly Lock[], index: number): string[] {
  if (!Number.isInteger(index) || index < 0 || index >= locks.length) {
    throw new BilayerError("INVALID_CHANNEL_DATA", `lock index ${index} out of range 0..${locks.length - 1}`, {
      context: { index, count: locks.length },
    });
  }
  const levels = treeLevels(locks.map(lockLeafBytes));
  const proof: string[] = [];
  for (let h = 0; h < levels.length - 1; h++) proof.push(hexOf(levels[h][(index >> h) ^ 1]));
  return proof;
}

/** The root reached from `lock` at `index` along `proof` (`LockTree.rootFromProof`); `ZERO_BYTES32` if `index` does not fit. */
export function lockRootFromProof(lock: Lock, index: bigint, proof: readonly string[]): string {
  if (index < 0n || index >> BigInt(proof.length) !== 0n) return ZERO_BYTES32;
  let node = lockLeafBytes(lock);
  for (let h = 0; h < proof.length; h++) {
    const sibling = bytesOf(proof[h], 32, `proof[${h}]`);
    node = (index >> BigInt(h)) & 1n ? hashPair(sibling, node) : hashPair(node, sibling);
  }
  return hexOf(node);
}

/** Whether `state` commits to exactly `locks`: its root and locked total match them. */
export function stateCommitsToLocks(state: ChannelState, locks: readonly Lock[]): boolean {
  return state.locksRoot.toLowerCase() === locksRoot(locks) && state.lockedTotal === lockedTotalOf(locks);
}
