import type { UnsignedTx } from "../codec";
import { blsEdgeVectors } from "./bls-edges";
import { MAX_ACCOUNT_COUNT, MAX_NONCE, MAX_TXS_PER_CHUNK, MAX_WITHDRAWAL_COUNT, TxType } from "../constants";
import { txDigest } from "../eip712";
import { fromHex } from "../hash";
import { QueueKind, type QueueItem } from "../queue";
import { SECP256K1_HALF_N } from "../signature";
import { L2State, type Account, type Withdrawal } from "../state";
import {
  BAD_SIG_MODES,
  builtChunkVector,
  ChunkBuilder,
  chunkVector,
  craftSigner,
  queueVector,
  VECTOR_ADDRESSES,
  VECTOR_DOMAIN_SEPARATOR,
  type StepVector,
} from "./testkit";

/*
 * A fixed, named list of step vectors: at least one per outcome code of
 * PROTOCOL.md §5.3, plus the boundaries (index 2^32 − 1, the last withdrawal
 * slot, s = n/2, maximum-size chunks, fee-recipient corner cases).
 */

const A = VECTOR_ADDRESSES;
const E18 = 10n ** 18n;
const OTHER = "0x" + "ee".repeat(20);

const acct = (key: number, tokenId: number, balance: bigint, nonce = 0): Account => ({
  owner: A[key],
  tokenId,
  balance,
  nonce,
});
const wd = (key: number, tokenId: number, amount: bigint): Withdrawal => ({ recipient: A[key], tokenId, amount });

/** Fee recipient in token 0 (empty balance) and in token 1. */
const FEE0 = 4;
const FEE1 = 7;

/** Eight accounts over two tokens (so index 9 is missing), two withdrawals. */
function baseState(): L2State {
  return L2State.fromAccounts(
    [
      acct(0, 0, 1000n * E18),
      acct(1, 0, 1000n * E18, 3),
      acct(2, 1, 500n * E18),
      acct(3, 0, 0n),
      acct(4, 0, E18, MAX_NONCE),
      acct(5, 1, 100n * E18, MAX_NONCE - 1),
      acct(0, 1, 10n * E18, 1),
      acct(1, 0, 1_000_000n),
    ],
    [wd(1, 0, 5n), wd(2, 1, 7n)],
  );
}

/** `accountCount = count` (near 2^32 − 1) with accounts at 1, 2, count − 1 and count only. */
function fullAccountsState(count: number, withdrawalCount = 3n): L2State {
  return L2State.fromSparse({
    accountCount: count,
    accounts: [
      [1, acct(0, 0, 1000n * E18)],
      [2, acct(1, 0, 10n * E18)],
      [count - 1, acct(2, 0, 50n * E18, 9)],
      [count, acct(3, 1, 70n * E18)],
    ],
    withdrawalCount,
    withdrawals: [[0, wd(4, 0, 1n)]],
  });
}

/** Three accounts and `withdrawalCount` near 2^32 with a few withdrawals present. */
function fullWithdrawalsState(withdrawalCount: bigint): L2State {
  return L2State.fromSparse({
    accountCount: 3,
    accounts: [
      [1, acct(0, 0, 1000n * E18)],
      [2, acct(1, 0, 10n * E18)],
      [3, acct(2, 0, 0n)],
    ],
    withdrawalCount,
    withdrawals: [
      [0, wd(0, 0, 3n)],
      [Number(withdrawalCount) - 1, wd(1, 0, 4n)],
    ],
  });
}

const transfer = (from: number, to: number, amount: bigint, fee = 0n): UnsignedTx => ({
  type: TxType.Transfer,
  from,
  to,
  amount,
  fee,
});
const withdraw = (from: number, amount: bigint, fee = 0n): UnsignedTx => ({ type: TxType.Withdraw, from, amount, fee });
const toNew = (from: number, to: string, amount: bigint, fee = 0n): UnsignedTx => ({
  type: TxType.TransferToNew,
  from,
  to,
  amount,
  fee,
});
const deposit = (addr: string, tokenId: number, amount: bigint, hint: number): QueueItem => ({
  kind: QueueKind.Deposit,
  addr,
  tokenId,
  amount,
  account: hint,
  timestamp: 1_700_000_000n,
});
const exit = (addr: string, account: number): QueueItem => ({
  kind: QueueKind.ForcedExit,
  addr,
  tokenId: 0,
  amount: 0n,
  account,
  timestamp: 1_700_000_100n,
});

/**
 * A state whose account `index` is owned by the "signer" of a crafted
 * signature with the given `s`, and the chunk holding that transaction.
 */
function craftedSignatureVector(name: string, s: bigint, domainSep: string): StepVector {
  const pre = baseState();
  const tx = transfer(3, 7, 10n * E18);
  const sender = pre.getAccount(3) as Account;
  const { signature, owner } = craftSigner(txDigest(domainSep, tx, sender.tokenId, sender.nonce), s);
  pre.putAccount(3, { ...sender, owner });
  const builder = new ChunkBuilder(pre, domainSep, 0);
  builder.add(tx, "valid", { signature });
  return builtChunkVector(name, pre, builder);
}

/** The fixed list of named edge vectors, signed over `domainSeparator` (default: `VECTOR_DOMAIN_SEPARATOR`). */
export function namedEdgeVectors(opts: { domainSeparator?: string } = {}): StepVector[] {
  const domainSep = opts.domainSeparator ?? VECTOR_DOMAIN_SEPARATOR;
  const vectors: StepVector[] = [];
  const chunk = (name: string, pre: L2State, feeRecipient: number, build: (b: ChunkBuilder) => void): void => {
    const builder = new ChunkBuilder(pre, domainSep, feeRecipient);
    build(builder);
    vectors.push(builtChunkVector(name, pre, builder));
  };
  const raw = (name: string, pre: L2State, feeRecipient: number, hex: string): void => {
    vectors.push(chunkVector(name, pre, fromHex(hex), feeRecipient, domainSep));
  };
  const queue = (name: string, pre: L2State, items: QueueItem[]): void => {
    vectors.push(queueVector(name, pre, items, domainSep));
  };

  // Applied ----------------------------------------------------------------
  chunk("transfer applied", baseState(), FEE0, (b) => b.add(transfer(1, 2, 3n * E18)));
  chunk("transfer with fee credited to the fee recipient", baseState(), FEE0, (b) =>
    b.add(transfer(1, 2, 3n * E18, 2000n)),
  );
  chunk("transfer with a non-canonical amount encoding", baseState(), FEE0, (b) =>
    b.add(transfer(1, 2, 5000n, 7n), "valid", { nonCanonical: true }),
  );
  chunk("transfer to self pays only the fee", baseState(), FEE0, (b) => b.add(transfer(2, 2, 4n * E18, 100n)));
  chunk("fee recipient is the sender", baseState(), 1, (b) => b.add(transfer(1, 2, E18, 1500n)));
  chunk("fee recipient is the recipient", baseState(), 2, (b) => b.add(transfer(1, 2, E18, 1500n)));
  chunk("fee recipient cannot spend fees before the end of the chunk", baseState(), 8, (b) => {
    b.add(transfer(2, 1, E18, 10n));
    b.add(transfer(8, 1, 1_000_000n, 5n));
    b.add(transfer(8, 1, 999_995n, 5n));
  });
  chunk("consecutive nonces in one chunk", baseState(), FEE0, (b) => {
    for (let i = 0; i < 4; i++) b.add(transfer(2, 1, BigInt(i + 1) * E18, 10n));
  });
  chunk("fees in token 1", baseState(), FEE1, (b) => b.add(transfer(3, 6, E18, 2047n * 10n ** 15n)));
  chunk("zero fee with no fee recipient", baseState(), 0, (b) => b.add(transfer(1, 4, E18)));
  chunk("withdraw applied", baseState(), FEE0, (b) => b.add(withdraw(2, 7n * E18, 3n)));
  chunk("transfer to a new address applied", baseState(), FEE0, (b) => b.add(toNew(1, OTHER, 2n * E18, 1n)));
  chunk("new account spends in the same chunk", baseState(), FEE0, (b) => {
    b.add(toNew(1, A[5], 20n * E18));
    b.add(transfer(9, 2, 5n * E18, 9n));
    b.add(withdraw(9, E18));
  });
  chunk("every transaction type in one chunk", baseState(), FEE0, (b) => {
    b.add(transfer(1, 2, E18, 1n));
    b.add(withdraw(2, E18, 1n));
    b.add(toNew(1, A[2], E18, 1n));
    b.add(transfer(3, 6, E18));
  });
  chunk("last nonce then nonce exhausted", baseState(), FEE1, (b) => {
    b.add(transfer(6, 3, E18));
    b.add(transfer(6, 3, E18));
  });
  chunk("zero amount transfer", baseState(), FEE0, (b) => b.add(transfer(1, 2, 0n)));

  // Parsing ------------------------------------------------------------------
  chunk("unknown type byte 0x00 after a transaction", baseState(), FEE0, (b) => {
    b.add(transfer(1, 2, E18, 5n));
    b.raw(fromHex("0x00ffee"));
  });
  chunk("unknown type byte 0x05", baseState(), FEE0, (b) => b.raw(fromHex("0x05" + "01".repeat(79))));
  chunk("unknown type byte 0xff", baseState(), FEE0, (b) => b.raw(fromHex("0xff")));
  chunk("truncated transfer after a transaction", baseState(), FEE0, (b) => {
    const bytes = b.add(withdraw(1, E18, 2n));
    b.raw(bytes.slice(0, 75));
  });
  raw("a single type byte is truncated", baseState(), FEE0, "0x01");
  raw("truncated transfer to new", baseState(), FEE0, "0x03" + "00".repeat(94));
  raw("empty chunk", baseState(), FEE0, "0x");
  raw("empty chunk without a fee recipient", baseState(), 0, "0x");
  chunk("trailing byte after 32 transactions", baseState(), FEE0, (b) => {
    for (let i = 0; i < MAX_TXS_PER_CHUNK; i++) b.add(transfer(1 + (i % 2), 2 - (i % 2), E18, 1n));
    b.raw(fromHex("0x01"));
  });
  chunk("trailing valid transaction after 32 transactions is ignored", baseState(), FEE0, (b) => {
    for (let i = 0; i < MAX_TXS_PER_CHUNK; i++) b.add(withdraw(1, 1n));
    b.add(transfer(2, 1, E18));
  });
  chunk("maximum chunk: 32 transfers to new addresses", baseState(), FEE0, (b) => {
    for (let i = 0; i < MAX_TXS_PER_CHUNK; i++) {
      const to = "0x" + (i + 1).toString(16).padStart(40, "0");
      b.add(toNew(1 + (i % 2), to, BigInt(i + 1) * E18, 2047n));
    }
  });

  // Skips --------------------------------------------------------------------
  chunk("sender index 0 is missing", baseState(), FEE0, (b) => b.add(transfer(0, 1, 1n)));
  chunk("sender beyond accountCount is missing", baseState(), FEE0, (b) => {
    b.add(transfer(9, 1, 1n));
    b.add(withdraw(2 ** 32 - 1, 1n));
    b.add(toNew(10, OTHER, 1n));
  });
  chunk("recipient missing", baseState(), FEE0, (b) => {
    b.add(transfer(1, 0, 1n));
    b.add(transfer(1, 9, 1n));
  });
  chunk("transfer to new address(0) is an invalid recipient", baseState(), FEE0, (b) =>
    b.add(toNew(1, "0x" + "00".repeat(20), 1n)),
  );
  chunk("token mismatch", baseState(), FEE0, (b) => b.add(transfer(1, 3, 1n)));
  chunk("fee without a fee recipient", baseState(), 0, (b) => b.add(transfer(1, 2, 1n, 1n)));
  chunk("fee with the fee recipient beyond accountCount", baseState(), 9, (b) => b.add(withdraw(1, 1n, 1n)));
  chunk("fee in another token than the fee recipient's", baseState(), FEE0, (b) => b.add(transfer(3, 6, 1n, 1n)));
  chunk("overdraft by one", baseState(), FEE0, (b) => b.add(transfer(8, 1, 999_991n, 10n)));
  chunk("spending the whole balance with the fee", baseState(), FEE0, (b) => b.add(transfer(8, 1, 999_990n, 10n)));
  chunk("withdraw overdraft from an empty account", baseState(), FEE0, (b) => b.add(withdraw(4, 1n)));
  chunk("nonce exhausted", baseState(), FEE0, (b) => b.add(transfer(5, 1, 1n)));
  for (const mode of BAD_SIG_MODES) {
    chunk(`bad signature: ${mode}`, baseState(), FEE0, (b) => b.add(transfer(2, 1, E18, 3n), mode));
  }
  chunk("bad signature on a withdraw (wrong nonce)", baseState(), FEE0, (b) => b.add(withdraw(2, E18), "wrongNonce"));
  chunk("bad signature on a transfer to new (other key)", baseState(), FEE0, (b) =>
    b.add(toNew(2, OTHER, E18), "otherKey"),
  );
  vectors.push(craftedSignatureVector("high-s signature by the owner is rejected", SECP256K1_HALF_N + 1n, domainSep));
  vectors.push(craftedSignatureVector("signature with s = n/2 is accepted", SECP256K1_HALF_N, domainSep));

  // Tree limits ---------------------------------------------------------------
  chunk("transfer to new creates account 2^32-1", fullAccountsState(MAX_ACCOUNT_COUNT - 1), 0, (b) => {
    b.add(toNew(1, A[5], E18));
    b.add(toNew(1, OTHER, E18));
    b.add(transfer(MAX_ACCOUNT_COUNT, 1, E18 / 2n));
  });
  chunk("transfer to new when the account tree is full", fullAccountsState(MAX_ACCOUNT_COUNT), 0, (b) => {
    b.add(toNew(1, OTHER, E18));
    b.add(transfer(MAX_ACCOUNT_COUNT - 1, 1, E18));
  });
  chunk("withdraw into the last withdrawal slot", fullWithdrawalsState(MAX_WITHDRAWAL_COUNT - 1n), 0, (b) => {
    b.add(withdraw(1, E18));
    b.add(withdraw(1, E18));
  });
  chunk("withdraw when the withdrawal tree is full", fullWithdrawalsState(MAX_WITHDRAWAL_COUNT), 2, (b) =>
    b.add(withdraw(1, E18, 1n)),
  );

  // Queue ----------------------------------------------------------------------
  queue("deposit credited through its hint", baseState(), [deposit(A[1], 0, 5n * E18, 2)]);
  queue("deposit with hint 0 creates an account", baseState(), [deposit(A[1], 0, 5n * E18, 0)]);
  queue("deposit with another owner's hint creates an account", baseState(), [deposit(A[1], 0, E18, 1)]);
  queue("deposit with a hint in another token creates an account", baseState(), [deposit(A[2], 0, E18, 3)]);
  queue("deposit with a hint beyond accountCount creates an account", baseState(), [
    deposit(A[0], 0, E18, 9),
    deposit(A[0], 0, E18, 9),
    deposit(A[0], 0, E18, 2 ** 32 - 1),
  ]);
  queue("deposit of zero", baseState(), [deposit(OTHER, 9, 0n, 0)]);
  queue(
    "32 deposits creating accounts and crediting them through hints",
    baseState(),
    Array.from({ length: 32 }, (_, i) =>
      // The first 16 create accounts 9..24; the next 16 are credited to them through their hints.
      i < 16 ? deposit(A[i % 6], i % 3, BigInt(i + 1) * E18, 0) : deposit(A[(i - 16) % 6], (i - 16) % 3, 1n, i - 7),
    ),
  );
  queue("deposit creates account 2^32-1, the next is refunded", fullAccountsState(MAX_ACCOUNT_COUNT - 1), [
    deposit(A[5], 0, E18, 0),
    deposit(A[5], 0, E18, 0),
    deposit(A[5], 0, E18, MAX_ACCOUNT_COUNT),
  ]);
  queue(
    "deposits when the account tree is full: hint credited, others refunded",
    fullAccountsState(MAX_ACCOUNT_COUNT),
    [deposit(A[3], 1, E18, MAX_ACCOUNT_COUNT), deposit(A[3], 0, E18, MAX_ACCOUNT_COUNT), deposit(OTHER, 0, E18, 0)],
  );
  queue(
    "deposit refunded into the last withdrawal slot, then dropped",
    fullAccountsState(MAX_ACCOUNT_COUNT, MAX_WITHDRAWAL_COUNT - 1n),
    [deposit(OTHER, 0, E18, 0), deposit(OTHER, 0, E18, 1), deposit(A[0], 0, E18, 1)],
  );
  queue("forced exit applied", baseState(), [exit(A[1], 2)]);
  queue("forced exit of a token account", baseState(), [exit(A[0], 7)]);
  queue("forced exit of a missing account", baseState(), [exit(A[0], 0), exit(A[0], 9), exit(A[0], 2 ** 32 - 1)]);
  queue("forced exit by a non-owner", baseState(), [exit(A[1], 1)]);
  queue("forced exit of an empty balance", baseState(), [exit(A[3], 4)]);
  queue("forced exit twice: the second finds an empty balance", baseState(), [exit(A[1], 2), exit(A[1], 2)]);
  queue("deposit then forced exit of the same account", baseState(), [deposit(A[3], 0, 9n, 4), exit(A[3], 4)]);
  queue("forced exit into the last withdrawal slot, then the limit", fullWithdrawalsState(MAX_WITHDRAWAL_COUNT - 1n), [
    exit(A[0], 1),
    exit(A[1], 2),
  ]);
  queue("forced exit of account 2^32-1", fullAccountsState(MAX_ACCOUNT_COUNT), [exit(A[3], MAX_ACCOUNT_COUNT)]);
  queue("unknown queue kinds", baseState(), [
    { ...deposit(A[0], 0, E18, 1), kind: 2 },
    { ...exit(A[0], 1), kind: 255 },
    deposit(A[0], 0, E18, 1),
  ]);
  queue("empty queue step", baseState(), []);
  vectors.push(...blsEdgeVectors(domainSep));
  return vectors;
}
