/**
 * The JSON shapes of what a user asks about — an account, the withdrawals of
 * an address, a withdrawal's proof — as both the operator and the verifier
 * serve them (`l2_getAccount`, `l2_getWithdrawals`, `l2_getWithdrawalProof`),
 * so that a client (the user CLI, a wallet, the escape command) can ask
 * either. One JSON type per kind of value (docs/OPERATOR.md, "JSON types"):
 * addresses EIP-55 checksummed; u64 and u256 values (amounts, balances,
 * withdrawal counts, queue positions) decimal strings; u32 values (account
 * indices, token ids, nonces) and positions (batch, step) numbers; hashes
 * and roots lowercase hex.
 */
import { getAddress } from "ethers";
import type { Account, Withdrawal } from "../../protocol/state";
import type { HeaderJson } from "../records";

/** `l2_getAccount` of an index. */
export interface AccountJsonView {
  index: number;
  owner: string;
  tokenId: number;
  balance: string;
  /** The nonce the account's next transaction is signed over (its pending transactions counted). */
  nonce: number;
  /** Nonces of transactions signed ahead, waiting for the gap before them to fill. */
  waitingNonces: number[];
  /** The BLS key the account registered (x ‖ y, 96 bytes hex), if it did (PROTOCOL.md §3.2). */
  blsKey?: string;
}

/** Where a withdrawal stands: in the open batch, in a closed one, proposed, final (claimable), claimed on L1. */
export type WithdrawalStatus = "pending" | "batched" | "proposed" | "final" | "claimed";

/** One withdrawal of `l2_getWithdrawals`. */
export interface WithdrawalJsonView {
  withdrawalIndex: number;
  tokenId: number;
  amount: string;
  /** The first closed batch holding it; null while it is in the open batch. */
  batchIndex: number | null;
  status: WithdrawalStatus;
}

/** `l2_getWithdrawalProof`: the arguments of `Bridge.claimWithdrawal`. */
export interface WithdrawalProofJsonView {
  withdrawalIndex: number;
  recipient: string;
  tokenId: number;
  amount: string;
  batchIndex: number;
  header: HeaderJson;
  stateRoot: string;
  siblings: string[];
  /** Whether `batchIndex` is final, so the claim can be sent now. */
  final: boolean;
}

export function accountView(index: number, a: Readonly<Account>, waitingNonces: number[] = []): AccountJsonView {
  return {
    index,
    owner: getAddress(a.owner),
    tokenId: a.tokenId,
    balance: a.balance.toString(),
    nonce: a.nonce,
    waitingNonces,
    ...(a.blsKey === undefined ? {} : { blsKey: a.blsKey }),
  };
}

export function withdrawalView(
  withdrawalIndex: number,
  w: Readonly<Pick<Withdrawal, "tokenId" | "amount">>,
  batchIndex: number | undefined,
  status: WithdrawalStatus,
): WithdrawalJsonView {
  return { withdrawalIndex, tokenId: w.tokenId, amount: w.amount.toString(), batchIndex: batchIndex ?? null, status };
}

export function withdrawalProofView(
  withdrawalIndex: number,
  w: Readonly<Withdrawal>,
  proof: { batchIndex: number; header: HeaderJson; stateRoot: string; siblings: string[]; final: boolean },
): WithdrawalProofJsonView {
  return {
    withdrawalIndex,
    recipient: getAddress(w.recipient),
    tokenId: w.tokenId,
    amount: w.amount.toString(),
    ...proof,
  };
}

/** The status of a withdrawal from the batch holding it and the heads (`claimed` as the bridge says). */
export function withdrawalStatus(
  batchIndex: number | undefined,
  heads: { proposed: number; final: number },
  claimed: boolean,
): WithdrawalStatus {
  if (claimed) return "claimed";
  if (batchIndex === undefined) return "pending";
  return batchIndex < heads.final ? "final" : batchIndex < heads.proposed ? "proposed" : "batched";
}
