import { MAX_ACCOUNT_COUNT, MAX_QUEUE_ITEMS_PER_STEP, MAX_WITHDRAWAL_COUNT, Outcome, outcomeName } from "./constants";
import { BilayerError } from "./errors";
import { normalizeQueueItem, QueueKind, type QueueItem } from "./queue";
import { EMPTY_ACCOUNT, withFunds, type L2State } from "./state";
import {
  addU256,
  finishStep,
  inRange,
  WitnessRecorder,
  type StepOptions,
  type StepOutcome,
  type StepResult,
} from "./stf-step";

/* The queue step (PROTOCOL.md §5.1): deposits and forced exits, at most 32 items a step. */

/**
 * Applies one queue step of at most 32 items to `state` (mutated in place).
 * Throws `BilayerError` only for more than 32 items or an item whose fields
 * do not fit their ABI types, before touching the state.
 */
export function applyQueueStep(state: L2State, items: readonly QueueItem[], opts: StepOptions = {}): StepResult {
  if (items.length > MAX_QUEUE_ITEMS_PER_STEP) {
    throw new BilayerError(
      "QUEUE_STEP_TOO_LARGE",
      `a queue step takes at most ${MAX_QUEUE_ITEMS_PER_STEP} items, got ${items.length}`,
      { context: { count: items.length } },
    );
  }
  const normalized = items.map(normalizeQueueItem);
  const witness = opts.witness === true ? new WitnessRecorder(state) : undefined;
  const outcomes: StepOutcome[] = [];
  normalized.forEach((item, index) => {
    const [code, detail] =
      item.kind === QueueKind.Deposit
        ? deposit(state, item, witness)
        : item.kind === QueueKind.ForcedExit
          ? forcedExit(state, item, witness)
          : [Outcome.UnknownKind, `kind ${item.kind}`];
    outcomes.push({ index, code, reason: `${outcomeName(code)}: ${detail}` });
  });
  return finishStep(state, outcomes, witness);
}

function deposit(state: L2State, item: QueueItem, witness: WitnessRecorder | undefined): [Outcome, string] {
  const hint = item.account;
  if (inRange(hint, state.accountCount)) {
    witness?.account(hint);
    const account = state.getAccount(hint) ?? EMPTY_ACCOUNT;
    if (account.owner === item.addr && account.tokenId === item.tokenId) {
      state.writeAccount(hint, withFunds(account, addU256(account.balance, item.amount), account.nonce));
      return [Outcome.Credited, `${item.amount} to account ${hint}`];
    }
  }
  if (state.accountCount < MAX_ACCOUNT_COUNT) {
    witness?.account(state.accountCount + 1);
    const index = state.pushAccount({ owner: item.addr, tokenId: item.tokenId, balance: item.amount, nonce: 0 });
    return [Outcome.Created, `account ${index} with ${item.amount}`];
  }
  if (state.withdrawalCount < MAX_WITHDRAWAL_COUNT) {
    witness?.withdrawal();
    const index = state.pushWithdrawal({ recipient: item.addr, tokenId: item.tokenId, amount: item.amount });
    return [Outcome.Refunded, `account tree full; withdrawal ${index}`];
  }
  return [Outcome.Dropped, "account and withdrawal trees full"];
}

function forcedExit(state: L2State, item: QueueItem, witness: WitnessRecorder | undefined): [Outcome, string] {
  const index = item.account;
  if (!inRange(index, state.accountCount)) {
    return [Outcome.AccountMissing, `account ${index} is not in 1..${state.accountCount}`];
  }
  witness?.account(index);
  const account = state.getAccount(index) ?? EMPTY_ACCOUNT;
  if (account.owner !== item.addr) return [Outcome.NotOwner, `account ${index} is owned by ${account.owner}`];
  if (account.balance === 0n) return [Outcome.EmptyBalance, `account ${index} has balance 0`];
  if (state.withdrawalCount === MAX_WITHDRAWAL_COUNT) return [Outcome.WithdrawalLimit, "the withdrawal tree is full"];
  witness?.withdrawal();
  const withdrawalIndex = state.pushWithdrawal({
    recipient: account.owner,
    tokenId: account.tokenId,
    amount: account.balance,
  });
  state.writeAccount(index, withFunds(account, 0n, account.nonce));
  return [Outcome.Exited, `${account.balance} to withdrawal ${withdrawalIndex}`];
}
