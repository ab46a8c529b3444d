import { MAX_ACCOUNT_COUNT, MAX_NONCE, MAX_UINT32, MAX_WITHDRAWAL_COUNT } from "../constants";
import { L2State, type Account, type Withdrawal } from "../state";
import { VECTOR_ADDRESSES } from "./testkit";

/*
 * Random choices and random states for the vector scenarios: small dense
 * states, and sparse ones with the account tree or the withdrawal tree at or
 * next to its limit.
 */

/** Source of random choices (inclusive bounds). */
export interface Chooser {
  int(min: number, max: number): number;
  bigint(min: bigint, max: bigint): bigint;
}

/** The vector keys' addresses. */
export const A = VECTOR_ADDRESSES;
export const E18 = 10n ** 18n;
export const ZERO_ADDRESS = "0x" + "00".repeat(20);

export function pick<T>(c: Chooser, items: readonly T[]): T {
  return items[c.int(0, items.length - 1)];
}

export function randomAddress(c: Chooser): string {
  let hex = "0x";
  for (let i = 0; i < 5; i++) hex += c.int(0, MAX_UINT32).toString(16).padStart(8, "0");
  return hex;
}

export function randomBytes(c: Chooser, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => c.int(0, 255));
}

/** The smallest power of ten above `value` (always packable). */
export function packableAbove(value: bigint): bigint {
  let p = 1n;
  while (p <= value) p *= 10n;
  return p;
}

// States -------------------------------------------------------------------------

export type Layout = "dense" | "nearFull" | "full";

export interface GenState {
  state: L2State;
  /** Indices that hold accounts (grows as a step creates accounts). */
  populated: number[];
}

function genAccount(c: Chooser, funded: boolean): Account {
  // Funded accounts are always owned by a vector key, so their transactions can be signed.
  const owner = funded || c.int(0, 9) < 9 ? A[c.int(0, A.length - 1)] : randomAddress(c);
  const tokenId = c.int(0, 2);
  let balance: bigint;
  switch (c.int(0, funded ? 1 : 3)) {
    case 0:
      balance = c.bigint(E18, 10n ** 24n);
      break;
    case 1:
      balance = c.bigint(10n ** 6n, E18);
      break;
    case 2:
      balance = 0n;
      break;
    default:
      balance = c.bigint(1n, 1000n);
  }
  let nonce: number;
  switch (funded ? 0 : c.int(0, 9)) {
    case 8:
      nonce = MAX_NONCE;
      break;
    case 9:
      nonce = MAX_NONCE - 1;
      break;
    default:
      nonce = c.int(0, 5);
  }
  return { owner, tokenId, balance, nonce };
}

function genWithdrawal(c: Chooser): Withdrawal {
  return { recipient: pick(c, A), tokenId: c.int(0, 2), amount: c.bigint(0n, 10n ** 24n) };
}

export function genState(c: Chooser, accounts: Layout, withdrawals: Layout, funded = false): GenState {
  const list = Array.from({ length: c.int(3, 8) }, () => genAccount(c, funded));
  const count = accounts === "dense" ? list.length : accounts === "full" ? MAX_ACCOUNT_COUNT : MAX_ACCOUNT_COUNT - 1;
  const low = accounts === "dense" ? list.length : c.int(1, list.length - 1);
  // Dense: 1..n. Near the limit: the first few at 1.., the rest at the top, ending at `count`.
  const indices = list.map((_, i) => (i < low ? i + 1 : count - (list.length - 1 - i)));
  let withdrawalCount: bigint;
  const withdrawalEntries: [number, Withdrawal][] = [];
  if (withdrawals === "dense") {
    const n = c.int(0, 3);
    for (let i = 0; i < n; i++) withdrawalEntries.push([i, genWithdrawal(c)]);
    withdrawalCount = BigInt(n);
  } else {
    withdrawalCount = withdrawals === "full" ? MAX_WITHDRAWAL_COUNT : MAX_WITHDRAWAL_COUNT - 1n;
    withdrawalEntries.push([0, genWithdrawal(c)], [Number(withdrawalCount) - 1, genWithdrawal(c)]);
  }
  const state = L2State.fromSparse({
    accountCount: count,
    accounts: list.map((a, i) => [indices[i], a] as const),
    withdrawalCount,
    withdrawals: withdrawalEntries,
  });
  return { state, populated: indices };
}

/** An index that is not an account of a state with `count` accounts. */
export function missingIndex(c: Chooser, count: number): number {
  if (count === MAX_ACCOUNT_COUNT) return 0;
  switch (c.int(0, 2)) {
    case 0:
      return 0;
    case 1:
      return count + 1;
    default:
      return c.int(count + 1, MAX_UINT32);
  }
}
