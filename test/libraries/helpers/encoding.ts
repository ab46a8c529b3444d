// The hashes and encodings of PROTOCOL §1–§4, written with ethers only, for checking the Solidity libraries.
import { AbiCoder, keccak256, Signature, solidityPacked, type TypedDataDomain, type Wallet } from "ethers";

const abi = AbiCoder.defaultAbiCoder();

export interface Account {
  owner: string;
  tokenId: bigint;
  balance: bigint;
  nonce: bigint;
  /** keccak of the account's BLS key, or the zero hash for none (§1.1). */
  blsKeyHash: string;
}

export interface StateHeader {
  accountsRoot: string;
  accountCount: bigint;
  withdrawalsRoot: string;
  withdrawalCount: bigint;
}

export interface QueueItem {
  kind: number;
  addr: string;
  tokenId: bigint;
  amount: bigint;
  account: bigint;
  timestamp: bigint;
}

export interface AccountWitness {
  account: Account;
  siblings: string[];
}

export interface StepWitness {
  accounts: AccountWitness[];
  withdrawals: string[][];
  blsKeys: string;
  blsSignature: string;
}

export const ZERO_HASH = "0x" + "00".repeat(32);

export const EMPTY_ACCOUNT: Account = {
  owner: "0x" + "00".repeat(20),
  tokenId: 0n,
  balance: 0n,
  nonce: 0n,
  blsKeyHash: ZERO_HASH,
};

/** An account without a BLS key. */
export const account = (owner: string, tokenId: bigint, balance: bigint, nonce: bigint): Account => ({
  owner,
  tokenId,
  balance,
  nonce,
  blsKeyHash: ZERO_HASH,
});

/** An empty witness. */
export const emptyWitness = (): StepWitness => ({ accounts: [], withdrawals: [], blsKeys: "0x", blsSignature: "0x" });

export function accountLeaf(a: Account): string {
  if (BigInt(a.blsKeyHash) === 0n) {
    return keccak256(
      abi.encode(["address", "uint256", "uint256", "uint256"], [a.owner, a.tokenId, a.balance, a.nonce]),
    );
  }
  return keccak256(
    abi.encode(
      ["address", "uint256", "uint256", "uint256", "bytes32"],
      [a.owner, a.tokenId, a.balance, a.nonce, a.blsKeyHash],
    ),
  );
}

export function withdrawalLeaf(recipient: string, tokenId: bigint, amount: bigint): string {
  return keccak256(abi.encode(["address", "uint256", "uint256"], [recipient, tokenId, amount]));
}

export function stateRoot(h: StateHeader): string {
  return keccak256(
    abi.encode(
      ["bytes32", "uint256", "bytes32", "uint256"],
      [h.accountsRoot, h.accountCount, h.withdrawalsRoot, h.withdrawalCount],
    ),
  );
}

export function queueItemHash(item: QueueItem): string {
  return keccak256(
    abi.encode(
      ["uint8", "address", "uint32", "uint256", "uint32", "uint64"],
      [item.kind, item.addr, item.tokenId, item.amount, item.account, item.timestamp],
    ),
  );
}

export function queueChain(acc: string, itemHash: string): string {
  return keccak256(abi.encode(["bytes32", "bytes32"], [acc, itemHash]));
}

export const AMOUNT_MANTISSA_BITS = 35;
export const FEE_MANTISSA_BITS = 11;

/** The canonical packing of §2: the smallest exponent that represents `value` exactly. */
export function pack(value: bigint, mantissaBits: number): bigint {
  for (let e = 0n; e < 32n; e++) {
    const scale = 10n ** e;
    if (value % scale !== 0n) break;
    const mantissa = value / scale;
    if (mantissa < 1n << BigInt(mantissaBits)) return (mantissa << 5n) | e;
  }
  throw new Error(`${value} is not packable in ${mantissaBits} mantissa bits`);
}

export function unpack(packed: bigint): bigint {
  return (packed >> 5n) * 10n ** (packed & 31n);
}

export const TRANSFER_TYPES = {
  Transfer: [
    { name: "from", type: "uint32" },
    { name: "to", type: "uint32" },
    { name: "tokenId", type: "uint32" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint32" },
  ],
};
export const WITHDRAW_TYPES = {
  Withdraw: [
    { name: "from", type: "uint32" },
    { name: "tokenId", type: "uint32" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint32" },
  ],
};
export const TRANSFER_TO_NEW_TYPES = {
  TransferToNew: [
    { name: "from", type: "uint32" },
    { name: "to", type: "address" },
    { name: "tokenId", type: "uint32" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint32" },
  ],
};

export function bilayerDomain(chainId: bigint, verifyingContract: string): TypedDataDomain {
  return { name: "bilayer", version: "1", chainId, verifyingContract };
}

/** `r ‖ vs` of an ethers signature (EIP-2098). */
export function compact(signature: string): string {
  const sig = Signature.from(signature);
  return solidityPacked(["bytes32", "bytes32"], [sig.r, sig.yParityAndS]);
}

/** A transaction to encode: amounts as packed values (so non-canonical encodings can be built), sig as r ‖ vs. */
export type RawTx =
  | { type: "transfer"; from: bigint; to: bigint; amount: bigint; fee: bigint; sig: string }
  | { type: "withdraw"; from: bigint; amount: bigint; fee: bigint; sig: string }
  | { type: "transferToNew"; from: bigint; to: string; amount: bigint; fee: bigint; sig: string };

export function encodeTx(t: RawTx): string {
  switch (t.type) {
    case "transfer":
      return solidityPacked(
        ["uint8", "uint32", "uint32", "uint40", "uint16", "bytes"],
        [1, t.from, t.to, t.amount, t.fee, t.sig],
      );
    case "withdraw":
      return solidityPacked(["uint8", "uint32", "uint40", "uint16", "bytes"], [2, t.from, t.amount, t.fee, t.sig]);
    case "transferToNew":
      return solidityPacked(
        ["uint8", "uint32", "address", "uint40", "uint16", "bytes"],
        [3, t.from, t.to, t.amount, t.fee, t.sig],
      );
  }
}

/** What a sender signs: the decoded amount and fee, its own token and nonce. */
export interface SignedFields {
  from: bigint;
  tokenId: bigint;
  nonce: bigint;
  amount: bigint;
  fee: bigint;
}

export async function signTransfer(
  wallet: Wallet,
  domain: TypedDataDomain,
  f: SignedFields & { to: bigint },
): Promise<string> {
  const { from, to, tokenId, amount, fee, nonce } = f;
  return compact(await wallet.signTypedData(domain, TRANSFER_TYPES, { from, to, tokenId, amount, fee, nonce }));
}

export async function signWithdraw(wallet: Wallet, domain: TypedDataDomain, f: SignedFields): Promise<string> {
  const { from, tokenId, amount, fee, nonce } = f;
  return compact(await wallet.signTypedData(domain, WITHDRAW_TYPES, { from, tokenId, amount, fee, nonce }));
}

export async function signTransferToNew(
  wallet: Wallet,
  domain: TypedDataDomain,
  f: SignedFields & { toAddress: string },
): Promise<string> {
  const { from, tokenId, amount, fee, nonce } = f;
  return compact(
    await wallet.signTypedData(domain, TRANSFER_TO_NEW_TYPES, { from, to: f.toAddress, tokenId, amount, fee, nonce }),
  );
}
