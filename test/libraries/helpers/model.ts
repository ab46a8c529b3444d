import { ZERO_HASH, emptyWitness } from "./encoding";
// A plain reference of the step rules of PROTOCOL §5 that records the witness of §6 as it goes. It is the tests'
// own yardstick for the Solidity executor (independent of src/protocol) and builds the gas-test witnesses.
import { concat, getBytes, hexlify, keccak256, recoverAddress, toBigInt, TypedDataEncoder, ZeroAddress } from "ethers";
import {
  type Account,
  accountLeaf,
  EMPTY_ACCOUNT,
  type QueueItem,
  type StateHeader,
  type StepWitness,
  TRANSFER_TO_NEW_TYPES,
  TRANSFER_TYPES,
  unpack,
  WITHDRAW_TYPES,
  withdrawalLeaf,
} from "./encoding";
import { SparseTree } from "./tree";

export const O = {
  Applied: 0,
  UnknownType: 1,
  Truncated: 2,
  SenderMissing: 3,
  RecipientMissing: 4,
  InvalidRecipient: 5,
  AccountLimit: 6,
  TokenMismatch: 7,
  FeeRecipientMismatch: 8,
  InsufficientBalance: 9,
  NonceExhausted: 10,
  WithdrawalLimit: 11,
  BadSignature: 12,
  Trailing: 13,
  Credited: 20,
  Created: 21,
  Refunded: 22,
  Dropped: 23,
  Exited: 24,
  AccountMissing: 25,
  NotOwner: 26,
  EmptyBalance: 27,
  UnknownKind: 28,
} as const;

export const MAX_ACCOUNT_INDEX = (1n << 32n) - 1n;
export const MAX_WITHDRAWALS = 1n << 32n;
export const MAX_NONCE = (1n << 32n) - 1n;
const U256 = 1n << 256n;
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const SIZES: Record<number, number> = { 1: 80, 2: 76, 3: 96 };

export class ModelState {
  readonly accounts = new SparseTree();
  readonly data = new Map<bigint, Account>();
  accountCount = 0n;
  readonly withdrawals = new SparseTree();
  withdrawalCount = 0n;

  header(): StateHeader {
    return {
      accountsRoot: this.accounts.root(),
      accountCount: this.accountCount,
      withdrawalsRoot: this.withdrawals.root(),
      withdrawalCount: this.withdrawalCount,
    };
  }

  /** Appends an account as the next index (building a pre-state directly). */
  addAccount(account: Account): bigint {
    this.accountCount += 1n;
    this.put(this.accountCount, account);
    return this.accountCount;
  }

  /** Writes an account at any index without touching the count (for adversarial or sparse pre-states). */
  put(index: bigint, account: Account): void {
    this.data.set(index, { ...account });
    this.accounts.set(index, accountLeaf(account));
  }

  /** Appends a withdrawal leaf directly (building a pre-state). */
  addWithdrawal(recipient: string, tokenId: bigint, amount: bigint): void {
    this.withdrawals.set(this.withdrawalCount, withdrawalLeaf(recipient, tokenId, amount));
    this.withdrawalCount += 1n;
  }

  clone(): ModelState {
    const copy = new ModelState();
    Object.assign(copy, { accounts: this.accounts.clone(), withdrawals: this.withdrawals.clone() });
    this.data.forEach((a, i) => copy.data.set(i, { ...a }));
    copy.accountCount = this.accountCount;
    copy.withdrawalCount = this.withdrawalCount;
    return copy;
  }
}

export interface StepResult {
  witness: StepWitness;
  outcomes: number[];
}

class Recorder {
  readonly witness: StepWitness = emptyWitness();
  constructor(readonly s: ModelState) {}

  read(index: bigint): Account {
    const account = this.s.data.get(index);
    if (account === undefined) throw new Error(`model: no account ${index}`);
    this.witness.accounts.push({ account: { ...account }, siblings: this.s.accounts.path(index) });
    return { ...account };
  }

  readEmpty(index: bigint): void {
    this.witness.accounts.push({ account: { ...EMPTY_ACCOUNT }, siblings: this.s.accounts.path(index) });
  }

  write(index: bigint, account: Account): void {
    this.s.put(index, account);
  }

  appendWithdrawal(recipient: string, tokenId: bigint, amount: bigint): void {
    this.witness.withdrawals.push(this.s.withdrawals.path(this.s.withdrawalCount));
    this.s.addWithdrawal(recipient, tokenId, amount);
  }
}

/** Whether `r ‖ vs` is valid for `owner` exactly as OpenZeppelin's ECDSA.tryRecover(digest, r, vs) (§3.1). */
export function signatureValid(digest: string, sig: Uint8Array, owner: string): boolean {
  const r = hexlify(sig.subarray(0, 32));
  const vs = toBigInt(sig.subarray(32, 64));
  const s = vs & ((1n << 255n) - 1n);
  if (s > HALF_N) return false;
  try {
    const signer = recoverAddress(digest, {
      r,
      s: "0x" + s.toString(16).padStart(64, "0"),
      v: 27 + Number(vs >> 255n),
    });
    return signer !== ZeroAddress && signer.toLowerCase() === owner.toLowerCase();
  } catch {
    return false;
  }
}

function digest(domainSeparator: string, structHash: string): string {
  return keccak256(concat(["0x1901", domainSeparator, structHash]));
}

function u(bytes: Uint8Array, at: number, len: number): bigint {
  return toBigInt(bytes.subarray(at, at + len));
}

/** Applies a chunk step to `s` (mutating it) and returns the witness it consumed and its outcomes. */
export function runChunk(s: ModelState, chunk: string, domainSeparator: string, feeRecipient: bigint): StepResult {
  const rec = new Recorder(s);
  const outcomes: number[] = [];
  let feeToken: bigint | undefined;
  if (feeRecipient >= 1n && feeRecipient <= s.accountCount) feeToken = rec.read(feeRecipient).tokenId;
  let totalFees = 0n;
  const bytes = getBytes(chunk);
  let off = 0;
  while (off < bytes.length) {
    if (outcomes.length === 32) {
      outcomes.push(O.Trailing);
      break;
    }
    const type = bytes[off];
    const size = SIZES[type];
    if (size === undefined) {
      outcomes.push(O.UnknownType);
      break;
    }
    if (bytes.length - off < size) {
      outcomes.push(O.Truncated);
      break;
    }
    const t = bytes.subarray(off, off + size);
    off += size;
    const count = s.accountCount;
    const from = u(t, 1, 4);
    const tail = type === 1 ? 9 : type === 2 ? 5 : 25;
    const amount = unpack(u(t, tail, 5));
    const fee = unpack(u(t, tail + 5, 2));
    const sig = t.subarray(tail + 7, tail + 71);
    const outcome = ((): number => {
      if (from < 1n || from > count) return O.SenderMissing;
      const sender = rec.read(from);
      const senderChecks = (): number | undefined => {
        if (fee > 0n && (feeToken === undefined || feeToken !== sender.tokenId)) return O.FeeRecipientMismatch;
        if (amount + fee > sender.balance) return O.InsufficientBalance;
        if (sender.nonce === MAX_NONCE) return O.NonceExhausted;
        return undefined;
      };
      const signed = (types: Record<string, { name: string; type: string }[]>, value: object): boolean =>
        signatureValid(
          digest(domainSeparator, TypedDataEncoder.hashStruct(Object.keys(types)[0], types, value)),
          sig,
          sender.owner,
        );
      const base = { from, tokenId: sender.tokenId, amount, fee, nonce: sender.nonce };
      const debit = (): void => {
        sender.balance -= amount + fee;
        sender.nonce += 1n;
        totalFees += fee;
      };
      if (type === 1) {
        const to = u(t, 5, 4);
        if (to < 1n || to > count) return O.RecipientMissing;
        const recipient = to === from ? sender : rec.read(to);
        if (recipient.tokenId !== sender.tokenId) return O.TokenMismatch;
        const failed = senderChecks();
        if (failed !== undefined) return failed;
        if (!signed(TRANSFER_TYPES, { ...base, to })) return O.BadSignature;
        debit();
        recipient.balance = (recipient.balance + amount) % U256;
        rec.write(from, sender);
        if (to !== from) rec.write(to, recipient);
        return O.Applied;
      }
      if (type === 2) {
        const failed = senderChecks();
        if (failed !== undefined) return failed;
        if (s.withdrawalCount >= MAX_WITHDRAWALS) return O.WithdrawalLimit;
        if (!signed(WITHDRAW_TYPES, base)) return O.BadSignature;
        debit();
        rec.write(from, sender);
        rec.appendWithdrawal(sender.owner, sender.tokenId, amount);
        return O.Applied;
      }
      const toAddress = hexlify(t.subarray(5, 25));
      if (toAddress === ZeroAddress) return O.InvalidRecipient;
      if (count === MAX_ACCOUNT_INDEX) return O.AccountLimit;
      const failed = senderChecks();
      if (failed !== undefined) return failed;
      if (!signed(TRANSFER_TO_NEW_TYPES, { ...base, to: toAddress })) return O.BadSignature;
      rec.readEmpty(count + 1n);
      debit();
      rec.write(from, sender);
      rec.write(count + 1n, {
        owner: toAddress,
        tokenId: sender.tokenId,
        balance: amount,
        nonce: 0n,
        blsKeyHash: ZERO_HASH,
      });
      s.accountCount = count + 1n;
      return O.Applied;
    })();
    outcomes.push(outcome);
  }
  if (totalFees > 0n) {
    const recipient = rec.read(feeRecipient);
    recipient.balance = (recipient.balance + totalFees) % U256;
    rec.write(feeRecipient, recipient);
  }
  return { witness: rec.witness, outcomes };
}

/** Applies a queue step to `s` (mutating it) and returns the witness it consumed and its outcomes. */
export function runQueue(s: ModelState, items: readonly QueueItem[]): StepResult {
  const rec = new Recorder(s);
  const outcomes = items.map((item): number => {
    if (item.kind === 0) {
      if (item.account >= 1n && item.account <= s.accountCount) {
        const account = rec.read(item.account);
        if (account.owner.toLowerCase() === item.addr.toLowerCase() && account.tokenId === item.tokenId) {
          account.balance = (account.balance + item.amount) % U256;
          rec.write(item.account, account);
          return O.Credited;
        }
      }
      if (s.accountCount < MAX_ACCOUNT_INDEX) {
        const index = s.accountCount + 1n;
        rec.readEmpty(index);
        rec.write(index, {
          owner: item.addr,
          tokenId: item.tokenId,
          balance: item.amount,
          nonce: 0n,
          blsKeyHash: ZERO_HASH,
        });
        s.accountCount = index;
        return O.Created;
      }
      if (s.withdrawalCount < MAX_WITHDRAWALS) {
        rec.appendWithdrawal(item.addr, item.tokenId, item.amount);
        return O.Refunded;
      }
      return O.Dropped;
    }
    if (item.kind === 1) {
      if (item.account < 1n || item.account > s.accountCount) return O.AccountMissing;
      const account = rec.read(item.account);
      if (account.owner.toLowerCase() !== item.addr.toLowerCase()) return O.NotOwner;
      if (account.balance === 0n) return O.EmptyBalance;
      if (s.withdrawalCount >= MAX_WITHDRAWALS) return O.WithdrawalLimit;
      const amount = account.balance;
      account.balance = 0n;
      rec.write(item.account, account);
      rec.appendWithdrawal(account.owner, account.tokenId, amount);
      return O.Exited;
    }
    return O.UnknownKind;
  });
  return { witness: rec.witness, outcomes };
}
