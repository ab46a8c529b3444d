import { MAX_ACCOUNT_COUNT, MAX_UINT256, MAX_UINT32, MAX_WITHDRAWAL_COUNT } from "./constants";
import { BilayerError, type BilayerErrorCode } from "./errors";
import { fromHex, keccak256, normalizeAddress, toHex, writeAddressWord, writeUint256, writeUint32Word } from "./hash";
import { SparseMerkleTree, ZERO_HASHES } from "./tree";

/*
 * The L2 state (PROTOCOL.md §1): the account tree, the withdrawal tree and
 * their counts, with the account and withdrawal records behind the leaves.
 * Account leaves are hashed lazily: a write only records the account, and
 * the leaf and the dirty paths are hashed once, when a root or a proof is
 * next needed.
 */

/** An account. `owner` is a lowercase `0x` address; `tokenId` and `nonce` are u32 values. */
export interface Account {
  owner: string;
  tokenId: number;
  balance: bigint;
  nonce: number;
  /**
   * The BLS public key the account registered (PROTOCOL.md §3.2), uncompressed
   * `x ‖ y` (96 bytes, lowercase `0x` hex); absent until it registers one.
   * The leaf commits to its keccak.
   */
  blsKey?: string;
}

/** `account` with a new balance and nonce, its owner, token and BLS key kept (the STF's writes). */
export function withFunds(account: Readonly<Account>, balance: bigint, nonce: number): Account {
  const next: Account = { owner: account.owner, tokenId: account.tokenId, balance, nonce };
  if (account.blsKey !== undefined) next.blsKey = account.blsKey;
  return next;
}

/** The keccak of an account's BLS key as its leaf commits to it, or undefined for an account without one. */
export function blsKeyHashOf(account: Readonly<Account>): Uint8Array | undefined {
  return account.blsKey === undefined ? undefined : keccak256(fromHex(account.blsKey, 96));
}

/** The four values a state root commits to. Hex values are `0x`-prefixed lowercase. */
export interface StateHeader {
  accountsRoot: string;
  accountCount: number;
  withdrawalsRoot: string;
  withdrawalCount: bigint;
}

/** A withdrawal, paid on L1 to `recipient` once its state root is final. */
export interface Withdrawal {
  recipient: string;
  tokenId: number;
  amount: bigint;
}

const leafScratch = new Uint8Array(160);
const leafView = new DataView(leafScratch.buffer);

/**
 * `keccak(abi.encode(address owner, uint256 tokenId, uint256 balance, uint256 nonce))`, and for an account with a
 * BLS key `keccak(abi.encode(owner, tokenId, balance, nonce, bytes32 keccak(blsKey)))` (§1.1).
 */
export function accountLeaf(account: Account): Uint8Array {
  return accountLeafOf(account, blsKeyHashOf(account));
}

/** The leaf of an account's fields with the hash of its BLS key given (undefined or all zero: no key). */
export function accountLeafOf(account: Omit<Account, "blsKey">, keyHash: Uint8Array | undefined): Uint8Array {
  writeAddressWord(leafScratch, 0, account.owner);
  writeUint32Word(leafScratch, leafView, 32, account.tokenId);
  writeUint256(leafView, 64, account.balance);
  writeUint32Word(leafScratch, leafView, 96, account.nonce);
  if (keyHash === undefined || keyHash.every((b) => b === 0)) return keccak256(leafScratch.subarray(0, 128));
  leafScratch.set(keyHash, 128);
  return keccak256(leafScratch);
}

/** `keccak(abi.encode(address recipient, uint256 tokenId, uint256 amount))`. */
export function withdrawalLeaf(withdrawal: Withdrawal): Uint8Array {
  const bytes = new Uint8Array(96);
  const view = new DataView(bytes.buffer);
  writeAddressWord(bytes, 0, withdrawal.recipient);
  writeUint32Word(bytes, view, 32, withdrawal.tokenId);
  writeUint256(view, 64, withdrawal.amount);
  return keccak256(bytes);
}

/** `keccak(abi.encode(accountsRoot, uint256(accountCount), withdrawalsRoot, uint256(withdrawalCount)))`. */
export function stateRootOf(header: StateHeader): string {
  if (!isU32(header.accountCount) || typeof header.withdrawalCount !== "bigint" || header.withdrawalCount < 0n) {
    throw invalid("INVALID_HEADER", "accountCount must be a u32 and withdrawalCount a non-negative bigint", {
      accountCount: header.accountCount,
      withdrawalCount: String(header.withdrawalCount),
    });
  }
  const bytes = new Uint8Array(128);
  const view = new DataView(bytes.buffer);
  bytes.set(checkedRoot(header.accountsRoot, "accountsRoot"), 0);
  writeUint256(view, 32, BigInt(header.accountCount));
  bytes.set(checkedRoot(header.withdrawalsRoot, "withdrawalsRoot"), 64);
  writeUint256(view, 96, header.withdrawalCount);
  return toHex(keccak256(bytes));
}

function checkedRoot(root: string, name: string): Uint8Array {
  if (!/^0x[0-9a-fA-F]{64}$/.test(root)) {
    throw new BilayerError("INVALID_HEADER", `${name} must be a 32-byte hex string, got ${root}`, {
      context: { [name]: root },
    });
  }
  return fromHex(root, 32);
}

/** The header of the genesis state: both trees empty, both counts zero. */
export const GENESIS_HEADER: Readonly<StateHeader> = Object.freeze({
  accountsRoot: toHex(ZERO_HASHES[32]),
  accountCount: 0,
  withdrawalsRoot: toHex(ZERO_HASHES[32]),
  withdrawalCount: 0n,
});

/** The state root of the genesis state. */
export const GENESIS_STATE_ROOT: string = stateRootOf(GENESIS_HEADER);

/** The fields of an empty account slot (all zero); its leaf is `bytes32(0)`. */
export const EMPTY_ACCOUNT: Readonly<Account> = Object.freeze({
  owner: "0x" + "00".repeat(20),
  tokenId: 0,
  balance: 0n,
  nonce: 0,
});

function isU32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_UINT32;
}

function invalid(code: BilayerErrorCode, message: string, context: Record<string, unknown>): BilayerError {
  return new BilayerError(code, message, { context });
}

/** A validated copy of `account` with its owner lowercased. */
export function normalizeAccount(account: Account): Account {
  const owner = normalizeAddress(account.owner);
  if (!isU32(account.tokenId)) {
    throw invalid("INVALID_ACCOUNT", `tokenId ${account.tokenId} is not a u32`, { tokenId: account.tokenId });
  }
  if (typeof account.balance !== "bigint" || account.balance < 0n || account.balance > MAX_UINT256) {
    throw invalid("INVALID_ACCOUNT", `balance ${String(account.balance)} is not a u256`, {
      balance: String(account.balance),
    });
  }
  if (!isU32(account.nonce)) {
    throw invalid("INVALID_ACCOUNT", `nonce ${account.nonce} is not a u32`, { nonce: account.nonce });
  }
  const normalized: Account = { owner, tokenId: account.tokenId, balance: account.balance, nonce: account.nonce };
  if (account.blsKey !== undefined) {
    if (typeof account.blsKey !== "string" || !/^0x[0-9a-fA-F]{192}$/.test(account.blsKey)) {
      throw invalid("INVALID_ACCOUNT", "blsKey must be 96 bytes of hex", { blsKey: account.blsKey });
    }
    normalized.blsKey = account.blsKey.toLowerCase();
  }
  return normalized;
}

/** A validated copy of `withdrawal` with its recipient lowercased. */
export function normalizeWithdrawal(withdrawal: Withdrawal): Withdrawal {
  const recipient = normalizeAddress(withdrawal.recipient);
  if (!isU32(withdrawal.tokenId)) {
    throw invalid("INVALID_WITHDRAWAL", `tokenId ${withdrawal.tokenId} is not a u32`, {
      tokenId: withdrawal.tokenId,
    });
  }
  if (typeof withdrawal.amount !== "bigint" || withdrawal.amount < 0n || withdrawal.amount > MAX_UINT256) {
    throw invalid("INVALID_WITHDRAWAL", `amount ${String(withdrawal.amount)} is not a u256`, {
      amount: String(withdrawal.amount),
    });
  }
  return { recipient, tokenId: withdrawal.tokenId, amount: withdrawal.amount };
}

/** Description of an arbitrary (possibly sparse) state, for tests and test vectors. */
export interface SparseStateSpec {
  /** Accounts have indices `1..accountCount`; slots without an entry in `accounts` are empty. */
  accountCount: number;
  accounts?: Iterable<readonly [number, Account]>;
  withdrawalCount?: bigint;
  /** Withdrawals by index (`< withdrawalCount`); other slots are empty. */
  withdrawals?: Iterable<readonly [number, Withdrawal]>;
}

/**
 * A mutable L2 state; `new L2State()` is the genesis state. The STF mutates
 * it in place; `clone()` keeps a copy.
 *
 * States reached from genesis have every slot `1..accountCount` filled.
 * `fromSparse` can build states that are not (to reach the tree limits in
 * tests); the STF reads an empty slot inside that range as the all-zero
 * account, and the on-chain verifier cannot prove such a read.
 */
export class L2State {
  private accounts = new Map<number, Account>();
  private accountTree = new SparseMerkleTree();
  /** Accounts written since their leaves were last hashed into `accountTree`. */
  private dirtyAccounts = new Set<number>();
  private withdrawals = new Map<number, Withdrawal>();
  private withdrawalTree = new SparseMerkleTree();
  private _accountCount = 0;
  private _withdrawalCount = 0n;

  /** A state whose accounts are `accounts[0]` at index 1, `accounts[1]` at index 2, ... */
  static fromAccounts(accounts: readonly Account[], withdrawals: readonly Withdrawal[] = []): L2State {
    const state = new L2State();
    for (const account of accounts) state.createAccount(account);
    for (const withdrawal of withdrawals) state.appendWithdrawal(withdrawal);
    return state;
  }

  /** An arbitrary state, e.g. one with `accountCount` near 2^32 − 1 and only a few accounts present. */
  static fromSparse(spec: SparseStateSpec): L2State {
    const state = new L2State();
    const withdrawalCount = spec.withdrawalCount ?? 0n;
    if (!isU32(spec.accountCount) || spec.accountCount > MAX_ACCOUNT_COUNT) {
      throw invalid("INVALID_STATE", `accountCount ${spec.accountCount} is not in 0..2^32-1`, {
        accountCount: spec.accountCount,
      });
    }
    if (typeof withdrawalCount !== "bigint" || withdrawalCount < 0n || withdrawalCount > MAX_WITHDRAWAL_COUNT) {
      throw invalid("INVALID_STATE", `withdrawalCount ${String(withdrawalCount)} is not in 0..2^32`, {
        withdrawalCount: String(withdrawalCount),
      });
    }
    state._accountCount = spec.accountCount;
    state._withdrawalCount = withdrawalCount;
    for (const [index, account] of spec.accounts ?? []) state.putAccount(index, account);
    for (const [index, withdrawal] of spec.withdrawals ?? []) {
      if (!Number.isInteger(index) || index < 0 || BigInt(index) >= withdrawalCount) {
        throw invalid("INVALID_STATE", `withdrawal index ${index} is not below withdrawalCount ${withdrawalCount}`, {
          index,
          withdrawalCount: withdrawalCount.toString(),
        });
      }
      state.setWithdrawal(index, normalizeWithdrawal(withdrawal));
    }
    return state;
  }

  /** Number of accounts; they have indices `1..accountCount`. */
  get accountCount(): number {
    return this._accountCount;
  }

  /** Number of withdrawals; they have indices `0..withdrawalCount − 1`. */
  get withdrawalCount(): bigint {
    return this._withdrawalCount;
  }

  /** Account `index`, or `undefined` for an empty slot. The record must not be mutated. */
  getAccount(index: number): Readonly<Account> | undefined {
    return this.accounts.get(index);
  }

  /** Withdrawal `index`, or `undefined`. The record must not be mutated. */
  withdrawal(index: number | bigint): Readonly<Withdrawal> | undefined {
    return this.withdrawals.get(Number(index));
  }

  /** Root of the account tree. */
  accountsRoot(): Uint8Array {
    this.flushAccounts();
    return this.accountTree.root();
  }

  /** Root of the withdrawal tree. */
  withdrawalsRoot(): Uint8Array {
    return this.withdrawalTree.root();
  }

  /** The four committed values. */
  header(): StateHeader {
    return {
      accountsRoot: toHex(this.accountsRoot()),
      accountCount: this._accountCount,
      withdrawalsRoot: toHex(this.withdrawalsRoot()),
      withdrawalCount: this._withdrawalCount,
    };
  }

  /** The state root (`stateRootOf(header())`). */
  stateRoot(): string {
    return stateRootOf(this.header());
  }

  /** Path of account slot `index` (filled or empty) in the current account tree. */
  accountProof(index: number): Uint8Array[] {
    this.flushAccounts();
    return this.accountTree.proof(index);
  }

  /** Path of withdrawal slot `index` (filled or empty) in the current withdrawal tree. */
  withdrawalProof(index: number | bigint): Uint8Array[] {
    return this.withdrawalTree.proof(Number(index));
  }

  /** An independent copy. */
  clone(): L2State {
    const copy = new L2State();
    copy.accounts = new Map(this.accounts);
    copy.accountTree = this.accountTree.clone();
    copy.dirtyAccounts = new Set(this.dirtyAccounts);
    copy.withdrawals = new Map(this.withdrawals);
    copy.withdrawalTree = this.withdrawalTree.clone();
    copy._accountCount = this._accountCount;
    copy._withdrawalCount = this._withdrawalCount;
    return copy;
  }

  /** Writes account `index` (which must be in `1..accountCount`). */
  putAccount(index: number, account: Account): void {
    if (!Number.isInteger(index) || index < 1 || index > this._accountCount) {
      throw invalid("INVALID_ACCOUNT_INDEX", `account index ${index} is not in 1..${this._accountCount}`, {
        index,
        accountCount: this._accountCount,
      });
    }
    this.writeAccount(index, normalizeAccount(account));
  }

  /** Creates account `accountCount + 1` and returns its index. */
  createAccount(account: Account): number {
    if (this._accountCount >= MAX_ACCOUNT_COUNT) {
      throw invalid("ACCOUNT_TREE_FULL", "the account tree is full (2^32 - 1 accounts)", {});
    }
    const normalized = normalizeAccount(account);
    return this.pushAccount(normalized);
  }

  /** Appends withdrawal `withdrawalCount` and returns its index. */
  appendWithdrawal(withdrawal: Withdrawal): number {
    if (this._withdrawalCount >= MAX_WITHDRAWAL_COUNT) {
      throw invalid("WITHDRAWAL_TREE_FULL", "the withdrawal tree is full (2^32 withdrawals)", {});
    }
    return this.pushWithdrawal(normalizeWithdrawal(withdrawal));
  }

  /**
   * @internal STF fast path: writes an already-valid account record (the
   * caller guarantees the index range and field types; the record is kept,
   * not copied).
   */
  writeAccount(index: number, account: Account): void {
    this.accounts.set(index, account);
    this.dirtyAccounts.add(index);
  }

  /** @internal STF undo: puts back what `getAccount(index)` returned before a write (`undefined`: an empty slot). */
  restoreAccount(index: number, account: Account | undefined): void {
    if (account === undefined) this.accounts.delete(index);
    else this.accounts.set(index, account);
    this.dirtyAccounts.add(index);
  }

  /**
   * @internal Undo of a replay: drops the accounts after `accountCount` and
   * the withdrawals after `withdrawalCount`, their slots empty again.
   */
  truncate(accountCount: number, withdrawalCount: bigint): void {
    for (let i = accountCount + 1; i <= this._accountCount; i++) {
      this.accounts.delete(i);
      this.dirtyAccounts.add(i);
    }
    this._accountCount = Math.min(this._accountCount, accountCount);
    for (let w = Number(withdrawalCount); w < Number(this._withdrawalCount); w++) {
      this.withdrawals.delete(w);
      this.withdrawalTree.setLeafUnchecked(w, ZERO_HASHES[0]);
    }
    if (withdrawalCount < this._withdrawalCount) this._withdrawalCount = withdrawalCount;
  }

  /** @internal STF fast path: creates account `accountCount + 1` from a valid record. */
  pushAccount(account: Account): number {
    const index = this._accountCount + 1;
    this._accountCount = index;
    this.writeAccount(index, account);
    return index;
  }

  /** @internal STF fast path: appends a valid withdrawal record. */
  pushWithdrawal(withdrawal: Withdrawal): number {
    const index = Number(this._withdrawalCount);
    this._withdrawalCount += 1n;
    this.setWithdrawal(index, withdrawal);
    return index;
  }

  private setWithdrawal(index: number, withdrawal: Withdrawal): void {
    this.withdrawals.set(index, withdrawal);
    this.withdrawalTree.setLeafUnchecked(index, withdrawalLeaf(withdrawal));
  }

  private flushAccounts(): void {
    if (this.dirtyAccounts.size === 0) return;
    for (const index of this.dirtyAccounts) {
      const account = this.accounts.get(index);
      this.accountTree.setLeafUnchecked(index, account === undefined ? ZERO_HASHES[0] : accountLeaf(account));
    }
    this.dirtyAccounts.clear();
  }
}
