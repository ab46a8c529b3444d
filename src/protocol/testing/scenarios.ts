import type { UnsignedTx } from "../codec";
import { blsBadAggregate, blsMalformed, blsMixed, registerKeys } from "./bls-scenarios";
import { MAX_NONCE, MAX_TXS_PER_CHUNK, TxType } from "../constants";
import { floorToPackableAmount } from "../packing";
import { QueueKind, type QueueItem } from "../queue";
import { applyQueueStep } from "../stf";
import type { Account, L2State } from "../state";
import { toHex } from "../hash";
import {
  BAD_SIG_MODES,
  builtChunkVector,
  ChunkBuilder,
  queueVector,
  vectorBlsKey,
  type SigMode,
  type StepVector,
} from "./testkit";
import {
  A,
  genState,
  missingIndex,
  packableAbove,
  pick,
  randomAddress,
  randomBytes,
  ZERO_ADDRESS,
  type Chooser,
  type GenState,
} from "./states";

/*
 * The scenarios random step vectors are drawn from: ordinary traffic, broken
 * signatures, every skip rule, full trees, malformed chunks, queue steps.
 * Each is written against a `Chooser`, so the same code serves a seeded
 * generator and a shrinkable fast-check arbitrary (vectors.ts). Each
 * scenario produces its target outcomes whatever the choices, so one cycle
 * through them hits every outcome code of PROTOCOL.md §5.3.
 */

// Chunks ------------------------------------------------------------------------

interface TxChoice {
  type?: TxType;
  from?: number;
  to?: number | string;
  amount?: bigint;
  fee?: bigint;
  mode?: SigMode;
}

/** Tracks a chunk being built: the builder and the accounts it may reference. */
class ChunkPlan {
  readonly builder: ChunkBuilder;

  constructor(
    readonly gen: GenState,
    domainSep: string,
    feeRecipient: number,
  ) {
    this.builder = new ChunkBuilder(gen.state, domainSep, feeRecipient);
  }

  get scratch(): L2State {
    return this.builder.scratch;
  }

  account(index: number): Readonly<Account> | undefined {
    return this.scratch.getAccount(index);
  }

  /** An index holding an account, or (1 time in `missingOneIn`) a missing one. */
  index(c: Chooser, missingOneIn = 0): number {
    if (missingOneIn > 0 && c.int(1, missingOneIn) === 1) return missingIndex(c, this.scratch.accountCount);
    return pick(c, this.gen.populated);
  }

  fee(c: Chooser): bigint {
    switch (c.int(0, 7)) {
      case 0:
        return BigInt(c.int(1, 2047));
      case 1:
        return BigInt(c.int(1, 2047)) * 10n ** BigInt(c.int(1, 15));
      case 2:
        return 2047n * 10n ** 31n;
      default:
        return 0n;
    }
  }

  amount(c: Chooser, balance: bigint, fee: bigint): bigint {
    const spendable = balance > fee ? balance - fee : 0n;
    switch (c.int(0, 7)) {
      case 0:
        return 0n;
      case 1:
        return floorToPackableAmount(spendable);
      case 2:
        return packableAbove(spendable);
      case 3:
        return floorToPackableAmount(c.bigint(0n, 2n ** 128n));
      default:
        return floorToPackableAmount(c.bigint(0n, spendable));
    }
  }

  /** Adds one transaction; unspecified fields are drawn at random. */
  add(c: Chooser, choice: TxChoice = {}, nonCanonicalOneIn = 5): void {
    const type = choice.type ?? pick(c, [TxType.Transfer, TxType.Transfer, TxType.Withdraw, TxType.TransferToNew]);
    const from = choice.from ?? this.index(c, 12);
    const sender = this.account(from);
    const fee = choice.fee ?? this.fee(c);
    const amount = choice.amount ?? this.amount(c, sender?.balance ?? 0n, fee);
    let tx: UnsignedTx;
    if (type === TxType.Transfer) {
      const to = typeof choice.to === "number" ? choice.to : c.int(0, 5) === 0 ? from : this.index(c, 12);
      tx = { type, from, to, amount, fee };
    } else if (type === TxType.Withdraw) {
      tx = { type, from, amount, fee };
    } else if (type === TxType.RegisterKey) {
      tx = { type, from, fee, blsKey: toHex(vectorBlsKey(c.int(0, 7)).raw) };
    } else {
      const to =
        typeof choice.to === "string"
          ? choice.to
          : c.int(0, 15) === 0
            ? ZERO_ADDRESS
            : c.int(0, 1) === 0
              ? pick(c, A)
              : randomAddress(c);
      tx = { type, from, to, amount, fee };
    }
    const before = this.scratch.accountCount;
    this.builder.add(tx, choice.mode ?? "valid", { nonCanonical: c.int(1, nonCanonicalOneIn) === 1 });
    for (let i = before + 1; i <= this.scratch.accountCount; i++) this.gen.populated.push(i);
  }
}

function feeRecipientChoice(c: Chooser, gen: GenState): number {
  return c.int(0, 4) === 0 ? missingIndex(c, gen.state.accountCount) : pick(c, gen.populated);
}

function finishChunk(name: string, plan: ChunkPlan, pre: L2State): StepVector {
  return builtChunkVector(name, pre, plan.builder);
}

/** Builds one vector from random choices. */
export type Scenario = (c: Chooser, domainSep: string, name: string) => StepVector;

/** Ordinary traffic: mostly valid transactions of every type, some broken. */
const mixed: Scenario = (c, domainSep, name) => {
  const gen = genState(c, c.int(0, 5) === 0 ? "nearFull" : "dense", c.int(0, 5) === 0 ? "nearFull" : "dense");
  const pre = gen.state.clone();
  const plan = new ChunkPlan(gen, domainSep, feeRecipientChoice(c, gen));
  const n = c.int(1, 12);
  for (let i = 0; i < n; i++) plan.add(c, { mode: c.int(0, 7) === 0 ? pick(c, BAD_SIG_MODES) : "valid" });
  return finishChunk(name, plan, pre);
};

/** A small packable amount the sender of `from` can afford. */
function affordable(c: Chooser, plan: ChunkPlan, from: number): bigint {
  return floorToPackableAmount(c.bigint(0n, (plan.account(from)?.balance ?? 0n) / 64n));
}

/** Transactions that pass every check but the signature, cycling through the broken-signature kinds. */
const badSignatures: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense", true);
  const pre = gen.state.clone();
  const plan = new ChunkPlan(gen, domainSep, 0);
  const start = c.int(0, BAD_SIG_MODES.length - 1);
  const n = c.int(BAD_SIG_MODES.length, MAX_TXS_PER_CHUNK);
  for (let i = 0; i < n; i++) {
    const from = plan.index(c);
    const type = pick(c, [TxType.Transfer, TxType.Withdraw, TxType.TransferToNew]);
    const to = type === TxType.Transfer ? from : pick(c, A);
    const mode = BAD_SIG_MODES[(start + i) % BAD_SIG_MODES.length];
    plan.add(c, { type, from, to, fee: 0n, amount: affordable(c, plan, from), mode });
  }
  return finishChunk(name, plan, pre);
};

/** Every skip rule of the chunk step, in turn. */
const skips: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense", true);
  const { state } = gen;
  // Account 1: token 0 (the fee token); account 2: token 1; account 3: nonce exhausted.
  state.putAccount(1, { ...(state.getAccount(1) as Account), tokenId: 0 });
  state.putAccount(2, { ...(state.getAccount(2) as Account), tokenId: 1 });
  state.putAccount(3, { ...(state.getAccount(3) as Account), nonce: MAX_NONCE });
  const feesEnabled = c.int(0, 3) !== 0;
  const pre = state.clone();
  const plan = new ChunkPlan(gen, domainSep, feesEnabled ? 1 : missingIndex(c, state.accountCount));
  const start = c.int(0, 7);
  const n = c.int(8, 16);
  const anyType = (): TxType => pick(c, [TxType.Transfer, TxType.Withdraw, TxType.TransferToNew]);
  for (let i = 0; i < n; i++) {
    const count = plan.scratch.accountCount;
    switch ((start + i) % 8) {
      case 0:
        plan.add(c, { type: anyType(), from: missingIndex(c, count) });
        break;
      case 1:
        plan.add(c, { type: TxType.Transfer, from: plan.index(c), to: missingIndex(c, count) });
        break;
      case 2:
        plan.add(c, { type: TxType.TransferToNew, from: plan.index(c), to: ZERO_ADDRESS });
        break;
      case 3:
        plan.add(c, { type: TxType.Transfer, from: 1, to: 2, fee: 0n });
        break;
      case 4: {
        const type = anyType();
        plan.add(c, { type, from: 2, to: type === TxType.Transfer ? 2 : pick(c, A), fee: BigInt(c.int(1, 2047)) });
        break;
      }
      case 5: {
        const from = plan.index(c);
        const type = anyType();
        const amount = packableAbove(plan.account(from)?.balance ?? 0n);
        plan.add(c, { type, from, to: type === TxType.Transfer ? from : pick(c, A), fee: 0n, amount });
        break;
      }
      case 6:
        plan.add(c, { type: pick(c, [TxType.Transfer, TxType.Withdraw]), from: 3, to: 3, fee: 0n, amount: 0n });
        break;
      default:
        plan.add(c);
    }
  }
  return finishChunk(name, plan, pre);
};

/** An account tree at or next to 2^32 − 1 accounts: creations up to the limit, then `AccountLimit`. */
const accountLimit: Scenario = (c, domainSep, name) => {
  const gen = genState(c, c.int(0, 1) === 0 ? "full" : "nearFull", "dense", true);
  const pre = gen.state.clone();
  const plan = new ChunkPlan(gen, domainSep, 0);
  const n = c.int(2, 8);
  for (let i = 0; i < n; i++) {
    const from = plan.index(c);
    const type = i < 2 || c.int(0, 2) !== 0 ? TxType.TransferToNew : TxType.Transfer;
    const to = type === TxType.Transfer ? plan.index(c) : pick(c, A);
    plan.add(c, { type, from, to, fee: 0n, amount: affordable(c, plan, from) });
  }
  return finishChunk(name, plan, pre);
};

/** A withdrawal tree at or next to 2^32 withdrawals: withdrawals up to the limit, then `WithdrawalLimit`. */
const withdrawalLimit: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", c.int(0, 1) === 0 ? "full" : "nearFull", true);
  const pre = gen.state.clone();
  const plan = new ChunkPlan(gen, domainSep, 0);
  const n = c.int(2, 6);
  for (let i = 0; i < n; i++) {
    const from = plan.index(c);
    const type = i < 2 || c.int(0, 3) !== 0 ? TxType.Withdraw : TxType.Transfer;
    plan.add(c, { type, from, to: plan.index(c), fee: 0n, amount: affordable(c, plan, from) });
  }
  return finishChunk(name, plan, pre);
};

/** A few transactions, then an unknown type byte (`truncated` false) or a truncated transaction. */
function malformed(truncated: boolean): Scenario {
  return (c, domainSep, name) => {
    const gen = genState(c, "dense", "dense", true);
    const pre = gen.state.clone();
    const plan = new ChunkPlan(gen, domainSep, feeRecipientChoice(c, gen));
    const n = c.int(0, 3);
    for (let i = 0; i < n; i++) plan.add(c);
    if (!truncated) {
      const type = pick(c, [0, 5, 0x11, 0x80, 0xff]); // 0x10 starts a BLS chunk; inside one it is unknown too
      plan.builder.raw(Uint8Array.of(type, ...randomBytes(c, c.int(0, 100))));
    } else {
      const type = pick(c, [TxType.Transfer, TxType.Withdraw, TxType.TransferToNew]);
      const size = type === TxType.Transfer ? 80 : type === TxType.Withdraw ? 76 : 96;
      plan.builder.raw(Uint8Array.of(type, ...randomBytes(c, c.int(0, size - 2))));
    }
    return finishChunk(name, plan, pre);
  };
}

/** 32 transactions followed by trailing bytes. */
const trailing: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense", true);
  const pre = gen.state.clone();
  const plan = new ChunkPlan(gen, domainSep, feeRecipientChoice(c, gen));
  for (let i = 0; i < MAX_TXS_PER_CHUNK; i++) {
    plan.add(c, { mode: c.int(0, 9) === 0 ? pick(c, BAD_SIG_MODES) : "valid" });
  }
  if (c.int(0, 1) === 0) plan.builder.raw(randomBytes(c, c.int(1, 20)));
  else plan.add(c);
  return finishChunk(name, plan, pre);
};

/** The largest chunk: 32 transfers to new addresses (3,072 bytes). */
const maxChunk: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense", true);
  const pre = gen.state.clone();
  const plan = new ChunkPlan(gen, domainSep, feeRecipientChoice(c, gen));
  const senders = [...gen.populated]; // not the new accounts: nobody holds their keys
  for (let i = 0; i < MAX_TXS_PER_CHUNK; i++) {
    const from = pick(c, senders);
    plan.add(c, { type: TxType.TransferToNew, from, to: randomAddress(c), fee: 0n, amount: affordable(c, plan, from) });
  }
  return finishChunk(name, plan, pre);
};

/** An empty chunk or an empty queue step. */
const empty: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense");
  if (c.int(0, 1) === 0) return queueVector(name, gen.state, [], domainSep);
  return finishChunk(name, new ChunkPlan(gen, domainSep, feeRecipientChoice(c, gen)), gen.state.clone());
};

// Queue ------------------------------------------------------------------------------

/** What a generated queue item aims at. */
type ItemAim =
  | "depositNew" // hint 0: create (or refund, or drop)
  | "depositHit" // the hinted account's own owner and token: credit
  | "depositMiss" // a present account with another owner or token
  | "depositBeyond" // a hint beyond accountCount
  | "exitOwner" // by the owner: exit, or empty balance, or withdrawal limit
  | "exitOther" // by someone else: not owner
  | "exitMissing" // a missing account
  | "exitEmpty" // an account with a zero balance if there is one
  | "unknown"; // kind 2..255

function queueItem(c: Chooser, aim: ItemAim, scratch: L2State, populated: readonly number[]): QueueItem {
  const timestamp = c.bigint(1n, 2n ** 40n);
  const amount = c.bigint(0n, 10n ** 24n);
  const deposit = (addr: string, tokenId: number, account: number): QueueItem => ({
    kind: QueueKind.Deposit,
    addr,
    tokenId,
    amount,
    account,
    timestamp,
  });
  const exit = (addr: string, account: number): QueueItem => ({
    kind: QueueKind.ForcedExit,
    addr,
    tokenId: 0,
    amount: 0n,
    account,
    timestamp,
  });
  const present = pick(c, populated);
  const account = scratch.getAccount(present) as Account;
  switch (aim) {
    case "depositNew":
      return deposit(c.int(0, 3) === 0 ? randomAddress(c) : pick(c, A), c.int(0, 3), 0);
    case "depositHit":
      return deposit(account.owner, account.tokenId, present);
    case "depositMiss":
      return c.int(0, 1) === 0
        ? deposit(account.owner, account.tokenId + 1, present)
        : deposit(
            pick(
              c,
              A.filter((a) => a !== account.owner),
            ),
            account.tokenId,
            present,
          );
    case "depositBeyond":
      return deposit(pick(c, A), c.int(0, 2), missingIndex(c, scratch.accountCount));
    case "exitOwner": {
      const funded = populated.filter((i) => (scratch.getAccount(i)?.balance ?? 0n) > 0n);
      const index = funded.length > 0 ? pick(c, funded) : present;
      return exit((scratch.getAccount(index) as Account).owner, index);
    }
    case "exitOther":
      return exit(
        pick(
          c,
          A.filter((a) => a !== account.owner),
        ),
        present,
      );
    case "exitMissing":
      return exit(pick(c, A), missingIndex(c, scratch.accountCount));
    case "exitEmpty": {
      const empties = populated.filter((i) => scratch.getAccount(i)?.balance === 0n);
      const index = empties.length > 0 ? pick(c, empties) : present;
      return exit((scratch.getAccount(index) as Account).owner, index);
    }
    case "unknown":
      return { ...deposit(pick(c, A), c.int(0, 2), c.int(0, 10)), kind: c.int(2, 255) };
  }
}

/** Builds queue items one by one against a scratch state, so hints can name accounts the step creates. */
function queueScenario(
  c: Chooser,
  gen: GenState,
  domainSep: string,
  name: string,
  count: number,
  aims: (i: number) => ItemAim,
): StepVector {
  const pre = gen.state.clone();
  const scratch = gen.state.clone();
  const populated = [...gen.populated];
  const items: QueueItem[] = [];
  for (let i = 0; i < count; i++) {
    const item = queueItem(c, aims(i), scratch, populated);
    const before = scratch.accountCount;
    applyQueueStep(scratch, [item]);
    for (let k = before + 1; k <= scratch.accountCount; k++) populated.push(k);
    items.push(item);
  }
  return queueVector(name, pre, items, domainSep);
}

const DEPOSIT_AIMS: readonly ItemAim[] = ["depositNew", "depositHit", "depositMiss", "depositBeyond"];
const MIXED_AIMS: readonly ItemAim[] = ["depositNew", "exitOwner", "exitOther", "exitMissing", "exitEmpty", "unknown"];

/** Up to 32 deposits: accounts created, hints hit and missed. */
const deposits: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense");
  return queueScenario(c, gen, domainSep, name, c.int(4, 32), (i) => DEPOSIT_AIMS[i < 4 ? i : c.int(0, 3)]);
};

/** Deposits, forced exits of every outcome and unknown kinds. */
const queueMixed: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense");
  return queueScenario(c, gen, domainSep, name, c.int(6, 32), (i) => MIXED_AIMS[i < 6 ? i : c.int(0, 5)]);
};

/**
 * Against an account tree one short of full and a withdrawal tree one short
 * of full: created, refunded, then dropped; exits hit the withdrawal limit.
 */
const queueLimits: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "nearFull", "nearFull", true);
  const aims: ItemAim[] = ["depositNew", "depositNew", "depositNew", "exitOwner"];
  return queueScenario(c, gen, domainSep, name, c.int(4, 16), (i) =>
    i < aims.length ? aims[i] : pick(c, [...DEPOSIT_AIMS, "exitOwner", "exitOther"]),
  );
};

/** The scenarios, by label; `generateVectors` cycles through them in this order. */
export const SCENARIOS: readonly [string, Scenario][] = [
  ["mixed", mixed],
  ["badSignatures", badSignatures],
  ["skips", skips],
  ["accountLimit", accountLimit],
  ["withdrawalLimit", withdrawalLimit],
  ["unknownType", malformed(false)],
  ["truncated", malformed(true)],
  ["trailing", trailing],
  ["maxChunk", maxChunk],
  ["empty", empty],
  ["deposits", deposits],
  ["queueMixed", queueMixed],
  ["queueLimits", queueLimits],
  ["registerKeys", registerKeys],
  ["blsMixed", blsMixed],
  ["blsBadAggregate", blsBadAggregate],
  ["blsMalformed", blsMalformed],
  ["mixed", mixed],
];
