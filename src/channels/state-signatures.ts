import secp256k1 from "secp256k1";
import { getAddress, Signature } from "ethers";
import type { Signer } from "ethers";
import { BilayerError } from "../protocol/errors";
import { isHexOfLength } from "../protocol/hash";
import { recoverCompactBytes } from "../protocol/signature";
import { bytesOf, hexOf } from "./state-bytes";
import { channelDomain, CHANNEL_TYPES, FUNDING_TYPES, TOP_UP_TYPES, WITHDRAWAL_TYPES } from "./state-eip712";
import {
  fundingStructHashBytes,
  stateStructHashBytes,
  topUpStructHashBytes,
  typedDigest,
  withdrawalStructHashBytes,
} from "./state-hash";
import type { ChannelState, CompactSignature, Funding, TopUp, Withdrawal } from "./state";

/*
 * Signing and checking the adjudicator's messages. `signState` (and the
 * others without `WithKey`) go through an ethers `Signer` (wallets,
 * hardware, JSON-RPC accounts); `signStateWithKey` signs a raw key natively,
 * 10× faster. Recovery runs on the native `secp256k1` binding with exactly
 * the adjudicator's (OpenZeppelin's) rules, so a signature verifies here if
 * and only if it verifies on chain.
 */

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

const sigScratch = Buffer.alloc(64);

/**
 * The 20-byte signer of `digest`, or `null` exactly where OpenZeppelin's
 * `ECDSA.tryRecover(digest, r, vs)` reports an error (src/protocol/signature.ts):
 * `r` or `vs` not 32 bytes of hex, `r` or `s` zero or not below n, `s` above
 * n/2, or no point to recover.
 */
function recoverDigest(digest: Uint8Array, sig: CompactSignature): Uint8Array | null {
  if (!isHexOfLength(sig.r, 32) || !isHexOfLength(sig.vs, 32)) return null;
  sigScratch.write(sig.r.slice(2), 0, 32, "hex");
  sigScratch.write(sig.vs.slice(2), 32, 32, "hex");
  return recoverCompactBytes(digest, sigScratch);
}

function matches(address: Uint8Array | null, expected: string): boolean {
  if (address === null) return false;
  let expectedBytes: Buffer;
  try {
    expectedBytes = bytesOf(expected, 20, "signer");
  } catch {
    return false;
  }
  return expectedBytes.equals(address);
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
