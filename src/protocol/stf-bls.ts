import { MAX_NONCE, Outcome, outcomeName } from "./constants";
import { blsVerifyAggregateRaw, decodeBlsSignature } from "./bls";
import { blsTransferDigestFields } from "./eip712";
import { fromHex, toHex } from "./hash";
import { decodeBlsChunk } from "./bls-chunk";
import { EMPTY_ACCOUNT, withFunds, type Account, type L2State } from "./state";
import {
  addU256,
  checkContext,
  finishStep,
  inRange,
  WitnessRecorder,
  type StepContext,
  type StepOptions,
  type StepOutcome,
  type StepResult,
} from "./stf-step";

/*
 * The BLS chunk step (PROTOCOL.md §5.4): compact transfers under one
 * aggregate signature. Each transfer is checked by the Transfer rules (less
 * the signature) and applied in turn; at the end the aggregate is checked
 * over the applied transfers' messages, and if it fails the step undoes
 * them all.
 */

/**
 * Applies one BLS chunk step to `state` (mutated in place). Never throws on
 * any chunk bytes. `chunk[0]` must be the BLS marker (`applyChunk` routes by
 * it).
 */
export function applyBlsChunk(state: L2State, chunk: Uint8Array, ctx: StepContext, opts: StepOptions = {}): StepResult {
  const domainSep = checkContext(ctx);
  const witness = opts.witness === true ? new WitnessRecorder(state) : undefined;
  const read = (index: number): Readonly<Account> => state.getAccount(index) ?? EMPTY_ACCOUNT;
  let feeToken = -1;
  if (inRange(ctx.feeRecipient, state.accountCount)) {
    witness?.account(ctx.feeRecipient);
    feeToken = read(ctx.feeRecipient).tokenId;
  }
  const decoded = decodeBlsChunk(chunk);
  const outcomes: StepOutcome[] = [];
  const fail = (index: number, code: Outcome, detail: string): void => {
    outcomes.push({ index, code, reason: `${outcomeName(code)}: ${detail}` });
  };
  // Every write, with what it replaced, so a failed aggregate can undo them.
  const undo: [number, Account | undefined][] = [];
  const write = (index: number, account: Account): void => {
    undo.push([index, state.getAccount(index)]);
    state.writeAccount(index, account);
  };
  const messages: Uint8Array[] = [];
  const keys: Uint8Array[] = [];
  const applied: number[] = [];
  let totalFees = 0n;
  const header = decoded.header;
  if (header !== undefined) {
    const fee = header.fee;
    decoded.transfers.forEach(({ from, to, amount }, index) => {
      const count = state.accountCount;
      if (!inRange(from, count)) return fail(index, Outcome.SenderMissing, `sender ${from} is not in 1..${count}`);
      witness?.account(from);
      const sender = read(from);
      if (!inRange(to, count)) return fail(index, Outcome.RecipientMissing, `recipient ${to} is not in 1..${count}`);
      let recipient = sender;
      if (to !== from) {
        witness?.account(to);
        recipient = read(to);
      }
      if (recipient.tokenId !== sender.tokenId) {
        return fail(
          index,
          Outcome.TokenMismatch,
          `sender token ${sender.tokenId}, recipient token ${recipient.tokenId}`,
        );
      }
      if (fee > 0n && feeToken !== sender.tokenId) {
        return fail(
          index,
          Outcome.FeeRecipientMismatch,
          `fee ${fee} in token ${sender.tokenId}, fee token ${feeToken}`,
        );
      }
      if (amount + fee > sender.balance) {
        return fail(index, Outcome.InsufficientBalance, `amount ${amount} + fee ${fee} > balance ${sender.balance}`);
      }
      if (sender.nonce === MAX_NONCE) return fail(index, Outcome.NonceExhausted, "sender nonce is 2^32 - 1");
      if (sender.blsKey === undefined) return fail(index, Outcome.KeyMissing, `account ${from} has no BLS key`);
      messages.push(blsTransferDigestFields(domainSep, from, to, sender.tokenId, amount, fee, sender.nonce));
      keys.push(fromHex(sender.blsKey, 96));
      applied.push(outcomes.length);
      outcomes.push({ index, code: Outcome.Applied, reason: "Applied" });
      if (to === from) {
        write(from, withFunds(sender, sender.balance - fee, sender.nonce + 1));
      } else {
        write(from, withFunds(sender, sender.balance - amount - fee, sender.nonce + 1));
        write(to, withFunds(recipient, addU256(recipient.balance, amount), recipient.nonce));
      }
      totalFees += fee;
    });
  }
  if (decoded.end !== undefined) {
    outcomes.push({
      index: decoded.end.index,
      code: decoded.end.reason,
      reason: `${outcomeName(decoded.end.reason)}: ${decoded.end.message}`,
    });
  }
  if (header !== undefined && applied.length > 0) {
    const verdict = checkAggregate(header.signature, messages, keys, witness, opts);
    if (verdict !== undefined) {
      for (let i = undo.length - 1; i >= 0; i--) state.restoreAccount(undo[i][0], undo[i][1]);
      for (const k of applied) outcomes[k] = { index: outcomes[k].index, code: Outcome.BadSignature, reason: verdict };
      totalFees = 0n;
    }
  }
  if (totalFees > 0n) {
    witness?.account(ctx.feeRecipient);
    const recipient = read(ctx.feeRecipient);
    state.writeAccount(ctx.feeRecipient, withFunds(recipient, addU256(recipient.balance, totalFees), recipient.nonce));
  }
  return finishStep(state, outcomes, witness);
}

/**
 * Checks the aggregate over the applied transfers and records what the chain
 * needs to check it; undefined if it holds, else why not.
 */
function checkAggregate(
  signature: Uint8Array,
  messages: Uint8Array[],
  keys: Uint8Array[],
  witness: WitnessRecorder | undefined,
  opts: StepOptions,
): string | undefined {
  if (witness !== undefined) {
    witness.blsKeys = toHex(concat(keys));
    const decoded = decodeBlsSignature(signature);
    if (decoded.kind === "point") witness.blsSignature = toHex(decoded.point);
    if (decoded.kind === "noPoint") witness.blsSignature = toHex(decoded.certificate);
  }
  const verify = opts.verifyAggregate ?? blsVerifyAggregateRaw;
  if (verify(messages, keys, signature)) return undefined;
  return `${outcomeName(Outcome.BadSignature)}: the aggregate signature does not hold for the ${messages.length} applied transfers`;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
